import PeerCrypto

/// Who rules a room and which room it is: the part of the CRDT's definition that every replica
/// of the room shares, so that every replica applies the same rules and reaches the same state.
///
/// ## The rules
///
/// The owner (the host's identity key, carried by the invite) admits members and grants roles in
/// its own signed operations (`Edit.grantRole`). A batch whose author the owner has not admitted
/// changes nothing (`Document.ApplyResult.notAdmitted`; `Replica` holds it within a bound until the
/// admission arrives). Each operation of an admitted member is judged under the role the member
/// held for that batch:
///
/// | operation | who may |
/// | --- | --- |
/// | profile, viewport, focus | only the participant they belong to |
/// | create an item, add a mark, chat, add to cart, buy | any member but the archive |
/// | play, pause, seek or set the rate of a video (shared playback) | any member but the archive |
/// | edit, move or remove an item | the item's author, or an agent |
/// | remove a mark | the mark's author, or an agent |
/// | recommend | agents only |
/// | grant a role | the owner only |
///
/// The owner counts as an agent. An operation that breaks a rule has no effect anywhere and is
/// counted (`Document.rejectedOperations`); the rest of its batch is merged.
///
/// ## Concurrency with a role change
///
/// A grant names the member's first batch it covers (`fromSequence`): the owner's node sets it
/// to one past the member's batches it had merged when it made the grant. So a member's batch is
/// judged under the last grant whose start is at or before it: batches the owner had seen (the
/// grant's causal past) keep the role they were made under, and batches the owner had not seen —
/// those concurrent with the change, and all later ones — take the new role. Revocation wins over
/// concurrent use of the right it revokes, as in Matrix's state resolution. A member's first
/// grant covers all its batches. A replica that merged a member's batch before learning of a
/// grant that covers it rebuilds the document from its log, so every replica ends with the same
/// state whatever the order of arrival.
public struct RoomAuthority: Hashable, Sendable {
    /// The room's 32-byte id, bound into every batch's signature.
    public let roomID: [UInt8]
    /// The owner; nil for an open room, in which every author is a member allowed everything
    /// (tests of the merge itself use it; a node's rooms always have an owner).
    public let owner: ReplicaID?

    /// A room with an owner.
    public init(roomID: [UInt8], owner: ReplicaID?) {
        precondition(roomID.count == BatchSealer.digestLength, "a room id is 32 bytes")
        self.roomID = roomID
        self.owner = owner
    }

    /// The keys' room: its id and owner.
    public init(room: RoomKeys) {
        self.init(roomID: room.roomID, owner: ReplicaID(room.owner))
    }

    /// An open room with a fixed id: no owner, no rules beyond each participant's own registers.
    public static let open = RoomAuthority(roomID: [UInt8](repeating: 0, count: BatchSealer.digestLength), owner: nil)

    /// True if an operation made under `role` is allowed.
    public func permits(_ op: Operation, role: Role) -> Bool {
        let author = op.author
        let agent = role == .agent
        let writer = role != .archive
        switch op.edit {
        case let .setProfile(participant, _), let .setViewport(participant, _, _), let .setFocus(participant, _):
            return participant == author
        case .createItem, .addMark, .setPlayback, .say, .commerce(.addToCart), .commerce(.purchase):
            return writer
        case let .setItemField(item, _), let .removeItem(item), let .moveItem(item, _):
            return writer && (agent || item.replica == author)
        case let .removeMark(mark):
            return writer && (agent || mark.replica == author)
        case .commerce(.recommend):
            return agent && writer
        case let .grantRole(member, _, _):
            return owner != nil && author == owner && member != owner
        case let .startEpoch(change):
            return owner != nil && author == owner && !change.removed.contains { $0.member == owner }
        }
    }
}

/// One owner grant of a role to a member.
struct RoleGrant: Hashable, Sendable {
    /// The role.
    var role: Role
    /// The member's first batch it covers.
    var fromSequence: UInt64
    /// The owner's operation that made it.
    var id: OpID
}

/// An author's conflicting signed batches: two versions of one sequence number, or a batch whose
/// previous digest is not that of the author's batch before it. Either proves that the author
/// signed two histories; anyone can check it with the room's keys.
public struct EquivocationProof: Hashable, Sendable {
    /// The author, proven to equivocate.
    public let author: ReplicaID
    /// The first sequence number of its that is left out everywhere.
    public let fork: UInt64
    /// The two sealed batches that prove it.
    public let first: [UInt8]
    /// See `first`.
    public let second: [UInt8]

