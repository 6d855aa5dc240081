import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// Convergence with malicious members among honest ones: random histories in which one or two
/// admitted members break every rule they can with their own keys — forbidden edits, role claims,
/// grants to themselves, huge counters, far-future timestamps, equivocation (a different version
/// to different peers), batches sealed for another room and batches of keys nobody admitted —
/// delivered in random order with duplicates, losses and partitions. Every honest replica must end
/// with the same state hash, no forbidden operation may have any effect, and every honest
/// operation must be applied.
@Suite struct HostileConvergenceTests {
    enum Message {
        case batch([UInt8])
        case sync([UInt8])
    }

    /// Runs `CVPEER_TEST_SEED` alone if set, else 60 seeds.
    @Test func honestReplicasConvergeAndNoForbiddenOperationTakesEffect() throws {
        let replay = SeededRandom.seedFromEnvironment(default: 0)
        let seeds: [UInt64] = replay != 0 ? [replay] : (0..<60).map { 0xB0_0000 + $0 }
        var totals = Tally()
        for seed in seeds {
            if let problem = try Self.run(seed: seed, tally: &totals) {
                Issue.record("seed \(seed) (replay with CVPEER_TEST_SEED=\(seed)): \(problem)")
            }
        }
        // The histories reach every hostile path: a property test that never does proves nothing.
        #expect(totals.rejectedOperations > 0, "\(totals)")
        #expect(totals.proofs > 0, "\(totals)")
        #expect(totals.refused > 0, "\(totals)")
        #expect(totals.counterJumps > 0, "\(totals)")
    }

    struct Tally: CustomStringConvertible {
        var rejectedOperations = 0
        var proofs = 0
        var refused = 0
        var counterJumps = 0
        var description: String {
            "rejected ops \(rejectedOperations), proofs \(proofs), refused \(refused), counter jumps \(counterJumps)"
        }
    }

    /// What an honest member may do under its role (the table in `RoomAuthority`), for the generator.
    static func allowed(_ edit: Edit, by author: ReplicaID, role: Role) -> Bool {
        switch edit {
        case .grantRole: return false
        case let .setItemField(item, _), let .removeItem(item), let .moveItem(item, _):
            return role == .agent || item.replica == author
        case let .removeMark(mark): return role == .agent || mark.replica == author
        case .commerce(.recommend): return role == .agent
        case let .setProfile(participant, _), let .setViewport(participant, _, _), let .setFocus(participant, _):
            return participant == author
        default: return true
        }
    }

