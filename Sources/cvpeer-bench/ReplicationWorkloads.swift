import PeerCrypto
import Replication
import Store

/// The workloads of `cvpeer-bench replication`, each run in a process of its own
/// (`cvpeer-bench replication --workload a|b|c-write|c`), which prints `result KEY VALUE` lines.
///
/// Benchmarks/yrs_reference.py does (a) and (b) with Yrs. Both draw their edits from the same
/// SplitMix64 streams with the same seeds and the same decisions, so both make the very same
/// edits; both generate them before the clock starts, so neither times its random numbers.
enum ReplicationWorkloads {
    /// Workload sizes; --quick makes each ten times smaller.
    struct Sizes {
        /// (a): marks made on A and applied to B.
        let marks: Int
        /// (b): concurrent edits on each of the two replicas.
        let editsPerReplica: Int
        /// (c): operations in the stored document (half by each of two authors).
        let storedOperations: Int

        init(quick: Bool) {
            let scale = quick ? 10 : 1
            marks = 100_000 / scale
            editsPerReplica = 50_000 / scale
            storedOperations = 100_000 / scale
        }
    }

    /// Operations per batch: the format's limit, as a node fills a batch during a burst of edits.
    static let batchSize = Limits.maxOperationsPerBatch
    /// Items shared before the concurrent edits of (b) start: 8 notes, then 8 product cards.
    static let sharedItems = 16
    /// The content-key epoch every batch is sealed under.
    static let epoch: UInt32 = 0
    /// Mark colours (0xRRGGBBAA); the Python reference has the same list.
    static let palette: [UInt32] = [
        0xE632_32FF, 0x32A8_52FF, 0x2F6F_E6FF, 0xF2C2_1BFF, 0x8E44_ADFF, 0x1ABC_9CFF, 0x3333_33FF, 0xFF8C_00FF,
    ]
    /// The wall clock the nodes start from (milliseconds since 1970); it advances 1 ms per edit.
    static let wallStart: UInt64 = 1_750_000_000_000
    /// The SplitMix64 seeds: (a)'s marks, and (b)'s/(c)'s two replicas.
    static let markSeed: UInt64 = 1
    static let seedA: UInt64 = 0xA
    static let seedB: UInt64 = 0xB

    // MARK: Child entry point

    /// Runs one workload and prints its results; false (after saying why) if it failed.
    static func runChild(_ workload: String, _ options: BenchOptions) -> Bool {
        let sizes = Sizes(quick: options.quick)
        let results: [(String, String)]
        do throws(BenchFailure) {
            switch workload {
            case "a": results = try marks(count: sizes.marks, check: options.check)
            case "b": results = try concurrent(editsPerReplica: sizes.editsPerReplica, check: options.check)
            case "c-write":
                guard let folder = options.store else { throw BenchFailure("c-write needs --store FOLDER") }
                results = try writeStore(folder: folder, operations: sizes.storedOperations)
            case "c":
                guard let folder = options.store else { throw BenchFailure("c needs --store FOLDER") }
                results = try reopen(folder: folder, check: options.check)
            default: throw BenchFailure("unknown workload '\(workload)'")
            }
        } catch {
            Subprocess.printError("replication --workload \(workload): \(error.message)")
            return false
        }
        for (key, value) in results { print("result \(key) \(value)") }
        return true
    }

    // MARK: (a) 100,000 marks from A to an empty B

