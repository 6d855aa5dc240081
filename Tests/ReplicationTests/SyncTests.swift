import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// The hold-back buffer and the per-peer sync state machine, driven by scripted events.
@Suite struct SyncTests {
    let identities = Fixtures.identities(3)

    /// `count` sealed batches of one author, each one chat message.
    func batches(_ count: Int, by identity: Identity) throws -> [SealedBatch] {
        var peer = TestPeer(identity: identity)
        return try (1...count).map { try peer.commit([.say("message \($0)")]) }
    }

    @Test func outOfOrderBatchesWaitAndApplyWhenTheGapFills() throws {
        let sealed = try batches(3, by: identities[0]).map(\.sealed)
        let author = ReplicaID(identities[0].publicKey)
        var replica = Replica()
        #expect(replica.receive(sealed: sealed[2], contentKey: Fixtures.contentKey, nowMillis: .max) == .heldBack(waitingFor: 1))
        #expect(replica.receive(sealed: sealed[1], contentKey: Fixtures.contentKey, nowMillis: .max) == .heldBack(waitingFor: 1))
        #expect(replica.document.chat.isEmpty)
        #expect(replica.holdBack.count == 2)
        guard case let .applied(list) = replica.receive(sealed: sealed[0], contentKey: Fixtures.contentKey, nowMillis: .max) else {
            Issue.record("the first batch must apply")
            return
        }
        #expect(list.map(\.batch.batch.sequence) == [1, 2, 3])
        #expect(list.map(\.batch.sealed) == sealed)
        #expect(replica.vector[author] == 3)
        #expect(replica.holdBack.count == 0)
        #expect(replica.holdBack.byteCount == 0)
        #expect(replica.document.chat.map(\.text) == ["message 1", "message 2", "message 3"])
    }

    @Test func duplicatesAreIgnoredBeforeDecryption() throws {
        let sealed = try batches(2, by: identities[0]).map(\.sealed)
        var replica = Replica()
        _ = replica.receive(sealed: sealed[0], contentKey: Fixtures.contentKey, nowMillis: .max)
        _ = replica.receive(sealed: sealed[1], contentKey: Fixtures.contentKey, nowMillis: .max)
        let before = replica.document.stateHash
        // The content key closure is never consulted for a duplicate.
        #expect(replica.receive(sealed: sealed[0], contentKey: { _ in Issue.record("opened a duplicate"); return nil }, nowMillis: .max) == .duplicate)
        #expect(replica.receive(sealed: sealed[1], contentKey: Fixtures.contentKey, nowMillis: .max) == .duplicate)
        #expect(replica.document.stateHash == before)
    }

    @Test func aHeldBackDuplicateIsIgnored() throws {
        let sealed = try batches(3, by: identities[0]).map(\.sealed)
        var replica = Replica()
        #expect(replica.receive(sealed: sealed[2], contentKey: Fixtures.contentKey, nowMillis: .max) == .heldBack(waitingFor: 1))
        #expect(replica.receive(sealed: sealed[2], contentKey: Fixtures.contentKey, nowMillis: .max) == .duplicate)
        #expect(replica.holdBack.count == 1)
    }

    @Test func forgedOrForeignBatchesAreRejected() throws {
        var sealed = try batches(1, by: identities[0])[0].sealed
        var replica = Replica()
        let otherRoom = RoomKeys.generate(owner: Fixtures.owner.publicKey).contentKey(epoch: 0)
        #expect(replica.receive(sealed: sealed, contentKey: { _ in otherRoom }, nowMillis: .max) == .rejected(.authenticationFailed))
        #expect(replica.receive(sealed: sealed, contentKey: { _ in nil }, nowMillis: .max) == .rejected(.unknownEpoch(0)))
        sealed[sealed.count - 1] ^= 1
        #expect(replica.receive(sealed: sealed, contentKey: Fixtures.contentKey, nowMillis: .max) == .rejected(.authenticationFailed))
        #expect(replica.receive(sealed: [1, 2, 3], contentKey: Fixtures.contentKey, nowMillis: .max) == .rejected(.malformedBatch("too short (3 bytes)")))
        #expect(replica.vector.count == 0)
    }

