import Insights
import PeerCrypto
import Replication
import Testing

/// A scripted session with known timing, played through the real replication engine.
///
/// Each participant has a real identity, its own `Replica` and its own `HybridClock`, driven by
/// the script's wall-clock times. Every action is one batch: drafted on the actor's replica,
/// sealed with the room's content key, applied there and delivered (sealed) to every other
/// participant's replica, which opens it. What the report reads is what an observer's store
/// would hold: every sealed batch, opened again.
struct SessionScript {
    /// 2026-03-01T10:00:00Z: the scripts count milliseconds from here.
    static let base: UInt64 = 1_772_359_200_000

    /// A participant in the script.
    struct Person {
        let identity: Identity
        var id: ReplicaID { ReplicaID(identity.publicKey) }
    }

    /// The room's owner: it only admits people, with the role the script gives them.
    let owner = Person(identity: Identity.generate())
    let keys: RoomKeys
    /// The wall-clock time this script's offsets count from.
    let start: UInt64

    /// A new room whose offsets count from `start`.
    init(start: UInt64 = SessionScript.base) {
        self.start = start
        keys = RoomKeys.generate(owner: owner.identity.publicKey)
    }
    private(set) var sealed: [[UInt8]] = []
    /// Indices in `sealed` of the owner's batches.
    private var ownerBatches: Set<Int> = []
    private var replicas: [ReplicaID: Replica] = [:]
    private var clocks: [ReplicaID: HybridClock] = [:]

    /// Someone new (or `existing`, from another session) with no profile in this room yet.
    ///
    /// A replica that joins late is caught up with every batch so far, as sync would.
    mutating func person(_ existing: Person? = nil, role: Role = .customer) throws -> Person {
        if replicas[owner.id] == nil {
            replicas[owner.id] = Replica(document: Document(authority: RoomAuthority(room: keys)))
            clocks[owner.id] = HybridClock()
        }
        let person = existing ?? Person(identity: Identity.generate())
        var replica = Replica(document: Document(authority: RoomAuthority(room: keys)))
        let contentKey = keys.contentKey(epoch: 0)
        for batch in sealed {
            guard case .applied = replica.receive(sealed: batch, contentKey: { $0 == 0 ? contentKey : nil }, nowMillis: .max) else {
                throw ScriptError.notApplied
            }
        }
        replicas[person.id] = replica
        clocks[person.id] = HybridClock()
        try act(owner, .grantRole(member: person.id, role: role, fromSequence: 1), at: 0)
        return person
    }

    /// Someone new (or `existing`) who sets a profile at `at` ms after `base`.
    mutating func join(_ name: String, _ role: Role, at: UInt64, as existing: Person? = nil) throws -> Person {
        let person = try person(existing, role: role)
        try act(person, .setProfile(participant: person.id, Profile(name: name, requestedRole: role)), at: at)
        return person
    }

    /// `person` makes `edit` at `at` ms after `base`; returns the operation's id.
    @discardableResult
    mutating func act(_ person: Person, _ edit: Edit, at: UInt64, deliver: Bool = true) throws -> OpID {
        let contentKey = keys.contentKey(epoch: 0)
        var draft = replicas[person.id]!.draft(author: person.id)
        let id = try draft.append(edit, at: clocks[person.id]!.now(wallMillis: start + at))
        let batch = try draft.seal(identity: person.identity, epoch: 0, contentKey: contentKey, room: keys.roomID)
        guard case .applied = replicas[person.id]!.receive(batch) else { throw ScriptError.notApplied }
        if person.id == owner.id { ownerBatches.insert(sealed.count) }
        sealed.append(batch.sealed)
        guard deliver else { return id }
        for other in replicas.keys where other != person.id {
            let outcome = replicas[other]!.receive(sealed: batch.sealed, contentKey: { $0 == 0 ? contentKey : nil }, nowMillis: .max)
            guard case .applied = outcome else { throw ScriptError.notApplied }
            if let latest = batch.batch.latestTimestamp { clocks[other]!.observe(latest, wallMillis: start + at) }
        }
        return id
    }

    /// Shares a product card; returns its item id.
    mutating func share(
        _ person: Person, _ title: String, price: UInt64? = nil, url: String? = nil, kind: ItemKind = .productCard,
        at: UInt64
    ) throws -> OpID {
        var fields: [ItemField] = [.title(title)]
        if let price { fields.append(.price(Price(currency: "EUR", minorUnits: price))) }
        if let url { fields.append(.url(url)) }
        return try act(person, .createItem(kind: kind, position: .middle, fields: fields), at: at)
    }

    mutating func focus(_ person: Person, _ item: OpID?, at: UInt64) throws {
        try act(person, .setFocus(participant: person.id, item: item), at: at)
    }

    @discardableResult
    mutating func recommend(_ person: Person, _ item: OpID, note: String = "", at: UInt64) throws -> OpID {
        try act(person, .commerce(.recommend(item: item, note: note)), at: at)
    }

    mutating func addToCart(_ person: Person, _ item: OpID, quantity: UInt32 = 1, at: UInt64) throws {
        try act(person, .commerce(.addToCart(item: item, quantity: quantity)), at: at)
    }

    @discardableResult
    mutating func buy(_ person: Person, _ item: OpID, quantity: UInt32 = 1, at: UInt64) throws -> OpID {
        try act(person, .commerce(.purchase(item: item, quantity: quantity)), at: at)
    }

    mutating func remove(_ person: Person, _ item: OpID, at: UInt64) throws {
        try act(person, .removeItem(item), at: at)
    }

    /// The room's batches as a store returns them: every sealed batch (those `keep` accepts, by
    /// index in the order the people made them; the owner's grants are always kept) opened again.
    func batches(keep: (Int) -> Bool = { _ in true }) throws -> [VerifiedBatch] {
        let contentKey = keys.contentKey(epoch: 0)
        var peopleIndex = 0
        let kept = sealed.indices.filter { index in
            guard !ownerBatches.contains(index) else { return true }
            defer { peopleIndex += 1 }
            return keep(peopleIndex)
        }
        return try kept.map {
            try VerifiedBatch(opened: BatchSealer.open(sealed[$0], room: keys.roomID) { $0 == 0 ? contentKey : nil })
        }
    }

    /// The room's history, for `Report(rooms:)`.
    func history() throws -> RoomHistory { RoomHistory(tag: keys.tag, authority: RoomAuthority(room: keys), batches: try batches()) }

    /// The session's report.
    func session() throws -> SessionReport { try #require(SessionReport(history: history())) }

    enum ScriptError: Error { case notApplied }
}

/// Milliseconds since `SessionScript.base`, for readable expectations.
func at(_ offset: UInt64) -> UInt64 { SessionScript.base + offset }
