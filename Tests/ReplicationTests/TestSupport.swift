import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// Keys and identities shared by the tests.
enum Fixtures {
    /// The owner of `room`; most tests merge in an open room (`RoomAuthority.open`), whose
    /// batches are sealed to its all-zero id, and the authority tests use `authority`.
    static let owner = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0x0A, count: Identity.seedLength)))
    static let room = try! RoomKeys(secret: SecretBytes(copying: [UInt8](repeating: 7, count: RoomKeys.secretLength)), owner: owner.publicKey)
    static let authority = RoomAuthority(room: room)
    static let contentKey = room.contentKey(epoch: 0)

    /// The content key of a known epoch (only 0 here).
    static func contentKey(_ epoch: UInt32) -> SecretBytes? { epoch == 0 ? contentKey : nil }

    /// A deterministic identity drawn from `random`.
    static func identity(_ random: inout SeededRandom) -> Identity {
        let seed = (0..<4).flatMap { _ in withUnsafeBytes(of: random.next()) { Array($0) } }
        return try! Identity(seed: SecretBytes(copying: seed))
    }

    /// `count` identities from a fixed seed, sorted by replica id so tests can name the smaller one.
    static func identities(_ count: Int, seed: UInt64 = 42) -> [Identity] {
        var random = SeededRandom(seed: seed)
        return (0..<count).map { _ in identity(&random) }.sorted { ReplicaID($0.publicKey) < ReplicaID($1.publicKey) }
    }

    static let t0 = HLC(millis: 1_700_000_000_000, logical: 0)

    static func point(_ x: Double, _ y: Double) -> UnitPoint { UnitPoint(fractionX: x, fractionY: y) }
}

/// A participant's node in miniature: identity, replica, an in-memory store and per-peer sync state.
struct TestPeer {
    let identity: Identity
    let id: ReplicaID
    var replica: Replica
    /// The sealed batches the replica has applied: what the node's store would hold.
    var store: [BatchID: [UInt8]] = [:]
    var clock = HybridClock()
    var wallMillis: UInt64 = Fixtures.t0.millis
    var sync: [Int: SyncState] = [:]
    /// What happened to received batches, to show the histories exercise every path.
    var coverage = Coverage()
    /// The item each applied mark was added to, hidden or not.
    var markItems: [OpID: OpID] = [:]

    /// The wall clock batches are judged against; `.max` turns the future-timestamp check off.
    var nowMillis: UInt64 = .max

    init(identity: Identity, holdBack: HoldBackBuffer.Bounds = .init(), authority: RoomAuthority = .open) {
        self.identity = identity
        id = ReplicaID(identity.publicKey)
        replica = Replica(document: Document(authority: authority), holdBackBounds: holdBack)
    }

    var document: Document { replica.document }

    /// Makes, seals and applies a batch of `edits`; returns it, sealed.
    @discardableResult
    mutating func commit(_ edits: [Edit]) throws -> SealedBatch {
        var draft = replica.draft(author: id)
        for edit in edits {
            wallMillis += 7
            try draft.append(edit, at: clock.now(wallMillis: wallMillis))
        }
        return try seal(draft)
    }

    /// Seals a draft made by hand (a hostile one, say) in this peer's room, applies and records it.
    @discardableResult
    mutating func seal(_ draft: BatchDraft, room: [UInt8]? = nil) throws -> SealedBatch {
        let sealed = try draft.seal(identity: identity, epoch: 0, contentKey: Fixtures.contentKey, room: room ?? replica.roomID)
        let outcome = replica.receive(sealed)
        record(outcome)
        if case .awaitingAdmission = outcome { store[sealed.batch.id] = sealed.sealed }
        return sealed
    }

    /// Commits one edit and returns its operation id.
    @discardableResult
    mutating func commit(_ edit: Edit) throws -> OpID {
        try commit([edit]).batch.operations[0].id
    }

    mutating func record(_ outcome: Replica.ReceiveOutcome) {
        switch outcome {
        case let .applied(list):
            for applied in list {
                store[applied.batch.batch.id] = applied.batch.sealed
                if let latest = applied.batch.batch.latestTimestamp { clock.observe(latest, wallMillis: wallMillis) }
                if case let .applied(rejected) = applied.result { coverage.rejectedOperations += rejected }
                for operation in applied.batch.batch.operations {
                    if case let .addMark(item, _) = operation.edit { markItems[operation.id] = item }
                }
            }
            coverage.unblocked += list.count - 1
        case .duplicate: coverage.duplicates += 1
        case .heldBack: coverage.heldBack += 1
        case .dropped: coverage.holdBackDrops += 1
        case .rejected: coverage.rejected += 1
        case .awaitingAdmission, .tooFarAhead, .excluded, .chainBroken: coverage.refused += 1
        case .equivocation: coverage.proofs += 1
        }
    }

