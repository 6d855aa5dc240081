import PeerCrypto

/// A node's replication engine for one room: the document plus the hold-back buffer.
///
/// Pure: the caller (the node) stores what `receive` reports as applied, sends what `SyncState`
/// produces, and supplies content keys; nothing here touches a disk, a socket or a clock.
/// Not thread-safe; owned by the node's room actor.
public struct Replica: Sendable {
    /// The merged document.
    public private(set) var document: Document
    /// Batches waiting for a predecessor.
    public private(set) var holdBack: HoldBackBuffer

    /// Starts from a document (empty, or rebuilt from a store) with a hold-back buffer of `bounds`.
    public init(document: Document = Document(), holdBackBounds: HoldBackBuffer.Bounds = .init()) {
        self.document = document
        holdBack = HoldBackBuffer(bounds: holdBackBounds)
    }

    /// What the document holds.
    public var vector: VersionVector { document.vector }

    /// A batch that reached the document: store `sealed` (in this order) before reporting success.
    public struct AppliedBatch: Hashable, Sendable {
        /// The sealed bytes and verified contents.
        public let batch: SealedBatch
        /// What merging it did.
        public let result: Document.ApplyResult
    }

    /// What became of a received batch.
    public enum ReceiveOutcome: Equatable, Sendable {
        /// Applied, followed by any held-back batches it unblocked, in the order applied.
        case applied([AppliedBatch])
        /// Already held or already waiting: ignored.
        case duplicate
        /// Waiting in the hold-back buffer for the author's batch `waitingFor`.
        case heldBack(waitingFor: UInt64)
        /// Arrived early and the hold-back buffer had no room; sync will offer it again.
        case dropped
        /// Not an authentic batch of this room (malformed, unknown epoch, forged): dropped.
        case rejected(CryptoError)
    }

    /// Opens and takes in a sealed batch from the network (or anywhere untrusted).
    ///
    /// Duplicates are recognised from the header, before any decryption, so a flood of resent
    /// batches costs almost nothing.
    /// - Parameter contentKey: the room's content key of an epoch, or nil if unknown.
    public mutating func receive(sealed: [UInt8], contentKey: (UInt32) -> SecretBytes?) -> ReceiveOutcome {
        // Our own limit is below the sealer's: a batch we could never forward is refused by everyone alike.
        guard sealed.count <= Limits.maxSealedBatchBytes else { return .rejected(.malformedBatch("too long")) }
        let header: SealedBatchHeader
        do {
            header = try BatchSealer.peekHeader(sealed)
        } catch {
            return .rejected(Self.cryptoError(error))
        }
        let id = BatchID(author: ReplicaID(header.author), sequence: header.sequence)
        guard id.sequence >= 1 else { return .rejected(.malformedBatch("sequence number 0")) }
        if vector.contains(id) || holdBack.contains(id) { return .duplicate }
        let opened: OpenedBatch
        do {
            opened = try BatchSealer.open(sealed, contentKey: contentKey)
        } catch {
            return .rejected(Self.cryptoError(error))
        }
        return receive(SealedBatch(sealed: sealed, batch: VerifiedBatch(opened: opened)))
    }

    /// Takes in a batch already verified: one's own, fresh from `BatchDraft.seal`.
    public mutating func receive(_ batch: SealedBatch) -> ReceiveOutcome {
        let id = batch.batch.id
        if vector.contains(id) || id.sequence == 0 || holdBack.contains(id) { return .duplicate }
        let next = vector[id.author] + 1
        if id.sequence > next {
            switch holdBack.insert(batch, vector: vector) {
            case .held: return .heldBack(waitingFor: next)
            case .duplicate: return .duplicate
            case .dropped: return .dropped
            }
        }
        var applied = [AppliedBatch(batch: batch, result: document.apply(batch.batch))]
        var last = id.sequence
        while last < UInt64.max, let waiting = holdBack.remove(BatchID(author: id.author, sequence: last + 1)) {
            applied.append(AppliedBatch(batch: waiting, result: document.apply(waiting.batch)))
            last += 1
        }
        return .applied(applied)
    }

    /// Starts the next batch of `author`'s own operations.
    public func draft(author: ReplicaID) -> BatchDraft {
        document.draft(author: author)
    }

    /// Takes in a peer's sync message: updates `state` and receives each batch it carries.
    ///
    /// - Returns: one outcome per batch, in message order.
    public mutating func receive(
        _ message: SyncMessage, state: inout SyncState, contentKey: (UInt32) -> SecretBytes?
    ) -> [ReceiveOutcome] {
        state.receive(message).map { receive(sealed: $0, contentKey: contentKey) }
    }

    private static func cryptoError(_ error: any Error) -> CryptoError {
        (error as? CryptoError) ?? .malformedBatch("\(error)")
    }
}
