import PeerCrypto

/// A node's replication engine for one room: the document, the hold-back buffers and the
/// equivocation proofs it knows.
///
/// Pure: the caller (the node) stores what `receive` reports as applied, sends what `SyncState`
/// produces, and supplies content keys and the wall clock; nothing here touches a disk, a socket
/// or a clock. Not thread-safe; owned by the node's room actor.
public struct Replica: Sendable {
    /// The merged document.
    public private(set) var document: Document
    /// Batches waiting for a predecessor.
    package private(set) var holdBack: HoldBackBuffer
    /// Batches of authors the owner has not admitted (yet), waiting for the admission.
    public private(set) var unadmitted: HoldBackBuffer
    /// One proof per proven equivocator (the one with the earliest fork), to pass on to peers.
    public private(set) var proofs: [ReplicaID: EquivocationProof] = [:]

    /// Starts from a document (empty, or rebuilt from a store) with hold-back buffers of `bounds`.
    public init(document: Document = Document(), holdBackBounds: HoldBackBuffer.Bounds = .init()) {
        self.document = document
        holdBack = HoldBackBuffer(bounds: holdBackBounds)
        unadmitted = HoldBackBuffer(bounds: holdBackBounds)
    }

    /// What the document holds.
    public var vector: VersionVector { document.vector }