    /// A makes `count` pin marks on one image (draft, append, seal: encode, sign, encrypt; apply
    /// locally), keeping the sealed bytes a node would store and send; then an empty replica B
    /// receives each sealed batch (decrypt, verify, decode, apply).
    static func marks(count: Int, check: Bool) throws(BenchFailure) -> [(String, String)] {
        let room = Room()
        var a = Node(name: "A", seedByte: 0xA1, room: room)
        var b = Replica(document: Document(authority: room.authority))

        var rng = SplitMix64(seed: markSeed)
        var specs: [(x: UInt32, y: UInt32, colour: UInt32)] = []
        specs.reserveCapacity(count)
        for _ in 0..<count {
            let x = rng.coordinate()
            let y = rng.coordinate()
            specs.append((x, y, palette[Int(rng.below(UInt64(palette.count)))]))
        }
        let baseline = Subprocess.peakResidentKiB()
        let residentBefore = Subprocess.currentResidentKiB()

        let clock = ContinuousClock()
        let start = clock.now
        let item = try a.make(.createItem(kind: .image, position: .middle, fields: [.title("Living room")]))
        for spec in specs {
            let mark = Mark(shape: .pin(UnitPoint(x: spec.x, y: spec.y)!), colour: Colour(rgba: spec.colour))
            try a.make(.addMark(item: item, mark))
        }
        try a.flush()
        let created = clock.now
        let residentCreated = Subprocess.currentResidentKiB()
        // As a node takes in a sync message's batches: opened ahead on the other cores, merged in order.
        for outcome in b.receive(sealedBatches: a.own, contentKey: room.key, nowMillis: .max) {
            try expectApplied(outcome, by: "B")
        }
        let transferred = clock.now
        let peak = Subprocess.peakResidentKiB()
        let residentTransferred = Subprocess.currentResidentKiB()
        let timings = [
            ("ops", "\(count + 1)"), ("batches", "\(a.own.count)"), ("wire_bytes", "\(a.own.reduce(0) { $0 + $1.count })"),
            ("create_s", seconds(start, created)), ("transfer_s", seconds(created, transferred)),
            ("peak_kib", "\(peak)"), ("baseline_kib", "\(baseline)"), ("rss_before_kib", "\(residentBefore)"),
            ("rss_created_kib", "\(residentCreated)"), ("rss_transferred_kib", "\(residentTransferred)"),
        ]
        guard check else { return timings }

        let hashA = a.replica.document.stateHash
        let hashB = b.document.stateHash
        let hashed = clock.now
        guard b.vector == a.replica.vector else { throw BenchFailure("B's version vector differs from A's") }
        guard b.document.visibleMarks.count == count else { throw BenchFailure("B shows \(b.document.visibleMarks.count) marks") }
        return timings + [("hash_s", seconds(transferred, hashed)), ("hash_equal", hashA == hashB ? "1" : "0"), ("hash", hashB)]
            + (try stepByStep(a.own, room: room))
    }

    // MARK: (b) two replicas, concurrent edits, merged through sync messages

    /// A and B share items and profiles, then each makes `editsPerReplica` edits without
    /// hearing from the other (marks, field edits on the shared items, viewports, chat); then
    /// they sync through real sync messages, encoded and decoded, until neither has more to say.
    static func concurrent(editsPerReplica: Int, check: Bool) throws(BenchFailure) -> [(String, String)] {
        let room = Room()
        var (a, b, items) = try sharedSetUp(room: room)
        let editsA = mixedScript(count: editsPerReplica, seed: seedA, author: a.id, name: a.name, items: items)
        let editsB = mixedScript(count: editsPerReplica, seed: seedB, author: b.id, name: b.name, items: items)
        let baseline = Subprocess.peakResidentKiB()

        let clock = ContinuousClock()
        let start = clock.now
        for edit in editsA { try a.make(edit) }
        try a.flush()
        for edit in editsB { try b.make(edit) }
        try b.flush()
        let edited = clock.now
        let traffic = try sync(&a, &b)
        let synced = clock.now
        let peak = Subprocess.peakResidentKiB()
        let timings = [
            ("ops", "\(2 * editsPerReplica)"), ("batches", "\(a.own.count + b.own.count)"),
            ("edit_s", seconds(start, edited)), ("sync_s", seconds(edited, synced)),
            ("messages", "\(traffic.messages)"), ("sync_bytes", "\(traffic.bytes)"),
            ("peak_kib", "\(peak)"), ("baseline_kib", "\(baseline)"),
        ]
        guard check else { return timings }

        let hashA = a.replica.document.stateHash
        let hashB = b.replica.document.stateHash
        let hashed = clock.now
        guard a.replica.vector == b.replica.vector else { throw BenchFailure("the version vectors differ after sync") }
        guard a.replica.holdBack.count == 0, b.replica.holdBack.count == 0 else { throw BenchFailure("batches left held back") }
        return timings + [("hash_s", seconds(synced, hashed)), ("hash_equal", hashA == hashB ? "1" : "0"), ("hash", hashA)]
            + (try syncStepByStep(a.own, b.own, room: room))
    }

