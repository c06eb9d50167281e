import CacheNodeCore
import CacheProtocol
import Foundation

/// One parser (or, for `exchange`, one request and response through the engine's decisions) that takes hostile
/// bytes: it may refuse them, never crash or hang on them.
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
        FuzzTarget(name: "range-header") { bytes in
            // First 8 bytes: the object's length; the rest: the Range header value.
            guard bytes.count >= 8 else { return }
            let length = Int64(bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } % (1 << 42))
            guard let header = RangeHeader(String(decoding: bytes.dropFirst(8), as: UTF8.self)) else { return }
            if case .partial(let range) = header.resolve(length: length) {
                precondition(range.lowerBound >= 0 && range.upperBound < length, "range \(range) outside 0..<\(length)")
            }
        },
        FuzzTarget(name: "request-target") { bytes in
            // First line: the request target; second line, when present: the Host header.
            let lines = String(decoding: bytes, as: UTF8.self).split(
                separator: "\n",
                maxSplits: 1,
                omittingEmptySubsequences: false
            )
            let target = String(lines.first ?? "")
            let host = lines.count > 1 ? String(lines[1]) : nil
            guard let request = try? CacheRequest.parse(target: target, hostHeader: host) else { return }
            // What reaches a file name or the origin never climbs out of the root.
            let segments = request.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            precondition(request.path.hasPrefix("/"), "path \(request.path) is not absolute")
            precondition(!segments.contains(".."), "path \(request.path) climbs")
            precondition(
                !request.originURL.contains("\r") && !request.originURL.contains("\n"),
                "CR or LF in \(request.originURL)"
            )
            precondition(!request.host.isEmpty, "empty host")
            _ = policy.check(request)
        },
        FuzzTarget(name: "exchange", run: Exchange.run),
    ]

    /// The shipped allowlist plus the loopback origin tests use, as the engine sees them.
    static let policy: OriginPolicy = {
        let origins = repository.appendingPathComponent("Resources/origins.txt")
        guard let text = try? String(contentsOf: origins, encoding: .utf8),
            let allowlist = try? OriginAllowlist(text: text, extra: ["127.0.0.1"])
        else { fatalError("cannot load \(origins.path)") }
        return OriginPolicy(allowlist: allowlist, listen: ListenAddress("0.0.0.0:80"))
    }()

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// The sizing table of this source tree (fuzzing runs from a checkout).
    static let sizing: SizingTable = {
        let resources = repository.appendingPathComponent("Resources/sizing.yaml")
        guard let text = try? String(contentsOf: resources, encoding: .utf8), let table = try? SizingTable(yaml: text)
        else {
            fatalError("cannot load \(resources.path)")
        }
        return table
    }()
}
