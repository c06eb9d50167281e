/// One key press, as the terminal layer decodes it; the state machine sees nothing else.
package enum WizardKey: Equatable, Sendable {
    case char(Character)
    case enter
    case tab
    case backTab
    case up
    case down
    case left
    case right
    case home
    case end
    case backspace
    case delete
    case escape
    case f1
    case ctrlC
    /// Ctrl-U: empties the text field, as in a shell.
    case clearLine
    /// The terminal now has this size.
    case resize(cols: Int, rows: Int)
}