    /// Runs the sync protocol between A and B over encoded messages until both fall silent.
    static func sync(_ a: inout Node, _ b: inout Node) throws(BenchFailure) -> (messages: Int, bytes: Int) {
        var stateAtA = SyncState()  // A's state for its peer B
        var stateAtB = SyncState()
        var messages = 0
        var bytes = 0
        while true {
            var quiet = true
            while let message = stateAtA.generateMessage(replica: a.replica, fetch: { a.sealed($0) }) {
                let wire = try encode(message)
                try b.take(wire, state: &stateAtB)
                messages += 1
                bytes += wire.count
                quiet = false
            }
            while let message = stateAtB.generateMessage(replica: b.replica, fetch: { b.sealed($0) }) {
                let wire = try encode(message)
                try a.take(wire, state: &stateAtA)
                messages += 1
                bytes += wire.count
                quiet = false
            }
            if quiet { return (messages, bytes) }
            guard messages < 1_000_000 else { throw BenchFailure("sync does not settle") }
        }
    }

    private static func encode(_ message: SyncMessage) throws(BenchFailure) -> [UInt8] {
        do {
            return try SyncMessageCodec.encode(message)
        } catch {
            throw BenchFailure("SyncMessageCodec.encode: \(error)")
        }
    }

    /// Profiles of A (agent) and B (customer), and the shared items A creates, exchanged so
    /// that both hold them before anything concurrent happens. Not timed.
    static func sharedSetUp(room: Room) throws(BenchFailure) -> (Node, Node, [OpID]) {
        var a = Node(name: "A", seedByte: 0xA1, room: room)
        var b = Node(name: "B", seedByte: 0xB2, room: room)
        try a.make(.setProfile(participant: a.id, Profile(name: "Agent A", requestedRole: .agent)))
        var items: [OpID] = []
        var position = PanelPosition.middle
        for index in 0..<sharedItems {
            let fields: [ItemField] =
                index < sharedItems / 2
                ? [.title("Note \(index)"), .text("Shared note \(index)")]
                : [
                    .title("Product \(index)"), .text("Description of product \(index)"),
                    .price(Price(currency: "EUR", minorUnits: 1_999 + UInt64(index))), .url("https://shop.example/p/\(index)"),
                ]
            let kind: ItemKind = index < sharedItems / 2 ? .note : .productCard
            items.append(try a.make(.createItem(kind: kind, position: position, fields: fields)))
            position = PanelPosition.between(position, nil)!
        }
        // A owns the room; B edits A's items too, which only an agent may: A grants it, and B
        // takes that in before it makes anything of its own.
        try a.make(.grantRole(member: b.id, role: .agent, fromSequence: 1))
        try a.flush()
        for sealed in a.own { try b.takeSealed(sealed) }
        try b.make(.setProfile(participant: b.id, Profile(name: "Customer B", requestedRole: .customer)))
        try b.flush()
        for sealed in b.own { try a.takeSealed(sealed) }
        return (a, b, items)
    }