    /// The room's id, which every batch must be bound to.
    public var roomID: [UInt8] { document.authority.roomID }

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
        /// Its author is not admitted by the owner (yet): held within a bound until it is.
        case awaitingAdmission
        /// Arrived early and the hold-back buffer had no room; sync will offer it again.
        case dropped
        /// Not an authentic batch of this room (malformed, unknown epoch, forged, another room's): dropped.
        case rejected(CryptoError)
        /// Authentic, but refused here for now: an operation is stamped more than
        /// `Limits.maxFutureMillis` ahead of our clock. Not stored; sync offers it again.
        case tooFarAhead
        /// Authentic and past its author's fork (a proven equivocator): left out, as everywhere.
        case excluded
        /// Its chain does not meet the author's batch held here (nothing merged); given the held
        /// batch, `receive(sealed:…)` reports `.equivocation` instead.
        case chainBroken
        /// It proved its author an equivocator: the proof is new here and the document left the
        /// author's batches out from the fork on. Pass `proofs` on to peers.
        case equivocation(EquivocationProof)
    }

    /// Opens and takes in a sealed batch from the network (or anywhere untrusted).
    ///
    /// Duplicates are recognised from the header, before any decryption, so a flood of resent
    /// batches costs almost nothing — except a version we asked for to compare (see `SyncState`)
    /// or one whose header names another predecessor than ours, which are opened: if authentic
    /// and different, they prove equivocation.
    /// - Parameters:
    ///   - contentKey: the room's content key of an epoch, or nil if unknown.
    ///   - nowMillis: the wall clock, to refuse operations stamped too far ahead of it.
    ///   - fetch: the sealed bytes of a batch we hold (from the store), to make a proof with.
    public mutating func receive(
        sealed: [UInt8], contentKey: (UInt32) -> SecretBytes?, nowMillis: UInt64,
        fetch: (BatchID) -> [UInt8]? = { _ in nil }
    ) -> ReceiveOutcome {
        receive(sealed: sealed, opened: nil, contentKey: contentKey, nowMillis: nowMillis, fetch: fetch)
    }

    /// Takes in sealed batches as a loop of `receive(sealed:…)` would, in order, with the same
    /// outcomes; the batches that loop would open are opened ahead on the other cores meanwhile.
    ///
    /// Opening is a pure function of the bytes and the key, so a batch opened ahead fails or
    /// passes exactly as it would have in turn; the merge still takes them one by one, in order.
    public mutating func receive(
        sealedBatches: [[UInt8]], contentKey: (UInt32) -> SecretBytes?, nowMillis: UInt64,
        fetch: (BatchID) -> [UInt8]? = { _ in nil }
    ) -> [ReceiveOutcome] {
        var outcomes: [ReceiveOutcome] = []
        outcomes.reserveCapacity(sealedBatches.count)
        let plan = openingPlan(sealedBatches, contentKey: contentKey)
        BatchSealer.openInOrder(sealedBatches, room: roomID, keys: plan.keys, wanted: { plan.wanted[$0] }, then: VerifiedBatch.init(opened:)) {
            index, opened in
            outcomes.append(
                receive(sealed: sealedBatches[index], opened: opened, contentKey: contentKey, nowMillis: nowMillis, fetch: fetch))
        }
        return outcomes
    }

    /// Which of `sealedBatches` a loop of `receive(sealed:…)` would open, as things stand before
    /// the first (not held already, of an epoch whose key is known), and those keys: what
    /// `BatchSealer.openInOrder` needs to open them ahead.
    package func openingPlan(
        _ sealedBatches: [[UInt8]], contentKey: (UInt32) -> SecretBytes?
    ) -> (keys: [UInt32: SecretBytes], wanted: [Bool]) {
        var keys: [UInt32: SecretBytes] = [:]
        var wanted = [Bool](repeating: false, count: sealedBatches.count)
        for (index, sealed) in sealedBatches.enumerated() where sealed.count <= Limits.maxSealedBatchBytes {
            guard let header = try? BatchSealer.peekHeader(sealed) else { continue }
            let id = BatchID(author: ReplicaID(header.author), sequence: header.sequence)
            guard id.sequence >= 1, !vector.contains(id), !holdBack.contains(id), !unadmitted.contains(id) else { continue }
            if keys[header.epoch] == nil, let key = contentKey(header.epoch) { keys[header.epoch] = key }
            wanted[index] = keys[header.epoch] != nil
        }
        return (keys, wanted)
    }

    /// `receive(sealed:…)` with the batch's opening done already (by `BatchSealer.openInOrder`),
    /// or nil to open it here if it needs opening.
    package mutating func receive(
        sealed: [UInt8], opened preopened: Result<VerifiedBatch, any Error>?, contentKey: (UInt32) -> SecretBytes?,
        nowMillis: UInt64, fetch: (BatchID) -> [UInt8]?
    ) -> ReceiveOutcome {
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
        if let fork = document.equivocators[id.author], id.sequence >= fork { return .excluded }
        if let from = document.removed[id.author], id.sequence >= from { return .excluded }
        if vector.contains(id) {
            // Honest copies of a batch are the author's bytes (nodes pass sealed batches on
            // unchanged), so other bytes under an id held here are a second version or a
            // forgery: opening both tells which, and a second version is the proof.
            guard let mine = fetch(id), mine != sealed else { return .duplicate }
            return prove(mine, sealed, contentKey: contentKey)
        }
        if holdBack.contains(id) || unadmitted.contains(id) { return .duplicate }
        let batch: VerifiedBatch
        do {
            batch = try preopened?.get() ?? VerifiedBatch(opened: BatchSealer.open(sealed, room: roomID, contentKey: contentKey))
        } catch {
            return .rejected(Self.cryptoError(error))
        }
        let limit = nowMillis.addingReportingOverflow(Limits.maxFutureMillis)
        if !limit.overflow, batch.operations.contains(where: { $0.timestamp.millis > limit.partialValue }) {
            return .tooFarAhead
        }
        let outcome = receive(SealedBatch(sealed: sealed, batch: batch))
        if outcome == .chainBroken, let mine = fetch(BatchID(author: id.author, sequence: id.sequence - 1)) {
            // Its chain does not meet ours: the predecessor we hold and this batch are the proof.
            return prove(mine, sealed, contentKey: contentKey)
        }
        return outcome
    }

    /// Takes in a batch already verified: one's own, fresh from `BatchDraft.seal`, or one opened
    /// by `receive(sealed:…)`. A batch whose chain does not meet the author's batch held here is
    /// reported as `.chainBroken` (nothing merged); `receive(sealed:…)` turns that into a proof.
    public mutating func receive(_ batch: SealedBatch) -> ReceiveOutcome {
        let id = batch.batch.id
        if vector.contains(id) || id.sequence == 0 || holdBack.contains(id) || unadmitted.contains(id) { return .duplicate }
        let next = vector[id.author] + 1
        if id.sequence > next {
            switch holdBack.insert(batch, vector: vector) {
            case .held: return .heldBack(waitingFor: next)
            case .duplicate: return .duplicate
            case .dropped: return .dropped
            }
        }
        var applied: [AppliedBatch] = []
        switch apply(batch, into: &applied) {
        case .notAdmitted:
            switch unadmitted.insert(batch, vector: vector) {
            case .held: return .awaitingAdmission
            case .duplicate: return .duplicate
            case .dropped: return .dropped
            }
        case .excluded: return .excluded
        case .chainBroken: return .chainBroken
        default: return .applied(applied)
        }
    }

    /// Applies `batch`, then every held batch it unblocks: its author's next ones, and the held
    /// batches of every member its grants (or those of the batches it unblocked) admitted.
    /// Iterative, so a long run of held batches costs no stack.
    private mutating func apply(_ batch: SealedBatch, into applied: inout [AppliedBatch]) -> Document.ApplyResult {
        var queue = [batch.batch.author]
        let result = applyOne(batch, into: &applied, admitted: &queue)
        switch result {
        case .applied, .ignored: break
        case .duplicate, .outOfOrder, .notAdmitted, .excluded, .chainBroken: return result
        }
        while let author = queue.popLast() {
            while vector[author] < UInt64.max {
                let id = BatchID(author: author, sequence: vector[author] + 1)
                guard let waiting = unadmitted.remove(id) ?? holdBack.remove(id) else { break }
                if applyOne(waiting, into: &applied, admitted: &queue) == .notAdmitted {
                    _ = unadmitted.insert(waiting, vector: vector)
                }
                guard vector.contains(id) else { break }
            }
        }
        return result
    }

    /// Applies one batch to the document; the members an owner's batch admits join `admitted`.
    private mutating func applyOne(
        _ batch: SealedBatch, into applied: inout [AppliedBatch], admitted: inout [ReplicaID]
    ) -> Document.ApplyResult {
        let ownerBatch = batch.batch.author == document.authority.owner
        let before = ownerBatch ? Set(document.members.map(\.id)) : []
        let result = document.apply(batch.batch)
        switch result {
        case .applied, .ignored:
            applied.append(AppliedBatch(batch: batch, result: result))
            if ownerBatch { admitted += document.members.map(\.id).filter { !before.contains($0) } }
        case .duplicate, .outOfOrder, .notAdmitted, .excluded, .chainBroken: break
        }
        return result
    }

    /// Makes a proof of two sealed batches and acts on it if it is new.
    private mutating func prove(_ a: [UInt8], _ b: [UInt8], contentKey: (UInt32) -> SecretBytes?) -> ReceiveOutcome {
        guard let proof = EquivocationProof(a, b, room: roomID, contentKey: contentKey) else { return .duplicate }
        return take(proof) ? .equivocation(proof) : .duplicate
    }

    /// Takes in a proof (from a peer, or made here); true if it was new and changed the document.
    @discardableResult
    public mutating func take(_ proof: EquivocationProof) -> Bool {
        if let known = proofs[proof.author], known.fork <= proof.fork { return false }
        proofs[proof.author] = proof
        return document.exclude(proof)
    }

    /// Starts the next batch of `author`'s own operations.
    public func draft(author: ReplicaID) -> BatchDraft {
        document.draft(author: author)
    }

    /// Takes in a peer's sync message: updates `state`, checks its proofs and the digests it
    /// names against ours, and receives each batch it carries.
    ///
    /// - Returns: one outcome per batch, in message order, after one per new proof it carried.
    public mutating func receive(
        _ message: SyncMessage, state: inout SyncState, contentKey: (UInt32) -> SecretBytes?, nowMillis: UInt64,
        fetch: (BatchID) -> [UInt8]? = { _ in nil }
    ) -> [ReceiveOutcome] {
        var outcomes = takeEvidence(of: message, state: &state, contentKey: contentKey)
        outcomes += receive(sealedBatches: state.receive(message), contentKey: contentKey, nowMillis: nowMillis, fetch: fetch)
        return outcomes
    }

    /// What `receive(_:state:…)` does before the batches: takes the message's equivocation
    /// proofs, and marks every batch whose head the peer signed differently as wanted. For a
    /// caller that takes the batches one at a time itself (the node, to apply its quotas).
    public mutating func takeEvidence(
        of message: SyncMessage, state: inout SyncState, contentKey: (UInt32) -> SecretBytes?
    ) -> [ReceiveOutcome] {
        var outcomes: [ReceiveOutcome] = []
        for pair in message.proofs {
            if let proof = EquivocationProof(pair.0, pair.1, room: roomID, contentKey: contentKey), take(proof) {
                outcomes.append(.equivocation(proof))
            }
        }
        for entry in message.summary {
            let id = BatchID(author: entry.author, sequence: entry.sequence)
            if let ours = document.digest(of: id), ours != entry.head {
                state.ask(id)
            }
        }
        return outcomes
    }

    private static func cryptoError(_ error: any Error) -> CryptoError {
        (error as? CryptoError) ?? .malformedBatch("\(error)")
    }
}
