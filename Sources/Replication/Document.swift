import PeerCrypto

/// # Replication: the coviewing document
///
/// The shared panel is one replicated document per room, held by every participant's node. It
/// is the merge of all sealed batches of the room, and converges: nodes that hold the same
/// batches hold the same document, whatever the order, duplication or delay of delivery.
///
/// ## The flow
///
/// - **Author.** `Document.draft(author:)` starts a `BatchDraft` with the next sequence number
///   and a Lamport counter above everything seen; `append` edits to it (each gets an `OpID` with
///   an `HLC` timestamp from the node's `HybridClock`); `seal` encodes it (`BatchCodec`), seals it
///   (`BatchSealer`) and returns the bytes to store and send beside the `VerifiedBatch` to apply.
/// - **Receive.** `Replica.receive(sealed:contentKey:)` drops duplicates by header, opens the
///   batch (only opened batches become `VerifiedBatch`es, the only kind `Document.apply` takes),
///   applies it if it is its author's next one, or holds it back (bounded) until the gap fills.
/// - **Sync.** One `SyncState` per peer: `generateMessage` sends our `VersionVector` and the
///   batches the peer lacks; `Replica.receive(_:state:contentKey:)` takes the peer's message.
///   Any node forwards any author's batches, since a sealed batch is authentic on its own.
/// - **Compare.** `canonicalJSON` and `stateHash` are equal on converged nodes.
///
/// ## The parts and their merge rules
///
/// | part | rule |
/// | --- | --- |
/// | participants | LWW register per participant (profile: name, requested role); written only by its owner |
/// | grants | the room owner's role grants per member, each from one of the member's batches on |
/// | items | per item: creation (kind), LWW register per field, LWW panel position, removal |
/// | marks | add/remove set of immutable marks; hidden while their item is not visible |
/// | playback | LWW register per item (playing, position, rate); shown only on a visible video |
/// | viewports | LWW register per (participant, item); written only by its owner |
/// | focus | LWW register per participant; written only by its owner |
/// | chat | append-only list ordered by operation id |
/// | commerce | append-only list of events ordered by operation id |
///
/// LWW means the write with the greatest `OpID` (Lamport counter, then replica id) wins, so
/// ties between replicas break the same way everywhere. **Removing an item is final**: the
/// removal is a tombstone, the item cannot be restored (share it again to get a new one), and
/// its marks and viewports stay hidden, including marks added concurrently with or after the
/// removal. Operations may name items and marks the node has not seen yet (their batches can
/// arrive later from another path): such writes are kept and take effect once the item exists,
/// so the state is a function of the set of operations alone. Writes by one participant to
/// another's profile, viewport or focus are rejected (counted, not applied) on every node alike.
///
/// An authentic batch whose payload does not decode (or whose counters go backwards) counts as
/// received but contributes nothing, the same on every node, so one bad batch never blocks its
/// author's later ones. A payload in a newer format version is treated the same way, so nodes
/// on different versions can differ until they upgrade. An author who seals two different
/// batches under one sequence number (a node that lost its store, or a malicious one) is proven
/// to equivocate as soon as two nodes compare heads (`EquivocationProof`); every node then
/// leaves that author's batches out from the fork on (`exclude(_:)`), so the room converges
/// again. Which operations count at all is the room's permission table (`RoomAuthority`).
///
/// ## Example
///
///     var replica = Replica()                       // or Replica(document: Document(batches: stored))
///     var clock = HybridClock()
///     let me = ReplicaID(identity.publicKey)
///     var draft = replica.draft(author: me)
///     let note = try draft.append(
///         .createItem(kind: .note, position: .middle, fields: [.text("Hello")]), at: clock.now(wallMillis: wall))
///     let local = try draft.seal(identity: identity, epoch: 0, contentKey: keys.contentKey(epoch: 0))
///     _ = replica.receive(local)                    // apply; store local.sealed; push it to peers
///
///     var peer = SyncState()                        // one per connected peer
///     while let message = peer.generateMessage(local: replica.vector, fetch: store.sealedBatch) {
///         send(try SyncMessageCodec.encode(message))
///     }
///     // when bytes arrive from that peer; store the sealed bytes of every `.applied` batch:
///     let outcomes = replica.receive(try SyncMessageCodec.decode(bytes), state: &peer, contentKey: keys.contentKey)
///
/// ## Purity
///
/// Nothing here does I/O, reads a clock or draws randomness: time comes in as `HLC` values and
/// wall-clock milliseconds, and sealing's nonce is BatchSealer's business. Every type is a
/// value; none is thread-safe for concurrent mutation, and each is owned by one caller.
public struct Document: Sendable {
    /// Who rules the room, and which room it is: fixed for the document's life.
    public let authority: RoomAuthority
    /// The batches merged so far.
    public private(set) var vector = VersionVector()
    /// The greatest Lamport counter of any merged operation: local operations count on from here.
    package private(set) var maxCounter: UInt64 = 0
    /// Each author's last accepted counter: an author's counters must keep increasing, so an id
    /// names one operation only.
    var lastCounters: [ReplicaID: UInt64] = [:]
    /// Every merged batch, per author in sequence order: the hash chain, and what a rebuild
    /// replays when a role change or an equivocation proof changes the verdict on past batches.
    var log: [ReplicaID: [VerifiedBatch]] = [:]
    /// The owner's role grants per member, in the owner's order.
    var grants: [ReplicaID: [RoleGrant]] = [:]
    /// Proven equivocators: each author's batches from this sequence on are left out everywhere.
    public internal(set) var equivocators: [ReplicaID: UInt64] = [:]
    /// True while `rebuild` replays the log: grants then never ask for another rebuild.
    var rebuilding = false
    /// Operations that broke a permission rule, per author: they had no effect on any node.
    public private(set) var rejectedOperations: [ReplicaID: Int] = [:]
    /// Removed members: each one's batches from this sequence on count nowhere.
    public internal(set) var removed: [ReplicaID: UInt64] = [:]
    /// The owner's epoch changes by epoch number (epoch 0, the invite's, has none), with the
    /// operation that made each.
    public internal(set) var epochChanges: [UInt32: (change: EpochChange, id: OpID, at: HLC)] = [:]