    /// Checks two sealed batches and makes a proof of them, or nil if they prove nothing.
    ///
    /// - Parameters:
    ///   - room: the room's id, which both must be bound to.
    ///   - contentKey: the room's content keys by epoch.
    public init?(_ a: [UInt8], _ b: [UInt8], room: [UInt8], contentKey: (UInt32) -> SecretBytes?) {
        guard let x = try? BatchSealer.open(a, room: room, contentKey: contentKey),
            let y = try? BatchSealer.open(b, room: room, contentKey: contentKey), x.author == y.author
        else { return nil }
        let (low, high) = x.sequence <= y.sequence ? (x, y) : (y, x)
        if low.sequence == high.sequence {
            guard low.digest != high.digest else { return nil }
            fork = low.sequence
        } else {
            guard high.sequence == low.sequence + 1, high.previous != low.digest else { return nil }
            fork = low.sequence
        }
        guard fork >= 1 else { return nil }
        author = ReplicaID(x.author)
        (first, second) = x.sequence <= y.sequence ? (a, b) : (b, a)
    }
}

extension Document {
    /// The role `member` held for its batch `sequence`: the owner is an agent; a member has the
    /// role of its last grant starting at or before that batch (its first grant covers every
    /// batch); nil if the owner has not admitted it. In an open room everyone is an agent.
    public func role(of member: ReplicaID, at sequence: UInt64) -> Role? {
        guard let owner = authority.owner, member != owner else { return .agent }
        if let from = removed[member], sequence >= from { return nil }
        guard let list = grants[member], let first = list.first else { return nil }
        var role = first.role
        for grant in list.dropFirst() where grant.fromSequence <= sequence { role = grant.role }
        return role
    }

    /// The role a member holds now (for its next batch); nil if not admitted.
    public func role(of member: ReplicaID) -> Role? {
        role(of: member, at: vector[member] + 1)
    }

    /// Every admitted member (the owner included, the removed left out) with its current role,
    /// ascending by key.
    public var members: [(id: ReplicaID, role: Role)] {
        var result: [(id: ReplicaID, role: Role)] = []
        if let owner = authority.owner { result.append((owner, .agent)) }
        for member in grants.keys where member != authority.owner && removed[member] == nil {
            if let role = role(of: member) { result.append((member, role)) }
        }
        return result.sorted { $0.id < $1.id }
    }

    /// Every merged batch, the owner's first, then by id: the order a rebuild replays.
    public var mergedBatches: [VerifiedBatch] {
        Self.canonicalOrder(log.values.joined(), owner: authority.owner)
    }

    /// True if the owner has admitted `member` (the owner itself always is) and not removed it;
    /// always in an open room.
    public func isAdmitted(_ member: ReplicaID) -> Bool {
        authority.owner == nil || member == authority.owner || (grants[member] != nil && removed[member] == nil)
    }

    /// The room's current key epoch: 0 until the owner's first epoch change.
    public var currentEpoch: UInt32 { epochChanges.keys.max() ?? 0 }

    /// True if `member` was removed from the room (for good: its key is never admitted again).
    public func isRemoved(_ member: ReplicaID) -> Bool { removed[member] != nil }

    /// Records an epoch change; true if a removal reaches back over batches already merged.
    mutating func startEpoch(_ change: EpochChange, by id: OpID, at time: HLC) -> Bool {
        epochChanges[change.epoch] = (change, id, time)
        var reachesBack = false
        for removal in change.removed where removed[removal.member] == nil {
            removed[removal.member] = removal.fromSequence
            reachesBack = reachesBack || removal.fromSequence <= vector[removal.member]
        }
        return reachesBack && !rebuilding
    }

    /// Records an owner grant; true if it changes the verdict on batches already merged.
    mutating func grant(_ role: Role, to member: ReplicaID, from: UInt64, by id: OpID) -> Bool {
        let first = grants[member] == nil
        grants[member, default: []].append(RoleGrant(role: role, fromSequence: from, id: id))
        // A first grant admits: the member's batches have been held back, none is merged yet.
        // Later ones are rare, so any that reaches back over merged batches simply rebuilds —
        // except during a rebuild, which applies the owner's batches (every grant) first.
        return !first && from <= vector[member] && !rebuilding
    }

    /// Leaves out `proof.author`'s batches from its fork on, here and (by the same rule) on every
    /// replica that holds the proof; true if that changed anything.
    @discardableResult
    package mutating func exclude(_ proof: EquivocationProof) -> Bool {
        if let known = equivocators[proof.author], known <= proof.fork { return false }
        equivocators[proof.author] = proof.fork
        rebuild()
        return true
    }

    /// Replays the log from scratch under everything now known (grants, equivocators).
    mutating func rebuild() {
        var fresh = Document(authority: authority)
        fresh.equivocators = equivocators
        // Removals come from the owner's batches, which the replay applies first.
        fresh.rebuilding = true
        defer { self.rebuilding = false }
        for batch in mergedBatches { fresh.apply(batch) }
        self = fresh
    }
}
