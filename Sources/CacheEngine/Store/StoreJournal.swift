import CacheProtocol

/// One line of a drive's journal: the index is the replay of these records.
///
/// Tab-separated text, one record a line; a line without its newline (a write cut by `kill -9`) is ignored.
package enum JournalRecord: Equatable, Sendable {
    /// An object and its metadata; an existing record for the same id is replaced (its blocks dropped).
    case object(ObjectID, ObjectMetadata)
    /// A block written whole, fsynced and renamed into place.
    case block(ObjectID, Int)
    /// A block removed by eviction.
    case evicted(ObjectID, Int)
    /// An object removed with all its blocks.
    case dropped(ObjectID)

    package var line: String {
        switch self {
        case .object(let id, let meta):
            let fields = [
                "O", id.description, String(meta.length), String(meta.blockSize), Self.clean(meta.etag),
                Self.clean(meta.lastModified), Self.clean(meta.contentType), Self.clean(meta.key),
            ]
            return fields.joined(separator: "\t") + "\n"
        case .block(let id, let index): return "B\t\(id)\t\(index)\n"
        case .evicted(let id, let index): return "E\t\(id)\t\(index)\n"
        case .dropped(let id): return "D\t\(id)\n"
        }
    }

    /// Parses one line without its newline; `nil` for anything damaged.
    package init?(line: Substring) {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
        guard fields.count >= 2, let id = ObjectID(hex: fields[1]) else { return nil }
        switch fields[0] {
        case "O":
            guard fields.count == 8, let length = Int64(fields[2]), length >= 0, let blockSize = Int(fields[3]),
                blockSize > 0
            else { return nil }
            func optional(_ field: Substring) -> String? { field.isEmpty ? nil : String(field) }
            self = .object(
                id,
                ObjectMetadata(
                    key: String(fields[7]),
                    etag: optional(fields[4]),
                    lastModified: optional(fields[5]),
                    contentType: optional(fields[6]),
                    length: length,
                    blockSize: blockSize
                )
            )
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
        case UInt8(ascii: "O"):
            var tabs: [Int] = []
            tabs.reserveCapacity(7)
            for position in 0..<line.count where line[position] == UInt8(ascii: "\t") {
                tabs.append(position)
                if tabs.count == 7 { break }
            }
            guard tabs.count == 7 else { return nil }
            func field(_ number: Int) -> String {
                let end = number + 1 < tabs.count ? tabs[number + 1] : line.count
                return String(decoding: UnsafeBufferPointer(rebasing: line[(tabs[number] + 1)..<end]), as: UTF8.self)
            }
            func optional(_ number: Int) -> String? {
                let text = field(number)
                return text.isEmpty ? nil : text
            }
            guard let length = Int64(field(1)), length >= 0, let blockSize = Int(field(2)), blockSize > 0 else {
                return nil
            }
            self = .object(
                objectID,
                ObjectMetadata(
                    key: field(6),
                    etag: optional(3),
                    lastModified: optional(4),
                    contentType: optional(5),
                    length: length,
                    blockSize: blockSize
                )
            )
        default:
            return nil
        }
    }

    private static func clean(_ text: String?) -> String {
        (text ?? "").filter { $0 != "\t" && $0 != "\n" && $0 != "\r" }
    }
}