    var profiles: [ReplicaID: Register<Profile>] = [:]
    var items: [OpID: ItemRecord] = [:]
    var marks = MarkStore()
    var viewportRegisters: [ViewportKey: Register<Viewport>] = [:]
    var focusRegisters: [ReplicaID: Register<OpID?>] = [:]
    /// All chat messages, ascending by id.
    public private(set) var chat: [ChatMessage] = []
    /// All commerce events, ascending by id.
    public private(set) var commerce: [CommerceEvent] = []

    /// An empty document of a room with `authority` (by default an open room with no owner, in
    /// which every author is a member allowed everything: for tests of the merge itself; a node's
    /// rooms always have an owner).
    public init(authority: RoomAuthority = .open) {
        self.authority = authority
    }

    /// A document rebuilt from batches given in any order (as a store returns them, say).
    ///
    /// The owner's batches go first, so every grant is known before the batches it judges;
    /// batches that follow a missing, excluded or unadmitted one of their author are left out,
    /// as `apply` would hold them back; duplicates are ignored.
    public init(authority: RoomAuthority = .open, batches: some Sequence<VerifiedBatch>) {
        self.init(authority: authority)
        for batch in Self.canonicalOrder(batches, owner: authority.owner) { apply(batch) }
    }

    /// The order in which a rebuild applies batches: the owner's first, then by id.
    static func canonicalOrder(_ batches: some Sequence<VerifiedBatch>, owner: ReplicaID?) -> [VerifiedBatch] {
        batches.sorted { a, b in
            let aOwner = a.author == owner
            let bOwner = b.author == owner
            return aOwner != bOwner ? aOwner : a.id < b.id
        }
    }

    /// Starts the next batch of `author`'s own operations.
    ///
    /// Its counter follows everything merged, but never more than `Limits.maxCounterJump` above
    /// the author's own previous batch: a hostile member's huge counter cannot drag ours (or
    /// make our batch one that everybody refuses).
    public func draft(author: ReplicaID) -> BatchDraft {
        let own = lastCounters[author] ?? 0
        let start = min(max(maxCounter, own) + 1, own + Limits.maxCounterJump)
        return BatchDraft(
            author: author, sequence: vector[author] + 1, startCounter: start,
            previous: log[author]?.last?.digest ?? BatchSealer.noPrevious)
    }

    /// The digest of `author`'s merged batch `sequence`, if merged.
    public func digest(of id: BatchID) -> [UInt8]? {
        guard id.sequence >= 1, let batches = log[id.author], id.sequence <= UInt64(batches.count) else { return nil }
        return batches[Int(id.sequence - 1)].digest
    }

    /// What happened to a batch given to `apply`.
    public enum ApplyResult: Hashable, Sendable {
        /// Merged. Operations that broke a rule were rejected (counted here) on every node alike.
        case applied(rejectedOperations: Int)
        /// Counted as received (the vector moved on) but its operations were ignored, on every node alike.
        case ignored(IgnoredReason)
        /// Already merged.
        case duplicate
        /// Not the author's next batch: `expected` must come first.
        case outOfOrder(expected: UInt64)
        /// The owner has not admitted its author (yet): nothing merged.
        case notAdmitted
        /// Its author is a proven equivocator and this batch is past the fork: nothing merged.
        case excluded
        /// It names a previous digest other than the author's batch merged here: the author
        /// signed two histories. Nothing merged; the two batches are an `EquivocationProof`.
        case chainBroken
    }

