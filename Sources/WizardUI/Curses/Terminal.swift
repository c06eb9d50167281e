import CNCurses

#if canImport(Glibc)
    import Glibc
#endif

/// Why the terminal could not be opened for the wizard.
package struct TerminalError: Error, CustomStringConvertible, Sendable {
    package var description: String
}

/// The only code that calls curses: opens the screen, draws `Screen`s, reads keys, always restores the terminal.
///
/// ncurses is not thread-safe, so everything runs on the main actor. Fatal signals (SIGINT, SIGTERM, a crash)
/// call `endwin` and re-raise, so the shell never gets a terminal without echo; SIGINT, SIGTERM and SIGHUP first
/// save the answers (`InterruptedDraft`).
@MainActor
package final class Terminal {
    private var isOpen = false
    private var screen: OpaquePointer?
    private let colors: Bool
    /// The locale encodes UTF-8: otherwise characters outside ASCII are drawn as ASCII stand-ins.
    private let unicode: Bool
    private static let fatalSignals: [Int32] = [
        SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP,
    ]

    /// Why the wizard cannot run on the terminal `TERM` names, before anything is drawn; `nil` when it can.
    nonisolated package static func unsupported(term: String?) -> String? {
        let remedy = "use a terminal that can (TERM=vt100 is enough), or install without one with --answers FILE"
        guard let term, !term.isEmpty else {
            return "TERM is not set, so the wizard cannot draw its screens; \(remedy)"
        }
        switch cn_terminal_addresses_cursor(term) {
        case 1: return nil
        case 0: return "this terminal (TERM=\(term)) cannot move the cursor, which the wizard needs; \(remedy)"
        default:
            return "this machine has no terminfo entry for TERM=\(term), so the wizard cannot draw its screens; "
                + remedy
        }
    }

    /// Takes over the terminal on stdin/stdout: UTF-8 locale, cbreak, no echo, keypad, colors unless `NO_COLOR`.
    package init() throws(TerminalError) {
        setlocale(LC_ALL, "")
        unicode = nl_langinfo(nl_item(CODESET)).map { String(cString: $0) } == "UTF-8"
        // newterm, unlike initscr, returns nil instead of exiting when the terminal type is unknown.
        guard let screen = newterm(nil, cn_stdout(), cn_stdin()) else {
            throw TerminalError(
                description: "cannot open the terminal (TERM=\(getenv("TERM").map { String(cString: $0) } ?? "unset"))"
            )
        }
        self.screen = screen
        isOpen = true
        InterruptedDraft.disarm()
        for signal in Self.fatalSignals { Glibc.signal(signal, restoreTerminalAndReraise) }
        cbreak()
        noecho()
        nonl()
        keypad(cn_stdscr(), true)
        // Reads wake up now and then, so a resize (SIGWINCH) is seen without waiting for a key.
        wtimeout(cn_stdscr(), 100)
        set_escdelay(25)
        // Ctrl-C arrives as a key, so the wizard can ask before quitting; `kill -INT` still restores and ends.
        var modes = termios()
        if tcgetattr(STDIN_FILENO, &modes) == 0 {
            modes.c_lflag &= ~tcflag_t(ISIG)
            tcsetattr(STDIN_FILENO, TCSANOW, &modes)
            def_prog_mode()
        }
        let noColor = getenv("NO_COLOR").map { String(cString: $0) }.map { !$0.isEmpty } ?? false
        colors = !noColor && has_colors()
        if colors {
            start_color()
            use_default_colors()
            init_pair(1, Int16(COLOR_WHITE), Int16(COLOR_BLUE))
            init_pair(2, Int16(COLOR_RED), -1)
            init_pair(3, Int16(COLOR_YELLOW), -1)
            init_pair(4, Int16(COLOR_GREEN), -1)
            init_pair(5, Int16(COLOR_BLACK), Int16(COLOR_CYAN))
        }
    }

    /// The terminal's size now.
    package var size: (cols: Int, rows: Int) { (Int(cn_cols()), Int(cn_lines())) }

    /// Restores the terminal; safe to call more than once.
    package func close() {
        guard isOpen else { return }
        isOpen = false
        endwin()
        if let screen { delscreen(screen) }
        screen = nil
        for signal in Self.fatalSignals { Glibc.signal(signal, SIG_DFL) }
        InterruptedDraft.disarm()
    }

    /// From now on SIGINT, SIGTERM or SIGHUP save `text` as the answers at `path`, then print `notice` (a line).
    package func keepOnSignal(_ text: String?, at path: String, notice: String) {
        if let text {
            InterruptedDraft.arm(path: path, text: text, notice: notice + "\n")
        } else {
            InterruptedDraft.disarm()
        }
    }

    /// Draws a whole screen.
    package func draw(_ screen: Screen) {
        let window = cn_stdscr()
        werase(window)
        for (row, line) in screen.lines.enumerated() {
            wmove(window, Int32(row), 0)
            for span in line.spans {
                let attributes = attributes(span.style)
                wattr_on(window, attr_t(attributes), nil)
                draw(span.text, in: window)
                wattr_off(window, attr_t(attributes), nil)
            }
        }
        if let cursor = screen.cursor {
            curs_set(1)
            wmove(window, Int32(cursor.row), Int32(cursor.col))
        } else {
            curs_set(0)
        }
        wrefresh(window)
    }

    /// Box corners and sides through the terminal's line-drawing characters (ncurses puts `+`, `-` and `|` where
    /// the terminal has none); outside a UTF-8 locale, other characters beyond ASCII as `~` (the ellipsis) or `?`.
    private func draw(_ text: String, in window: UnsafeMutablePointer<WINDOW>?) {
        guard text.contains(where: { !$0.isASCII }) else {
            waddstr(window, text)
            return
        }
        var run = ""
        for character in text {
            if let acs = Self.lineDrawing[character] {
                waddstr(window, run)
                run = ""
                waddch(window, cn_acs(acs))
            } else if !unicode && !character.isASCII {
                run.append(character == "…" ? "~" : "?")
            } else {
                run.append(character)
            }
        }
        waddstr(window, run)
    }

    /// The renderer's box characters and the ACS letters (`acsc` in terminfo) that stand for them.
    private static let lineDrawing: [Character: CChar] = [
        "┌": CChar(UInt8(ascii: "l")), "┐": CChar(UInt8(ascii: "k")), "└": CChar(UInt8(ascii: "m")),
        "┘": CChar(UInt8(ascii: "j")), "─": CChar(UInt8(ascii: "q")), "│": CChar(UInt8(ascii: "x")),
    ]

    private func attributes(_ style: TextStyle) -> Int32 {
        if colors {
            switch style {
            case .plain: return cn_attr_normal()
            case .title: return cn_color_pair(1) | cn_attr_bold()
            case .dim: return cn_attr_dim()
            case .selected: return cn_color_pair(5)
            case .error: return cn_color_pair(2) | cn_attr_bold()
            case .warning: return cn_color_pair(3)
            case .ok: return cn_color_pair(4)
            case .emphasis: return cn_attr_bold()
            }
        }
        switch style {
        case .plain, .ok: return cn_attr_normal()
        case .title: return cn_attr_reverse() | cn_attr_bold()
        case .dim: return cn_attr_dim()
        case .selected: return cn_attr_reverse()
        case .error, .emphasis: return cn_attr_bold()
        case .warning: return cn_attr_underline()
        }
    }

    /// Waits a moment for one key; `nil` when none came or for keys the wizard does not use.
    package func readKey() -> WizardKey? {
        var character: wint_t = 0
        let result = wget_wch(cn_stdscr(), &character)
        if result == cn_key_code_yes() {
            switch Int32(character) {
            case cn_key_up(): return .up
            case cn_key_down(): return .down
            case cn_key_left(): return .left
            case cn_key_right(): return .right
            case cn_key_home(): return .home
            case cn_key_end(): return .end
            case cn_key_backspace(): return .backspace
            case cn_key_dc(): return .delete
            case cn_key_enter(): return .enter
            case cn_key_btab(): return .backTab
            case cn_key_f(1): return .f1
            case cn_key_resize(): return .resize(cols: Int(cn_cols()), rows: Int(cn_lines()))
            default: return nil
            }
        }
        guard result == cn_ok() else { return nil }
        switch character {
        case 10, 13: return .enter
        case 9: return .tab
        case 27: return .escape
        case 8, 127: return .backspace
        case 3: return .ctrlC
        case 21: return .clearLine
        default:
            guard character >= 32, let scalar = Unicode.Scalar(UInt32(character)) else { return nil }
            return .char(Character(scalar))
        }
    }
}

/// A fatal signal while the wizard runs: save the answers (unless the program crashed), give the shell its terminal
/// back, say where the answers are, then die of the same signal.
private func restoreTerminalAndReraise(_ received: Int32) {
    let notice =
        received == SIGINT || received == SIGTERM || received == SIGHUP
        ? InterruptedDraft.writeFromSignalHandler() : nil
    endwin()
    if let notice { _ = write(STDERR_FILENO, notice, strlen(notice)) }
    signal(received, SIG_DFL)
    raise(received)
}
