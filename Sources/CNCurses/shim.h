#ifndef CNCURSES_SHIM_H
#define CNCURSES_SHIM_H

#define _XOPEN_SOURCE_EXTENDED 1
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <stdio.h>
#include <ncursesw/curses.h>

/* C globals and macros are not visible to Swift: read them through these accessors. */
static inline WINDOW *cn_stdscr(void) { return stdscr; }
static inline int cn_lines(void) { return LINES; }
static inline int cn_cols(void) { return COLS; }
static inline int cn_colors(void) { return COLORS; }
static inline int cn_color_pair(int pair) { return COLOR_PAIR(pair); }
static inline int cn_attr_bold(void) { return A_BOLD; }
static inline int cn_attr_reverse(void) { return A_REVERSE; }
static inline int cn_attr_underline(void) { return A_UNDERLINE; }
static inline int cn_attr_dim(void) { return A_DIM; }
static inline int cn_key_resize(void) { return KEY_RESIZE; }
static inline int cn_key_f(int n) { return KEY_F(n); }
static inline int cn_err(void) { return ERR; }
static inline FILE *cn_stdin(void) { return stdin; }
static inline FILE *cn_stdout(void) { return stdout; }
static inline int cn_ok(void) { return OK; }
static inline int cn_attr_normal(void) { return A_NORMAL; }
static inline int cn_key_code_yes(void) { return KEY_CODE_YES; }
static inline int cn_key_up(void) { return KEY_UP; }
static inline int cn_key_down(void) { return KEY_DOWN; }
static inline int cn_key_left(void) { return KEY_LEFT; }
static inline int cn_key_right(void) { return KEY_RIGHT; }
static inline int cn_key_home(void) { return KEY_HOME; }
static inline int cn_key_end(void) { return KEY_END; }
static inline int cn_key_backspace(void) { return KEY_BACKSPACE; }
static inline int cn_key_dc(void) { return KEY_DC; }
static inline int cn_key_enter(void) { return KEY_ENTER; }
static inline int cn_key_btab(void) { return KEY_BTAB; }
/* A line-drawing character (ACS_HLINE is cn_acs('q')): the terminal's own, or an ASCII stand-in where it has none. */
static inline chtype cn_acs(char c) { return NCURSES_ACS(c); }

/* From <term.h>, whose capability macros (`lines`, `columns`, ...) are kept out of this module. */
struct term;
extern int setupterm(const char *, int, int *);
extern struct term *set_curterm(struct term *);
extern int del_curterm(struct term *);

/* Whether terminal type `name` can move the cursor: 1 yes, 0 no (as `dumb`), -1 no terminfo entry for it. */
static inline int cn_terminal_addresses_cursor(const char *name) {
    int status = 0;
    if (setupterm(name, 1, &status) != OK) return -1;
    char *cup = tigetstr("cup");
    int addresses = cup != NULL && cup != (char *)-1;
    del_curterm(set_curterm(NULL));
    return addresses;
}

#endif
