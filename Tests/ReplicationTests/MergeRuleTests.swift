import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// One test per merge rule of the document, driven through real sealed batches.
@Suite struct MergeRuleTests {
    let identities = Fixtures.identities(3)

    /// Makes all three peers hold one image item created by peer 0 in batch `creation`.
    func shareAnItem(_ peers: inout [TestPeer]) throws -> (item: OpID, creation: [UInt8]) {
        let created = try peers[0].commit([
            .createItem(kind: .image, position: .middle, fields: [.title("first")])
        ])
        peers[1].receive(sealed: created.sealed)
        peers[2].receive(sealed: created.sealed)
        return (created.batch.operations[0].id, created.sealed)
    }

    /// Delivers `batches` to fresh replicas in every order, expects one state, and returns it.
    func expectAllOrdersAgree(_ batches: [[UInt8]], sourceLocation: SourceLocation = #_sourceLocation) -> Document {
        let first = replicaReceiving(batches).document
        for order in permutations(batches) {
            #expect(replicaReceiving(order).document.stateHash == first.stateHash, sourceLocation: sourceLocation)
        }
        return first
    }

    @Test func concurrentFieldWritesWithEqualCountersAreWonByTheGreaterReplicaID() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let (item, creation) = try shareAnItem(&peers)
        let low = try peers[1].commit([.setItemField(item: item, .title("from the smaller id"))])
        let high = try peers[2].commit([.setItemField(item: item, .title("from the greater id"))])
        #expect(low.batch.operations[0].id.counter == high.batch.operations[0].id.counter)
        for (first, second) in [(low, high), (high, low)] {
            var replica = replicaReceiving([creation])
            _ = replica.receive(sealed: first.sealed, contentKey: Fixtures.contentKey, nowMillis: .max)
            _ = replica.receive(sealed: second.sealed, contentKey: Fixtures.contentKey, nowMillis: .max)
            #expect(replica.document.item(item)?.fields[.title] == .title("from the greater id"))
        }
    }

    @Test func aLaterCounterWinsOverAGreaterReplicaID() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let (item, creation) = try shareAnItem(&peers)
        let early = try peers[2].commit([.setItemField(item: item, .title("early"))])
        peers[1].receive(sealed: early.sealed)
        let late = try peers[1].commit([.setItemField(item: item, .title("late"))])
        #expect(late.batch.operations[0].id.counter > early.batch.operations[0].id.counter)
        let document = expectAllOrdersAgree([creation, early.sealed, late.sealed])
        #expect(document.item(item)?.fields[.title] == .title("late"))
    }

    @Test func aMarkOnARemovedItemIsHiddenWhateverTheOrder() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let (item, creation) = try shareAnItem(&peers)
        let removal = try peers[1].commit([.removeItem(item)])
        let concurrentMark = try peers[2].commit([.addMark(item: item, Mark(shape: .pin(Fixtures.point(0.5, 0.5)), colour: Colour(rgba: 0xFF00_00FF)))])
        // A mark added by someone who had already seen the removal stays hidden too.
        peers[0].receive(sealed: removal.sealed)
        let lateMark = try peers[0].commit([.addMark(item: item, Mark(shape: .pin(Fixtures.point(0.1, 0.1)), colour: Colour(rgba: 0xFF)))])
        let document = expectAllOrdersAgree(
            [creation, removal.sealed, concurrentMark.sealed, lateMark.sealed])
        #expect(document.isRemoved(item: item))
        #expect(!document.isVisible(item: item))
        #expect(document.marks(on: item).isEmpty)
        #expect(document.visibleMarks.isEmpty)
        #expect(document.panel.isEmpty)
        try document.checkInvariants()
    }

    @Test func removalIsFinal() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let (item, _) = try shareAnItem(&peers)
        try peers[0].commit(.removeItem(item))
        try peers[0].commit(.setItemField(item: item, .title("back?")))
        try peers[0].commit(.moveItem(item, to: PanelPosition.between(.middle, nil)!))
        try peers[0].commit(.setViewport(participant: peers[0].id, item: item, Viewport(zoom: 2000, centre: Fixtures.point(0.5, 0.5))))
        #expect(!peers[0].document.isVisible(item: item))
        #expect(peers[0].document.item(item) == nil)
        #expect(peers[0].document.viewports.isEmpty)
    }

    @Test func aRemovedMarkStaysRemovedEvenIfTheRemovalArrivesFirst() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let (item, creation) = try shareAnItem(&peers)
        let add = try peers[1].commit([.addMark(item: item, Mark(shape: .arrow(from: Fixtures.point(0, 0), to: Fixtures.point(1, 1)), colour: Colour(rgba: 1)))])
        let mark = add.batch.operations[0].id
        peers[2].receive(sealed: add.sealed)
        let remove = try peers[2].commit([.removeMark(mark)])
        let document = expectAllOrdersAgree([creation, add.sealed, remove.sealed])
        #expect(document.visibleMarks.isEmpty)
        #expect(document.knownMarkIDs == [mark])
    }

    @Test func aForgedViewportFocusOrProfileForAnotherParticipantIsRejected() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let (item, creation) = try shareAnItem(&peers)
        let victim = peers[2].id
        let forged = try peers[1].commit([
            .setViewport(participant: victim, item: item, Viewport(zoom: 5000, centre: Fixtures.point(0.9, 0.9))),
            .setFocus(participant: victim, item: item),
            .setProfile(participant: victim, Profile(name: "Mallory says hi", requestedRole: .agent)),
            .setViewport(participant: peers[1].id, item: item, Viewport(zoom: 1500, centre: Fixtures.point(0.2, 0.3))),
        ])
        #expect(peers[1].coverage.rejectedOperations == 3)
        var replica = replicaReceiving([creation])
        guard case let .applied(list) = replica.receive(sealed: forged.sealed, contentKey: Fixtures.contentKey, nowMillis: .max) else {
            Issue.record("the batch itself is authentic and must apply")
            return
        }
        #expect(list.map(\.result) == [.applied(rejectedOperations: 3)])
        let document = replica.document
        #expect(document.viewport(of: victim, on: item) == nil)
        #expect(document.viewport(of: peers[1].id, on: item) == Viewport(zoom: 1500, centre: Fixtures.point(0.2, 0.3)))
        #expect(document.focus.isEmpty)
        #expect(document.profile(of: victim) == nil)
    }

    @Test func viewportsAreLastWriterWinsPerParticipantAndItem() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let (item, creation) = try shareAnItem(&peers)
        let a = try peers[1].commit([.setViewport(participant: peers[1].id, item: item, Viewport(zoom: 1000, centre: Fixtures.point(0.5, 0.5)))])
        let b = try peers[2].commit([.setViewport(participant: peers[2].id, item: item, Viewport(zoom: 3000, centre: Fixtures.point(0.25, 0.75)))])
        let a2 = try peers[1].commit([.setViewport(participant: peers[1].id, item: item, Viewport(zoom: 2000, centre: Fixtures.point(0.1, 0.1)))])
        let document = expectAllOrdersAgree([creation, a.sealed, b.sealed, a2.sealed])
        #expect(document.viewports.count == 2)
        #expect(document.viewport(of: peers[1].id, on: item)?.zoom == 2000)
        #expect(document.viewport(of: peers[2].id, on: item)?.zoom == 3000)
    }

    @Test func focusOnARemovedItemShowsNone() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let (item, _) = try shareAnItem(&peers)
        try peers[1].commit(.setFocus(participant: peers[1].id, item: item))
        #expect(peers[1].document.focus.map(\.item) == [item])
        try peers[1].commit(.removeItem(item))
        #expect(peers[1].document.focus.map(\.item) == [nil])
    }

    @Test func chatIsOrderedByOperationIDEverywhere() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        var batches: [[UInt8]] = []
        for round in 0..<3 {
            for index in peers.indices { batches.append(try peers[index].commit([.say("\(index) says \(round)")]).sealed) }
        }
        let document = expectAllOrdersAgree(Array(batches.prefix(6)))
        #expect(document.chat.map(\.id) == document.chat.map(\.id).sorted())
        // Concurrent messages (equal counters) come in replica id order.
        #expect(document.chat.map(\.text) == ["0 says 0", "1 says 0", "2 says 0", "0 says 1", "1 says 1", "2 says 1"])
        var shuffled = batches
        var random = SeededRandom(seed: 5)
        for _ in 0..<20 {
            shuffled.shuffle(using: &random)
            #expect(replicaReceiving(shuffled).document.chat == replicaReceiving(batches).document.chat)
        }
    }

    @Test func commerceEventsAreKeptInOrderEvenForRemovedItems() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let (item, _) = try shareAnItem(&peers)
        try peers[0].commit(.commerce(.recommend(item: item, note: "fits you")))
        peers[1].receive(sealed: peers[0].store[BatchID(author: peers[0].id, sequence: 2)]!)
        try peers[1].commit(.commerce(.addToCart(item: item, quantity: 2)))
        try peers[1].commit(.commerce(.purchase(item: item, quantity: 2)))
        try peers[1].commit(.removeItem(item))
        let events = peers[1].document.commerce
        #expect(events.map(\.action.name) == ["recommend", "addToCart", "purchase"])
        #expect(events.map(\.by) == [peers[0].id, peers[1].id, peers[1].id])
        #expect(events[1].time >= events[0].time)
    }

    @Test func profilesArePerParticipantLastWriterWins() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        try peers[0].commit(.setProfile(participant: peers[0].id, Profile(name: "Ana", requestedRole: .agent)))
        try peers[0].commit(.setProfile(participant: peers[0].id, Profile(name: "Ana B.", requestedRole: .agent)))
        try peers[1].commit(.setProfile(participant: peers[1].id, Profile(name: "Carl", requestedRole: .customer)))
        let document = expectAllOrdersAgree(Array(peers[0].store.values) + Array(peers[1].store.values))
        #expect(document.participants.map(\.profile.name).sorted() == ["Ana B.", "Carl"])
    }

    @Test func panelIsOrderedByPositionThenItemID() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let right = PanelPosition.between(.middle, nil)!
        let a = try peers[0].commit(.createItem(kind: .note, position: right, fields: [.text("a")]))
        let b = try peers[1].commit(.createItem(kind: .note, position: right, fields: [.text("b")]))
        let c = try peers[2].commit(.createItem(kind: .note, position: .middle, fields: [.text("c")]))
        let document = expectAllOrdersAgree(peers.flatMap { $0.store.values })
        #expect(document.panel.map(\.id) == [c, a, b])
        peers[0].receive(sealed: peers[2].store.values.first!)
        try peers[0].commit(.moveItem(c, to: PanelPosition.between(right, nil)!))
        #expect(peers[0].document.panel.map(\.id) == [a, c])
    }

    @Test func writesToAnItemNotYetSeenTakeEffectWhenItArrives() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let (item, creation) = try shareAnItem(&peers)
        let edit = try peers[1].commit([.setItemField(item: item, .text("caption"))])
        var replica = Replica()
        _ = replica.receive(sealed: edit.sealed, contentKey: Fixtures.contentKey, nowMillis: .max)
        #expect(replica.document.panel.isEmpty)
        _ = replica.receive(sealed: creation, contentKey: Fixtures.contentKey, nowMillis: .max)
        #expect(replica.document.item(item)?.fields[.text] == .text("caption"))
        #expect(replica.document.item(item)?.fields[.title] == .title("first"))
    }

    @Test func fieldsAKindDoesNotShowAreKeptButHidden() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let (item, _) = try shareAnItem(&peers)
        try peers[0].commit(.setItemField(item: item, .price(Price(currency: "EUR", minorUnits: 1999))))
        #expect(peers[0].document.item(item)?.fields[.price] == nil)
        try peers[0].document.checkInvariants()
    }

    @Test func aBatchWhosePayloadDoesNotDecodeCountsAsReceivedButChangesNothing() throws {
        let author = identities[0]
        let junk = BatchSealer.seal(
            payload: [9, 9, 9], sequence: 1, epoch: 0, previous: BatchSealer.noPrevious, room: RoomAuthority.open.roomID,
            identity: author, contentKey: Fixtures.contentKey
        ).sealed
        var peer = TestPeer(identity: author)
        var replica = Replica()
        guard case let .applied(list) = replica.receive(sealed: junk, contentKey: Fixtures.contentKey, nowMillis: .max) else {
            Issue.record("an authentic batch must be taken in")
            return
        }
        #expect(list.map(\.result) == [.ignored(.malformed(.unsupportedFormat(9)))])
        #expect(replica.vector[peer.id] == 1)
        // The author's next batch still applies.
        peer.replica = replica
        let next = try peer.commit([.say("still here")])
        #expect(next.batch.sequence == 2)
        #expect(peer.document.chat.count == 1)
    }

    @Test func aBatchWhoseCountersGoBackwardsIsIgnored() throws {
        var peer = TestPeer(identity: identities[0])
        try peer.commit([.say("one"), .say("two")])
        var draft = BatchDraft(
            author: peer.id, sequence: 2, startCounter: 1, previous: peer.document.digest(of: BatchID(author: peer.id, sequence: 1))!)
        try draft.append(.say("replayed counter"), at: Fixtures.t0)
        let sealed = try draft.seal(identity: peer.identity, epoch: 0, contentKey: Fixtures.contentKey, room: RoomAuthority.open.roomID)
        guard case let .applied(list) = peer.replica.receive(sealed) else {
            Issue.record("expected the batch to be taken in")
            return
        }
        #expect(list.map(\.result) == [.ignored(.countersNotIncreasing)])
        #expect(peer.document.chat.map(\.text) == ["one", "two"])
        #expect(peer.replica.vector[peer.id] == 2)
    }

    @Test func sealingWithAnotherIdentityIsRefused() throws {
        var draft = Document().draft(author: ReplicaID(identities[0].publicKey))
        try draft.append(.say("hi"), at: Fixtures.t0)
        #expect(throws: ReplicationError.identityMismatch) {
            try draft.seal(identity: identities[1], epoch: 0, contentKey: Fixtures.contentKey, room: RoomAuthority.open.roomID)
        }
    }

    @Test func rebuildingFromBatchesInAnyOrderGivesTheSameDocument() throws {
        var peers = identities.map { TestPeer(identity: $0) }
        let (item, _) = try shareAnItem(&peers)
        try peers[0].commit(.addMark(item: item, Mark(shape: .rectangle(Fixtures.point(0.1, 0.1), Fixtures.point(0.4, 0.6)), colour: Colour(rgba: 7))))
        try peers[0].commit(.say("hello"))
        let batches = try peers[0].store.keys.sorted().map {
            VerifiedBatch(opened: try BatchSealer.open(peers[0].store[$0]!, room: RoomAuthority.open.roomID, contentKey: Fixtures.contentKey(_:)))
        }
        #expect(batches.count == 3)
        #expect(Document(batches: batches.reversed()).stateHash == peers[0].document.stateHash)
        #expect(Document(batches: [batches[2], batches[0], batches[1], batches[0]]).stateHash == peers[0].document.stateHash)
        // Without the first batch nothing can apply: the rest waits for it.
        #expect(Document(batches: batches.dropFirst()).vector[peers[0].id] == 0)
    }
}

/// All orders of a short list (at most 6 elements: 720 orders).
func permutations<T>(_ items: [T]) -> [[T]] {
    precondition(items.count <= 6)
    guard items.count > 1 else { return [items] }
    return items.indices.flatMap { index in
        var rest = items
        let head = rest.remove(at: index)
        return permutations(rest).map { [head] + $0 }
    }
}