    /// Why an authentic batch contributes no operations.
    public enum IgnoredReason: Hashable, Sendable {
        /// The payload does not decode.
        case malformed(ReplicationError)
        /// Its Lamport counters do not exceed its author's previous batch's.
        case countersNotIncreasing
        /// Its first Lamport counter is more than `Limits.maxCounterJump` above its author's previous batch's.
        case counterJump
    }

    /// Merges the author's next batch.
    ///
    /// Batches must come in their author's sequence order: anything else is reported, not merged
    /// (`Replica` holds such batches back until their turn). Each operation is judged by the
    /// room's permission rules (`RoomAuthority`) under the role its author held for this batch.
    @discardableResult
    package mutating func apply(_ batch: VerifiedBatch) -> ApplyResult {
        let author = batch.author
        let held = vector[author]
        guard batch.sequence > held else { return .duplicate }
        guard batch.sequence == held + 1 else { return .outOfOrder(expected: held + 1) }
        if let fork = equivocators[author], batch.sequence >= fork { return .excluded }
        if let from = removed[author], batch.sequence >= from { return .excluded }
        guard let role = role(of: author, at: batch.sequence) else { return .notAdmitted }
        guard batch.previous == (log[author]?.last?.digest ?? BatchSealer.noPrevious) else { return .chainBroken }
        vector.advance(author, to: batch.sequence)
        log[author, default: []].append(batch)
        switch batch.content {
        case let .failure(error):
            return .ignored(.malformed(error))
        case let .success(operations):
            guard let first = operations.first, let last = operations.last else { return .applied(rejectedOperations: 0) }
            let previous = lastCounters[author] ?? 0
            guard first.id.counter > previous else { return .ignored(.countersNotIncreasing) }
            guard first.id.counter - previous <= Limits.maxCounterJump else { return .ignored(.counterJump) }
            lastCounters[author] = last.id.counter
            maxCounter = max(maxCounter, last.id.counter)
            var rejected = 0
            var rebuild = false
            // The batch's chat messages and commerce events come in id order (one author, rising
            // counters): they are merged into the lists at the end, in one pass per list.
            var newChat: [ChatMessage] = []
            var newCommerce: [CommerceEvent] = []
            for operation in operations {
                guard authority.permits(operation, role: role) else {
                    rejected += 1
                    continue
                }
                if case let .grantRole(member, granted, from) = operation.edit {
                    rebuild = grant(granted, to: member, from: from, by: operation.id) || rebuild
                    continue
                }
                if case let .startEpoch(change) = operation.edit {
                    // Epochs follow one another: the owner's chain orders its changes, so a
                    // number out of turn is a faulty owner's, and counts nowhere alike.
                    guard change.epoch == currentEpoch + 1 else {
                        rejected += 1
                        continue
                    }
                    rebuild = startEpoch(change, by: operation.id, at: operation.timestamp) || rebuild
                    continue
                }
                merge(operation, chat: &newChat, commerce: &newCommerce)
            }
            Self.merge(newChat, into: &chat)
            Self.merge(newCommerce, into: &commerce)
            if rejected > 0 { rejectedOperations[author, default: 0] += rejected }
            if rebuild { self.rebuild() }
            return .applied(rejectedOperations: rejected)
        }
    }

    /// Merges one operation that the permission rules allowed. Chat messages and commerce events
    /// are collected in `newChat` and `newCommerce`, for `merge(_:into:)`.
    private mutating func merge(
        _ op: Operation, chat newChat: inout [ChatMessage], commerce newCommerce: inout [CommerceEvent]
    ) {
        switch op.edit {
        case let .setProfile(participant, profile):
            Register.write(&profiles[participant], profile, by: op)
        case let .createItem(kind, position, fields):
            var record = items[op.id] ?? ItemRecord()
            record.creation = ItemCreation(kind: kind, time: op.timestamp)
            Register.write(&record.position, position, by: op)
            for field in fields { Register.write(&record.fields[field.key], field, by: op) }
            items[op.id] = record
        case let .setItemField(item, field):
            Register.write(&items[item, default: ItemRecord()].fields[field.key], field, by: op)
        case let .removeItem(item):
            items[item, default: ItemRecord()].removed = true
        case let .moveItem(item, position):
            Register.write(&items[item, default: ItemRecord()].position, position, by: op)
        case let .addMark(item, mark):
            marks.add(op.id, item: item, mark: mark, time: op.timestamp)
        case let .removeMark(mark):
            marks.remove(mark)
        case let .setPlayback(item, playback):
            // Kept whatever the item turns out to be (its creation may come later); the views
            // show it on a visible video only, so every replica shows the same.
            Register.write(&items[item, default: ItemRecord()].playback, playback, by: op)
        case let .setViewport(participant, item, viewport):
            Register.write(&viewportRegisters[ViewportKey(participant: participant, item: item)], viewport, by: op)
        case let .setFocus(participant, item):
            Register.write(&focusRegisters[participant], item, by: op)
        case let .say(text):
            newChat.append(ChatMessage(id: op.id, time: op.timestamp, text: text))
        case let .commerce(action):
            newCommerce.append(CommerceEvent(id: op.id, time: op.timestamp, action: action))
        case .grantRole, .startEpoch:
            // Taken by `apply` before it calls here: they change authority, not content.
            break
        }
    }

