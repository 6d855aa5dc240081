import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// A room with an owner, its members and their roles, as the authority tests use it.
struct OwnedRoom {
    /// The owner's identity; `members[0]` is the owner's peer.
    let owner: Identity
    let authority = Fixtures.authority
    var peers: [TestPeer]

    /// The owner and one peer per role in `roles`, with identities from `seed`; the owner admits
    /// each with its role in one batch, which every peer takes in.
    init(roles: [Role], seed: UInt64 = 90) throws {
        owner = Fixtures.owner
        var random = SeededRandom(seed: seed)
        peers = [TestPeer(identity: owner, authority: Fixtures.authority)]
        for _ in roles { peers.append(TestPeer(identity: Fixtures.identity(&random), authority: Fixtures.authority)) }
        let grants = zip(peers.dropFirst(), roles).map { Edit.grantRole(member: $0.id, role: $1, fromSequence: 1) }
        if !grants.isEmpty {
            let batch = try peers[0].commit(grants)
            for index in peers.indices.dropFirst() { peers[index].receive(sealed: batch.sealed) }
        }
    }

    /// Delivers every batch any peer holds to every other peer, in a random order, until nothing changes.
    mutating func flood(_ random: inout SeededRandom) {
        for _ in 0..<8 {
            let all = peers.flatMap { $0.store.values }.shuffled(using: &random)
            let before = peers.map(\.replica.vector)
            for index in peers.indices { for sealed in all { peers[index].receive(sealed: sealed) } }
            if peers.map(\.replica.vector) == before { return }
        }
    }
}

@Suite struct AuthorityTests {
    @Test func aBatchFromAKeyTheOwnerNeverAdmittedChangesNothingUntilItIs() throws {
        var room = try OwnedRoom(roles: [])
        var stranger = TestPeer(identity: Identity.generate(), authority: Fixtures.authority)
        let batch = try stranger.commit([.say("let me in")])
        let before = room.peers[0].document.stateHash
        #expect(room.peers[0].replica.receive(sealed: batch.sealed, contentKey: Fixtures.contentKey, nowMillis: .max) == .awaitingAdmission)
        #expect(room.peers[0].document.stateHash == before)
        #expect(room.peers[0].replica.vector[stranger.id] == 0, "not merged, so sync asks again later")
        // The owner admits it: the held batch is merged at once.
        try room.peers[0].commit([.grantRole(member: stranger.id, role: .guest, fromSequence: 1)])
        #expect(room.peers[0].document.chat.map(\.text) == ["let me in"])
        #expect(room.peers[0].document.role(of: stranger.id) == .guest)
    }

    @Test func aProfileThatClaimsToBeAnAgentGrantsNothing() throws {
        var room = try OwnedRoom(roles: [.guest])
        var random = SeededRandom(seed: 1)
        let guest = room.peers[1].id
        try room.peers[1].commit([.setProfile(participant: guest, Profile(name: "Ana", requestedRole: .agent))])
        room.flood(&random)
        for peer in room.peers {
            #expect(peer.document.role(of: guest) == .guest)
            #expect(peer.document.participants.first { $0.id == guest }?.role == .guest)
        }
    }

