import PeerCrypto

/// Every size bound of the document and its encodings, in one place.
///
/// Decoders check these before allocating, so one hostile batch or sync message can make a node
/// allocate at most a small fixed multiple of its own length. Raising a limit is a compatible
/// change for receivers only once every node has it: older nodes reject the larger values.
public enum Limits {
    /// Display names: a person's name, not a biography.
    package static let maxNameBytes = 64
    /// Item titles: a product name or a caption line.
    public static let maxTitleBytes = 256
    /// Chat messages, notes, text marks and recommendation notes: a few paragraphs.
    public static let maxTextBytes = 4096
    /// Product links: longer URLs are almost always tracking junk.
    package static let maxURLBytes = 2048
    /// MIME types: RFC 6838 caps each half at 127 characters; one whole type fits in that too in practice.
    package static let maxMimeBytes = 127
    /// Blob ids: 16 bytes is the shortest collision-safe keyed hash, 64 the longest BLAKE2b output.
    package static let minBlobIDBytes = 16
    /// See `minBlobIDBytes`.
    package static let maxBlobIDBytes = 64
    /// A blob's chunk commitment: one BLAKE2b-256 hash.
    package static let blobCommitmentBytes = 32
    /// Blob sizes: 1 TiB, far above any photo or video someone shares in a session.
    public static let maxBlobSize: UInt64 = 1 << 40
    /// Freehand strokes: enough for a smooth scribble, small enough to keep one mark under ~5 KiB.
    public static let maxStrokePoints = 512
    /// Fractional panel positions: each insertion at one spot costs at most a byte every few
    /// insertions, so 32 bytes outlast any realistic panel; `PanelPosition.between` reports exhaustion.
    package static let maxPositionBytes = 32
    /// Operations in one batch: a batch is one user action or a short burst of them.
    package static let maxOperationsPerBatch = 256
    /// Other participants' keys one batch may reference (viewports, items and marks of others).
    package static let maxKeysPerBatch = 64
    /// Members an epoch change names (removed, plus remaining ones with a box): far above a
    /// coviewing room, and 512 boxes still fit one batch (about 76 KiB).
    package static let maxEpochMembers = 512
    /// A batch's encoded operations: far above what `maxOperationsPerBatch` ordinary edits need,
    /// far below `BatchSealer.maxPayloadLength`, so a batch always fits in one sync message.
    package static let maxBatchPayloadBytes = 256 * 1024
    /// A sealed batch: the payload plus the sealer's fixed overhead.
    public static let maxSealedBatchBytes = maxBatchPayloadBytes + BatchSealer.overhead
    /// Lamport counters: 2^62 leaves room to count forever while keeping `counter + n` overflow-free.
    package static let maxCounter: UInt64 = 1 << 62
    /// How far an author's batch may move its Lamport counter above the author's previous batch.
    /// An honest author moves up to the room's highest counter, which grows by one per operation;
    /// 2^32 operations in one gap never happen, while a hostile member needs 2^30 batches to push
    /// counters to `maxCounter` and freeze the room: at the node's per-author quota (2,400
    /// operations a minute) about 300 days per identity, and each identity needs the owner's
    /// admission (with `host --approve`, the agent's say).
    package static let maxCounterJump: UInt64 = 1 << 32
    /// How far ahead of the receiver's clock an operation's timestamp may be: a batch stamped
    /// later is refused (not stored; sync offers it again, so a slightly fast clock only delays
    /// it) at every entry, the store's reopening included.
    public static let maxFutureMillis: UInt64 = 5 * 60_000
    /// Members in a page of a sync summary: 1,024 × 72 bytes keeps a page near 72 KiB.
    package static let summaryPageEntries = 1024
    /// Positions in a video (shared playback, marks' time ranges): 7 days in milliseconds, above
    /// any video someone shares in a session, exact in a JSON double.
    public static let maxMediaMillis: UInt64 = 7 * 24 * 3_600_000
    /// Quantities in cart adds and purchases.
    public static let maxQuantity: UInt32 = 10_000
    /// Prices in minor units (cents): 10^15 is beyond any price, and exact in a JSON double.
    public static let maxPriceMinorUnits: UInt64 = 1_000_000_000_000_000
    /// Batches in one sync message: keeps one message's processing time short.
    package static let maxBatchesPerSyncMessage = 64
    /// The sender stops adding batches to a sync message once they pass this many bytes.
    package static let syncBatchByteBudget = 1024 * 1024
    /// Batch versions one sync message may ask for (to compare heads).
    package static let maxWantsPerSyncMessage = 64
    /// Equivocation proofs in one sync message: proofs are rare, and each is two batches.
    package static let maxProofsPerSyncMessage = 2
    /// A sync message: a summary page, the wants, the proofs, the byte budget, one more maximal
    /// batch and length prefixes.
    package static let maxSyncMessageBytes =
        16 + summaryPageEntries * (ReplicaID.byteCount + 10 + BatchSealer.digestLength)
        + maxWantsPerSyncMessage * (ReplicaID.byteCount + 10)
        + maxProofsPerSyncMessage * 2 * (maxSealedBatchBytes + 10)
        + syncBatchByteBudget + maxSealedBatchBytes + maxBatchesPerSyncMessage * 10
    /// Batches waiting for a predecessor, by default.
    public static let holdBackMaxBatches = 256
    /// Bytes of sealed batches waiting for a predecessor, by default.
    public static let holdBackMaxBytes = 4 * 1024 * 1024
}
