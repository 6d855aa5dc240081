import PeerCrypto
import Primitives

/// One entry of a sync summary: how far the sender holds an author's chain, and its head.
public struct SummaryEntry: Hashable, Sendable {
    /// The author.
    public var author: ReplicaID
    /// The highest contiguous sequence number held.
    public var sequence: UInt64
    /// The digest of that batch: two nodes with equal sequences and different heads hold two
    /// versions of the author's history, which only an equivocating author can sign.
    public var head: [UInt8]

    /// Creates an entry.
    public init(author: ReplicaID, sequence: UInt64, head: [UInt8]) {
        self.author = author
        self.sequence = sequence
        self.head = head
    }
}

/// One message of the sync protocol: a page of the sender's summary, batch versions it asks
/// for, equivocation proofs it passes on, and batches the receiver lacks.
///
/// The summary doubles as acknowledgement and request: it tells the receiver what to send back.
/// A summary longer than `Limits.summaryPageEntries` authors travels in several messages, which
/// the receiver merges. Batches travel sealed; the receiver verifies each on its own, whoever
/// forwarded it.
public struct SyncMessage: Hashable, Sendable {
    /// A page of what the sender holds (authors ascending).
    public var summary: [SummaryEntry]
    /// Batches whose version the sender wants to compare with its own.
    public var wants: [BatchID]
    /// Equivocation proofs: pairs of sealed batches.
    public var proofs: [([UInt8], [UInt8])]
    /// Sealed batches, each author's in ascending sequence order.
    public var batches: [[UInt8]]

    /// Creates a message.
    public init(
        summary: [SummaryEntry], wants: [BatchID] = [], proofs: [([UInt8], [UInt8])] = [], batches: [[UInt8]] = []
    ) {
        self.summary = summary
        self.wants = wants
        self.proofs = proofs
        self.batches = batches
    }

    /// The summary page as a version vector.
    public var vector: VersionVector {
        var vector = VersionVector()
        for entry in summary { vector.advance(entry.author, to: entry.sequence) }
        return vector
    }

    public static func == (lhs: SyncMessage, rhs: SyncMessage) -> Bool {
        lhs.summary == rhs.summary && lhs.wants == rhs.wants && lhs.batches == rhs.batches
            && lhs.proofs.map { [$0.0, $0.1] } == rhs.proofs.map { [$0.0, $0.1] }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(summary)
        hasher.combine(wants)
        hasher.combine(batches)
    }
}

/// The binary encoding of `SyncMessage`.
///
/// Layout (varints are unsigned LEB128, minimal):
///
///     u8      format version (2)
///     varint  e = summary entries, 0…summaryPageEntries, then e × (32-byte key, varint sequence ≥ 1,
///             32-byte head digest), keys strictly ascending (one encoding per page)
///     varint  w = wants, 0…maxWantsPerSyncMessage, then w × (32-byte key, varint sequence ≥ 1)
///     varint  p = proofs, 0…maxProofsPerSyncMessage, then p × two (varint length, sealed bytes)
///     varint  b = batches, 0…maxBatchesPerSyncMessage, then b × (varint length, sealed bytes),
///             each length within BatchSealer.overhead…maxSealedBatchBytes
///
/// Decoding is total and bounded like `BatchCodec`: the whole message is at most
/// `Limits.maxSyncMessageBytes`, checked before anything else.
public enum SyncMessageCodec {
    /// The version byte of this layout.
    public static let formatVersion: UInt8 = 2