    /// Merges `entries` into `list` in id order; ids are unique, so the list stays strictly ascending.
    ///
    /// One pass: entries newer than the list's last are appended; otherwise they are merged
    /// backwards into the list's tail in place, each run of list entries moved once by a block
    /// move, so two authors' interleaved lists cost one pass over the tail per batch, not a
    /// shift of the tail per entry.
    static func merge<Entry: Identified>(_ entries: [Entry], into list: inout [Entry]) {
        guard let first = entries.first else { return }
        guard zip(entries, entries.dropFirst()).allSatisfy({ $0.id < $1.id }) else {
            // Not reachable through `apply` (a batch's ids ascend); kept total all the same.
            for entry in entries { merge([entry], into: &list) }
            return
        }
        guard let last = list.last, !(last.id < first.id) else {
            list.append(contentsOf: entries)
            return
        }
        var low = list.startIndex
        var high = list.endIndex
        while low < high {
            let middle = (low + high) / 2
            if list[middle].id < first.id { low = middle + 1 } else { high = middle }
        }
        let count = list.count
        list.append(contentsOf: entries)
        list.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            // The appended copies are dropped: their slots become the gap that travels down as
            // runs of list entries move up past it. Nothing in between can trap, and the gap is
            // filled (with the entries) before the buffer is handed back.
            (base + count).deinitialize(count: entries.count)
            var unplaced = count  // list entries [low, unplaced) are still where they were
            var filled = count + entries.count  // slots from `filled` on are final
            for entry in entries.reversed() {
                var start = unplaced
                while start > low, entry.id < base[start - 1].id { start -= 1 }
                let run = unplaced - start
                if run > 0 {
                    filled -= run
                    (base + filled).moveInitialize(from: base + start, count: run)
                    unplaced = start
                }
                filled -= 1
                (base + filled).initialize(to: entry)
            }
        }
    }
}

/// An entry of an append-only list, ordered by operation id.
protocol Identified {
    var id: OpID { get }
}

/// A last-writer-wins register: keeps the value of the write with the greatest operation id.
struct Register<Value: Hashable & Sendable>: Hashable, Sendable {
    var value: Value
    var stamp: OpID
    var time: HLC

    /// Writes `value` into `slot` if `op` is later than the current write; order of arrival is irrelevant.
    static func write(_ slot: inout Register?, _ value: Value, by op: Operation) {
        if let current = slot, current.stamp >= op.id { return }
        slot = Register(value: value, stamp: op.id, time: op.timestamp)
    }
}

/// When and as what an item was created.
struct ItemCreation: Hashable, Sendable {
    var kind: ItemKind
    var time: HLC
}

/// Everything known about one item id, including writes that arrived before its creation.
struct ItemRecord: Hashable, Sendable {
    var creation: ItemCreation?
    /// Final: no operation clears it.
    var removed = false
    var position: Register<PanelPosition>?
    var fields: [ItemFieldKey: Register<ItemField>] = [:]
    var playback: Register<Playback>?

    var isVisible: Bool { creation != nil && !removed }
}

/// The key of a viewport register.
struct ViewportKey: Hashable, Comparable, Sendable {
    var participant: ReplicaID
    var item: OpID

    static func < (lhs: ViewportKey, rhs: ViewportKey) -> Bool {
        (lhs.participant, lhs.item) < (rhs.participant, rhs.item)
    }
}

/// A chat message.
public struct ChatMessage: Hashable, Sendable, Identified {
    /// Its id, which orders the chat.
    public let id: OpID
    /// When it was written.
    public let time: HLC
    /// The text.
    public let text: String

    /// Who wrote it.
    public var author: ReplicaID { id.replica }
}

/// A commerce event.
public struct CommerceEvent: Hashable, Sendable, Identified {
    /// Its id, which orders the events.
    public let id: OpID
    /// When it happened (time to purchase is measured between these).
    public let time: HLC
    /// What happened.
    public let action: CommerceAction

    /// Who did it: the recommender, or the person adding to cart or buying.
    public var by: ReplicaID { id.replica }
}
