/// How a run of text is drawn; the terminal maps each to colors, or to attributes only on monochrome.
package enum TextStyle: Equatable, Sendable {
    case plain
    case title
    case dim
    case selected
    case error
    case warning
    case ok
    case emphasis
}

/// A run of text in one style.
package struct Span: Equatable, Sendable {
    package var text: String
    package var style: TextStyle

    package init(_ text: String, _ style: TextStyle = .plain) {
        self.text = text
        self.style = style
    }
}

/// One screen line: spans from column 0, never wider than the screen.
package struct ScreenLine: Equatable, Sendable {
    package var spans: [Span]

    package init(_ spans: [Span] = []) {
        self.spans = spans
    }

    package init(_ text: String, _ style: TextStyle = .plain) {
        self.spans = [Span(text, style)]
    }

    package var text: String { spans.map(\.text).joined() }

    /// The line cut to `width` characters.
    func clipped(to width: Int) -> ScreenLine {
        var remaining = width
        var out: [Span] = []
        for span in spans where remaining > 0 {
            let count = span.text.count
            if count <= remaining {
                out.append(span)
                remaining -= count
            } else {
                out.append(Span(String(span.text.prefix(remaining)), span.style))
                remaining = 0
            }
        }
        return ScreenLine(out)
    }
}

/// The whole terminal as text: exactly `rows` lines of at most `cols` characters, and where the cursor goes.
package struct Screen: Equatable, Sendable {
    package var cols: Int
    package var rows: Int
    package var lines: [ScreenLine]
    /// Row and column of the text cursor; `nil` hides it.
    package var cursor: (row: Int, col: Int)?

    package static func == (lhs: Screen, rhs: Screen) -> Bool {
        lhs.cols == rhs.cols && lhs.rows == rhs.rows && lhs.lines == rhs.lines
            && lhs.cursor?.row == rhs.cursor?.row && lhs.cursor?.col == rhs.cursor?.col
    }

    /// The screen as plain text, trailing spaces removed: what snapshot files hold.
    package var text: String {
        lines.map { line in
            var text = line.text
            while text.last == " " { text.removeLast() }
            return text
        }.joined(separator: "\n") + "\n"
    }
}

extension String {
    /// Pads with spaces to `width` characters, or cuts to it.
    func padded(_ width: Int) -> String {
        count >= width ? String(prefix(width)) : self + String(repeating: " ", count: width - count)
    }
}
