import CVPeerTestSupport
import Foundation
import PeerCrypto
import Replication
import Rendezvous
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
        let folder = NSTemporaryDirectory() + "cvpeer-hostile-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let room = RoomKeys.generate()
        let engine = try RoomEngine(identity: Identity.generate(), room: room, store: Store(path: folder + "/store.sqlite"), nowMillis: 0)
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
            PeerMessage.sync((try? SyncMessageCodec.encode(SyncMessage(vector: VersionVector()))) ?? []).encoded,
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
        let foreign = try draft.seal(identity: outsider, epoch: 0, contentKey: RoomKeys.generate().contentKey(epoch: 0))
        let sync = try SyncMessageCodec.encode(SyncMessage(vector: VersionVector(), batches: [foreign.sealed]))
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
        let engine = try RoomEngine(identity: Identity.generate(), room: RoomKeys.generate(), store: Store(path: folder + "/store.sqlite"), nowMillis: 0)
        await engine.handle(.message(Identity.generate().publicKey, [99, 1, 2, 3]))
        #expect(await engine.counters.malformedMessages == 0)
    }
}

@Suite("Equivocation")
struct EquivocationTests {
    @Test("a member who signs two different batches under one number is named; a copy sealed for another room accuses nobody")
    func twoVersionsOfOneBatch() async throws {
        let folder = NSTemporaryDirectory() + "cvpeer-equivocation-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let room = RoomKeys.generate()
        let engine = try RoomEngine(identity: Identity.generate(), room: room, store: Store(path: folder + "/store.sqlite"), nowMillis: 0)
        let peer = Identity.generate().publicKey
        await engine.handle(.linkUp(peer, path: .direct(.ipv4(127, 0, 0, 1, port: 9))))

        let member = Identity.generate()
        func batch(_ text: String, key: SecretBytes) throws -> [UInt8] {
            var draft = Replica().draft(author: ReplicaID(member.publicKey))
            _ = try draft.append(.say(text), at: HLC(millis: 1, logical: 0))
            return try draft.seal(identity: member, epoch: RoomEngine.epoch, contentKey: key).sealed
        }
        func deliver(_ sealed: [UInt8]) async throws {
            let sync = try SyncMessageCodec.encode(SyncMessage(vector: VersionVector(), batches: [sealed]))
            await engine.handle(.message(peer, PeerMessage.sync(sync).encoded))
        }
        try await deliver(try batch("first version", key: room.contentKey(epoch: RoomEngine.epoch)))
        let hash = await engine.document.stateHash
        try await deliver(try batch("other room", key: RoomKeys.generate().contentKey(epoch: RoomEngine.epoch)))
        #expect(await engine.equivocators.isEmpty)
        try await deliver(try batch("second version", key: room.contentKey(epoch: RoomEngine.epoch)))
        #expect(await engine.equivocators == [ReplicaID(member.publicKey)])
        #expect(await engine.counters.equivocations == 1)
        #expect(await engine.document.stateHash == hash, "the first version stays")
        #expect(await engine.statusText().contains(ReplicaID(member.publicKey).hex))
    }
}
