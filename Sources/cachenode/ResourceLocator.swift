import CacheNodeCore
import Installer

#if canImport(Glibc)
    import Glibc
#endif

/// Finds `Resources/` and `Templates/`: `CACHENODE_RESOURCES`, then `<binary>/../share/cachenode`,
/// then the nearest parent of the binary that holds them (a build tree), then this source tree.
enum ResourceLocator {
    static func resourcesDirectory() throws(CommandFailure) -> String {
        if let override = getenv("CACHENODE_RESOURCES").map({ String(cString: $0) }), !override.isEmpty {
            guard isFile(override + "/sizing.yaml") else {
                throw CommandFailure(.failure, "CACHENODE_RESOURCES=\(override) has no sizing.yaml")
            }
            return override
        }
        var candidates: [String] = []
        if let binary = executableDirectory() {
            candidates.append(binary + "/../share/cachenode/Resources")
            var directory = binary
            while directory != "/" && !directory.isEmpty {
                candidates.append(directory + "/Resources")
                directory = String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)])
            }
        }
        let sourceRoot = String(#filePath).components(separatedBy: "/Sources/").first ?? ""
        candidates.append(sourceRoot + "/Resources")
        for candidate in candidates where isFile(candidate + "/sizing.yaml") && isFile(candidate + "/origins.txt") {
            return candidate
        }
        throw CommandFailure(
            .failure,
            "cannot find the Resources directory (sizing.yaml, origins.txt); set CACHENODE_RESOURCES"
        )
    }

    /// The sizing table, read and checked.
    static func sizingTable() throws(CommandFailure) -> SizingTable {
        let path = try resourcesDirectory() + "/sizing.yaml"
        do {
            return try SizingTable(yaml: try TextFile.read(path))
        } catch let error as SizingTableError {
            throw CommandFailure(.failure, "\(path): \(error)")
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
    }

    private static func executableDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let path = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
    }

    private static func isFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }
}

extension String {
    func components(separatedBy separator: String) -> [String] {
        split(separator: separator, omittingEmptySubsequences: false).map(String.init)
    }
}

/// Reads and validates an answer file the way every command reports it: `FILE:LINE: key.path: ...`, exit 2.
enum AnswerFileInput {
    static func load(_ file: String, sizing: SizingTable) throws(CommandFailure) -> NodeConfiguration {
        let text: String
        do {
            text = try TextFile.read(file, limit: AnswerFile.maximumBytes)
        } catch .tooLarge(_, let bytes, let limit) {
            throw CommandFailure(
                .invalid,
                "\(file):1: the file is \(bytes) bytes, too large for an answer file (at most \(limit) bytes)"
            )
        } catch .notText {
            throw CommandFailure(.invalid, "\(file):1: the file holds binary data, not YAML text")
        } catch {
            throw CommandFailure(.invalid, "\(error)")
        }
        do {
            return try AnswerFile.load(text, sizing: sizing)
        } catch {
            throw CommandFailure(.invalid, error.formatted(file: file))
        }
    }
}