    /// Encodes a message.
    ///
    /// - Throws: `ReplicationError.limitExceeded` if a list exceeds its limit.
    public static func encode(_ message: SyncMessage) throws(ReplicationError) -> [UInt8] {
        guard message.summary.count <= Limits.summaryPageEntries else {
            throw .limitExceeded("summary entries", limit: Limits.summaryPageEntries)
        }
        guard message.wants.count <= Limits.maxWantsPerSyncMessage else {
            throw .limitExceeded("wants per sync message", limit: Limits.maxWantsPerSyncMessage)
        }
        guard message.proofs.count <= Limits.maxProofsPerSyncMessage else {
            throw .limitExceeded("proofs per sync message", limit: Limits.maxProofsPerSyncMessage)
        }
        guard message.batches.count <= Limits.maxBatchesPerSyncMessage else {
            throw .limitExceeded("batches per sync message", limit: Limits.maxBatchesPerSyncMessage)
        }
        var w = ByteWriter()
        w.byte(formatVersion)
        w.varint(message.summary.count)
        var previous: ReplicaID?
        for entry in message.summary {
            if let previous, !(previous < entry.author) { throw .invalidValue("summary (keys not ascending)") }
            previous = entry.author
            guard entry.sequence >= 1, entry.head.count == BatchSealer.digestLength else { throw .invalidValue("summary entry") }
            w.raw(entry.author.bytes)
            w.varint(entry.sequence)
            w.raw(entry.head)
        }
        w.varint(message.wants.count)
        for want in message.wants {
            guard want.sequence >= 1 else { throw .invalidValue("want") }
            w.raw(want.author.bytes)
            w.varint(want.sequence)
        }
        func sealed(_ batch: [UInt8]) throws(ReplicationError) {
            guard (BatchSealer.overhead...Limits.maxSealedBatchBytes).contains(batch.count) else {
                throw .limitExceeded("sealed batch bytes", limit: Limits.maxSealedBatchBytes)
            }
            w.lengthPrefixed(batch)
        }
        w.varint(message.proofs.count)
        for (a, b) in message.proofs {
            try sealed(a)
            try sealed(b)
        }
        w.varint(message.batches.count)
        for batch in message.batches { try sealed(batch) }
        guard w.bytes.count <= Limits.maxSyncMessageBytes else {
            throw .limitExceeded("sync message bytes", limit: Limits.maxSyncMessageBytes)
        }
        return w.bytes
    }

    /// Decodes a message.
    ///
    /// - Throws: `ReplicationError` for any input that is not a valid encoding.
    public static func decode(_ bytes: [UInt8]) throws(ReplicationError) -> SyncMessage {
        guard bytes.count <= Limits.maxSyncMessageBytes else {
            throw .limitExceeded("sync message bytes", limit: Limits.maxSyncMessageBytes)
        }
        var r = ByteReader(bytes)
        let version = try r.byte("format version")
        guard version == formatVersion else { throw .unsupportedFormat(version) }
        func key(_ what: String) throws(ReplicationError) -> ReplicaID {
            guard let author = ReplicaID(bytes: try r.raw(ReplicaID.byteCount, what)) else { throw .truncated(what) }
            return author
        }
        let entries = try r.count("summary entries", max: Limits.summaryPageEntries)
        var summary: [SummaryEntry] = []
        summary.reserveCapacity(entries)
        var previous: ReplicaID?
        for _ in 0..<entries {
            let author = try key("summary key")
            if let previous, !(previous < author) { throw .invalidValue("summary (keys not ascending)") }
            previous = author
            let sequence = try r.varint("summary sequence", in: 1...UInt64.max)
            summary.append(SummaryEntry(author: author, sequence: sequence, head: Array(try r.raw(BatchSealer.digestLength, "head digest"))))
        }
        let wantCount = try r.count("wants", max: Limits.maxWantsPerSyncMessage)
        var wants: [BatchID] = []
        for _ in 0..<wantCount {
            let author = try key("want key")
            wants.append(BatchID(author: author, sequence: try r.varint("want sequence", in: 1...UInt64.max)))
        }
        func sealed(_ what: String) throws(ReplicationError) -> [UInt8] {
            try r.lengthPrefixed(what, max: Limits.maxSealedBatchBytes, min: BatchSealer.overhead)
        }
        let proofCount = try r.count("proofs", max: Limits.maxProofsPerSyncMessage)
        var proofs: [([UInt8], [UInt8])] = []
        for _ in 0..<proofCount { proofs.append((try sealed("proof batch"), try sealed("proof batch"))) }
        let count = try r.count("batch count", max: Limits.maxBatchesPerSyncMessage)
        var batches: [[UInt8]] = []
        batches.reserveCapacity(count)
        for _ in 0..<count { batches.append(try sealed("sealed batch")) }
        try r.finish()
        return SyncMessage(summary: summary, wants: wants, proofs: proofs, batches: batches)
    }
}