    @Test func theHoldBackBufferRespectsItsBoundsAndEvictsTheFurthestBatch() throws {
        let all = try batches(12, by: identities[0])
        var replica = Replica(holdBackBounds: .init(maxBatches: 3, maxBytes: 1 << 20))
        for batch in all[1...].reversed() {
            _ = replica.receive(sealed: batch.sealed, contentKey: Fixtures.contentKey, nowMillis: .max)
            #expect(replica.holdBack.count <= 3)
        }
        // The closest three (sequences 2, 3, 4) survive; the rest were evicted or refused.
        #expect(replica.holdBack.ids.map(\.sequence) == [2, 3, 4])
        #expect(replica.receive(sealed: all[11].sealed, contentKey: Fixtures.contentKey, nowMillis: .max) == .dropped)
        guard case let .applied(list) = replica.receive(sealed: all[0].sealed, contentKey: Fixtures.contentKey, nowMillis: .max) else {
            Issue.record("the first batch must apply")
            return
        }
        #expect(list.count == 4)
        #expect(replica.holdBack.count == 0)
        // Sync delivers the rest later, in order.
        for batch in all[4...] { _ = replica.receive(sealed: batch.sealed, contentKey: Fixtures.contentKey, nowMillis: .max) }
        #expect(replica.vector[ReplicaID(identities[0].publicKey)] == 12)
    }

    @Test func theHoldBackBufferRespectsItsByteBound() throws {
        let all = try batches(10, by: identities[0])
        let size = all[1].sealed.count
        let bound = size * 3 + size / 2
        var replica = Replica(holdBackBounds: .init(maxBatches: 100, maxBytes: bound))
        for batch in all[1...] {
            _ = replica.receive(sealed: batch.sealed, contentKey: Fixtures.contentKey, nowMillis: .max)
            #expect(replica.holdBack.byteCount <= bound)
        }
        #expect(replica.holdBack.count == 3)
        var empty = Replica(holdBackBounds: .init(maxBatches: 0, maxBytes: 0))
        #expect(empty.receive(sealed: all[1].sealed, contentKey: Fixtures.contentKey, nowMillis: .max) == .dropped)
    }

    @Test func evictionPrefersTheAuthorFurthestBehind() throws {
        let a = try batches(3, by: identities[0])
        let b = try batches(6, by: identities[1])
        var replica = Replica(holdBackBounds: .init(maxBatches: 1, maxBytes: 1 << 20))
        #expect(replica.receive(sealed: b[5].sealed, contentKey: Fixtures.contentKey, nowMillis: .max) == .heldBack(waitingFor: 1))
        // a#3 is 3 away from applicable, b#6 is 6 away: b#6 makes room.
        #expect(replica.receive(sealed: a[2].sealed, contentKey: Fixtures.contentKey, nowMillis: .max) == .heldBack(waitingFor: 1))
        #expect(replica.holdBack.ids == [a[2].batch.id])
    }

    @Test func twoPeersSyncAndThenHaveNothingMoreToSend() throws {
        var alice = TestPeer(identity: identities[0])
        var bob = TestPeer(identity: identities[1])
        try alice.commit([.say("a1")])
        try alice.commit([.say("a2")])
        try bob.commit([.say("b1")])
        var exchanged = 0
        while true {
            var quiet = true
            if let message = try alice.syncMessage(for: 1) {
                try bob.receive(syncMessage: message, from: 0)
                quiet = false
            }
            if let message = try bob.syncMessage(for: 0) {
                try alice.receive(syncMessage: message, from: 1)
                quiet = false
            }
            exchanged += 1
            if quiet { break }
            #expect(exchanged < 10)
        }
        #expect(exchanged <= 4)
        #expect(alice.document.stateHash == bob.document.stateHash)
        #expect(alice.document.chat.count == 3)
        #expect(try alice.syncMessage(for: 1) == nil)
        #expect(try bob.syncMessage(for: 0) == nil)
    }

    @Test func aLostMessageIsHealedByTheTimer() throws {
        var alice = TestPeer(identity: identities[0])
        var bob = TestPeer(identity: identities[1])
        // Exchange vectors first.
        try bob.receive(syncMessage: try alice.syncMessage(for: 1)!, from: 0)
        try alice.receive(syncMessage: try bob.syncMessage(for: 0)!, from: 1)
        try alice.commit([.say("lost on the way")])
        let lost = try alice.syncMessage(for: 1)
        #expect(lost != nil)
        // Alice believes it was sent: nothing more until the timer.
        #expect(try alice.syncMessage(for: 1) == nil)
        alice.timerFired()
        let resent = try #require(try alice.syncMessage(for: 1))
        try bob.receive(syncMessage: resent, from: 0)
        #expect(bob.document.chat.map(\.text) == ["lost on the way"])
    }

