/// An editable line of text with a cursor; what was typed survives leaving and re-entering the step.
package struct TextField: Equatable, Sendable {
    package var text: String
    /// Cursor position in characters, `0...text.count`.
    package var cursor: Int

    package init(_ text: String = "") {
        self.text = text
        self.cursor = text.count
    }

    package var isEmpty: Bool { text.isEmpty }

    /// Applies an editing key; returns whether the key was an edit this field understood.
    package mutating func edit(_ key: WizardKey) -> Bool {
        switch key {
        case .char(let character):
            let index = text.index(text.startIndex, offsetBy: cursor)
            text.insert(character, at: index)
            cursor += 1
        case .backspace:
            guard cursor > 0 else { return false }
            let index = text.index(text.startIndex, offsetBy: cursor - 1)
            text.remove(at: index)
            cursor -= 1
        case .delete:
            guard cursor < text.count else { return false }
            text.remove(at: text.index(text.startIndex, offsetBy: cursor))
        case .left: cursor = max(0, cursor - 1)
        case .right: cursor = min(text.count, cursor + 1)
        case .clearLine:
            guard !text.isEmpty else { return false }
            text = ""
            cursor = 0
        case .home: cursor = 0
        case .end: cursor = text.count
        default: return false
        }
        return true
    }

    /// The text without surrounding spaces, as it goes into the configuration.
    package var value: String { text.trimmingSpaces() }
}

extension String {
    func trimmingSpaces() -> String {
        var view = Substring(self)
        while view.first?.isWhitespace == true { view.removeFirst() }
        while view.last?.isWhitespace == true { view.removeLast() }
        return String(view)
    }
}
