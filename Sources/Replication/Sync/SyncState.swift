import PeerCrypto

/// The sync protocol's state for one peer: a pure state machine in the style of automerge's sync.rs.
///
/// The protocol: each side tells the other its summary (per author: highest contiguous sequence
/// and that batch's digest), in pages of `Limits.summaryPageEntries` authors; each sends the
/// batches the other's summary lacks, in sequence order, any author's (forwarding is natural: a
/// sealed batch is authentic whoever relays it); each re-announces its summary whenever it
/// changes. Where the peer names another digest for a batch we hold, `Replica` asks for the
/// peer's version (`wants`); two authentic versions are an equivocation proof, which both pass on
/// to every peer. When `generateMessage` returns nil, there is nothing more to send until
/// something changes: a local edit, a message from the peer, or `timerFired`.
///
/// Batches sent are remembered so they are not sent again on every call; if they are lost on the
/// way, the periodic `timerFired` forgets that memory and the next exchange resends whatever the
/// peer's summary still lacks. Duplicates are harmless: the receiver drops them by header.
///
/// Not thread-safe; one per peer connection, owned by the node's sync engine. Start a fresh one
/// when a connection (re)starts.
public struct SyncState: Sendable {
    /// The peer's vector as its summary pages told us; nil until its first message.
    public private(set) var peerVector: VersionVector?
    /// Batches already sent since the last heal, per author.
    private var sentThrough = VersionVector()
    /// Our vector as we last announced it; nil to announce again.
    private var announced: VersionVector?
    /// Summary pages still to send of the current announcement.
    private var pages: [[SummaryEntry]] = []
    /// Batch versions to ask the peer for.
    private var asks: [BatchID] = []
    /// Batch versions the peer asked us for.
    private var peerWants: [BatchID] = []
    /// Authors whose equivocation proof was passed on since the last heal.
    private var sentProofs: Set<ReplicaID> = []

    /// A state for a new connection.
    public init() {}

    /// The next message for the peer, or nil if there is nothing to send.
    ///
    /// Call it again until nil after each change: one message carries at most one summary page,
    /// `Limits.maxBatchesPerSyncMessage` batches and about `Limits.syncBatchByteBudget` bytes.
    /// - Parameters:
    ///   - replica: what we hold (its vector, heads and proofs).
    ///   - fetch: the sealed bytes of a batch we hold (from the store); nil if unavailable,
    ///     which stops that author's batches for this round.
    public mutating func generateMessage(replica: Replica, fetch: (BatchID) -> [UInt8]?) -> SyncMessage? {
        generateMessage(
            local: replica.vector, head: { replica.document.digest(of: $0) }, proofs: replica.proofs, fetch: fetch)
    }

    /// The same for a caller that holds only a vector and sealed batches (a relay of batches,
    /// a test): the summary names no heads (zeros), so equivocation is not checked against it.
    public mutating func generateMessage(local: VersionVector, fetch: (BatchID) -> [UInt8]?) -> SyncMessage? {
        generateMessage(local: local, head: { _ in nil }, proofs: [:], fetch: fetch)
    }

    private mutating func generateMessage(
        local: VersionVector, head: (BatchID) -> [UInt8]?, proofs known: [ReplicaID: EquivocationProof],
        fetch: (BatchID) -> [UInt8]?
    ) -> SyncMessage? {
        var batches: [[UInt8]] = []
        var bytes = 0
        while let id = peerWants.popLast() {
            guard let sealed = fetch(id), sealed.count <= Limits.maxSealedBatchBytes else { continue }
            batches.append(sealed)
            bytes += sealed.count
            if batches.count >= Limits.maxBatchesPerSyncMessage / 2 { break }
        }
        if let peer = peerVector {
            authors: for author in local.authors {
                // Compare before adding: a hostile peer may claim any sequence, UInt64.max included.
                let alreadyThere = max(peer[author], sentThrough[author])
                guard alreadyThere < local[author] else { continue }
                for sequence in (alreadyThere + 1)...local[author] {
                    guard batches.count < Limits.maxBatchesPerSyncMessage else { break authors }
                    guard let sealed = fetch(BatchID(author: author, sequence: sequence)),
                        sealed.count <= Limits.maxSealedBatchBytes
                    else { break }
                    guard batches.isEmpty || bytes + sealed.count <= Limits.syncBatchByteBudget else { break authors }
                    batches.append(sealed)
                    bytes += sealed.count
                    sentThrough.advance(author, to: sequence)
                }
            }
        }
        var proofs: [([UInt8], [UInt8])] = []
        for (author, proof) in known.sorted(by: { $0.key < $1.key }) where !sentProofs.contains(author) {
            guard proofs.count < Limits.maxProofsPerSyncMessage else { break }
            proofs.append((proof.first, proof.second))
            sentProofs.insert(author)
        }
        let wants = Array(asks.prefix(Limits.maxWantsPerSyncMessage))
        asks.removeFirst(wants.count)
        if announced != local {
            announced = local
            let entries = local.authors.map {
                SummaryEntry(
                    author: $0, sequence: local[$0],
                    head: head(BatchID(author: $0, sequence: local[$0])) ?? BatchSealer.noPrevious)
            }
            pages = stride(from: 0, to: max(entries.count, 1), by: Limits.summaryPageEntries).map {
                Array(entries[$0..<min($0 + Limits.summaryPageEntries, entries.count)])
            }
        }
        if batches.isEmpty, proofs.isEmpty, wants.isEmpty, pages.isEmpty { return nil }
        let page = pages.isEmpty ? [] : pages.removeFirst()
        return SyncMessage(summary: page, wants: wants, proofs: proofs, batches: batches)
    }

    /// Takes in the peer's message.
    ///
    /// - Returns: the sealed batches it carries, to give to `Replica.receive(sealed:…)`
    ///   (or use `Replica.receive(_:state:…)`, which does both and checks the summary's heads).
    public mutating func receive(_ message: SyncMessage) -> [[UInt8]] {
        if peerVector == nil {
            // A new peer (or a restarted one) needs our summary before it can send us anything.
            announced = nil
        }
        // Pages of one summary arrive one by one: merge them (a peer's holdings only grow).
        peerVector = (peerVector ?? VersionVector()).merged(with: message.vector)
        for want in message.wants where peerWants.count < Limits.maxWantsPerSyncMessage && !peerWants.contains(want) {
            peerWants.append(want)
        }
        return message.batches
    }

    /// Asks the peer for its version of `id`, in the next message.
    mutating func ask(_ id: BatchID) {
        guard asks.count < Limits.maxWantsPerSyncMessage, !asks.contains(id) else { return }
        asks.append(id)
    }

    /// The periodic heal: forget what was sent and announced, so the next exchange repeats in
    /// full and anything lost on the way is sent again.
    public mutating func timerFired() {
        sentThrough = VersionVector()
        announced = nil
        sentProofs = []
    }
}
