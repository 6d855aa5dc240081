import PeerCrypto

/// Finds where an ISO BMFF video's index box (`moov`) sits from its top-level box headers, so a
/// receiver fetches it early wherever it is (often after a large `mdat`, at the end of the file):
/// a player cannot start without it.
///
/// Pure bookkeeping over chunk plaintexts: it says which chunk holds the next header it needs,
/// and, once it has read the `moov` header, which chunks the box spans. Input is hostile: sizes
/// that run past the blob, zero-sized boxes and more than `maxBoxes` headers end the walk.
struct VideoIndexLocator: Sendable {
    /// Headers read before giving up: real files have a handful of top-level boxes.
    static let maxBoxes = 64

    /// What the walk needs next.
    enum Step: Equatable {
        /// The header at this byte offset, which lies in these chunks (one, or two when it straddles).
        case needHeader(offset: Int, chunks: ClosedRange<Int>)
        /// The index box spans these chunks: fetch them next.
        case found(chunks: ClosedRange<Int>)
        /// No index box found (not ISO BMFF, a damaged header, or the end of the blob).
        case done
    }

    let size: Int
    private(set) var step: Step
    private var boxes = 0

    /// Starts at the blob's first header.
    init(size: Int) {
        self.size = size
        step = size >= 8 ? .needHeader(offset: 0, chunks: Self.chunks(0, 16, size: size)) : .done
    }

    private static func chunks(_ offset: Int, _ length: Int, size: Int) -> ClosedRange<Int> {
        let last = min(offset + length, size) - 1
        return (offset / BlobSealer.chunkSize)...(max(offset, last) / BlobSealer.chunkSize)
    }

    /// Reads the header the walk waits for from `bytes`, which start at byte `start` of the blob
    /// (the plaintext of the chunks `step` names, concatenated). Returns the new step.
    @discardableResult
    mutating func read(_ bytes: ArraySlice<UInt8>, at start: Int) -> Step {
        guard case .needHeader(let offset, _) = step else { return step }
        boxes += 1
        let local = offset - start
        guard boxes <= Self.maxBoxes, local >= 0, local + 8 <= bytes.count else {
            step = .done
            return step
        }
        let base = bytes.startIndex + local
        func word(_ at: Int) -> UInt64 { bytes[at..<at + 4].reduce(0) { $0 << 8 | UInt64($1) } }
        var boxSize = word(base)
        let type = String(decoding: bytes[(base + 4)..<(base + 8)], as: UTF8.self)
        var headerLength: UInt64 = 8
        if boxSize == 1 {
            // A 64-bit size follows the type.
            guard local + 16 <= bytes.count else {
                step = .done
                return step
            }
            boxSize = word(base + 8) << 32 | word(base + 12)
            headerLength = 16
        } else if boxSize == 0 {
            boxSize = UInt64(size - offset)  // to the end of the file
        }
        guard boxSize >= headerLength, boxSize <= UInt64(size - offset) else {
            step = .done
            return step
        }
        if type == "moov" {
            step = .found(chunks: Self.chunks(offset, Int(boxSize), size: size))
            return step
        }
        let next = offset + Int(boxSize)
        step = next + 8 <= size ? .needHeader(offset: next, chunks: Self.chunks(next, 16, size: size)) : .done
        return step
    }
}