    /// One replica's edits in (b): 45 % marks (7/10 pins, 2/10 arrows, 1/10 8-point strokes) on
    /// the shared items, 25 % field edits of the shared items (title, text, or a product's
    /// price: both replicas edit the same fields), 20 % own viewport moves, 10 % chat messages.
    /// yrs_reference.py's `mixed_script` makes the same decisions from the same stream.
    static func mixedScript(count: Int, seed: UInt64, author: ReplicaID, name: String, items: [OpID]) -> [Edit] {
        var rng = SplitMix64(seed: seed)
        var edits: [Edit] = []
        edits.reserveCapacity(count)
        for serial in 0..<count {
            let kind = rng.below(100)
            if kind < 45 {
                let item = items[Int(rng.below(UInt64(sharedItems)))]
                let shapeRoll = rng.below(10)
                let pointCount = shapeRoll < 7 ? 1 : shapeRoll < 9 ? 2 : 8
                var points: [UnitPoint] = []
                for _ in 0..<pointCount {
                    let x = rng.coordinate()
                    let y = rng.coordinate()
                    points.append(UnitPoint(x: x, y: y)!)
                }
                let colour = Colour(rgba: palette[Int(rng.below(UInt64(palette.count)))])
                let shape: MarkShape =
                    switch pointCount {
                    case 1: .pin(points[0])
                    case 2: .arrow(from: points[0], to: points[1])
                    default: .stroke(points)
                    }
                edits.append(.addMark(item: item, Mark(shape: shape, colour: colour)))
            } else if kind < 70 {
                let index = Int(rng.below(UInt64(sharedItems)))
                let fieldRoll = rng.below(10)
                let field: ItemField
                if fieldRoll < 4 {
                    field = .title("Title \(serial) by \(name)")
                } else if fieldRoll >= 8, index >= sharedItems / 2 {
                    field = .price(Price(currency: "EUR", minorUnits: 100 + rng.below(100_000)))
                } else {
                    field = .text("Note \(serial) by \(name): the blue one suits the room better")
                }
                edits.append(.setItemField(item: items[index], field))
            } else if kind < 90 {
                let index = Int(rng.below(UInt64(sharedItems)))
                let zoom = UInt32(250 + rng.below(8_000))
                let x = rng.coordinate()
                let y = rng.coordinate()
                let viewport = Viewport(zoom: zoom, centre: UnitPoint(x: x, y: y)!)
                edits.append(.setViewport(participant: author, item: items[index], viewport))
            } else {
                edits.append(.say("Message \(serial) from \(name)"))
            }
        }
        return edits
    }

    // MARK: (c) reopening a stored document

    /// The store's file name inside the scratch folder, and the files SQLite adds beside it.
    static let storeFile = "store.sqlite"
    static let storeFiles = [storeFile, storeFile + "-wal", storeFile + "-shm", storeFile + "-journal"]

    /// Writes a document of `operations` operations in (b)'s mix, half by each of two authors
    /// (plus the shared set-up), to a real SQLite store, as nodes store applied batches.
    static func writeStore(folder: String, operations: Int) throws(BenchFailure) -> [(String, String)] {
        let room = Room()
        var (a, b, items) = try sharedSetUp(room: room)
        for edit in mixedScript(count: operations / 2, seed: seedA, author: a.id, name: a.name, items: items) { try a.make(edit) }
        try a.flush()
        for edit in mixedScript(count: operations - operations / 2, seed: seedB, author: b.id, name: b.name, items: items) {
            try b.make(edit)
        }
        try b.flush()
        // A takes in B's batches: A's document is then the whole stored document.
        for sealed in b.own.dropFirst() { try a.takeSealed(sealed) }
        let setUpOperations = 1 + sharedItems + 1
        let path = "\(folder)/\(storeFile)"
        do {
            let store = try Store(path: path)
            try store.addRoom(room.keys, createdMillis: Int64(wallStart))
            var batches: [StoredBatch] = []
            for node in [a, b] {
                for (index, sealed) in node.own.enumerated() {
                    batches.append(
                        StoredBatch(author: node.id.publicKey.bytes, sequence: UInt64(index + 1), epoch: epoch, sealed: sealed))
                }
            }
            // A transaction per sync message's worth of batches, as a node stores them.
            var next = 0
            while next < batches.count {
                let end = min(next + Limits.maxBatchesPerSyncMessage, batches.count)
                try store.append(Array(batches[next..<end]), room: room.keys.tag)
                next = end
            }
            guard try store.batchCount(room: room.keys.tag) == batches.count else { throw BenchFailure("store lost batches") }
        } catch let error as BenchFailure {
            throw error
        } catch {
            throw BenchFailure("writing the store: \(error)")
        }
        return [
            ("ops", "\(operations + setUpOperations)"), ("batches", "\(a.own.count + b.own.count)"),
            ("file_bytes", "\(Subprocess.fileSize(path) ?? 0)"), ("hash", a.replica.document.stateHash),
        ]
    }

