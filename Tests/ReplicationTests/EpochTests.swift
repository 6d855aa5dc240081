import CVPeerTestSupport
import PeerCrypto
import Testing

@testable import Replication

/// The owner's epoch changes in the merge: who may make them, what a removal leaves out on
/// every replica, and how they travel in a batch.
@Suite struct EpochTests {
    /// An epoch change from the owner of `room` removing `removed` (from one past what the owner
    /// holds of each) and sealing a fresh secret to every other member.
    static func change(_ room: OwnedRoom, epoch: UInt32, removing removed: [ReplicaID]) throws -> EpochChange {
        let owner = room.peers[0].document
        let secret = SecretBytes(randomCount: EpochSecretBox.secretLength)
        var boxes: [ReplicaID: [UInt8]] = [:]
        for member in owner.members.map(\.id) where !removed.contains(member) {
            boxes[member] = try EpochSecretBox.seal(secret, epoch: epoch, roomID: Fixtures.authority.roomID, to: member.publicKey)
        }
        return EpochChange(
            epoch: epoch, removed: removed.map { .init(member: $0, fromSequence: owner.vector[$0] + 1) }, boxes: boxes)
    }

    @Test func aRemovedMembersLaterBatchesCountNowhereEvenWhereTheyArrivedFirst() throws {
        var room = try OwnedRoom(roles: [.customer, .customer])
        let (ben, cleo) = (room.peers[1].id, room.peers[2].id)
        let before = try room.peers[2].commit([.say("before the removal")])
        for index in [0, 1] { room.peers[index].receive(sealed: before.sealed) }
        // Cleo writes on, concurrently with her removal; Ben takes her batch in before the removal.
        let after = try room.peers[2].commit([.say("after the removal")])
        room.peers[1].receive(sealed: after.sealed)
        #expect(room.peers[1].document.chat.map(\.text) == ["before the removal", "after the removal"])
        let removal = try room.peers[0].commit([.startEpoch(try Self.change(room, epoch: 1, removing: [cleo]))])
        room.peers[1].receive(sealed: removal.sealed)
        room.peers[0].receive(sealed: after.sealed)
        for index in [0, 1] {
            let document = room.peers[index].document
            #expect(document.chat.map(\.text) == ["before the removal"], "peer \(index)")
            #expect(document.currentEpoch == 1 && document.isRemoved(cleo) && !document.isAdmitted(cleo))
            #expect(!document.members.map(\.id).contains(cleo) && document.members.map(\.id).contains(ben))
            #expect(document.role(of: cleo) == nil)
        }
        #expect(room.peers[0].document.stateHash == room.peers[1].document.stateHash)
        // Her further batches are not even opened: they are excluded at the door.
        let later = try room.peers[2].commit([.say("still here?")])
        #expect(room.peers[0].replica.receive(sealed: later.sealed, contentKey: Fixtures.contentKey, nowMillis: .max) == .excluded)
        // Granting her again does not bring her back: a removed key stays out.
        let regrant = try room.peers[0].commit([.grantRole(member: cleo, role: .customer, fromSequence: 9)])
        room.peers[1].receive(sealed: regrant.sealed)
        #expect(!room.peers[1].document.isAdmitted(cleo))
    }

    @Test func onlyTheOwnerStartsAnEpochAndOnlyTheNextOne() throws {
        var room = try OwnedRoom(roles: [.agent, .customer])
        let change = try Self.change(room, epoch: 1, removing: [room.peers[2].id])
        // An agent is not the owner: its epoch change is rejected everywhere.
        let forged = try room.peers[1].commit([.startEpoch(change)])
        room.peers[0].receive(sealed: forged.sealed)
        #expect(room.peers[0].document.currentEpoch == 0)
        #expect(room.peers[0].document.rejectedOperations[room.peers[1].id] == 1)
        #expect(room.peers[0].document.isAdmitted(room.peers[2].id))
        // The owner cannot skip a number, nor remove itself.
        var skipped = change
        skipped.epoch = 2
        _ = try room.peers[0].commit([.startEpoch(skipped)])
        #expect(room.peers[0].document.currentEpoch == 0)
        let selfRemoval = EpochChange(epoch: 1, removed: [.init(member: room.peers[0].id, fromSequence: 9)], boxes: [:])
        _ = try room.peers[0].commit([.startEpoch(selfRemoval)])
        #expect(room.peers[0].document.currentEpoch == 0)
        _ = try room.peers[0].commit([.startEpoch(change)])
        #expect(room.peers[0].document.currentEpoch == 1)
        #expect(room.peers[0].document.epochChanges[1]?.change == change)
    }