    static func run(seed: UInt64, tally: inout Tally) throws -> String? {
        var random = SeededRandom(seed: seed)
        let hostileCount = Int.random(in: 1...2, using: &random)
        // Honest: the owner (0), an agent (1), a customer (2); then the hostile members.
        let honestRoles: [Role] = [.agent, .customer]
        let hostileRoles = (0..<hostileCount).map { _ in [Role.customer, .guest].randomElement(using: &random)! }
        var room = try OwnedRoom(roles: honestRoles + hostileRoles, seed: random.next())
        let count = room.peers.count
        let honest = Array(0..<3)
        let hostile = Array(3..<count)
        let ids = room.peers.map(\.id)
        let roles: [Role] = [.agent] + honestRoles + hostileRoles
        for index in room.peers.indices { room.peers[index].nowMillis = Fixtures.t0.millis + 3_600_000 }
        var network = SimulatedNetwork<Message>(
            nodeCount: count, seed: random.next(), dropProbability: [0, 0.1, 0.3].randomElement(using: &random)!,
            duplicateProbability: [0, 0.1, 0.3].randomElement(using: &random)!)
        let links = (0..<count).flatMap { i in (0..<count).filter { $0 != i }.map { (i, $0) } }

        // The owner's canary: hostile members try to reprice, retitle and remove it; nobody honest touches it.
        let canaryFields: [ItemField] = [.title("Lamp"), .price(Price(currency: "EUR", minorUnits: 12_990))]
        let canary = try room.peers[0].commit(.createItem(kind: .productCard, position: .middle, fields: canaryFields))
        var honestChat: Set<String> = []

        func deliver(_ envelope: SimulatedNetwork<Message>.Envelope) throws {
            switch envelope.message {
            case let .batch(sealed): room.peers[envelope.to].receive(sealed: sealed)
            case let .sync(bytes): try room.peers[envelope.to].receive(syncMessage: bytes, from: envelope.from)
            }
        }
        func sync(_ from: Int, _ to: Int) throws -> Bool {
            var sent = false
            while let message = try room.peers[from].syncMessage(for: to) {
                network.send(from: from, to: to, .sync(message))
                sent = true
            }
            return sent
        }
        func push(_ sealed: [UInt8], from: Int, to targets: [Int]? = nil) {
            for to in targets ?? (0..<count).filter({ $0 != from }) { network.send(from: from, to: to, .batch(sealed)) }
        }

        func attack(_ attacker: Int, _ random: inout SeededRandom) throws {
            let me = ids[attacker]
            switch Int.random(in: 0..<8, using: &random) {
            case 0:  // forbidden edits and a role claim, in one batch with an allowed one
                let sealed = try room.peers[attacker].commit([
                    .setItemField(item: canary, .price(Price(currency: "EUR", minorUnits: 100))), .removeItem(canary),
                    .commerce(.recommend(item: canary, note: "trust me")), .grantRole(member: me, role: .agent, fromSequence: 1),
                    .setProfile(participant: me, Profile(name: "Ana", requestedRole: .agent)),
                    .setProfile(participant: ids[0], Profile(name: "Owner?", requestedRole: .guest)),
                ])
                push(sealed.sealed, from: attacker)
            case 1:  // a huge Lamport counter
                let head = room.peers[attacker].document.digest(
                    of: BatchID(author: me, sequence: room.peers[attacker].replica.vector[me])) ?? BatchSealer.noPrevious
                var draft = BatchDraft(
                    author: me, sequence: room.peers[attacker].replica.vector[me] + 1,
                    startCounter: Limits.maxCounter - UInt64.random(in: 1...1000, using: &random), previous: head)
                try draft.append(.say("freeze"), at: Fixtures.t0)
                push(try room.peers[attacker].seal(draft).sealed, from: attacker)
            case 2:  // a far-future timestamp: refused everywhere; the attacker's later batches wait behind it
                var draft = room.peers[attacker].replica.draft(author: me)
                try draft.append(.say("from the future"), at: HLC(millis: HLC.maxMillis - 1, logical: 0))
                push(try room.peers[attacker].seal(draft).sealed, from: attacker)
            case 3:  // equivocation: one version to some peers, another to the rest
                let draft = room.peers[attacker].replica.draft(author: me)
                var a = draft
                var b = draft
                try a.append(.commerce(.purchase(item: canary, quantity: 1)), at: Fixtures.t0)
                try b.append(.say("version b"), at: Fixtures.t0)
                let versionA = try room.peers[attacker].seal(a)
                let versionB = try b.seal(
                    identity: room.peers[attacker].identity, epoch: 0, contentKey: Fixtures.contentKey, room: Fixtures.authority.roomID)
                let others = (0..<count).filter { $0 != attacker }.shuffled(using: &random)
                let half = others.count / 2
                push(versionA.sealed, from: attacker, to: Array(others[..<half]))
                push(versionB.sealed, from: attacker, to: Array(others[half...]))
            case 4:  // a batch sealed for another room
                var draft = room.peers[attacker].replica.draft(author: me)
                try draft.append(.commerce(.purchase(item: canary, quantity: 9)), at: Fixtures.t0)
                let elsewhere = RoomKeys.generate(owner: Identity.generate().publicKey)
                let moved = try draft.seal(
                    identity: room.peers[attacker].identity, epoch: 0, contentKey: Fixtures.contentKey, room: elsewhere.roomID)
                push(moved.sealed, from: attacker)
            case 5:  // batches of a throw-away key nobody admitted
                var stranger = TestPeer(identity: Identity.generate(), authority: Fixtures.authority)
                let sealed = try stranger.commit([.commerce(.recommend(item: canary, note: "sybil")), .say("sybil")])
                push(sealed.sealed, from: attacker)
            case 6:  // shared playback: on the owner's product card (kept, shown nowhere), then a
                // hand-sealed batch whose playback has a rate of 0 (ignored everywhere, its chat too)
                var sealed = try room.peers[attacker].commit([
                    .setPlayback(item: canary, Playback(playing: true, positionMillis: 1, rate: 4000))
                ])
                push(sealed.sealed, from: attacker)
                let draft = room.peers[attacker].replica.draft(author: me)
                // Key index 1 is the owner, whose product card the reference names.
                let badPlayback = [16] + PlaybackTests.varint(canary.counter) + [1, 1, 5, 0]
                let say = [10, 13] + Array("bad playback!".utf8)
                var payload: [UInt8] = [BatchCodec.formatVersion] + PlaybackTests.varint(draft.startCounter) + [1] + ids[0].bytes + [2]
                for op in [badPlayback, say] { payload += PlaybackTests.varint(Fixtures.t0.millis) + [0] + op }
                let raw = BatchSealer.seal(
                    payload: payload, sequence: draft.sequence, epoch: 0, previous: draft.previous, room: Fixtures.authority.roomID,
                    identity: room.peers[attacker].identity, contentKey: Fixtures.contentKey
                ).sealed
                room.peers[attacker].receive(sealed: raw)
                push(raw, from: attacker)
                sealed = try room.peers[attacker].commit([.say("after bad playback")])
                push(sealed.sealed, from: attacker)
            default:  // removing an honest member's mark, or their item
                let document = room.peers[attacker].document
                if let mark = document.visibleMarks.first(where: { $0.author != me }) {
                    push(try room.peers[attacker].commit([.removeMark(mark.id)]).sealed, from: attacker)
                } else if let item = document.panel.first(where: { $0.author != me }) {
                    push(try room.peers[attacker].commit([.removeItem(item.id)]).sealed, from: attacker)
                }
            }
        }

        for step in 0..<Int.random(in: 40...90, using: &random) {
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<30:
                let author = honest.randomElement(using: &random)!
                var edits = EditGenerator.edits(
                    count: Int.random(in: 1...3, using: &random), by: ids[author], in: room.peers[author].document,
                    participants: ids, mix: .balanced, &random
                ).filter { edit in
                    guard allowed(edit, by: ids[author], role: roles[author]) else { return false }
                    switch edit {
                    case let .setItemField(item, _), let .removeItem(item), let .moveItem(item, _): return item != canary
                    default: return true
                    }
                }
                let line = "honest \(author) step \(step)"
                edits.append(.say(line))
                honestChat.insert(line)
                let sealed = try room.peers[author].commit(edits)
                if Bool.random(using: &random) { push(sealed.sealed, from: author) }
            case 30..<55:
                let attacker = hostile.randomElement(using: &random)!
                try attack(attacker, &random)
            case 55..<75:
                let (from, to) = links.randomElement(using: &random)!
                _ = try sync(from, to)
            case 75..<95:
                for _ in 0..<Int.random(in: 1...6, using: &random) {
                    guard let envelope = network.deliver() else { break }
                    try deliver(envelope)
                }
            default:
                if Bool.random(using: &random) { network.partitionRandomly() } else { network.heal() }
            }
        }