    /// Times `Store(path:)` and `loadReplica(room:)` (every batch read, decrypted, verified,
    /// decoded and merged), then, separately, each of those steps alone, for the profile.
    static func reopen(folder: String, check: Bool) throws(BenchFailure) -> [(String, String)] {
        let room = Room()
        let path = "\(folder)/\(storeFile)"
        guard Subprocess.isReadable(path) else { throw BenchFailure("no store at \(path)") }
        let baseline = Subprocess.peakResidentKiB()
        let clock = ContinuousClock()
        do {
            let start = clock.now
            let store = try Store(path: path)
            let opened = clock.now
            let (replica, unreadable) = try store.loadReplica(room: room.keys, nowMillis: .max)
            let loaded = clock.now
            let peak = Subprocess.peakResidentKiB()
            let timings = [
                ("open_s", seconds(start, opened)), ("load_s", seconds(opened, loaded)), ("peak_kib", "\(peak)"),
                ("baseline_kib", "\(baseline)"), ("unreadable", "\(unreadable.count)"),
            ]
            guard check else { return timings }
            let hash = replica.document.stateHash

            // The same steps one by one (not part of the figure above).
            let t0 = clock.now
            let stored = try store.batches(room: room.keys.tag)
            let t1 = clock.now
            var openedBatches: [OpenedBatch] = []
            openedBatches.reserveCapacity(stored.count)
            for batch in stored { openedBatches.append(try BatchSealer.open(batch.sealed, room: room.keys.roomID, contentKey: room.key)) }
            let t2 = clock.now
            let verified = openedBatches.map(VerifiedBatch.init(opened:))
            let t3 = clock.now
            let document = Document(batches: verified)
            let t4 = clock.now
            guard document.vector == replica.vector else { throw BenchFailure("the step-by-step rebuild differs") }
            return timings + [
                ("batches", "\(stored.count)"), ("hash", hash), ("sql_s", seconds(t0, t1)), ("crypto_s", seconds(t1, t2)),
                ("decode_s", seconds(t2, t3)),
                ("merge_s", seconds(t3, t4)),
            ]
        } catch let error as BenchFailure {
            throw error
        } catch {
            throw BenchFailure("reopening the store: \(error)")
        }
    }