    @Test func anEpochChangeRoundTripsAndMalformedOnesAreRefused() throws {
        let room = try OwnedRoom(roles: [.customer, .customer, .guest])
        let change = try Self.change(room, epoch: 7, removing: [room.peers[3].id])
        let operation = Operation(id: OpID(counter: 5, replica: room.peers[0].id), timestamp: Fixtures.t0, edit: .startEpoch(change))
        let payload = try BatchCodec.encode([operation], author: room.peers[0].id)
        #expect(try BatchCodec.decode(payload, author: room.peers[0].id) == [operation])
        var shortBox = change
        shortBox.boxes[room.peers[1].id] = [1, 2, 3]
        #expect(throws: ReplicationError.self) { try BatchCodec.encode([Operation(id: operation.id, timestamp: Fixtures.t0, edit: .startEpoch(shortBox))], author: room.peers[0].id) }
        var both = change
        both.boxes[room.peers[3].id] = change.boxes[room.peers[1].id]
        #expect(throws: ReplicationError.self) { try BatchCodec.encode([Operation(id: operation.id, timestamp: Fixtures.t0, edit: .startEpoch(both))], author: room.peers[0].id) }
        // Every truncation of the payload is refused, never a trap.
        for length in 0..<payload.count {
            #expect(throws: ReplicationError.self) { try BatchCodec.decode(Array(payload.prefix(length)), author: room.peers[0].id) }
        }
    }

    /// Random histories: members write while the owner removes some of them in successive epochs,
    /// batches delivered in random order with duplicates and losses: every replica that is still
    /// a member ends with the same state, and nothing a removed member wrote from its removal on
    /// shows anywhere.
    @Test(arguments: 0..<20) func removalsConvergeInRandomOrder(seed: UInt64) throws {
        var random = SeededRandom(seed: 7_000 + seed)
        var room = try OwnedRoom(roles: [.customer, .customer, .guest, .agent], seed: 700 + seed)
        var removedAt: [ReplicaID: UInt64] = [:]
        var epoch: UInt32 = 0
        for step in 0..<24 {
            let who = Int.random(in: 0..<room.peers.count, using: &random)
            if who == 0, step % 6 == 5 {
                let candidates = room.peers.dropFirst().map(\.id).filter { removedAt[$0] == nil }
                guard let target = candidates.randomElement(using: &random) else { continue }
                epoch += 1
                let change = try Self.change(room, epoch: epoch, removing: [target])
                removedAt[target] = change.removed[0].fromSequence
                _ = try room.peers[0].commit([.startEpoch(change)])
            } else {
                _ = try room.peers[who].commit([.say("\(step) by \(who)")])
            }
            // Some batches travel now, some later, some twice.
            let all = room.peers.flatMap { $0.store.values }.shuffled(using: &random)
            for index in room.peers.indices {
                for sealed in all where Bool.random(using: &random) { room.peers[index].receive(sealed: sealed) }
            }
        }
        room.flood(&random)
        let stayed = room.peers.indices.filter { removedAt[room.peers[$0].id] == nil }
        let hash = room.peers[stayed[0]].document.stateHash
        for index in stayed {
            let document = room.peers[index].document
            #expect(document.stateHash == hash, "seed \(seed): peer \(index) differs")
            #expect(document.currentEpoch == epoch)
            for (member, from) in removedAt {
                #expect(document.vector[member] < from, "seed \(seed): a removed member's batch from its removal on counted")
                #expect(!document.members.map(\.id).contains(member))
            }
        }
    }
}
