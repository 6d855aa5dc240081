import PeerCrypto

/// Names one batch: its author and sequence number.
public struct BatchID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The author.
    public var author: ReplicaID
    /// The author's sequence number, from 1.
    public var sequence: UInt64

    /// Creates a batch id.
    public init(author: ReplicaID, sequence: UInt64) {
        self.author = author
        self.sequence = sequence
    }

    /// Orders by author, then sequence.
    public static func < (lhs: BatchID, rhs: BatchID) -> Bool {
        (lhs.author, lhs.sequence) < (rhs.author, rhs.sequence)
    }

    public var description: String { "\(author)#\(sequence)" }
}

/// A batch whose author is authenticated: the only kind the document accepts.
///
/// There are exactly two ways to get one: open a sealed batch (`init(opened:)`, which needs the
/// `OpenedBatch` only `BatchSealer.open` can make) or seal one's own draft (`BatchDraft.seal`,
/// which needs the author's `Identity`). Either way `author` is proven and the operations' ids
/// carry that author, so no operation can claim another.
///
/// A batch whose payload does not decode still counts as received (it is authentic, so every
/// node sees the same bytes and reaches the same verdict); it contributes no operations.
public struct VerifiedBatch: Hashable, Sendable {
    /// The authenticated author.
    public let author: ReplicaID
    /// The author's sequence number.
    public let sequence: UInt64
    /// The content-key epoch it was sealed under.
    public let epoch: UInt32
    /// The digest of the author's previous batch, as the author signed it.
    public let previous: [UInt8]
    /// This batch's signed digest (the next batch's `previous`).
    public let digest: [UInt8]
    /// The operations, or why the payload did not decode.
    public let content: Result<[Operation], ReplicationError>

    /// Decodes the payload of a batch that `BatchSealer.open` verified.
    public init(opened: OpenedBatch) {
        let author = ReplicaID(opened.author)
        self.author = author
        sequence = opened.sequence
        epoch = opened.epoch
        previous = opened.previous
        digest = opened.digest
        content = Result { () throws(ReplicationError) in try BatchCodec.decode(opened.payload, author: author) }
    }

    /// The batch's id.
    public var id: BatchID { BatchID(author: author, sequence: sequence) }

    /// The operations; empty if the payload was malformed.
    public var operations: [Operation] {
        switch content {
        case let .success(operations): operations
        case .failure: []
        }
    }

    /// The latest timestamp among the operations, for `HybridClock.observe`.
    public var latestTimestamp: HLC? { operations.map(\.timestamp).max() }
}

/// A batch of one's own operations being put together, before it is sealed.
///
/// Get one from `Document.draft(author:)`, which picks the next sequence number and a Lamport
/// counter above everything the document has seen; seal it and apply the result before drafting
/// the next, or two drafts will claim the same sequence number.
public struct BatchDraft: Sendable {
    /// The author.
    public let author: ReplicaID
    /// The sequence number the batch will have.
    public let sequence: UInt64
    /// The Lamport counter of the first operation.
    package let startCounter: UInt64
    /// The digest of the author's previous batch (`BatchSealer.noPrevious` for the first).
    public let previous: [UInt8]
    /// The operations so far.
    public private(set) var operations: [Operation] = []

    /// Starts a draft; `Document.draft(author:)` is the usual way.
    public init(author: ReplicaID, sequence: UInt64, startCounter: UInt64, previous: [UInt8]) {
        precondition(sequence >= 1 && startCounter >= 1, "sequences and counters start at 1")
        precondition(previous.count == BatchSealer.digestLength, "a previous digest is 32 bytes")
        self.author = author
        self.sequence = sequence
        self.startCounter = startCounter
        self.previous = previous
    }

    /// The id the next appended operation will get (and the id of what it creates).
    package var nextID: OpID { OpID(counter: startCounter + UInt64(operations.count), replica: author) }

    /// Adds an edit made at `timestamp`.
    ///
    /// - Returns: the operation's id, which is also the id of the item, mark or message it creates.
    /// - Throws: `ReplicationError` if the edit breaks a limit or rule, or the batch is full.
    @discardableResult
    public mutating func append(_ edit: Edit, at timestamp: HLC) throws(ReplicationError) -> OpID {
        guard operations.count < Limits.maxOperationsPerBatch else {
            throw .limitExceeded("operations per batch", limit: Limits.maxOperationsPerBatch)
        }
        guard startCounter + UInt64(operations.count) <= Limits.maxCounter else { throw .invalidValue("Lamport counter") }
        guard timestamp.millis <= HLC.maxMillis else { throw .invalidValue("timestamp") }
        try edit.validate()
        let id = nextID
        operations.append(Operation(id: id, timestamp: timestamp, edit: edit))
        return id
    }

    /// Encodes and seals the batch.
    ///
    /// - Returns: the sealed bytes to store and send, and the verified batch to apply locally.
    ///   Its operations are the draft's: `append` validated each edit, and the payload decodes to
    ///   exactly these operations (decoding inverts encoding for valid edits, which debug builds
    ///   check on every seal), so the author applies exactly what others will.
    /// - Throws: `ReplicationError.identityMismatch` if `identity` is not the author; encoding errors.
    /// - Parameter room: the room's id (`RoomAuthority.roomID`), bound into the signature.
    public func seal(identity: Identity, epoch: UInt32, contentKey: SecretBytes, room: [UInt8]) throws(ReplicationError)
        -> SealedBatch
    {
        guard ReplicaID(identity.publicKey) == author else { throw .identityMismatch }
        let payload = try BatchCodec.encode(operations, author: author, editsValidated: true)
        assert(
            Result { () throws(ReplicationError) in try BatchCodec.decode(payload, author: author) } == .success(operations),
            "a sealed payload does not decode to its draft's operations")
        let (sealed, digest) = BatchSealer.seal(
            payload: payload, sequence: sequence, epoch: epoch, previous: previous, room: room, identity: identity,
            contentKey: contentKey)
        let batch = VerifiedBatch(
            author: author, sequence: sequence, epoch: epoch, previous: previous, digest: digest,
            content: .success(operations))
        return SealedBatch(sealed: sealed, batch: batch)
    }
}

extension VerifiedBatch {
    /// Only `BatchDraft.seal` uses this: it holds the author's identity, which is the proof.
    fileprivate init(
        author: ReplicaID, sequence: UInt64, epoch: UInt32, previous: [UInt8], digest: [UInt8],
        content: Result<[Operation], ReplicationError>
    ) {
        self.author = author
        self.sequence = sequence
        self.epoch = epoch
        self.previous = previous
        self.digest = digest
        self.content = content
    }
}

/// A batch as the node keeps and sends it, beside its verified contents.
public struct SealedBatch: Hashable, Sendable {
    /// The sealed bytes: what goes to the store and to peers.
    public let sealed: [UInt8]
    /// The verified batch.
    public let batch: VerifiedBatch

    /// Pairs a batch opened from a store with the sealed bytes it was opened from.
    public init(verified batch: VerifiedBatch, sealed: [UInt8]) {
        self.init(sealed: sealed, batch: batch)
    }

    /// Pairs sealed bytes with the batch they verified as.
    init(sealed: [UInt8], batch: VerifiedBatch) {
        self.sealed = sealed
        self.batch = batch
    }
}