    @Test func batchesAreForwardedOnBehalfOfOtherAuthors() throws {
        var alice = TestPeer(identity: identities[0])
        var bob = TestPeer(identity: identities[1])
        var carol = TestPeer(identity: identities[2])
        try alice.commit([.say("from alice")])
        // Alice talks only to Bob, Bob only to Carol.
        for _ in 0..<4 {
            if let m = try alice.syncMessage(for: 1) { try bob.receive(syncMessage: m, from: 0) }
            if let m = try bob.syncMessage(for: 0) { try alice.receive(syncMessage: m, from: 1) }
            if let m = try bob.syncMessage(for: 2) { try carol.receive(syncMessage: m, from: 1) }
            if let m = try carol.syncMessage(for: 1) { try bob.receive(syncMessage: m, from: 2) }
        }
        #expect(carol.document.chat.map(\.text) == ["from alice"])
        #expect(carol.replica.vector == alice.replica.vector)
    }

    @Test func aLargeBacklogTravelsInBoundedMessages() throws {
        var alice = TestPeer(identity: identities[0])
        var bob = TestPeer(identity: identities[1])
        for index in 0..<150 { try alice.commit([.say("line \(index)")]) }
        try alice.receive(syncMessage: try bob.syncMessage(for: 0)!, from: 1)
        var messages = 0
        while let bytes = try alice.syncMessage(for: 1) {
            let message = try SyncMessageCodec.decode(bytes)
            #expect(message.batches.count <= Limits.maxBatchesPerSyncMessage)
            try bob.receive(syncMessage: bytes, from: 0)
            messages += 1
        }
        #expect(messages == 3)
        #expect(bob.document.chat.count == 150)
    }

    @Test func aBatchTheStoreLacksStopsThatAuthorOnly() throws {
        var state = SyncState()
        let a = ReplicaID(identities[0].publicKey)
        let b = ReplicaID(identities[1].publicKey)
        var local = VersionVector()
        local.advance(a, to: 2)
        local.advance(b, to: 1)
        _ = state.receive(SyncMessage(vector: VersionVector()))
        let message = state.generateMessage(local: local) { id in id.author == a ? nil : [UInt8](repeating: 1, count: 200) }
        #expect(message?.batches.count == 1)
        #expect(message?.vector == local)
    }

    @Test func aNewPeerIsAnsweredWithOurVector() {
        var state = SyncState()
        var local = VersionVector()
        local.advance(ReplicaID(identities[0].publicKey), to: 1)
        #expect(state.generateMessage(local: local) { _ in nil } != nil)
        #expect(state.generateMessage(local: local) { _ in nil } == nil)
        // A restarted peer (fresh state on its side) tells us its vector: we announce ours again.
        var fresh = SyncState()
        _ = fresh.receive(SyncMessage(vector: VersionVector()))
        #expect(fresh.generateMessage(local: local) { _ in [UInt8](repeating: 0, count: 120) }?.batches.count == 1)
    }

    /// Regression: `peer[author] + 1` once overflowed when a peer claimed the last sequence number.
    @Test func aPeerClaimingTheLastSequenceNumberDoesNotCrashSync() {
        let author = ReplicaID(identities[0].publicKey)
        var claim = VersionVector()
        claim.advance(author, to: UInt64.max)
        var local = VersionVector()
        local.advance(author, to: 3)
        var state = SyncState()
        _ = state.receive(SyncMessage(vector: claim))
        let message = state.generateMessage(local: local) { _ in Issue.record("nothing to send"); return nil }
        #expect(message?.batches == [])
        #expect(state.generateMessage(local: local) { _ in nil } == nil)
    }

    @Test func aSealedBatchAboveOurLimitIsRefusedByEveryone() throws {
        let identity = identities[0]
        let payload = [UInt8](repeating: 0, count: Limits.maxBatchPayloadBytes + 1)
        let sealed = BatchSealer.seal(
            payload: payload, sequence: 1, epoch: 0, previous: BatchSealer.noPrevious, room: RoomAuthority.open.roomID,
            identity: identity, contentKey: Fixtures.contentKey
        ).sealed
        var replica = Replica()
        #expect(replica.receive(sealed: sealed, contentKey: Fixtures.contentKey, nowMillis: .max) == .rejected(.malformedBatch("too long")))
        #expect(replica.vector.count == 0)
    }
}