    /// The permission table of `RoomAuthority`, row by row, through real batches on every replica.
    @Test func everyRuleOfThePermissionTableHoldsOnEveryReplica() throws {
        var room = try OwnedRoom(roles: [.agent, .customer, .guest, .archive])
        var random = SeededRandom(seed: 2)
        let (owner, agent, customer, guest, archive) = (0, 1, 2, 3, 4)
        let card = try room.peers[owner].commit(
            .createItem(kind: .productCard, position: .middle, fields: [.title("Lamp"), .price(Price(currency: "EUR", minorUnits: 12_990))]))
        let spare = try room.peers[owner].commit(.createItem(kind: .note, position: .middle, fields: [.title("Spare")]))
        room.flood(&random)
        let ownerMark = try room.peers[owner].commit(.addMark(item: card, Mark(shape: .pin(Fixtures.point(0.5, 0.5)), colour: Colour(rgba: 0xff0000ff))))
        room.flood(&random)

        // A customer: may not reprice, retitle, move or remove someone else's item, remove someone
        // else's mark, recommend or grant; may create, mark, chat, add to cart and buy.
        let c = room.peers[customer].id
        try room.peers[customer].commit([
            .setItemField(item: card, .price(Price(currency: "EUR", minorUnits: 100))), .removeItem(spare),
            .moveItem(card, to: PanelPosition.between(nil, .middle)!), .removeMark(ownerMark),
            .commerce(.recommend(item: card, note: "cheap")), .grantRole(member: c, role: .agent, fromSequence: 1),
        ])
        let own = try room.peers[customer].commit(.createItem(kind: .note, position: .middle, fields: [.title("Mine")]))
        try room.peers[customer].commit([
            .setItemField(item: own, .title("Still mine")), .say("hello"), .commerce(.addToCart(item: card, quantity: 1)),
            .commerce(.purchase(item: card, quantity: 1)),
        ])
        // A guest: the same limits.
        try room.peers[guest].commit([.commerce(.recommend(item: card, note: "")), .removeItem(card)])
        // The archive writes nothing but its profile.
        try room.peers[archive].commit([.say("I am the archive"), .createItem(kind: .note, position: .middle, fields: [])])
        // An agent (not the owner) edits and removes the owner's items and recommends; may not grant.
        try room.peers[agent].commit([.setItemField(item: card, .title("Desk lamp")), .commerce(.recommend(item: card, note: "yes"))])
        try room.peers[agent].commit([.grantRole(member: room.peers[guest].id, role: .agent, fromSequence: 1)])
        room.flood(&random)

        let hash = room.peers[0].document.stateHash
        for peer in room.peers {
            let document = peer.document
            #expect(document.stateHash == hash)
            let lamp = try #require(document.item(card))
            #expect(lamp.fields[.price] == .price(Price(currency: "EUR", minorUnits: 12_990)), "only an agent reprices")
            #expect(lamp.fields[.title] == .title("Desk lamp"), "an agent edits the owner's item")
            #expect(document.item(spare) != nil, "a customer does not remove the owner's item")
            #expect(document.visibleMarks.contains { $0.id == ownerMark })
            #expect(document.item(own)?.fields[.title] == .title("Still mine"))
            #expect(document.chat.map(\.text) == ["hello"])
            #expect(document.commerce.filter { $0.action.name == "recommend" }.map(\.by) == [room.peers[agent].id])
            #expect(document.commerce.filter { $0.action.name == "purchase" }.map(\.by) == [c])
            #expect(document.role(of: c) == .customer)
            #expect(document.role(of: room.peers[guest].id) == .guest)
            #expect(document.rejectedOperations[c] == 6)
            #expect(document.rejectedOperations[room.peers[guest].id] == 2)
            #expect(document.rejectedOperations[room.peers[archive].id] == 2)
            #expect(document.rejectedOperations[room.peers[agent].id] == 1)
        }
    }

    /// The concurrency rule: the owner revokes an agent's role from the agent's batch after the
    /// last it had seen; a recommendation the agent made meanwhile (concurrently) has no effect on
    /// any replica, whatever the order, while those the owner had seen keep theirs.
    @Test func aRevocationWinsOverAConcurrentUseOfTheRightItRevokes() throws {
        for seed in UInt64(0)..<12 {
            var room = try OwnedRoom(roles: [.agent, .customer])
            var random = SeededRandom(seed: seed)
            let item = try room.peers[0].commit(.createItem(kind: .productCard, position: .middle, fields: [.title("Sofa")]))
            room.flood(&random)
            let seen = try room.peers[1].commit([.commerce(.recommend(item: item, note: "seen by the owner"))])
            room.peers[0].receive(sealed: seen.sealed)
            // Concurrently: the agent recommends again; the owner, having seen the first, revokes.
            let concurrent = try room.peers[1].commit([.commerce(.recommend(item: item, note: "concurrent"))])
            let agent = room.peers[1].id
            let revoke = try room.peers[0].commit([
                .grantRole(member: agent, role: .guest, fromSequence: room.peers[0].replica.vector[agent] + 1)
            ])
            // Deliver in a random order: some replicas merge the concurrent batch first.
            var deliveries = [(2, concurrent.sealed), (2, revoke.sealed), (0, concurrent.sealed), (1, revoke.sealed)]
            deliveries.shuffle(using: &random)
            for (to, sealed) in deliveries { room.peers[to].receive(sealed: sealed) }
            room.flood(&random)
            for peer in room.peers {
                let notes = peer.document.commerce.compactMap { event -> String? in
                    if case let .recommend(_, note) = event.action { return note }
                    return nil
                }
                #expect(notes == ["seen by the owner"], "seed \(seed)")
                #expect(peer.document.stateHash == room.peers[0].document.stateHash, "seed \(seed)")
                #expect(peer.document.role(of: agent) == .guest)
            }
        }
    }

