import CVPeerTestSupport
import Foundation
import PeerCrypto
import Primitives
import Rendezvous
import Replication
import Store
import Testing
import Transport

@testable import Node

/// What a linked member (or a damaged peer) can send the engine: garbage, truncated and oversized
/// messages, requests for chunks that do not exist, forged batches. All are dropped and counted;
/// the document does not change and nothing traps.
@Suite("The engine against hostile peers")
struct EngineHostileInputTests {
    @Test("20,000 random and mutated messages from a linked peer change nothing and are counted")
    func randomMessages() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let engine = setup.engine
        let room = setup.room
        try await engine.commit([.say("before")])
        let before = await engine.document.stateHash
        let peer = Identity.generate().publicKey
        await engine.handle(.linkUp(peer, path: .direct(.ipv4(127, 0, 0, 1, port: 9))))

        let seed = SeededRandom.seedFromEnvironmentOrRandom()
        print("engine hostile input seed \(seed) (CVPEER_TEST_SEED replays it)")
        var random = SeededRandom(seed: seed)
        // Well-formed shapes to mutate: a sync message, a chunk request, a chunk, a pointer.
        let key = BlobKey(id: random.bytes(32), count: 3)
        let samples: [[UInt8]] = [
            PeerMessage.sync((try? SyncMessageCodec.encode(SyncMessage(summary: []))) ?? []).encoded,
            PeerMessage.chunkRequest(key, indices: [0, 1, 2]).encoded,
            PeerMessage.chunk(key, index: 1, sealed: random.bytes(100)).encoded,
            PeerMessage.pointer(
                SignedPointer.make(
                    identity: Identity.generate(), roomTag: room.tag, stamp: 1, position: .init(counter: 1, replica: random.bytes(32), x: 1, y: 2))
            ).encoded,
        ]
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = samples[round / 2 % samples.count]
                let flips = Int.random(in: 1...4, using: &random)
                for _ in 0..<flips where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
                if Bool.random(using: &random) { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random))) }
            } else {
                bytes = random.bytes(Int.random(in: 0...300, using: &random))
            }
            if round % 3 == 0 {
                await engine.handle(.unreliable(peer, bytes))
            } else {
                await engine.handle(.message(peer, bytes))
            }
        }
        // A batch sealed with another room's key, in a well-formed sync message.
        let outsider = Identity.generate()
        var draft = Replica().draft(author: ReplicaID(outsider.publicKey))
        _ = try draft.append(.say("forged"), at: HLC(millis: 1, logical: 0))
        let elsewhere = RoomKeys.generate(owner: outsider.publicKey)
        let foreign = try draft.seal(identity: outsider, epoch: 0, contentKey: elsewhere.contentKey(epoch: 0), room: elsewhere.roomID)
        let sync = try SyncMessageCodec.encode(SyncMessage(summary: [], batches: [foreign.sealed]))
        await engine.handle(.message(peer, PeerMessage.sync(sync).encoded))

        #expect(await engine.document.stateHash == before)
        let counters = await engine.counters
        #expect(counters.malformedMessages > 1_000)
        #expect(counters.rejectedBatches >= 1)
        // And the engine still works.
        try await engine.commit([.say("after")])
        #expect(await engine.document.chat.map(\.text) == ["before", "after"])
    }

    @Test("messages from a peer that is not linked are ignored")
    func unlinkedPeer() async throws {
        let folder = NSTemporaryDirectory() + "cvpeer-hostile-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let me = Identity.generate()
        let engine = try RoomEngine(identity: me, room: RoomKeys.generate(owner: me.publicKey), store: Store(path: folder + "/store.sqlite"), nowMillis: 0)
        await engine.handle(.message(Identity.generate().publicKey, [99, 1, 2, 3]))
        #expect(await engine.counters.malformedMessages == 0)
    }
}

@Suite("Equivocation")
struct EquivocationTests {
    @Test("a member who signs two versions of one batch is proven by the heads in sync, named, and its branch left out; a copy sealed for another room accuses nobody")
    func twoVersionsOfOneBatch() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let engine = setup.engine
        let me = setup.identity
        let room = setup.room
        // The member links, so the owner's node admits it.
        let member = Identity.generate()
        await engine.handle(.linkUp(member.publicKey, path: .direct(.ipv4(127, 0, 0, 1, port: 9))))
        let empty = await engine.document.stateHash

        func batch(_ text: String, in keys: RoomKeys) throws -> SealedBatch {
            var draft = Replica().draft(author: ReplicaID(member.publicKey))
            _ = try draft.append(.say(text), at: HLC(millis: 1, logical: 0))
            return try draft.seal(identity: member, epoch: 0, contentKey: keys.contentKey(epoch: 0), room: keys.roomID)
        }
        func deliver(_ message: SyncMessage) async throws {
            await engine.handle(.message(member.publicKey, PeerMessage.sync(try SyncMessageCodec.encode(message)).encoded))
        }
        let first = try batch("first version", in: room)
        try await deliver(SyncMessage(summary: [], batches: [first.sealed]))
        #expect(await engine.document.chat.map(\.text) == ["first version"])
        // Another room's copy, even one naming another head, proves nothing here.
        let otherRoom = RoomKeys.generate(owner: me.publicKey)
        let foreign = try batch("other room", in: otherRoom)
        let id = ReplicaID(member.publicKey)
        try await deliver(SyncMessage(summary: [SummaryEntry(author: id, sequence: 1, head: foreign.batch.digest)], batches: [foreign.sealed]))
        #expect(await engine.equivocators.isEmpty)
        // A second authentic version: the summary names its head, the node asks for it, and the
        // two versions prove the equivocation.
        let second = try batch("second version", in: room)
        try await deliver(SyncMessage(summary: [SummaryEntry(author: id, sequence: 1, head: second.batch.digest)]))
        try await deliver(SyncMessage(summary: [], batches: [second.sealed]))
        #expect(await engine.equivocators == [id])
        #expect(await engine.counters.equivocations == 1)
        #expect(await engine.document.chat.isEmpty, "the equivocator's branch is left out")
        #expect(await engine.document.stateHash == empty)
        #expect(await engine.statusText().contains(id.hex))
    }
}
