/// What a node holds: for each author, the highest sequence number up to which it holds every batch.
///
/// Because each author numbers its batches 1, 2, 3… with no gaps and a node applies them in that
/// order, one number per author says exactly which batches a node has.
public struct VersionVector: Hashable, Sendable, CustomStringConvertible {
    private var sequences: [ReplicaID: UInt64] = [:]

    /// The empty vector: holds nothing.
    public init() {}

    /// The highest contiguous sequence held from `author` (0 if none).
    public subscript(author: ReplicaID) -> UInt64 {
        sequences[author] ?? 0
    }

    /// Authors with at least one batch, in key order.
    public var authors: [ReplicaID] { sequences.keys.sorted() }

    /// The number of authors with at least one batch.
    public var count: Int { sequences.count }

    /// True if the batch is held.
    public func contains(_ batch: BatchID) -> Bool {
        batch.sequence >= 1 && batch.sequence <= self[batch.author]
    }

    /// Records that everything of `author` up to `sequence` is held; never moves backwards.
    package mutating func advance(_ author: ReplicaID, to sequence: UInt64) {
        if sequence > self[author] { sequences[author] = sequence }
    }

    /// True if every batch held by `self` is also held by `other`.
    package func isIncluded(in other: VersionVector) -> Bool {
        sequences.allSatisfy { other[$0.key] >= $0.value }
    }

    /// The batches `self` holds and `other` lacks, as (author, first…last) ranges in key order.
    public func missing(from other: VersionVector) -> [(author: ReplicaID, sequences: ClosedRange<UInt64>)] {
        authors.compactMap { author in
            let mine = self[author]
            let theirs = other[author]
            return mine > theirs ? (author, (theirs + 1)...mine) : nil
        }
    }

    /// The larger of both vectors, author by author.
    public func merged(with other: VersionVector) -> VersionVector {
        var result = self
        for (author, sequence) in other.sequences { result.advance(author, to: sequence) }
        return result
    }

    public var description: String {
        "[" + authors.map { "\($0): \(self[$0])" }.joined(separator: ", ") + "]"
    }
}
