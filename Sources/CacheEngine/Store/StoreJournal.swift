import CacheNodeCore
import CacheProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One line of a drive's journal: the index is the replay of these records.
///
/// Tab-separated text, one record a line; a line without its newline (a write cut by `kill -9`) is ignored.
package enum JournalRecord: Equatable, Sendable {
    /// An object and its metadata; an existing record for the same id is replaced (its blocks dropped).
    case object(ObjectID, ObjectMetadata)
    /// New fields and freshness for the same version of an object (a 304): its blocks are kept.
    case refreshed(ObjectID, ObjectMetadata)
    /// A block written whole, fsynced and renamed into place.
    case block(ObjectID, Int)
    /// A block removed by eviction.
    case evicted(ObjectID, Int)
    /// An object removed with all its blocks.
    case dropped(ObjectID)

    package var line: String {
        switch self {
        case .object(let id, let meta): return Self.metadataLine("O", id, meta)
        case .refreshed(let id, let meta): return Self.metadataLine("R", id, meta)
        case .block(let id, let index): return "B\t\(id)\t\(index)\n"
        case .evicted(let id, let index): return "E\t\(id)\t\(index)\n"
        case .dropped(let id): return "D\t\(id)\n"
        }
    }

    /// `O` or `R`, the id, length, block size, ETag, Last-Modified, type, key, then the freshness (response time,
    /// initial age, lifetime, flags) and the fields. Lines written before fields were kept end after the key.
    private static func metadataLine(_ kind: String, _ id: ObjectID, _ meta: ObjectMetadata) -> String {
        let freshness = meta.freshness
        let flags = (freshness.alwaysRevalidate ? "n" : "") + (freshness.mustRevalidate ? "m" : "")
        let fields = [
            kind, id.description, String(meta.length), String(meta.blockSize), Self.clean(meta.etag),
            Self.clean(meta.lastModified), Self.clean(meta.contentType), Self.clean(meta.key),
            String(freshness.responseTime), String(freshness.initialAge), String(freshness.lifetime), flags,
            meta.headers.map { Self.escape($0.name) + ":" + Self.escape($0.value) }.joined(separator: "\u{1F}"),
        ]
        return fields.joined(separator: "\t") + "\n"
    }

    /// Parses one line without its newline; `nil` for anything damaged.
    package init?(line: Substring) {
        // Split on the UTF-8 tab, not on Characters: a restart reads a line per object this way.
        var fields: [Substring] = []
        fields.reserveCapacity(13)
        var start = line.startIndex
        var position = line.utf8.startIndex
        while position != line.utf8.endIndex {
            if line.utf8[position] == 0x09 {
                fields.append(line[start..<position])
                start = line.utf8.index(after: position)
            }
            position = line.utf8.index(after: position)
        }
        fields.append(line[start...])
        guard fields.count >= 2, let id = ObjectID(hex: fields[1]) else { return nil }
        switch fields[0] {
        case "O", "R":
            guard let meta = Self.metadata(fields) else { return nil }
            self = fields[0] == "O" ? .object(id, meta) : .refreshed(id, meta)
        case "B", "E":
            guard fields.count == 3, let index = Int(fields[2]), index >= 0 else { return nil }
            self = fields[0] == "B" ? .block(id, index) : .evicted(id, index)
        case "D":
            guard fields.count == 2 else { return nil }
            self = .dropped(id)
        default:
            return nil
        }
    }

    private static func metadata(_ fields: [Substring]) -> ObjectMetadata? {
        guard fields.count == 8 || fields.count == 13, let length = Int64(fields[2]), length >= 0,
            let blockSize = Int(fields[3]), blockSize > 0
        else { return nil }
        func optional(_ field: Substring) -> String? { field.isEmpty ? nil : String(field) }
        var meta = ObjectMetadata(
            key: String(fields[7]),
            etag: optional(fields[4]),
            lastModified: optional(fields[5]),
            contentType: optional(fields[6]),
            length: length,
            blockSize: blockSize
        )
        guard fields.count == 13 else {
            // Stored before freshness was kept: stale from the time it is read, so its next use revalidates it and an
            // unreachable origin still leaves it served for `stale_if_error_s`.
            meta.freshness.responseTime = Int64(time(nil))
            return meta
        }
        // Bounded, so that a damaged line cannot overflow an age.
        let bound: ClosedRange<Int64> = 0...(1 << 40)
        guard let responseTime = Int64(fields[8]), let initialAge = Int64(fields[9]), let lifetime = Int64(fields[10]),
            bound.contains(responseTime), bound.contains(initialAge), bound.contains(lifetime)
        else { return nil }
        meta.freshness = Freshness(
            responseTime: responseTime,
            initialAge: initialAge,
            lifetime: lifetime,
            alwaysRevalidate: fields[11].contains("n"),
            mustRevalidate: fields[11].contains("m")
        )
        meta.headers = fields[12].split(separator: "\u{1F}").compactMap { field in
            guard let colon = field.firstIndex(of: ":") else { return nil }
            return HeaderField(unescape(field[..<colon]), unescape(field[field.index(after: colon)...]))
        }
        return meta
    }

    /// Parses one line's bytes without its newline; block records avoid building strings (start-up speed).
    init?(bytes line: UnsafeBufferPointer<UInt8>) {
        guard line.count >= 18, line[1] == UInt8(ascii: "\t") else { return nil }
        var id: UInt64 = 0
        for position in 2..<18 {
            let byte = line[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            id = id << 4 | UInt64(digit)
        }
        let objectID = ObjectID(value: id)
        switch line[0] {
        case UInt8(ascii: "B"), UInt8(ascii: "E"):
            guard line.count > 19, line[18] == UInt8(ascii: "\t") else { return nil }
            var index = 0
            for position in 19..<line.count {
                let byte = line[position]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), index < Int.max / 10 - 10 else {
                    return nil
                }
                index = index * 10 + Int(byte - UInt8(ascii: "0"))
            }
            self = line[0] == UInt8(ascii: "B") ? .block(objectID, index) : .evicted(objectID, index)
        case UInt8(ascii: "D"):
            guard line.count == 18 else { return nil }
            self = .dropped(objectID)
        case UInt8(ascii: "O"), UInt8(ascii: "R"):
            self.init(line: Substring(String(decoding: line, as: UTF8.self)))
        default:
            return nil
        }
    }

    private static func clean(_ text: String?) -> String {
        (text ?? "").filter { $0 != "\t" && $0 != "\n" && $0 != "\r" }
    }

    /// A field name or value with `%`, tab, line breaks and the field separator as `%XX`.
    private static func escape(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x25 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || $0 == 0x1F })
        else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x25, 0x09, 0x0A, 0x0D, 0x1F:
                result += "%" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16, uppercase: true)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func unescape(_ text: Substring) -> String {
        text.contains("%") ? String(text).removingPercentEscapes() : String(text)
    }
}
