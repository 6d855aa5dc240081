import Foundation
import LocalAPI
import PeerCrypto
import Primitives
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
    /// This node's participant id.
    public nonisolated let me: ReplicaID
    /// Holds shares between their announcement and their storing while closed (tests only).
    package nonisolated let shareGate = ShareGate()
    /// The room's keys in epoch 0 (the first invite's): the store and the document know the
    /// room by them; later epochs' keys are in `epochKeys`.
    public nonisolated let room: RoomKeys
    let identity: Identity
    let store: Store
    /// Blob reads off the actor, through a second store connection.
    package nonisolated let blobReads: BlobReads
    /// Epoch 0's content key, which seals blobs in every epoch (a blob's key is not yet per epoch).
    let contentKey: SecretBytes
    /// The room's keys by epoch: 0 from the invite, later ones from the invite or from this
    /// node's own boxes in the owner's epoch changes.
    var epochKeys: [UInt32: RoomKeys] = [:]
    /// Content keys by epoch, for batches.
    var contentKeys: [UInt32: SecretBytes] = [:]
    /// The epoch the transport runs in (registers, handshakes): the newest one held.
    var linkEpoch: UInt32 = 0
    /// The epoch each blob's chunks are sealed in: that of the first batch that referred to it.
    var blobEpochs: [[UInt8]: UInt32] = [:]
    /// How many removals the document held when `epochsChanged` last ran: a removal must close
    /// its member's links even when it brings no epoch this node lacks (one an invite carried).
    var removalsSeen = 0
    /// The invite the node started with, for `currentInvite()`.
    var inviteBase: Invite?
    /// Short codes this node gave, by nameplate, newest last (their words are never kept here).
    var givenCodes: [GivenCode] = []
    /// The exchanges of codes still waiting, to close them when the room's keys change.
    var codeExchanges: [Int: Task<Void, Never>] = [:]
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
    /// Blobs this node announced and is still sealing and storing, by id: chunks not stored yet
    /// are sealed from the source when a peer asks, so fetching runs while the author stores.
    var pendingShares: [[UInt8]: PendingShare] = [:]
    /// Blobs whose chunks all arrived but whose content did not match the id.
    var corruptBlobs: Set<[UInt8]> = []
    /// Who sent chunks or hash lists that did not match a blob's commitment, and the last list served.
    var blobChecks = BlobCheckState()
    /// Videos being received whose index box (`moov`) is still being looked for.
    var videoIndexes: [BlobKey: VideoIndexLocator] = [:]
    /// Participants proven to have signed two versions of their history: every replica leaves
    /// their batches from the fork on out, and status names them.
    public internal(set) var equivocators: Set<ReplicaID> = []
    /// On the owner's node: wait for the agent's decision before admitting a member (`host --approve`).
    var approvesMembers = false
    /// Members whose link completed here while `approvesMembers` is on, with when.
    var pendingAdmissions: [ReplicaID: UInt64] = [:]
    /// Members the owner refused: dropped, never synced with (kept in settings).
    var refusedMembers: Set<ReplicaID> = []
    /// Live subscribers (viewer WebSockets).
    var subscribers: [UInt64: AsyncStream<LiveEvent>.Continuation] = [:]
    /// Summary subscribers (`host`'s and `join`'s terminal), and the summary they were last sent:
    /// they need neither the state text nor the full status, so the engine renders those only for viewers.
    var summarySubscribers: [UInt64: AsyncStream<NodeSummary>.Continuation] = [:]
    var lastSummary: NodeSummary?
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
    var quotaClock: @Sendable () -> Double = { MonotonicClock.seconds() }

    /// What the engine dropped or did, by reason.
    public struct Counters: Sendable, Equatable {
        /// Peer messages that did not decode.
        package var malformedMessages = 0
        /// Batches rejected as not authentic for this room.
        package var rejectedBatches = 0
        /// Chunks that did not open (forged, moved, corrupted).
        package var rejectedChunks = 0
        /// Chunks received that were not wanted (duplicates, or never asked).
        package var unwantedChunks = 0
        /// Chunks served to peers.
        package var chunksServed = 0
        /// Chunks that opened under the room key but did not match the author's chunk hash (a
        /// member's poisoning, or a damaged store): discarded and fetched from another peer.
        public var poisonedChunks = 0
        /// Chunk-hash lists that did not hash to the author's commitment.
        public var badHashLists = 0
        /// Stored chunks found not to match their hash and deleted, to be fetched again.
        public var repairedChunks = 0
        /// Equivocation proofs that were new here (an author signed two versions of its history).
        package var equivocations = 0
        /// Authentic batches refused for now because an operation was stamped too far ahead of our clock.
        package var futureBatches = 0
        /// Authentic batches of authors the owner had not admitted (held until it does).
        package var unadmittedBatches = 0
        /// Links of removed members closed (when their removal arrived, or when they linked again).
        public var removedPeerLinks = 0
        /// Batches of removed members written after their removal, refused.
        package var removedBatches = 0
    }

    /// A linked peer.
    struct LinkedPeer {
        var sync = SyncState()
        var path: TransportPath
        /// Whether this node, not admitted yet, offered the peer its own held batches.
        var offeredOwnHeld = false
    }

    /// The settings key prefix of a stored equivocation proof (then the author's hex).
    static let proofPrefix = "equivocation-proof:"
    /// Settings key prefix of members the owner refused.
    static let refusedPrefix = "refused-member:"

    /// A proof as stored: each sealed batch behind its 4-byte big-endian length.
    static func encode(_ proof: EquivocationProof) -> [UInt8] {
        UInt32(proof.first.count).bigEndianBytes + proof.first + UInt32(proof.second.count).bigEndianBytes + proof.second
    }

    /// The two sealed batches of a stored proof; nil if the bytes are not one (checked again on use).
    static func decodeProof(_ bytes: [UInt8]) -> ([UInt8], [UInt8])? {
        func read(_ offset: Int) -> (batch: [UInt8], end: Int)? {
            guard offset + 4 <= bytes.count else { return nil }
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            guard length <= Limits.maxSealedBatchBytes, offset + 4 + length <= bytes.count else { return nil }
            return (Array(bytes[(offset + 4)..<(offset + 4 + length)]), offset + 4 + length)
        }
        guard let first = read(0), let second = read(first.end), second.end == bytes.count else { return nil }
        return (first.batch, second.batch)
    }

    /// Opens the room's document from the store (creating the room there if new).
    ///
    /// - Parameter laterEpochs: keys of epochs after 0 that an invite brought.
    /// - Throws: `StoreError` if the store cannot be read or written.
    public init(identity: Identity, room: RoomKeys, laterEpochs: [RoomKeys] = [], store: Store, nowMillis: Int64) throws {
        self.identity = identity
        me = ReplicaID(identity.publicKey)
        self.room = room
        self.store = store
        blobReads = BlobReads(storePath: store.path)
        contentKey = room.contentKey(epoch: 0)
        for keys in [room] + laterEpochs where keys.roomID == room.roomID {
            epochKeys[keys.epoch] = keys
            contentKeys[keys.epoch] = keys.contentKey(epoch: keys.epoch)
        }
        try store.addRoom(room, createdMillis: nowMillis)
        // One read of the store: the batches are opened again (never trusted), those stamped too
        // far ahead of our clock are left out, and the rest are kept sealed for sync. A later
        // epoch's batches open once the owner's change that carries its secret is merged, so
        // the rest are tried again for every epoch learnt (a handful of passes at most).
        let wall = Self.wallMillis()
        var (opened, unread) = Store.reopen(try store.batches(room: room.tag), roomID: room.roomID, contentKeys: contentKeys, nowMillis: wall)
        replica = Replica(document: Document(authority: RoomAuthority(room: room), batches: opened.map(\.batch)))
        while !unread.isEmpty, Self.learnEpochs(from: replica.document, identity: identity, room: room, into: &epochKeys, contentKeys: &contentKeys) {
            let more = Store.reopen(unread, roomID: room.roomID, contentKeys: contentKeys, nowMillis: wall)
            guard !more.opened.isEmpty else { break }
            unread = more.unreadable
            opened += more.opened
            replica = Replica(document: Document(authority: RoomAuthority(room: room), batches: opened.map(\.batch)))
        }
        _ = Self.learnEpochs(from: replica.document, identity: identity, room: room, into: &epochKeys, contentKeys: &contentKeys)
        linkEpoch = epochKeys.keys.max() ?? 0
        var latest = HLC.zero
        for (_, batch) in opened { Self.noteBlobEpochs(batch, into: &blobEpochs) }
        for (stored, batch) in opened {
            if !replica.vector.contains(batch.id) {
                // Not merged (an author not admitted yet, say): held as if it had just arrived.
                _ = replica.receive(SealedBatch(verified: batch, sealed: stored.sealed))
            }
            sealed[batch.id] = stored.sealed
            if let time = batch.latestTimestamp { latest = max(latest, time) }
        }
        clock = HybridClock(latest: latest)
        _ = clock.observe(latest, wallMillis: wall)
        let keys = contentKeys
        for name in (try? store.settingKeys(prefix: Self.proofPrefix)) ?? [] {
            guard let bytes = try? store.setting(name), let pair = Self.decodeProof(bytes),
                let proof = EquivocationProof(pair.0, pair.1, room: room.roomID, contentKey: { keys[$0] })
            else { continue }
            replica.take(proof)
            equivocators.insert(proof.author)
        }
        for key in (try? store.settingKeys(prefix: Self.refusedPrefix)) ?? [] {
            if let hex = key.split(separator: ":").last, let bytes = Hex.bytes(hex), let peer = try? PublicKey(bytes: bytes) {
                refusedMembers.insert(ReplicaID(peer))
            }
        }
        for key in (try? store.settingKeys(prefix: Self.verifiedPrefix)) ?? [] {
            if let hex = key.split(separator: ":").last, let bytes = Hex.bytes(hex) { completeBlobs.insert(bytes) }
        }
    }

    /// The merged document as it is now.
    public var document: Document { replica.document }

    /// The version vector of what this node holds.
    public var vector: VersionVector { replica.vector }

    /// Sets a callback run after every change of the document.
    package func setChangeHandler(_ handler: (@Sendable (VersionVector) -> Void)?) {
        onChange = handler
    }

    /// Attaches the started transport: from now on edits and transfers reach the peers.
    func attach(_ transport: PeerTransport) {
        self.transport = transport
        if linkEpoch > 0, let keys = epochKeys[linkEpoch] {
            // Started in the newest epoch; earlier ones are answered for members only.
            let members = Set(replica.document.members.map(\.id.publicKey)).subtracting([identity.publicKey])
            transport.switchEpoch(to: keys, older: epochKeys.values.filter { $0.epoch < linkEpoch }, olderEpochPeers: members)
        }
        resumeInterruptedShares()
        scanBlobs()
    }

    /// Forgets the transport before it closes.
    func detach() {
        flushChunks()
        transport = nil
        peers = [:]
        for continuation in subscribers.values { continuation.finish() }
        subscribers = [:]
        for continuation in summarySubscribers.values { continuation.finish() }
        summarySubscribers = [:]
    }

    static func wallMillis() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970 * 1000))
    }

    // MARK: Local edits

    /// Seals `edits` as one batch of this node's, applies and stores it, and offers it to every peer.
    ///
    /// - Returns: the operation ids, one per edit.
    /// - Throws: `NodeError.forbidden` if the room's rules do not let this participant make an
    ///   edit (every replica would reject it), `ReplicationError` if an edit is invalid,
    ///   `StoreError` if it could not be stored (then nothing was applied either),
    ///   `NodeError.quotaExceeded` if this node's own edits went over its quota.
    @discardableResult
    public func commit(_ edits: [Edit]) throws -> [OpID] {
        var draft = replica.draft(author: me)
        var ids: [OpID] = []
        let wall = Self.wallMillis()
        for edit in edits { ids.append(try draft.append(edit, at: clock.now(wallMillis: wall))) }
        let document = replica.document
        if document.isRemoved(me) {
            throw NodeError.forbidden("the room's owner removed this participant; nothing it writes counts any more")
        }
        if let role = document.role(of: me, at: draft.sequence) {
            // The local API mirrors the merge's rules: what every replica would reject is refused here.
            for operation in draft.operations where !document.authority.permits(operation, role: role) {
                throw NodeError.forbidden(Self.refusal(operation.edit, role: role))
            }
        } else if draft.operations.contains(where: { if case .setProfile = $0.edit { false } else { true } }) {
            throw NodeError.forbidden("the room's owner has not admitted this node yet; wait until the host's node links")
        }
        // Sealed in the newest epoch held, so a member removed before it cannot open it.
        let epoch = sealingEpoch
        let batch = try draft.seal(identity: identity, epoch: epoch, contentKey: contentKeys[epoch]!, room: room.roomID)
        try spendLocalQuota(operations: edits.count, bytes: batch.sealed.count)
        // Store before applying: if the disk refuses, the document must not show an edit that
        // a restart would lose, and the sequence number stays free.
        try store.append([batch], room: room.tag)
        // In place: merging into a copy duplicated every collection the batch touches, a cost
        // growing with the document on every edit. An own batch, next in sequence and stored, is
        // applied or awaits admission; any other outcome leaves the replica as it was.
        switch replica.receive(batch) {
        case .applied(let applied):
            for item in applied {
                sealed[item.batch.batch.id] = item.batch.sealed
                noteBlobEpochs(item.batch.batch)
            }
            // A grant releases the batches its member had waiting here: they are merged now, so
            // they are stored now (as others' batches are, after the merge).
            let released = applied.dropFirst().map(\.batch)
            if !released.isEmpty { try? store.append(released, room: room.tag) }
        case .awaitingAdmission:
            // Our own profile before the owner admitted us: merged (and sent) once the grant arrives.
            sealed[batch.batch.id] = batch.sealed
        default:
            throw NodeError.internalInconsistency("own batch \(batch.batch.id) was not applied")
        }
        documentChanged()
        return ids
    }

    /// Why the rules refuse an edit, in words for the person who tried.
    static func refusal(_ edit: Edit, role: Role) -> String {
        switch edit {
        case .commerce(.recommend): "only an agent may recommend; this participant is a \(role.name)"
        case .setItemField, .removeItem, .moveItem: "only the item's author or an agent may change or remove it; this participant is a \(role.name)"
        case .removeMark: "only the mark's author or an agent may remove it"
        case .grantRole: "only the room's owner grants roles"
        default: "a \(role.name) may not do that in this room"
        }
    }

    // MARK: Transport events

    /// Handles one transport event, in the order the transport reported them.
    func handle(_ event: TransportEvent) {
        switch event {
        case let .linkUp(peer, path):
            guard !refuseIfRemoved(peer) else { return }
            peers[peer] = LinkedPeer(path: path)
            admitIfOwner(peer)
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
            guard peers[peer] != nil, !refusedMembers.contains(ReplicaID(peer)) else { return }
            guard let message = PeerMessage.decode(bytes) else {
                counters.malformedMessages += 1
                return
            }
            receive(message, from: peer)
        case let .unreliable(peer, bytes):
            guard peers[peer] != nil, case .pointer(let pointer)? = PeerMessage.decode(bytes) else { return }
            receivePointer(pointer, from: peer)
        case .registered, .introduced, .handshakeFailed, .registrationRefused:
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
            let keys = contentKeys
            let held = sealed
            let epochKey: (UInt32) -> SecretBytes? = { keys[$0] }
            var outcomes = replica.takeEvidence(of: sync, state: &state, contentKey: epochKey)
            // As Replica.receive(_:state:…), but one batch at a time so each author's quota sees
            // what came before it; a refused batch is not taken in, and sync offers it again.
            // Batches are opened ahead on the other cores (only those whose author's quota has
            // room as the message arrives), and still admitted, merged and charged in order.
            let batches = state.receive(sync)
            let plan = replica.openingPlan(batches, contentKey: epochKey)
            let now = quotaClock()
            let ahead = batches.indices.map { index in
                plan.wanted[index]
                    && (try? BatchSealer.peekHeader(batches[index])).map {
                        remoteQuota.admits(ReplicaID($0.author), bytes: batches[index].count, now: now)
                    } == true
            }
            BatchSealer.openInOrder(batches, room: replica.roomID, keys: plan.keys, wanted: { ahead[$0] }, then: VerifiedBatch.init(opened:)) {
                index, opened in
                guard admitByQuota(batches[index]) else { return }
                let outcome = replica.receive(
                    sealed: batches[index], opened: opened, contentKey: epochKey, nowMillis: Self.wallMillis(), fetch: { held[$0] })
                chargeQuota(outcome)
                outcomes.append(outcome)
            }
            peers[peer]?.sync = state
            var applied: [SealedBatch] = []
            var proven = false
            for outcome in outcomes {
                switch outcome {
                case .applied(let batches): applied += batches.map(\.batch)
                case .rejected: counters.rejectedBatches += 1
                case .tooFarAhead: counters.futureBatches += 1
                case .awaitingAdmission: counters.unadmittedBatches += 1
                case .equivocation(let proof):
                    counters.equivocations += 1
                    equivocators.insert(proof.author)
                    proven = true
                    // Kept, so a restart leaves the branch out at once and can pass the proof on.
                    try? store.setSetting(Self.proofPrefix + proof.author.hex, Self.encode(proof))
                case .excluded: counters.removedBatches += 1
                case .duplicate, .heldBack, .dropped, .chainBroken: break
                }
            }
            if proven {
                // The document left the equivocator's branch out: everybody hears of the proof.
                documentChanged()
                pushStatus()
            }
            if applied.isEmpty {
                pumpSync(peer)
                return
            }
            let wall = Self.wallMillis()
            for batch in applied {
                sealed[batch.batch.id] = batch.sealed
                noteBlobEpochs(batch.batch)
                if let latest = batch.batch.latestTimestamp { clock.observe(latest, wallMillis: wall) }
            }
            // Others' batches are shown and forwarded before they are written: their durability
            // here promises nobody anything (sync fetches them again after a crash), so the
            // viewer need not wait for the fsync. A failed write is healed the same way.
            documentChanged()
            try? store.append(applied, room: room.tag)
            followRequests()
        case let .chunkRequest(key, indices):
            serve(key, indices: indices, to: peer)
        case let .chunk(key, index, sealedChunk):
            receiveChunk(key, index: index, sealed: sealedChunk, from: peer)
        case let .chunkMissing(key, indices):
            transfers.refused(key, indices: indices, by: peer)
            pumpTransfers()
        case .hashListRequest, .hashList, .hashListMissing:
            receiveHashListMessage(message, from: peer)
        case .pointer:
            // Presence travels unreliably only.
            counters.malformedMessages += 1
        }
    }

    /// After any change of the document: offer it to every peer, start fetching new blobs, tell subscribers.
    func documentChanged() {
        let document = replica.document
        if document.currentEpoch > linkEpoch || document.removed.count != removalsSeen || document.isRemoved(me) {
            epochsChanged()
        }
        for peer in peers.keys { pumpSync(peer) }
        scanBlobs()
        scheduleStatePush()
        pushSummary()
        onChange?(replica.vector)
    }

    /// Sends the peer whatever sync has for it now.
    func pumpSync(_ peer: PublicKey) {
        guard let transport, var state = peers[peer]?.sync, !refusedMembers.contains(ReplicaID(peer)) else { return }
        let current = replica
        let held = sealed
        while let message = state.generateMessage(replica: current, fetch: { held[$0] }) {
            guard let bytes = try? SyncMessageCodec.encode(message) else { break }
            do {
                try transport.send(message: PeerMessage.sync(bytes).encoded, to: peer)
            } catch {
                break
            }
        }
        peers[peer]?.sync = state
        offerOwnHeldBatches(to: peer)
    }

    /// Before the owner admits this node, its own batches (its profile) are held even here, so
    /// sync never offers them: each peer gets them once per link and heal, so the owner's node
    /// can show the agent who asks to join. Peers hold them until the grant, like any unadmitted batch.
    private func offerOwnHeldBatches(to peer: PublicKey) {
        guard let transport, peers[peer]?.offeredOwnHeld == false, myRole == nil else { return }
        let own = replica.unadmitted.batches(by: me).map(\.sealed)
        guard !own.isEmpty, let bytes = try? SyncMessageCodec.encode(SyncMessage(summary: [], wants: [], proofs: [], batches: own)),
            (try? transport.send(message: PeerMessage.sync(bytes).encoded, to: peer)) != nil
        else { return }
        peers[peer]?.offeredOwnHeld = true
    }

    /// The periodic heal: every peer gets our vector again and whatever it still lacks.
    func syncTimer() {
        for peer in Array(peers.keys) {
            peers[peer]?.sync.timerFired()
            // Offered again with each heal while not admitted, as sync repeats itself.
            peers[peer]?.offeredOwnHeld = false
            pumpSync(peer)
        }
    }

    // MARK: Subscribers

    /// The live feed (a viewer's WebSocket, `host`'s and `join`'s terminal): state and status at
    /// once, then every change, as typed events whose `text` is what the WebSocket sends.
    package func subscribe() -> (id: UInt64, stream: AsyncStream<LiveEvent>) {
        nextSubscriber += 1
        let id = nextSubscriber
        let (stream, continuation) = AsyncStream<LiveEvent>.makeStream(bufferingPolicy: .bufferingNewest(64))
        subscribers[id] = continuation
        continuation.yield(.state(stateText()))
        continuation.yield(.status(status(type: "status")))
        for (author, pointer) in presence.current where pointer != nil { broadcastPointer(of: author, pointer) }
        return (id, stream)
    }

    /// Ends a subscription.
    package func unsubscribe(_ id: UInt64) {
        subscribers.removeValue(forKey: id)?.finish()
    }

    /// The status-only feed of `host`'s and `join`'s terminal: the summary at once, then each
    /// time it differs (a peer comes, goes or gets its name, a transfer moves).
    public func subscribeSummary() -> (id: UInt64, stream: AsyncStream<NodeSummary>) {
        nextSubscriber += 1
        let id = nextSubscriber
        let (stream, continuation) = AsyncStream<NodeSummary>.makeStream(bufferingPolicy: .bufferingNewest(16))
        summarySubscribers[id] = continuation
        let now = summary()
        lastSummary = now
        continuation.yield(now)
        return (id, stream)
    }

    /// Ends a summary subscription.
    public func unsubscribeSummary(_ id: UInt64) {
        summarySubscribers.removeValue(forKey: id)?.finish()
    }

    /// Sends the summary to its subscribers if it changed since they last got it.
    private func pushSummary() {
        guard !summarySubscribers.isEmpty else { return }
        let now = summary()
        guard now != lastSummary else { return }
        lastSummary = now
        for continuation in summarySubscribers.values { continuation.yield(now) }
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
        broadcast(.state(stateText()))
    }

    /// Sends the status to every subscriber (every second, and when links change).
    func pushStatus() {
        pushSummary()
        guard !subscribers.isEmpty else { return }
        broadcast(.status(status(type: "status")))
    }

    func broadcast(_ event: LiveEvent) {
        for continuation in subscribers.values { continuation.yield(event) }
    }

}
