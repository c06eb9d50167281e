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

    /// Columns the line takes: one per character.
    var width: Int { spans.reduce(0) { $0 + $1.text.count } }

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

    /// The line broken at spaces into lines of at most `width` columns, each style kept; continuation lines start
    /// with `indent` spaces. A word longer than a whole line is split after a `/` or `,` (or anywhere, as a last
    /// resort), so nothing is lost.
    func wrapped(to width: Int, indent: Int) -> [ScreenLine] {
        guard self.width > width, width > 0 else { return [self] }
        let indent = max(0, min(indent, width / 2))
        let cells = spans.flatMap { span in span.text.map { ($0, span.style) } }
        let firstWord = cells.firstIndex { $0.0 != " " } ?? 0
        var lines: [ScreenLine] = []
        var start = 0
        while start < cells.count {
            let room = lines.isEmpty ? width : width - indent
            var end = min(cells.count, start + room)
            var next = end
            if end < cells.count {
                // Break at the last space inside the room, after the first word; a word longer than the whole room
                // (a path, a list of addresses) breaks after its last `/` or `,` that fits.
                let limit = min(cells.count - 1, start + room - 1)
                if let space = (start...limit).last(where: { cells[$0].0 == " " && $0 > max(start, firstWord) }) {
                    end = space
                    next = space + 1
                } else if let separator = (start..<(start + room)).last(where: {
                    "/,".contains(cells[$0].0) && $0 > start
                }) {
                    end = separator + 1
                    next = separator + 1
                }
            }
            while end > start, cells[end - 1].0 == " " { end -= 1 }
            while next < cells.count, cells[next].0 == " " { next += 1 }
            var line = ScreenLine(lines.isEmpty ? [] : [Span(String(repeating: " ", count: indent))])
            for (character, style) in cells[start..<end] {
                if line.spans.last?.style == style, !line.spans.isEmpty {
                    line.spans[line.spans.count - 1].text.append(character)
                } else {
                    line.spans.append(Span(String(character), style))
                }
            }
            lines.append(line)
            start = next
        }
        return lines
    }

    /// This line with `other` drawn over it from `column`; the line is padded with spaces to reach it.
    func overlaid(_ other: ScreenLine, at column: Int) -> ScreenLine {
        let base = width < column ? ScreenLine(spans + [Span(String(repeating: " ", count: column - width))]) : self
        let after = base.slice(column + other.width, base.width)
        return ScreenLine(base.slice(0, column).spans + other.spans + after.spans)
    }

    /// The columns `from..<to` of the line, styles kept.
    private func slice(_ from: Int, _ to: Int) -> ScreenLine {
        var out: [Span] = []
        var position = 0
        for span in spans {
            let count = span.text.count
            let lower = max(from, position)
            let upper = min(to, position + count)
            if lower < upper {
                let text = span.text.dropFirst(lower - position).prefix(upper - lower)
                out.append(Span(String(text), span.style))
            }
            position += count
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

    /// The text in at most `width` characters: when too long, its middle becomes `…`, keeping more of the end
    /// (from a `/` where there is one, so a path keeps its last directories): `/tmp/hands/de…/var/lib/cachenode`.
    func shortenedInMiddle(to width: Int) -> String {
        guard count > width else { return self }
        guard width > 2 else { return String(prefix(width)) }
        let room = width - 1
        let tailRoom = room * 6 / 10
        var tail = suffix(tailRoom)
        if let slash = tail.firstIndex(of: "/"), tail.distance(from: tail.startIndex, to: slash) < tailRoom / 2 {
            tail = tail[slash...]
        }
        return String(prefix(room - tail.count)) + "…" + tail
    }

    /// The words of the text in lines of at most `width` characters; a word longer than a line is shortened in the
    /// middle. For table cells, where a row must stay a few lines high.
    func wrappedWords(_ width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in split(separator: " ").map({ String($0).shortenedInMiddle(to: width) }) {
            if line.isEmpty {
                line = word
            } else if line.count + 1 + word.count <= width {
                line += " " + word
            } else {
                lines.append(line)
                line = word
            }
        }
        return lines.isEmpty || !line.isEmpty ? lines + [line] : lines
    }
}
