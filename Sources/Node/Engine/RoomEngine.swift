import Foundation
import PeerCrypto
import Replication
import Store
import Transport

/// A participant's node in one room: the document, the store, the links, sync, blob transfers
/// and presence, serialised on one actor.
///
/// Order of effects for a local edit: sealed, applied, stored durably, then offered to every
/// linked peer, so an edit a command was told about survives a crash and a batch number is never
/// sent before it is on disk (a restarted node could otherwise seal a different batch under it).
/// Received batches are applied, shown and forwarded first and stored right after; if the node
/// dies in between, sync fetches them again. Network input never throws here: what is malformed or forged is dropped
/// and counted.
public actor RoomEngine {
    /// The epoch every batch and blob of a room is sealed in (rekeying rooms is future work).
    static let epoch: UInt32 = 0

    /// This node's participant id.
    public nonisolated let me: ReplicaID
    /// The room's keys.
    public nonisolated let room: RoomKeys
    let identity: Identity
    let store: Store
    let contentKey: SecretBytes
    var replica: Replica
    /// Sealed batches by id: what sync sends (the store holds the same, durably).
    var sealed: [BatchID: [UInt8]] = [:]
    var clock = HybridClock()
    var transport: PeerTransport?
    /// Linked peers and their sync state.
    var peers: [PublicKey: LinkedPeer] = [:]
    var transfers = BlobTransfers()
    /// Chunks received and verified but not yet written: flushed in one transaction.
    var chunkBuffer: [(key: BlobKey, index: UInt32, sealed: [UInt8])] = []
    /// Blobs being received, hashed in index order as their chunks are verified, so the check
    /// against the id at the end needs no second pass over the file.
    var runningHashes: [BlobKey: RunningBlobHash] = [:]
    /// Blobs held whole and checked against their id.
    var completeBlobs: Set<[UInt8]> = []
    /// Blobs whose chunks all arrived but whose content did not match the id.
    var corruptBlobs: Set<[UInt8]> = []
    /// Participants caught signing two different batches under one number: the room cannot
    /// converge on their edits (peers keep whichever came first), so status says who.
    public internal(set) var equivocators: Set<ReplicaID> = []
    /// Live subscribers (viewer WebSockets).
    var subscribers: [UInt64: AsyncStream<String>.Continuation] = [:]
    var nextSubscriber: UInt64 = 0
    var statePushPending = false
    /// Called after every change of the document, with its new vector (benchmarks, tests).
    var onChange: (@Sendable (VersionVector) -> Void)?
    /// Counters for status and tests.
    public internal(set) var counters = Counters()
    /// Pointers: the newest stamp per author, those shown now, those refused.
    var presence = PresenceBook()
    /// Edit quotas: this node's own, and others' per author (see `AuthorQuota.Limits`).
    var localQuota = AuthorQuota(limits: .local)
    var remoteQuota = AuthorQuota(limits: .remote)
    /// The quotas' clock in seconds (monotonic); tests set their own.
    var quotaClock: @Sendable () -> Double = { RoomEngine.monotonicSeconds() }

    /// What the engine dropped or did, by reason.
    public struct Counters: Sendable, Equatable {
        /// Peer messages that did not decode.
        public var malformedMessages = 0
        /// Batches rejected as not authentic for this room.
        public var rejectedBatches = 0
        /// Chunks that did not open (forged, moved, corrupted).
        public var rejectedChunks = 0
        /// Chunks received that were not wanted (duplicates, or never asked).
        public var unwantedChunks = 0
        /// Chunks served to peers.
        public var chunksServed = 0
        /// Authentic batches that differ from the one held under the same author and number.
        public var equivocations = 0
    }

    /// A linked peer.
    struct LinkedPeer {
        var sync = SyncState()
        var path: TransportPath
    }

    /// Opens the room's document from the store (creating the room there if new).
    ///
    /// - Throws: `StoreError` if the store cannot be read or written.
    public init(identity: Identity, room: RoomKeys, store: Store, nowMillis: Int64) throws {
        self.identity = identity
        me = ReplicaID(identity.publicKey)
        self.room = room
        self.store = store
        contentKey = room.contentKey(epoch: Self.epoch)
        try store.addRoom(room, createdMillis: nowMillis)
        // One read of the store: the batches are opened again (never trusted) and kept sealed for sync.
        let (opened, _) = Store.reopen(try store.batches(room: room.tag), room: room)
        replica = Replica(document: Document(batches: opened.map(\.batch)))
        var latest = HLC.zero
        for (stored, batch) in opened {
            sealed[batch.id] = stored.sealed
            if let time = batch.latestTimestamp { latest = max(latest, time) }
        }
        clock = HybridClock(latest: latest)
        for key in (try? store.settingKeys(prefix: Self.verifiedPrefix)) ?? [] {
            if let hex = key.split(separator: ":").last, let bytes = Hex.bytes(hex) { completeBlobs.insert(bytes) }
        }
    }

    /// The merged document as it is now.
    public var document: Document { replica.document }

    /// The version vector of what this node holds.
    public var vector: VersionVector { replica.vector }

    /// Sets a callback run after every change of the document.
    public func setChangeHandler(_ handler: (@Sendable (VersionVector) -> Void)?) {
        onChange = handler
    }

    /// Attaches the started transport: from now on edits and transfers reach the peers.
    func attach(_ transport: PeerTransport) {
        self.transport = transport
        scanBlobs()
    }

    /// Forgets the transport before it closes.
    func detach() {
        flushChunks()
        transport = nil
        peers = [:]
        for continuation in subscribers.values { continuation.finish() }
        subscribers = [:]
    }

    static func wallMillis() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970 * 1000))
    }

    static func monotonicSeconds() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    // MARK: Local edits

    /// Seals `edits` as one batch of this node's, applies and stores it, and offers it to every peer.
    ///
    /// - Returns: the operation ids, one per edit.
    /// - Throws: `ReplicationError` if an edit is invalid, `StoreError` if it could not be stored
    ///   (then nothing was applied either).
    @discardableResult
    public func commit(_ edits: [Edit]) throws -> [OpID] {
        var draft = replica.draft(author: me)
        var ids: [OpID] = []
        let wall = Self.wallMillis()
        for edit in edits { ids.append(try draft.append(edit, at: clock.now(wallMillis: wall))) }
        let batch = try draft.seal(identity: identity, epoch: Self.epoch, contentKey: contentKey)
        try spendLocalQuota(operations: edits.count, bytes: batch.sealed.count)
        // Store before applying: if the disk refuses, the document must not show an edit that
        // a restart would lose, and the sequence number stays free.
        try store.append([batch], room: room.tag)
        var copy = replica
        guard case .applied(let applied) = copy.receive(batch) else {
            throw NodeError.internalInconsistency("own batch \(batch.batch.id) was not applied")
        }
        replica = copy
        for item in applied { sealed[item.batch.batch.id] = item.batch.sealed }
        documentChanged()
        return ids
    }

    // MARK: Transport events

    /// Handles one transport event, in the order the transport reported them.
    func handle(_ event: TransportEvent) {
        switch event {
        case let .linkUp(peer, path):
            peers[peer] = LinkedPeer(path: path)
            pumpSync(peer)
            pumpTransfers()
            pushStatus()
        case let .linkDown(peer, _):
            peers.removeValue(forKey: peer)
            pointerLinkGone(peer)
            transfers.peerGone(peer)
            pumpTransfers()
            pushStatus()
        case let .pathChanged(peer, path):
            peers[peer]?.path = path
            pushStatus()
        case let .message(peer, bytes):
            guard peers[peer] != nil else { return }
            guard let message = PeerMessage.decode(bytes) else {
                counters.malformedMessages += 1
                return
            }
            receive(message, from: peer)
        case let .unreliable(peer, bytes):
            guard peers[peer] != nil, case .pointer(let pointer)? = PeerMessage.decode(bytes) else { return }
            receivePointer(pointer, from: peer)
        case .registered, .introduced, .handshakeFailed:
            return
        }
    }

    private func receive(_ message: PeerMessage, from peer: PublicKey) {
        switch message {
        case .sync(let bytes):
            guard let sync = try? SyncMessageCodec.decode(bytes), var state = peers[peer]?.sync else {
                counters.malformedMessages += 1
                return
            }
            let key = contentKey
            for batch in sync.batches { checkEquivocation(batch) }
            // As Replica.receive(_:state:contentKey:), one batch at a time so each author's quota
            // sees what came before it; a refused batch is not taken in and sync offers it again.
            var outcomes: [Replica.ReceiveOutcome] = []
            for batch in state.receive(sync) where admitByQuota(batch) {
                outcomes.append(replica.receive(sealed: batch, contentKey: { $0 == Self.epoch ? key : nil }))
                chargeQuota(outcomes[outcomes.count - 1])
            }
            peers[peer]?.sync = state
            var applied: [SealedBatch] = []
            for outcome in outcomes {
                switch outcome {
                case .applied(let batches): applied += batches.map(\.batch)
                case .rejected: counters.rejectedBatches += 1
                case .duplicate, .heldBack, .dropped: break
                }
            }
            if applied.isEmpty {
                pumpSync(peer)
                return
            }
            let wall = Self.wallMillis()
            for batch in applied {
                sealed[batch.batch.id] = batch.sealed
                if let latest = batch.batch.latestTimestamp { clock.observe(latest, wallMillis: wall) }
            }
            // Others' batches are shown and forwarded before they are written: their durability
            // here promises nobody anything (sync fetches them again after a crash), so the
            // viewer need not wait for the fsync. A failed write is healed the same way.
            documentChanged()
            try? store.append(applied, room: room.tag)
        case let .chunkRequest(key, indices):
            serve(key, indices: indices, to: peer)
        case let .chunk(key, index, sealedChunk):
            receiveChunk(key, index: index, sealed: sealedChunk, from: peer)
        case let .chunkMissing(key, indices):
            transfers.refused(key, indices: indices, by: peer)
            pumpTransfers()
        case .pointer:
            // Presence travels unreliably only.
            counters.malformedMessages += 1
        }
    }

    /// Notes an author who signed another batch under a number whose batch we hold. The replica
    /// drops such a batch as a duplicate by its header; only one that also opens and verifies
    /// (so its author really signed it) counts, so nobody can accuse another by relabelling.
    private func checkEquivocation(_ batch: [UInt8]) {
        guard let header = try? BatchSealer.peekHeader(batch) else { return }
        let id = BatchID(author: ReplicaID(header.author), sequence: header.sequence)
        guard let held = sealed[id], held != batch, !equivocators.contains(id.author) else { return }
        let key = contentKey
        guard (try? BatchSealer.open(batch, contentKey: { $0 == Self.epoch ? key : nil })) != nil else { return }
        equivocators.insert(id.author)
        counters.equivocations += 1
        pushStatus()
    }

    /// After any change of the document: offer it to every peer, start fetching new blobs, tell subscribers.
    func documentChanged() {
        for peer in peers.keys { pumpSync(peer) }
        scanBlobs()
        scheduleStatePush()
        onChange?(replica.vector)
    }

    /// Sends the peer whatever sync has for it now.
    func pumpSync(_ peer: PublicKey) {
        guard let transport, var state = peers[peer]?.sync else { return }
        let local = replica.vector
        let held = sealed
        while let message = state.generateMessage(local: local, fetch: { held[$0] }) {
            guard let bytes = try? SyncMessageCodec.encode(message) else { break }
            do {
                try transport.send(message: PeerMessage.sync(bytes).encoded, to: peer)
            } catch {
                break
            }
        }
        peers[peer]?.sync = state
    }

    /// The periodic heal: every peer gets our vector again and whatever it still lacks.
    func syncTimer() {
        for peer in Array(peers.keys) {
            peers[peer]?.sync.timerFired()
            pumpSync(peer)
        }
    }

    // MARK: Subscribers

    /// A live feed of JSON texts for a viewer: state and status at once, then every change.
    public func subscribe() -> (id: UInt64, stream: AsyncStream<String>) {
        nextSubscriber += 1
        let id = nextSubscriber
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(64))
        subscribers[id] = continuation
        continuation.yield(stateText())
        continuation.yield(Self.text(statusObject(type: "status")))
        for (author, pointer) in presence.current where pointer != nil { broadcastPointer(of: author, pointer) }
        return (id, stream)
    }

    /// Ends a subscription.
    public func unsubscribe(_ id: UInt64) {
        subscribers.removeValue(forKey: id)?.finish()
    }

    private func scheduleStatePush() {
        guard !subscribers.isEmpty, !statePushPending else { return }
        statePushPending = true
        Task {
            try? await Task.sleep(for: .milliseconds(50))
            self.pushState()
        }
    }

    private func pushState() {
        statePushPending = false
        broadcastText(stateText())
    }

    /// Sends the status to every subscriber (every second, and when links change).
    func pushStatus() {
        guard !subscribers.isEmpty else { return }
        broadcast(statusObject(type: "status"))
    }

    func broadcast(_ object: [String: Any]) {
        guard !subscribers.isEmpty else { return }
        broadcastText(Self.text(object))
    }

    private func broadcastText(_ text: String) {
        for continuation in subscribers.values { continuation.yield(text) }
    }

    static func text(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}