        // Heal, stop losing messages, and sync until the honest replicas are quiet and equal.
        network.heal()
        network.dropProbability = 0
        var rounds = 0
        while true {
            rounds += 1
            if rounds > 12 { return "honest replicas not converged after \(rounds - 1) quiet rounds" }
            for index in room.peers.indices { room.peers[index].timerFired() }
            var exchanges = 0
            while true {
                exchanges += 1
                if exchanges > 10_000 { return "sync never went quiet" }
                var sent = false
                for (from, to) in links { sent = try sync(from, to) || sent }
                while let envelope = network.deliver() { try deliver(envelope) }
                if !sent { break }
            }
            let reference = room.peers[0].document
            if honest.allSatisfy({ room.peers[$0].document.stateHash == reference.stateHash && room.peers[$0].replica.vector == reference.vector }) {
                break
            }
        }

        let reference = room.peers[0].document
        for index in honest {
            let document = room.peers[index].document
            try document.checkInvariants()
            guard document.canonicalBytes == reference.canonicalBytes else { return "honest replicas differ" }
            // Nothing forbidden took effect.
            guard let lamp = document.item(canary) else { return "the owner's item was removed by someone not allowed" }
            guard lamp.fields[.price] == canaryFields[1], lamp.fields[.title] == canaryFields[0] else { return "the owner's item was edited" }
            for event in document.commerce where event.action.name == "recommend" {
                guard document.role(of: event.by) == .agent || event.by == ids[0] || event.by == ids[1] else {
                    return "a recommendation by a non-agent took effect"
                }
            }
            for attacker in hostile {
                guard document.role(of: ids[attacker]) == roles[attacker] else { return "a hostile member changed its role" }
                guard !document.chat.contains(where: { $0.author == ids[attacker] && $0.text == "from the future" }) else {
                    return "a far-future batch took effect"
                }
            }
            guard document.participants.first(where: { $0.id == ids[0] })?.profile.name != "Owner?" else {
                return "someone else's profile was written"
            }
            guard lamp.playback == nil, !document.chat.contains(where: { $0.text == "bad playback!" }) else {
                return "a playback on a product card, or a batch with a malformed playback, took effect"
            }
            guard !document.chat.contains(where: { $0.text == "sybil" || $0.text == "freeze" }) else {
                return "an unadmitted key or a huge counter took effect"
            }
            // Every honest operation is applied.
            let lines = Set(document.chat.map(\.text))
            guard honestChat.isSubset(of: lines) else { return "honest chat lines are missing: \(honestChat.subtracting(lines).count)" }
            for author in honest {
                guard document.rejectedOperations[ids[author], default: 0] == 0 else { return "an honest operation was rejected" }
                guard room.peers[index].replica.vector[ids[author]] == room.peers[author].replica.vector[ids[author]] else {
                    return "an honest batch is missing"
                }
            }
        }
        for attacker in hostile { tally.rejectedOperations += reference.rejectedOperations[ids[attacker], default: 0] }
        tally.proofs += reference.equivocators.count
        for index in honest {
            tally.refused += room.peers[index].coverage.refused
            tally.counterJumps += room.peers[index].replica.document.mergedBatches.filter {
                $0.operations.first.map { $0.id.counter > Limits.maxCounterJump * 2 } ?? false
            }.count
        }
        return nil
    }
}