    /// Takes in a sealed batch pushed directly.
    mutating func receive(sealed: [UInt8]) {
        let held = store
        record(replica.receive(sealed: sealed, contentKey: Fixtures.contentKey, nowMillis: nowMillis, fetch: { held[$0] }))
    }

    /// The next sync message for `peer`, encoded.
    mutating func syncMessage(for peer: Int) throws -> [UInt8]? {
        let store = self.store
        guard let message = sync[peer, default: SyncState()].generateMessage(replica: replica, fetch: { store[$0] })
        else { return nil }
        return try SyncMessageCodec.encode(message)
    }

    /// Takes in an encoded sync message from `peer`.
    mutating func receive(syncMessage bytes: [UInt8], from peer: Int) throws {
        let message = try SyncMessageCodec.decode(bytes)
        let held = store
        for outcome in replica.receive(
            message, state: &sync[peer, default: SyncState()], contentKey: Fixtures.contentKey, nowMillis: nowMillis,
            fetch: { held[$0] })
        {
            record(outcome)
        }
    }

    func markTarget(_ mark: OpID) -> OpID? { markItems[mark] }

    mutating func timerFired() {
        for key in sync.keys { sync[key]!.timerFired() }
    }
}

/// Counts of interesting events across histories: a property test that never reaches a path proves nothing about it.
struct Coverage {
    var histories = 0
    var batches = 0
    var duplicates = 0
    var heldBack = 0
    var unblocked = 0
    var holdBackDrops = 0
    var rejected = 0
    var rejectedOperations = 0
    var removedItemsWithMarks = 0
    var visibleMarks = 0
    var chatMessages = 0
    var refused = 0
    var proofs = 0
    /// Videos whose shared playback the final document shows, and timed marks it shows.
    var playbacks = 0
    var timedMarks = 0

    static func + (a: Coverage, b: Coverage) -> Coverage {
        Coverage(
            histories: a.histories + b.histories, batches: a.batches + b.batches, duplicates: a.duplicates + b.duplicates,
            heldBack: a.heldBack + b.heldBack, unblocked: a.unblocked + b.unblocked,
            holdBackDrops: a.holdBackDrops + b.holdBackDrops, rejected: a.rejected + b.rejected,
            rejectedOperations: a.rejectedOperations + b.rejectedOperations,
            removedItemsWithMarks: a.removedItemsWithMarks + b.removedItemsWithMarks, visibleMarks: a.visibleMarks + b.visibleMarks,
            chatMessages: a.chatMessages + b.chatMessages, refused: a.refused + b.refused, proofs: a.proofs + b.proofs,
            playbacks: a.playbacks + b.playbacks, timedMarks: a.timedMarks + b.timedMarks)
    }
}

/// Builds a fresh replica from batches given in any order, through the network path.
func replicaReceiving(_ batches: [[UInt8]], holdBack: HoldBackBuffer.Bounds = .init(maxBatches: 100_000, maxBytes: 1 << 30))
    -> Replica
{
    var replica = Replica(holdBackBounds: holdBack)
    for sealed in batches { _ = replica.receive(sealed: sealed, contentKey: Fixtures.contentKey, nowMillis: .max) }
    return replica
}

/// Runs `seeds` histories, records a failure naming each failing seed, and stops after a few.
///
/// With `CVPEER_TEST_SEED` set, runs that one seed only.
@discardableResult
func forEachHistory(
    count: Int, baseSeed: UInt64, name: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (UInt64, inout Coverage) throws -> String?
) -> Coverage {
    let replay = SeededRandom.seedFromEnvironment(default: 0)
    var seeds: [UInt64]
    if replay != 0 {
        seeds = [replay]
    } else {
        var random = SeededRandom(seed: baseSeed)
        seeds = (0..<count).map { _ in random.next() }
    }
    var failures = 0
    var coverage = Coverage()
    for seed in seeds {
        let problem: String?
        do {
            problem = try body(seed, &coverage)
            coverage.histories += 1
        } catch {
            problem = "threw \(error)"
        }
        if let problem {
            failures += 1
            Issue.record(
                "\(name): history with seed \(seed) failed: \(problem). Replay: CVPEER_TEST_SEED=\(seed)",
                sourceLocation: sourceLocation)
            if failures >= 3 { return coverage }
        }
    }
    return coverage
}

/// Where two byte strings first differ, with some context: full canonical JSON is too long for a failure message.
func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> String {
    let index = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
    func context(_ bytes: [UInt8]) -> String {
        String(decoding: bytes[max(0, index - 120)..<min(bytes.count, index + 120)], as: UTF8.self)
    }
    return "at byte \(index): …\(context(a))… vs …\(context(b))…"
}

extension SyncMessage {
    /// A message whose summary is `vector` with no heads named (zeros), as the wave-1 tests built them.
    init(vector: VersionVector, batches: [[UInt8]] = []) {
        self.init(
            summary: vector.authors.map { SummaryEntry(author: $0, sequence: vector[$0], head: BatchSealer.noPrevious) },
            batches: batches)
    }
}
