/// Batches that arrived before their author's previous batch, waiting for the gap to fill.
///
/// Bounded in count and bytes, so a peer that sends batches far ahead cannot make a node hoard
/// memory. When full, the batch that is furthest from being applicable (largest gap to its
/// author's next expected sequence) goes first; nothing is lost for good, since sync offers
/// every batch again until the receiver's vector shows it. Not thread-safe; owned by a `Replica`.
public struct HoldBackBuffer: Sendable {
    /// The buffer's bounds.
    public struct Bounds: Hashable, Sendable {
        /// At most this many batches.
        package var maxBatches: Int
        /// At most this many sealed bytes in all.
        public var maxBytes: Int

        /// Creates bounds.
        public init(maxBatches: Int = Limits.holdBackMaxBatches, maxBytes: Int = Limits.holdBackMaxBytes) {
            precondition(maxBatches >= 0 && maxBytes >= 0)
            self.maxBatches = maxBatches
            self.maxBytes = maxBytes
        }
    }

    /// The bounds this buffer keeps.
    package let bounds: Bounds
    private var entries: [BatchID: SealedBatch] = [:]
    /// Sealed bytes held.
    public private(set) var byteCount = 0

    /// An empty buffer.
    public init(bounds: Bounds = Bounds()) {
        self.bounds = bounds
    }

    /// Batches held.
    public var count: Int { entries.count }

    /// The ids of the batches held, ascending.
    public var ids: [BatchID] { entries.keys.sorted() }

    /// True if this batch is held.
    public func contains(_ id: BatchID) -> Bool { entries[id] != nil }

    /// The batches held of one author, by sequence number.
    public func batches(by author: ReplicaID) -> [SealedBatch] {
        entries.values.filter { $0.batch.author == author }.sorted { $0.batch.sequence < $1.batch.sequence }
    }

    /// What `insert` did.
    public enum InsertResult: Hashable, Sendable {
        /// Held; the listed batches were evicted to make room.
        case held(evicted: [BatchID])
        /// Already held.
        case duplicate
        /// Not held: it is the furthest from applicable, or alone exceeds the byte bound.
        case dropped
    }

    /// Holds `batch` until its predecessors arrive.
    ///
    /// - Parameter vector: what the document holds, to judge how far each batch is from applicable.
    public mutating func insert(_ batch: SealedBatch, vector: VersionVector) -> InsertResult {
        let id = batch.batch.id
        guard entries[id] == nil else { return .duplicate }
        let size = batch.sealed.count
        guard bounds.maxBatches > 0, size <= bounds.maxBytes else { return .dropped }
        func gap(_ id: BatchID) -> UInt64 { id.sequence &- vector[id.author] }
        func fits(_ count: Int, _ bytes: Int) -> Bool { count < bounds.maxBatches && bytes + size <= bounds.maxBytes }
        var remainingCount = entries.count
        var remainingBytes = byteCount
        var evicted: [BatchID] = []
        if !fits(remainingCount, remainingBytes) {
            // Furthest first; ties by id, so eviction is repeatable.
            let candidates = entries.keys.sorted { (gap($0), $0) > (gap($1), $1) }
            for victim in candidates where !fits(remainingCount, remainingBytes) {
                guard (gap(victim), victim) > (gap(id), id) else { return .dropped }
                evicted.append(victim)
                remainingCount -= 1
                remainingBytes -= entries[victim]!.sealed.count
            }
        }
        for victim in evicted { _ = remove(victim) }
        entries[id] = batch
        byteCount += size
        return .held(evicted: evicted)
    }

    /// Removes and returns a held batch.
    public mutating func remove(_ id: BatchID) -> SealedBatch? {
        guard let batch = entries.removeValue(forKey: id) else { return nil }
        byteCount -= batch.sealed.count
        return batch
    }
}
