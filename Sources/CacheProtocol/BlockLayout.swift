/// How an object of `length` bytes falls into blocks of `blockSize` bytes (the last one may be short).
package struct BlockLayout: Equatable, Sendable {
    package var length: Int64
    package var blockSize: Int

    package init(length: Int64, blockSize: Int) {
        self.length = length
        self.blockSize = blockSize
    }

    /// How many blocks the object has.
    package var blockCount: Int { Int((length + Int64(blockSize) - 1) / Int64(blockSize)) }

    /// The object offset where block `index` starts.
    package func start(of index: Int) -> Int64 { Int64(index) * Int64(blockSize) }

    /// The byte length of block `index` (the last one may be short).
    package func blockLength(_ index: Int) -> Int {
        Int(min(Int64(blockSize), length - start(of: index)))
    }

    /// One block's share of a span: the block and the bytes of it, counted from the block's start.
    package struct Piece: Equatable, Sendable {
        package var block: Int
        package var bytes: Range<Int>

        package init(block: Int, bytes: Range<Int>) {
            self.block = block
            self.bytes = bytes
        }
    }

    /// The pieces that make up `span` in order, within the object.
    package func pieces(of span: ClosedRange<Int64>) -> [Piece] {
        guard span.lowerBound >= 0, length > 0 else { return [] }
        let last = min(span.upperBound, length - 1)
        var pieces: [Piece] = []
        var position = span.lowerBound
        while position <= last {
            let block = Int(position / Int64(blockSize))
            let blockStart = start(of: block)
            let until = Int(min(last + 1, blockStart + Int64(blockLength(block))) - blockStart)
            pieces.append(Piece(block: block, bytes: Int(position - blockStart)..<until))
            position = blockStart + Int64(until)
        }
        return pieces
    }
}

/// Places an origin body into the blocks of one run of blocks, in arrival order.
///
/// The body starts at object offset `bodyStart`: bytes before the run are skipped (an origin that ignored `Range`),
/// each block takes exactly its length, and nothing after the run's last block is used. A body that starts after
/// the run (a gap) places nothing.
package struct BodyPlacement: Sendable {
    /// What to do with the next bytes of the body.
    package enum Step: Equatable, Sendable {
        /// Drop this many bytes: they come before the run.
        case skip(Int)
        /// The next `count` bytes belong to `block`; `completes` when they are its last.
        case append(block: Int, count: Int, completes: Bool)
        /// The run is whole, or cannot be placed: the rest of the body is not used.
        case done
    }

    package let layout: BlockLayout
    /// The object offset of the next body byte.
    package private(set) var offset: Int64
    /// The block the next placed byte goes to.
    package private(set) var block: Int
    /// The run's last block within the object.
    package let lastBlock: Int
    private var filled = 0

    package init(layout: BlockLayout, blocks: ClosedRange<Int>, bodyStart: Int64) {
        self.layout = layout
        offset = bodyStart
        block = blocks.lowerBound
        lastBlock = min(blocks.upperBound, layout.blockCount - 1)
    }

    /// Whether every block of the run has all its bytes.
    package var isComplete: Bool { block > lastBlock }

    /// The next step for `available` bytes of body (more than zero).
    package mutating func next(available: Int) -> Step {
        guard available > 0, block >= 0, block <= lastBlock else { return .done }
        let needed = layout.start(of: block) + Int64(filled)
        if offset < needed {
            let count = Int(min(Int64(available), needed - offset))
            offset += Int64(count)
            return .skip(count)
        }
        guard offset == needed else { return .done }
        let blockLength = layout.blockLength(block)
        let count = min(available, blockLength - filled)
        let placed = block
        offset += Int64(count)
        filled += count
        let completes = filled == blockLength
        if completes {
            block += 1
            filled = 0
        }
        return .append(block: placed, count: count, completes: completes)
    }
}
