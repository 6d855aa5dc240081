/// The sync protocol's state for one peer: a pure state machine in the style of automerge's sync.rs.
///
/// The protocol: each side tells the other its version vector; each sends the batches the
/// other's vector lacks, in sequence order, any author's (forwarding is natural: a sealed batch
/// is authentic whoever relays it); each re-announces its vector whenever it changes. When
/// `generateMessage` returns nil, there is nothing more to send until something changes: a
/// local edit, a message from the peer, or `timerFired`.
///
/// Batches sent are remembered so they are not sent again on every call; if they are lost on the
/// way, the periodic `timerFired` forgets that memory and the next exchange resends whatever the
/// peer's vector still lacks. Duplicates are harmless: the receiver drops them by header.
///
/// Not thread-safe; one per peer connection, owned by the node's sync engine. Start a fresh one
/// when a connection (re)starts.
public struct SyncState: Sendable {
    /// The peer's vector as it last told us; nil until its first message.
    public private(set) var peerVector: VersionVector?
    /// Batches already sent since the last heal, per author.
    private var sentThrough = VersionVector()
    /// Our vector as we last announced it; nil to announce again.
    private var announced: VersionVector?

    /// A state for a new connection.
    public init() {}

    /// The next message for the peer, or nil if there is nothing to send.
    ///
    /// Call it again until nil after each change: one message carries at most
    /// `Limits.maxBatchesPerSyncMessage` batches and about `Limits.syncBatchByteBudget` bytes.
    /// - Parameters:
    ///   - local: what our document holds.
    ///   - fetch: the sealed bytes of a batch we hold (from the store); nil if unavailable,
    ///     which stops that author's batches for this round.
    public mutating func generateMessage(local: VersionVector, fetch: (BatchID) -> [UInt8]?) -> SyncMessage? {
        var batches: [[UInt8]] = []
        if let peer = peerVector {
            var bytes = 0
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
        if batches.isEmpty, announced == local { return nil }
        announced = local
        return SyncMessage(vector: local, batches: batches)
    }

    /// Takes in the peer's message.
    ///
    /// - Returns: the sealed batches it carries, to give to `Replica.receive(sealed:contentKey:)`
    ///   (or use `Replica.receive(_:state:contentKey:)`, which does both).
    public mutating func receive(_ message: SyncMessage) -> [[UInt8]] {
        if peerVector == nil {
            // A new peer (or a restarted one) needs our vector before it can send us anything.
            announced = nil
        }
        peerVector = message.vector
        return message.batches
    }

    /// The periodic heal: forget what was sent and announced, so the next exchange repeats in
    /// full and anything lost on the way is sent again.
    public mutating func timerFired() {
        sentThrough = VersionVector()
        announced = nil
    }
}
