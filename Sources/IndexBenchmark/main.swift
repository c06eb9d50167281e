import CacheEngine
import CacheNodeCore
import Foundation
import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// The block index at a production size: a journal of N blocks of 1 MiB over several drives (a full 1 TB cache at a
/// million), then the store opened as at a restart. Prints one line per figure, `name value unit`, for
/// Benchmarks/run: restart time, index memory per block, and the cost of an eviction batch on a full drive.
///
/// Usage: cachenode-index-bench [--blocks 1000000] [--drives 4] [--directory DIR]
struct Options {
    var blocks = 1_000_000
    var drives = 4
    var directory = NSTemporaryDirectory() + "cachenode-index-bench-\(getpid())"

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--blocks": blocks = Int(iterator.next() ?? "") ?? blocks
            case "--drives": drives = Int(iterator.next() ?? "") ?? drives
            case "--directory": directory = iterator.next() ?? directory
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
    }
}

let options = Options(CommandLine.arguments)
let blockSize = 1 << 20
let blocksPerObject = 100
let logger = Logger(label: "index-bench", factory: { _ in SwiftLogNoOpLogHandler() })

/// Resident memory of this process, after returning freed heap to the system.
func residentBytes() -> Int {
    if let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "malloc_trim") {
        _ = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)(0)
    }
    let fields = ((try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "").split(separator: " ")
    return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

@MainActor func seconds(_ body: () throws -> Void) rethrows -> Double {
    let started = ContinuousClock.now
    try body()
    let elapsed = ContinuousClock.now - started
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

// The journals, as a node that has filled its drives writes them: objects of 100 blocks, their blocks in order.
let objects = (options.blocks + blocksPerObject - 1) / blocksPerObject
var perDrive = [Int](repeating: 0, count: options.drives)
var journals = [String](repeating: "", count: options.drives)
for object in 0..<objects {
    let drive = object % options.drives
    let count = min(blocksPerObject, options.blocks - object * blocksPerObject)
    let key =
        "au.download.windowsupdate.com/filestreamingservice/files/\(UUID().uuidString.lowercased())?P1=1700000000&P2=404"
    let meta = ObjectMetadata(
        key: key,
        etag: "\"0x8DB\(object)\"",
        lastModified: "Tue, 14 Nov 2023 18:00:00 GMT",
        contentType: "application/octet-stream",
        length: Int64(count * blockSize),
        blockSize: blockSize
    )
    let id = ObjectID(key: key)
    journals[drive] += JournalRecord.object(id, meta).line
    for index in 0..<count { journals[drive] += JournalRecord.block(id, index).line }
    perDrive[drive] += count
}
let journalBytes = journals.reduce(0) { $0 + $1.utf8.count }
for (index, journal) in journals.enumerated() {
    let root = "\(options.directory)/drive\(index)/cachenode"
    try FileManager.default.createDirectory(atPath: root + "/blocks", withIntermediateDirectories: true)
    try "cachenode-store 1\nblock_size \(blockSize)\n".write(
        toFile: root + "/format",
        atomically: true,
        encoding: .utf8
    )
    try journal.write(toFile: root + "/journal", atomically: true, encoding: .utf8)
}
journals = []
defer { try? FileManager.default.removeItem(atPath: options.directory) }

// Full drives: the blocks, their journal and 2 MiB more.
@MainActor func drives() -> [BlockStore.Drive] {
    (0..<options.drives).map { index in
        let journal =
            (try? FileManager.default.attributesOfItem(atPath: "\(options.directory)/drive\(index)/cachenode/journal")[
                .size
            ] as? NSNumber)?.int64Value ?? 0
        return BlockStore.Drive(
            path: "\(options.directory)/drive\(index)",
            capacityBytes: Int64(perDrive[index] * blockSize) + journal + 2 << 20
        )
    }
}

// Restart: the median of three openings (the first also warms the page cache, as a restart finds it).
var restarts: [Double] = []
for _ in 0..<3 {
    restarts.append(try seconds { _ = try BlockStore(drives: drives(), blockSize: blockSize, logger: logger) })
}
restarts.sort()

let before = residentBytes()
var store: BlockStore? = try BlockStore(drives: drives(), blockSize: blockSize, logger: logger)
let after = residentBytes()
let loaded = store!.driveStatus().reduce(0) { $0 + $1.usedBytes } / Int64(blockSize)

// Eviction: new blocks on a full drive until one store evicts a batch; its time is the batch's cost.
var batch: (seconds: Double, blocks: Int)?
let payload = [ByteBuffer(repeating: 0x5A, count: blockSize)]
for round in 0..<64 where batch == nil {
    let key = "au.download.windowsupdate.com/filestreamingservice/files/new-\(round)"
    let meta = ObjectMetadata(
        key: key,
        etag: "\"n\(round)\"",
        lastModified: nil,
        contentType: nil,
        length: Int64(blockSize),
        blockSize: blockSize
    )
    let held = store!.driveStatus().reduce(0) { $0 + $1.usedBytes }
    let elapsed = seconds { store!.store(meta, block: 0, chunks: payload) }
    let freed = held + Int64(blockSize) - store!.driveStatus().reduce(0) { $0 + $1.usedBytes }
    if freed > 0 { batch = (elapsed, Int(freed) / blockSize) }
}
store = nil

print("blocks \(loaded)")
print("objects \(objects)")
print("journal_bytes_per_block \(String(format: "%.1f", Double(journalBytes) / Double(options.blocks)))")
print("restart_seconds \(String(format: "%.3f", restarts[1]))")
print("index_bytes_per_block \(String(format: "%.1f", Double(after - before) / Double(loaded)))")
if let batch {
    print("eviction_batch_blocks \(batch.blocks)")
    print("eviction_batch_ms \(String(format: "%.1f", batch.seconds * 1000))")
    print("eviction_us_per_block \(String(format: "%.2f", batch.seconds * 1e6 / Double(batch.blocks)))")
}
