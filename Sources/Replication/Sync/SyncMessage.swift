import PeerCrypto

/// One message of the sync protocol: the sender's version vector and batches the receiver lacks.
///
/// The vector doubles as acknowledgement and request: it tells the receiver what to send back.
/// Batches travel sealed; the receiver verifies each on its own, whoever forwarded it.
public struct SyncMessage: Hashable, Sendable {
    /// What the sender holds.
    public var vector: VersionVector
    /// Sealed batches, each author's in ascending sequence order.
    public var batches: [[UInt8]]

    /// Creates a message.
    public init(vector: VersionVector, batches: [[UInt8]] = []) {
        self.vector = vector
        self.batches = batches
    }
}

/// The binary encoding of `SyncMessage`.
///
/// Layout (varints are unsigned LEB128, minimal):
///
///     u8      format version (1)
///     varint  v = vector entries, 0…maxVectorEntries, then v × (32-byte key, varint sequence ≥ 1),
///             keys strictly ascending (one encoding per vector)
///     varint  b = batches, 0…maxBatchesPerSyncMessage, then b × (varint length, sealed bytes),
///             each length within BatchSealer.overhead…maxSealedBatchBytes
///
/// Decoding is total and bounded like `BatchCodec`: the whole message is at most
/// `Limits.maxSyncMessageBytes`, checked before anything else.
public enum SyncMessageCodec {
    /// The version byte of this layout.
    public static let formatVersion: UInt8 = 1

    /// Encodes a message.
    ///
    /// - Throws: `ReplicationError.limitExceeded` if the vector or batch list exceeds its limit.
    public static func encode(_ message: SyncMessage) throws(ReplicationError) -> [UInt8] {
        guard message.vector.count <= Limits.maxVectorEntries else {
            throw .limitExceeded("version vector entries", limit: Limits.maxVectorEntries)
        }
        guard message.batches.count <= Limits.maxBatchesPerSyncMessage else {
            throw .limitExceeded("batches per sync message", limit: Limits.maxBatchesPerSyncMessage)
        }
        var w = ByteWriter()
        w.byte(formatVersion)
        w.varint(message.vector.count)
        for author in message.vector.authors {
            w.raw(author.bytes)
            w.varint(message.vector[author])
        }
        w.varint(message.batches.count)
        for batch in message.batches {
            guard (BatchSealer.overhead...Limits.maxSealedBatchBytes).contains(batch.count) else {
                throw .limitExceeded("sealed batch bytes", limit: Limits.maxSealedBatchBytes)
            }
            w.lengthPrefixed(batch)
        }
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
        let entries = try r.count("version vector entries", max: Limits.maxVectorEntries)
        var vector = VersionVector()
        var previous: ReplicaID?
        for _ in 0..<entries {
            guard let author = ReplicaID(bytes: try r.raw(ReplicaID.byteCount, "vector key")) else {
                throw .truncated("vector key")
            }
            if let previous, !(previous < author) { throw .invalidValue("version vector (keys not ascending)") }
            previous = author
            vector.advance(author, to: try r.varint("vector sequence", in: 1...UInt64.max))
        }
        let count = try r.count("batch count", max: Limits.maxBatchesPerSyncMessage)
        var batches: [[UInt8]] = []
        batches.reserveCapacity(count)
        for _ in 0..<count {
            batches.append(
                try r.lengthPrefixed("sealed batch", max: Limits.maxSealedBatchBytes, min: BatchSealer.overhead))
        }
        try r.finish()
        return SyncMessage(vector: vector, batches: batches)
    }
}
