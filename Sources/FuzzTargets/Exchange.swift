import CacheNodeCore
import CacheProtocol

/// One client request and one origin response through the engine's decisions, in the engine's order: the head's
/// rules, the request target, the origin answer, the placement of its body in blocks, and the response the client
/// gets. Checks that no byte reaches the store or the client as the object's unless it is the origin's identity byte
/// at that offset.
///
/// Input: a byte choosing the block size, a byte choosing the body's chunk size, then the client's request head,
/// a blank line, the origin's response head, a blank line and the origin's body (lines end in CRLF or LF).
enum Exchange {
    static func run(_ bytes: [UInt8]) {
        guard bytes.count > 2 else { return }
        let blockSize = 1 << (4 + Int(bytes[0] % 8))
        let chunkSize = 1 + Int(bytes[1])
        let (requestText, rest) = splitHead(bytes[2...])
        let (responseText, body) = splitHead(rest)
        guard let request = parseHead(requestText), let response = parseHead(responseText) else { return }
        let requestParts = request.start.split(separator: " ", omittingEmptySubsequences: false)
        guard requestParts.count == 3, let version = version(requestParts[2]) else { return }
        let head = RequestHead(
            method: String(requestParts[0]),
            major: version.0,
            minor: version.1,
            headers: request.headers
        )

        // 1. The head alone: a body is never read, so its refusal always closes the connection.
        if let refusal = head.refusal {
            precondition([400, 405].contains(refusal.status), "refusal \(refusal.status)")
            precondition(!head.announcesBody || refusal.closesConnection, "a request body would be read")
            return
        }
        precondition(head.values("host").count <= 1, "two Host headers accepted")
        let target = String(requestParts[1])
        guard let cacheRequest = try? CacheRequest.parse(target: target, hostHeader: head.values("host").first) else {
            return
        }
        if target.lowercased().hasPrefix("http://"), let host = head.values("host").first {
            // An absolute-form target and its Host never disagree.
            precondition((try? CacheRequest.parseAuthority(host)) != nil, "Host \(host) is not an authority")
        }
        _ = cacheRequest.originURL

        // 2. The origin's answer to the engine's block-aligned request.
        let range = head.values("range").first
        let requestedStart = (range.flatMap(RangeHeader.init)?.knownStart ?? 0) / Int64(blockSize) * Int64(blockSize)
        let statusParts = response.start.split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]), (100...999).contains(status) else { return }
        let answer = OriginAnswer.classify(status: status, headers: response.headers, requestedStart: requestedStart)
        let codings = tokens(response.headers, "content-encoding")
        let transfer = tokens(response.headers, "transfer-encoding")
        let vary = tokens(response.headers, "vary")
        if case .object = answer {
            precondition(status == 200 || status == 206, "\(status) taken as the object")
            precondition(codings.allSatisfy { $0 == "identity" }, "Content-Encoding \(codings) taken as the object")
            precondition(transfer.allSatisfy { $0 == "chunked" }, "Transfer-Encoding \(transfer) taken as the object")
            precondition(vary.allSatisfy { $0 == "accept-encoding" }, "Vary \(vary) taken as the object")
        }
        if !transfer.allSatisfy({ $0 == "chunked" }) {
            precondition(
                OriginAnswer.relayRefusal(status: status, headers: response.headers, ranged: false) != nil,
                "transfer coding relayed"
            )
        }
        if OriginAnswer.relayRefusal(status: status, headers: response.headers, ranged: range != nil) == nil,
            range != nil
        {
            precondition(codings.allSatisfy { $0 == "identity" }, "encoded bytes relayed for a range")
        }
        guard case .object(let object, let bodyStart) = answer else { return }
        precondition(
            status != 206 || bodyStart == requestedStart,
            "206 placed at \(bodyStart), asked \(requestedStart)"
        )

        // 3. The body into the blocks of one run, as a fill stores them: each byte the origin's at its offset.
        let layout = BlockLayout(length: object.length, blockSize: blockSize)
        // Small objects: a 200 walks every block of the object.
        guard object.length > 0, object.length <= 1 << 16 else { return }
        let first = Int(requestedStart / Int64(blockSize))
        let run = first...(first + Int(bytes[0] / 8 % 4))
        var placement = BodyPlacement(layout: layout, blocks: run, bodyStart: bodyStart)
        var blocks: [Int: [UInt8]] = [:]
        var stored: [Int: [UInt8]] = [:]
        var position = body.startIndex
        reading: while position < body.endIndex {
            var chunk = body[position..<min(body.endIndex, position + chunkSize)]
            position = chunk.endIndex
            while !chunk.isEmpty {
                switch placement.next(available: chunk.count) {
                case .skip(let count):
                    chunk = chunk.dropFirst(count)
                case .append(let block, let count, let completes):
                    precondition(run.contains(block) && block < layout.blockCount, "block \(block) outside the run")
                    blocks[block, default: []] += chunk.prefix(count)
                    chunk = chunk.dropFirst(count)
                    if completes { stored[block] = blocks[block] }
                case .done:
                    break reading
                }
            }
        }
        for (block, data) in stored {
            precondition(data.count == layout.blockLength(block), "block \(block) stored with \(data.count) bytes")
            let from = Int(layout.start(of: block) - bodyStart)
            precondition(
                from >= 0 && data[...] == body[(body.startIndex + from)...].prefix(data.count),
                "block \(block) holds wrong bytes"
            )
        }

        // 4. The client's response from the stored blocks: its head describes exactly the bytes it carries.
        let conditional = ConditionalRequest(
            ifNoneMatch: head.values("if-none-match").first,
            ifModifiedSince: head.values("if-modified-since").first,
            ifRange: head.values("if-range").first
        )
        let answerToClient = ObjectResponse(object: object, range: range, conditional: conditional)
        let field = { (name: String) in answerToClient.headers.first { $0.name.lowercased() == name }?.value }
        switch answerToClient.status {
        case 200:
            precondition(answerToClient.span == 0...(object.length - 1), "200 without the whole object")
        case 206:
            let span = answerToClient.span!
            precondition(span.lowerBound >= 0 && span.upperBound < object.length, "206 outside the object")
            precondition(
                field("content-range") == "bytes \(span.lowerBound)-\(span.upperBound)/\(object.length)",
                "Content-Range"
            )
        case 304, 416:
            precondition(answerToClient.span == nil, "a body on \(answerToClient.status)")
        default:
            preconditionFailure("status \(answerToClient.status)")
        }
        guard let span = answerToClient.span else { return }
        precondition(field("content-length") == "\(span.upperBound - span.lowerBound + 1)", "Content-Length")
        var served: [UInt8] = []
        var next = span.lowerBound
        for piece in layout.pieces(of: span) {
            precondition(layout.start(of: piece.block) + Int64(piece.bytes.lowerBound) == next, "pieces leave a gap")
            precondition(piece.bytes.upperBound <= layout.blockLength(piece.block), "piece past its block")
            next += Int64(piece.bytes.count)
            guard let data = stored[piece.block] else { continue }
            served += data[piece.bytes]
            let from = Int(layout.start(of: piece.block) + Int64(piece.bytes.lowerBound) - bodyStart)
            precondition(
                data[piece.bytes] == body[(body.startIndex + from)...].prefix(piece.bytes.count),
                "wrong bytes served"
            )
        }
        precondition(next == span.upperBound + 1, "pieces do not cover the span")
        _ = served
    }

    /// The head (up to the first blank line) and what follows it.
    static func splitHead(_ bytes: ArraySlice<UInt8>) -> (String, ArraySlice<UInt8>) {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == 10 {
                let next = bytes.index(after: index)
                if next < bytes.endIndex, bytes[next] == 10 { return (text(bytes[..<index]), bytes[(next + 1)...]) }
                if next + 1 < bytes.endIndex, bytes[next] == 13, bytes[next + 1] == 10 {
                    return (text(bytes[..<index]), bytes[(next + 2)...])
                }
            }
            index += 1
        }
        return (text(bytes), [])
    }

    static func text(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// The start line and the header fields, or `nil` without a start line.
    static func parseHead(_ text: String) -> (start: String, headers: [(name: String, value: String)])? {
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
        guard let start = lines.first, !start.isEmpty else { return nil }
        let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: " \t"))
        }
        return (String(start), headers)
    }

    static func version(_ text: Substring) -> (Int, Int)? {
        guard text.hasPrefix("HTTP/"), text.count == 8, let major = Int(text.dropFirst(5).prefix(1)),
            let minor = Int(text.suffix(1))
        else { return nil }
        return (major, minor)
    }

    /// The lowercased list elements of every field named `name`.
    static func tokens(_ headers: [(name: String, value: String)], _ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name }.flatMap {
            $0.value.split(separator: ",").map { $0.trimmingCharacters(in: " \t").lowercased() }.filter { !$0.isEmpty }
        }
    }
}