    /// The steps inside sealing and receiving, each timed alone over the same batches with the
    /// public APIs (not part of the headline figures): BatchSealer.open (decrypt, verify),
    /// BatchCodec.decode, Document.apply, BatchCodec.encode, BatchSealer.seal (sign, encrypt).
    static func stepByStep(_ sealed: [[UInt8]], room: Room) throws(BenchFailure) -> [(String, String)] {
        let clock = ContinuousClock()
        let t0 = clock.now
        var opened: [OpenedBatch] = []
        opened.reserveCapacity(sealed.count)
        do {
            for batch in sealed { opened.append(try BatchSealer.open(batch, room: room.keys.roomID, contentKey: room.key)) }
        } catch {
            throw BenchFailure("step by step: open: \(error)")
        }
        let t1 = clock.now
        let verified = opened.map(VerifiedBatch.init(opened:))
        let t2 = clock.now
        var document = Document()
        for batch in verified where document.apply(batch) != .applied(rejectedOperations: 0) {
            throw BenchFailure("step by step: apply")
        }
        let t3 = clock.now
        var payloads: [[UInt8]] = []
        payloads.reserveCapacity(verified.count)
        do {
            for batch in verified { payloads.append(try BatchCodec.encode(batch.operations, author: batch.author)) }
        } catch {
            throw BenchFailure("step by step: encode: \(error)")
        }
        let t4 = clock.now
        let identity = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0xA1, count: Identity.seedLength)))
        var checksum = 0
        for (payload, batch) in zip(payloads, verified) {
            checksum &+= BatchSealer.seal(
                payload: payload, sequence: batch.sequence, epoch: epoch, previous: batch.previous,
                room: room.keys.roomID, identity: identity, contentKey: room.contentKey
            ).sealed.count
        }
        let t5 = clock.now
        guard payloads == opened.map(\.payload), checksum > 0 else { throw BenchFailure("step by step: payloads differ") }
        return [
            ("step_open_s", seconds(t0, t1)), ("step_decode_s", seconds(t1, t2)), ("step_apply_s", seconds(t2, t3)),
            ("step_encode_s", seconds(t3, t4)), ("step_seal_s", seconds(t4, t5)),
        ]
    }

    /// The receiving side of (b)'s sync, each step timed alone (not part of the headline
    /// figures): each replica's document as it was before the sync is rebuilt, then the other's
    /// concurrent batches (all but its set-up batch) are opened, decoded and applied to it.
    static func syncStepByStep(_ ownA: [[UInt8]], _ ownB: [[UInt8]], room: Room) throws(BenchFailure) -> [(String, String)] {
        func verified(_ sealed: ArraySlice<[UInt8]>) throws(BenchFailure) -> [VerifiedBatch] {
            do {
                return try sealed.map { VerifiedBatch(opened: try BatchSealer.open($0, room: room.keys.roomID, contentKey: room.key)) }
            } catch {
                throw BenchFailure("step by step: open: \(error)")
            }
        }
        let clock = ContinuousClock()
        var open = Duration.zero
        var decode = Duration.zero
        var apply = Duration.zero
        for (mine, theirs) in [(ownA, ownB), (ownB, ownA)] {
            var document = Document()
            for batch in try verified(mine[...]) + verified(theirs.prefix(1)) { document.apply(batch) }
            let t0 = clock.now
            var opened: [OpenedBatch] = []
            do {
                for sealed in theirs.dropFirst() { opened.append(try BatchSealer.open(sealed, room: room.keys.roomID, contentKey: room.key)) }
            } catch {
                throw BenchFailure("step by step: open: \(error)")
            }
            let t1 = clock.now
            let batches = opened.map(VerifiedBatch.init(opened:))
            let t2 = clock.now
            for batch in batches where document.apply(batch) != .applied(rejectedOperations: 0) {
                throw BenchFailure("step by step: apply")
            }
            let t3 = clock.now
            open += t0.duration(to: t1)
            decode += t1.duration(to: t2)
            apply += t2.duration(to: t3)
        }
        func text(_ duration: Duration) -> String {
            let (whole, attoseconds) = duration.components
            return "\(Double(whole) + Double(attoseconds) * 1e-18)"
        }
        return [("step_open_s", text(open)), ("step_decode_s", text(decode)), ("step_apply_s", text(apply))]
    }

    // MARK: Helpers

    /// Checks that a received batch was applied with nothing rejected; returns how many batches it applied.
    @discardableResult
    static func expectApplied(_ outcome: Replica.ReceiveOutcome, by name: String) throws(BenchFailure) -> [Replica.AppliedBatch] {
        guard case let .applied(list) = outcome else { throw BenchFailure("\(name) did not apply a batch: \(outcome)") }
        for applied in list where applied.result != .applied(rejectedOperations: 0) {
            throw BenchFailure("\(name) applied a batch as \(applied.result)")
        }
        return list
    }

    /// Seconds between two instants, printed with nanosecond precision.
    static func seconds(_ from: ContinuousClock.Instant, _ to: ContinuousClock.Instant) -> String {
        let (whole, attoseconds) = from.duration(to: to).components
        return "\(Double(whole) + Double(attoseconds) * 1e-18)"
    }
}

/// A workload went wrong: its numbers would describe the wrong work.
struct BenchFailure: Error {
    let message: String

    init(_ message: String) {
        self.message = message
    }
}

/// The room every workload runs in, from a fixed secret so runs are comparable.
struct Room: Sendable {
    let keys: RoomKeys
    let contentKey: SecretBytes
    /// Owned by A (seed 0xA1), as a node's rooms always are, so every check of the merge runs.
    let authority: RoomAuthority

    init() {
        let owner = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0xA1, count: Identity.seedLength)))
        keys = try! RoomKeys(
            secret: SecretBytes(copying: (0..<UInt8(RoomKeys.secretLength)).map { 0xC0 &+ $0 }), owner: owner.publicKey)
        contentKey = keys.contentKey(epoch: ReplicationWorkloads.epoch)
        authority = RoomAuthority(room: keys)
    }

    /// The content key of an epoch, as `Replica.receive` asks for it.
    func key(_ epoch: UInt32) -> SecretBytes? {
        epoch == ReplicationWorkloads.epoch ? contentKey : nil
    }
}