    @Test func aHugeLamportCounterIsRefusedAndCannotFreezeTheRoom() throws {
        var room = try OwnedRoom(roles: [.customer, .customer])
        var random = SeededRandom(seed: 3)
        let hostile = room.peers[2].id
        var draft = BatchDraft(
            author: hostile, sequence: 1, startCounter: Limits.maxCounter - 10, previous: BatchSealer.noPrevious)
        try draft.append(.say("freeze"), at: Fixtures.t0)
        let batch = try room.peers[2].seal(draft)
        room.peers[0].receive(sealed: batch.sealed)
        #expect(room.peers[0].replica.vector[hostile] == 1, "taken in (its sequence number is used up)…")
        #expect(room.peers[0].document.chat.isEmpty, "…but ignored")
        #expect(room.peers[0].document.maxCounter < 1_000)
        // Everyone goes on editing; the hostile member's own next batch starts within the bound.
        try room.peers[1].commit(.say("still working"))
        try room.peers[0].commit(.say("so am I"))
        let next = try room.peers[2].commit([.say("and me")])
        #expect(next.batch.operations[0].id.counter <= Limits.maxCounterJump)
        room.flood(&random)
        for peer in room.peers { #expect(peer.document.chat.map(\.text) == ["still working", "so am I", "and me"]) }
    }

    @Test func anOperationStampedFarAheadOfOurClockIsRefusedUntilTheClockGetsThere() throws {
        var room = try OwnedRoom(roles: [.customer])
        let now = Fixtures.t0.millis
        var draft = room.peers[1].replica.draft(author: room.peers[1].id)
        try draft.append(.say("from the year 10889"), at: HLC(millis: HLC.maxMillis, logical: 0))
        let batch = try room.peers[1].seal(draft)
        #expect(room.peers[0].replica.receive(sealed: batch.sealed, contentKey: Fixtures.contentKey, nowMillis: now) == .tooFarAhead)
        #expect(room.peers[0].replica.vector[room.peers[1].id] == 0)
        var soon = room.peers[1].replica.draft(author: room.peers[1].id)
        try soon.append(.say("in four minutes"), at: HLC(millis: now + 4 * 60_000, logical: 0))
        let ahead = try room.peers[1].seal(soon)
        var fresh = try OwnedRoom(roles: [.customer]).peers[0]
        // A slightly fast clock is fine; the far future is refused at every entry.
        #expect(fresh.replica.receive(sealed: ahead.sealed, contentKey: Fixtures.contentKey, nowMillis: now) == .heldBack(waitingFor: 1))
    }

    @Test func aBatchSealedForAnotherRoomIsRejected() throws {
        var room = try OwnedRoom(roles: [.customer])
        var draft = room.peers[1].replica.draft(author: room.peers[1].id)
        try draft.append(.commerce(.purchase(item: OpID(counter: 1, replica: room.peers[0].id), quantity: 1)), at: Fixtures.t0)
        // Sealed with the right content key but bound to another room's id: a copy from elsewhere.
        let elsewhere = RoomKeys.generate(owner: Fixtures.owner.publicKey)
        let moved = try draft.seal(identity: room.peers[1].identity, epoch: 0, contentKey: Fixtures.contentKey, room: elsewhere.roomID)
        #expect(room.peers[0].replica.receive(sealed: moved.sealed, contentKey: Fixtures.contentKey, nowMillis: .max) == .rejected(.badSignature))
        #expect(room.peers[0].document.commerce.isEmpty)
    }

    /// Two versions of one batch shown to two different peers: their next sync exchange names
    /// different heads, each asks for the other's version, both prove the equivocation, and every
    /// replica leaves the equivocator's branch out, so the state hashes meet again.
    @Test func targetedEquivocationIsProvenByTheHeadsAndHealed() throws {
        var room = try OwnedRoom(roles: [.customer, .customer])
        let liar = room.peers[2].id
        let honest = try room.peers[2].commit([.say("before the fork")])
        for index in [0, 1] { room.peers[index].receive(sealed: honest.sealed) }
        let draft = room.peers[2].replica.draft(author: liar)
        var a = draft
        try a.append(.commerce(.purchase(item: OpID(counter: 1, replica: room.peers[0].id), quantity: 1)), at: Fixtures.t0)
        var b = draft
        try b.append(.say("I never bought it"), at: Fixtures.t0)
        let versionA = try a.seal(identity: room.peers[2].identity, epoch: 0, contentKey: Fixtures.contentKey, room: Fixtures.authority.roomID)
        let versionB = try b.seal(identity: room.peers[2].identity, epoch: 0, contentKey: Fixtures.contentKey, room: Fixtures.authority.roomID)
        room.peers[0].receive(sealed: versionA.sealed)
        room.peers[1].receive(sealed: versionB.sealed)
        #expect(room.peers[0].document.stateHash != room.peers[1].document.stateHash)
        // Sync between the two victims only; the liar stays silent.
        var rounds = 0
        while room.peers[0].document.stateHash != room.peers[1].document.stateHash, rounds < 5 {
            rounds += 1
            for (from, to) in [(0, 1), (1, 0), (0, 1), (1, 0)] {
                while let message = try room.peers[from].syncMessage(for: to) { try room.peers[to].receive(syncMessage: message, from: from) }
            }
        }
        #expect(rounds <= 2)
        for index in [0, 1] {
            let document = room.peers[index].document
            #expect(document.equivocators[liar] == 2)
            #expect(document.chat.map(\.text) == ["before the fork"])
            #expect(document.commerce.isEmpty)
            #expect(room.peers[index].replica.proofs[liar] != nil)
        }
        #expect(room.peers[0].document.stateHash == room.peers[1].document.stateHash)
        // The proof alone convinces a third replica, which leaves the branch out too.
        var third = try OwnedRoom(roles: [.customer, .customer]).peers[0]
        third.receive(sealed: honest.sealed)
        third.receive(sealed: versionA.sealed)
        let proof = try #require(room.peers[1].replica.proofs[liar])
        let taken = third.replica.take(proof)
        #expect(taken)
        #expect(third.document.commerce.isEmpty)
        let again = third.replica.take(proof)
        #expect(!again, "a proof already held changes nothing")
    }

    /// A victim that already holds one version (passed on by a peer) and then gets the other
    /// straight from the equivocator proves it at once: no summary is needed. A byte-identical
    /// copy is only a duplicate, and other bytes that are not a valid second version prove nothing.
    @Test func aSecondVersionOfAHeldBatchIsProvenOnArrival() throws {
        var room = try OwnedRoom(roles: [.customer, .customer])
        let liar = room.peers[2].id
        let draft = room.peers[2].replica.draft(author: liar)
        var a = draft
        try a.append(.say("version a"), at: Fixtures.t0)
        var b = draft
        try b.append(.say("version b"), at: Fixtures.t0)
        let versionA = try a.seal(identity: room.peers[2].identity, epoch: 0, contentKey: Fixtures.contentKey, room: Fixtures.authority.roomID)
        let versionB = try b.seal(identity: room.peers[2].identity, epoch: 0, contentKey: Fixtures.contentKey, room: Fixtures.authority.roomID)
        room.peers[0].receive(sealed: versionA.sealed)
        room.peers[0].receive(sealed: versionA.sealed)
        #expect(room.peers[0].replica.proofs.isEmpty, "a copy of the same bytes is a duplicate")
        var forged = versionB.sealed
        forged[forged.count - 1] ^= 1
        room.peers[0].receive(sealed: forged)
        #expect(room.peers[0].replica.proofs.isEmpty, "a damaged copy proves nothing")
        room.peers[0].receive(sealed: versionB.sealed)
        #expect(room.peers[0].replica.proofs[liar]?.fork == 1)
        #expect(room.peers[0].document.chat.isEmpty)
    }
}
