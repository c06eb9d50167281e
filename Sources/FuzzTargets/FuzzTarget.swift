import CacheNodeCore
import Foundation

/// One parser that takes hostile bytes: it may refuse them, never crash or hang on them.
struct FuzzTarget: Sendable {
    var name: String
    var run: @Sendable ([UInt8]) -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "answer-file") { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            if let configuration = try? AnswerFile.load(text, sizing: sizing) {
                // What loads must emit and load again to the same model.
                let emitted = AnswerFile.emit(configuration, header: nil)
                guard let again = try? AnswerFile.load(emitted, sizing: sizing), again == configuration else {
                    fatalError("answer file does not round-trip:\n\(text)\n---\n\(emitted)")
                }
            }
        },
        FuzzTarget(name: "origin-allowlist") { bytes in
            // First line: a host to match; the rest: the allowlist text.
            let text = String(decoding: bytes, as: UTF8.self)
            let host = String(text.prefix { $0 != "\n" })
            let list = String(text.drop { $0 != "\n" })
            if let allowlist = try? OriginAllowlist(text: list, extra: [host]) {
                _ = allowlist.allows(host)
                _ = allowlist.isExplicit(host)
            }
            _ = OriginAllowlist.isValidHostName(host)
            _ = OriginAllowlist.isValidPattern(host)
        },
        FuzzTarget(name: "addresses") { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            _ = IPAddress(text)
            _ = IPInterface(text)
            _ = ListenAddress(text)
            if let proxy = ProxyURL(text) {
                precondition((1...65535).contains(proxy.port), "proxy port out of range")
            }
        },
    ]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// The sizing table of this source tree (fuzzing runs from a checkout).
    static let sizing: SizingTable = {
        let resources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Resources/sizing.yaml")
        guard let text = try? String(contentsOf: resources, encoding: .utf8), let table = try? SizingTable(yaml: text) else {
            fatalError("cannot load \(resources.path)")
        }
        return table
    }()
}