/// One participant's node as far as replication goes: its replica, its clock, the batch being
/// drafted, and the sealed batches its store would hold (what sync sends from).
struct Node {
    let name: String
    let identity: Identity
    let id: ReplicaID
    let room: Room
    var replica: Replica
    var clock = HybridClock()
    var wall = ReplicationWorkloads.wallStart
    var draft: BatchDraft?
    /// Own sealed batches; batch `n` is at index `n - 1`.
    var own: [[UInt8]] = []
    /// Others' sealed batches this node applied, for forwarding.
    var received: [BatchID: [UInt8]] = [:]

    init(name: String, seedByte: UInt8, room: Room) {
        self.name = name
        identity = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: seedByte, count: Identity.seedLength)))
        id = ReplicaID(identity.publicKey)
        self.room = room
        replica = Replica(document: Document(authority: room.authority))
    }

    /// Appends an edit to the current batch (starting one if needed), sealing it when full.
    @discardableResult
    mutating func make(_ edit: Edit) throws(BenchFailure) -> OpID {
        if draft == nil { draft = replica.draft(author: id) }
        wall += 1
        let opID: OpID
        do {
            opID = try draft!.append(edit, at: clock.now(wallMillis: wall))
        } catch {
            throw BenchFailure("\(name): append: \(error)")
        }
        if draft!.operations.count == ReplicationWorkloads.batchSize { try flush() }
        return opID
    }

    /// Seals the current batch, if any, and applies it locally, as a node does before sending it.
    mutating func flush() throws(BenchFailure) {
        guard let pending = draft else { return }
        draft = nil
        let batch: SealedBatch
        do {
            batch = try pending.seal(identity: identity, epoch: ReplicationWorkloads.epoch, contentKey: room.contentKey, room: room.keys.roomID)
        } catch {
            throw BenchFailure("\(name): seal: \(error)")
        }
        try ReplicationWorkloads.expectApplied(replica.receive(batch), by: name)
        own.append(batch.sealed)
    }

    /// The sealed bytes of a batch this node holds, as its store would return them.
    func sealed(_ batch: BatchID) -> [UInt8]? {
        if batch.author == id {
            return batch.sequence >= 1 && batch.sequence <= UInt64(own.count) ? own[Int(batch.sequence) - 1] : nil
        }
        return received[batch]
    }

    /// Takes in another node's sealed batch directly.
    mutating func takeSealed(_ sealed: [UInt8]) throws(BenchFailure) {
        for applied in try ReplicationWorkloads.expectApplied(replica.receive(sealed: sealed, contentKey: room.key, nowMillis: .max), by: name) {
            received[applied.batch.batch.id] = applied.batch.sealed
        }
    }

    /// Takes in an encoded sync message from the peer whose state is `state`.
    mutating func take(_ wire: [UInt8], state: inout SyncState) throws(BenchFailure) {
        let message: SyncMessage
        do {
            message = try SyncMessageCodec.decode(wire)
        } catch {
            throw BenchFailure("\(name): SyncMessageCodec.decode: \(error)")
        }
        for outcome in replica.receive(message, state: &state, contentKey: room.key, nowMillis: .max) {
            switch outcome {
            case let .applied(list):
                for applied in list {
                    guard applied.result == .applied(rejectedOperations: 0) else {
                        throw BenchFailure("\(name) applied a synced batch as \(applied.result)")
                    }
                    received[applied.batch.batch.id] = applied.batch.sealed
                }
            case .duplicate: break
            default: throw BenchFailure("\(name): a synced batch was \(outcome)")
            }
        }
    }
}

/// SplitMix64 (Steele, Lea and Flood): tiny, fast, and easy to reproduce exactly in Python.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in 0..<bound (modulo bias is irrelevant here).
    mutating func below(_ bound: UInt64) -> UInt64 { next() % bound }

    /// A coordinate in millionths, 0…1,000,000.
    mutating func coordinate() -> UInt32 { UInt32(below(UInt64(UnitPoint.scale) + 1)) }
}
