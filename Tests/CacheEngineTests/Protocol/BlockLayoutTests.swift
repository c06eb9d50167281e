import CacheProtocol
import Testing

/// Where the bytes of a fill go, and which bytes of which blocks a response carries.
struct BlockLayoutTests {
    static let layout = BlockLayout(length: 250, blockSize: 100)

    /// Places `body` (starting at object offset `bodyStart`) into `blocks`, fed `chunk` bytes at a time.
    static func place(_ body: [UInt8], at bodyStart: Int64, into blocks: ClosedRange<Int>, chunk: Int) -> [Int: [UInt8]]
    {
        var placement = BodyPlacement(layout: layout, blocks: blocks, bodyStart: bodyStart)
        var placed: [Int: [UInt8]] = [:]
        var rest = body[...]
        feeding: while !rest.isEmpty {
            var piece = rest.prefix(chunk)
            rest = rest.dropFirst(piece.count)
            while !piece.isEmpty {
                switch placement.next(available: piece.count) {
                case .skip(let count): piece = piece.dropFirst(count)
                case .append(let block, let count, _):
                    placed[block, default: []] += piece.prefix(count)
                    piece = piece.dropFirst(count)
                case .done: break feeding
                }
            }
        }
        return placed
    }

    static let object = (0..<250).map { UInt8($0) }

    @Test(arguments: [1, 7, 100, 1000])
    func aRangedBodyFillsItsRunExactly(chunk: Int) {
        let placed = Self.place(Array(Self.object[100...]), at: 100, into: 1...2, chunk: chunk)
        #expect(placed == [1: Array(Self.object[100..<200]), 2: Array(Self.object[200..<250])])
    }

    /// An origin that ignored Range sends the object from its start: what precedes the run is skipped.
    @Test(arguments: [1, 33, 250])
    func aBodyFromTheStartIsSkippedToTheRun(chunk: Int) {
        let placed = Self.place(Self.object, at: 0, into: 1...1, chunk: chunk)
        #expect(placed == [1: Array(Self.object[100..<200])])
    }

    @Test func aBodyThatStartsAfterTheRunPlacesNothing() {
        #expect(Self.place(Array(Self.object[150...]), at: 150, into: 1...2, chunk: 10).isEmpty)
    }

    @Test func blocksPastTheObjectAreNeverFilled() {
        let placed = Self.place(Self.object + [9, 9, 9], at: 0, into: 0...5, chunk: 64)
        #expect(placed.keys.sorted() == [0, 1, 2])
        #expect(placed[2] == Array(Self.object[200..<250]))
    }

    @Test func piecesTileASpanAcrossBlocks() {
        #expect(
            Self.layout.pieces(of: 50...249) == [
                BlockLayout.Piece(block: 0, bytes: 50..<100), BlockLayout.Piece(block: 1, bytes: 0..<100),
                BlockLayout.Piece(block: 2, bytes: 0..<50),
            ]
        )
        #expect(Self.layout.pieces(of: 120...130) == [BlockLayout.Piece(block: 1, bytes: 20..<31)])
    }

    @Test(
        arguments: [
            (nil, ConditionalRequest(), 200, 0...249 as ClosedRange<Int64>?),
            ("bytes=10-19", ConditionalRequest(), 206, 10...19),
            ("bytes=-10", ConditionalRequest(), 206, 240...249),
            ("bytes=300-", ConditionalRequest(), 416, nil),
            ("bytes=10-19", ConditionalRequest(ifRange: "\"other\""), 200, 0...249),
            (nil, ConditionalRequest(ifNoneMatch: "\"e\""), 304, nil),
        ] as [(String?, ConditionalRequest, Int, ClosedRange<Int64>?)]
    )
    func anObjectResponseCarriesWhatItsHeadSays(
        range: String?,
        conditional: ConditionalRequest,
        status: Int,
        span: ClosedRange<Int64>?
    ) {
        let object = OriginObject(length: 250, etag: "\"e\"", lastModified: nil, contentType: nil)
        let response = ObjectResponse(object: object, range: range, conditional: conditional)
        #expect(response.status == status)
        #expect(response.span == span)
        let length = response.headers.first { $0.name == "Content-Length" }?.value
        #expect(length == span.map { "\($0.count)" } ?? (status == 200 ? "0" : nil))
    }
}
