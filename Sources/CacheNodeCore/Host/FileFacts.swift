/// What a probe found at a path the answers name (a certificate, a key): whether it can be read, and its PEM blocks.
package enum FileFacts: Equatable, Sendable {
    case missing
    /// A directory, a device or anything else that is not a regular file.
    case notAFile
    /// It exists but cannot be read, with the system's reason.
    case unreadable(String)
    /// Readable; the labels of its PEM blocks in order (`CERTIFICATE`, `PRIVATE KEY`, ...).
    case readable(pemLabels: [String])

    /// The labels of the PEM blocks in `text`: `X` for each `-----BEGIN X-----` line.
    package static func pemLabels(in text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let line = line.trimmingSpacesAndTabs()
            guard line.hasPrefix("-----BEGIN "), line.hasSuffix("-----"), line.count > 16 else { return nil }
            return String(line.dropFirst(11).dropLast(5))
        }
    }

    /// Why the file cannot serve as `what` ("a certificate"), given the PEM label it needs; `nil` when it can.
    /// `label` matches by suffix, so `PRIVATE KEY` accepts `RSA PRIVATE KEY` and `EC PRIVATE KEY`.
    package func problem(as what: String, label: String) -> String? {
        switch self {
        case .missing: "no such file"
        case .notAFile: "not a regular file"
        case .unreadable(let reason): "cannot be read: \(reason)"
        case .readable(let labels) where !labels.contains(where: { $0.hasSuffix(label) }):
            "holds no PEM \(what) (no -----BEGIN \(label)----- line)"
        case .readable: nil
        }
    }
}

extension Substring {
    fileprivate func trimmingSpacesAndTabs() -> Substring {
        var view = self
        while view.first == " " || view.first == "\t" || view.first == "\r" { view.removeFirst() }
        while view.last == " " || view.last == "\t" || view.last == "\r" { view.removeLast() }
        return view
    }
}
