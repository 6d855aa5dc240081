import Foundation
import PeerCrypto
import Primitives
import Rendezvous
import Replication
import Store
import Testing
import Transport

@testable import Node

/// A hostile member serving chunks that open under the room key but carry other bytes, between
/// real nodes in this process over UDP on 127.0.0.1.
@Suite("Poisoned blob chunks between nodes", .serialized)
struct BlobPoisonTests {
    /// Fills a data folder's store, before its node starts, with a member's poisoned copy of a
    /// blob: the author's true hash list, every chunk sealed with the room's real content key
    /// (the project's own `BlobSealer`) around other bytes, and the blob marked as held so the
    /// node serves it instead of fetching it. No flag of the shipped binary does this.
    static func seedPoisoned(_ folder: DataFolder, room: RoomKeys, blob: BlobRef, plaintext: [UInt8], honest: [UInt8]) throws {
        let store = try Store(path: folder.storePath)
        try store.addRoom(room, createdMillis: 0)
        let contentKey = room.contentKey(epoch: 0)
        let id = try #require(BlobID(bytes: blob.id))
        let count = BlobSealer.chunkCount(forSize: plaintext.count)
        var chunks: [(index: Int, data: [UInt8])] = []
        for index in 0..<count {
            let start = index * BlobSealer.chunkSize
            var chunk = Array(plaintext[start..<min(start + BlobSealer.chunkSize, plaintext.count)])
            chunk[0] ^= 0x5A
            chunks.append((index, BlobSealer.sealChunk(index: index, of: count, blobID: id, plaintext: chunk, contentKey: contentKey)))
        }
        try store.putChunks(room: room.tag, blob: blob.id, chunks: chunks)
        try store.putChunkHashes(room: room.tag, blob: blob.id, commitment: blob.commitment, hashes: honest)
        try store.setSetting(RoomEngine.verifiedPrefix + Hex.string(blob.id), [1])
    }

    static func waitUntil(seconds: Double, _ condition: () async -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test("a member serving poisoned chunks is refused and counted; the file completes from the honest peer, byte for byte")
    func poisonedPeer() async throws {
        let folder = NSTemporaryDirectory() + "cvpeer-poison-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Nodes are stopped with `await` on every path: a semaphore in a `defer` would block a
        // cooperative thread, and with another such test running at once on two cores, deadlock.
        var running: [NodeRuntime] = []
        do {
            try await Self.poisonedPeer(folder: folder, running: &running)
        } catch {
            for node in running.reversed() { await node.stop() }
            throw error
        }
        for node in running.reversed() { await node.stop() }
    }

    private static func poisonedPeer(folder: String, running: inout [NodeRuntime]) async throws {
        let loopback = HostPort(host: "127.0.0.1", port: 0)
        let ana = try await NodeRuntime.host(
            NodeOptions(dataFolder: try DataFolder(path: folder + "/ana"), role: .agent, name: "Ana", listen: loopback))
        running.append(ana)
        let plaintext = (0..<(40 * BlobSealer.chunkSize + 777)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 16) }
        let shared = try await ana.engine.share(bytes: plaintext, mime: "image/png", title: "Photo", price: nil)
        let honest = try #require(
            try await ana.engine.store.chunkHashes(room: ana.engine.room.tag, blob: shared.blob.id, commitment: shared.blob.commitment))

        let malloryFolder = try DataFolder(path: folder + "/mallory")
        try seedPoisoned(malloryFolder, room: ana.engine.room, blob: shared.blob, plaintext: plaintext, honest: honest)
        let mallory = try await NodeRuntime.join(ana.invite, options: NodeOptions(dataFolder: malloryFolder, role: .guest, name: "Mallory", listen: loopback))
        running.append(mallory)
        try await waitUntil(seconds: 15) { await mallory.engine.document.panel.count == 1 }
        #expect(await mallory.engine.document.panel.count == 1)

        // Ben's first link is to Mallory, so she is surely asked; then he links to Ana too.
        let viaMallory = try Invite(
            route: .direct, address: HostPort(host: "127.0.0.1", port: mallory.listenEndpoint.port), roomSecret: ana.engine.room.secret, owner: ana.engine.room.owner)
        let ben = try await NodeRuntime.join(
            viaMallory, options: NodeOptions(dataFolder: try DataFolder(path: folder + "/ben"), role: .customer, name: "Ben", listen: loopback))
        running.append(ben)
        try await waitUntil(seconds: 15) { await ben.engine.counters.poisonedChunks > 0 }
        ben.transport.connect(to: [ana.listenEndpoint])
        let hex = Hex.string(shared.blob.id)
        try await waitUntil(seconds: 30) { await ben.engine.holdsWhole(blobHex: hex) }

        #expect(await ben.engine.holdsWhole(blobHex: hex))
        #expect(try await ben.engine.blob(hex: hex).bytes == plaintext)
        let poisoned = await ben.engine.counters.poisonedChunks
        #expect(poisoned > 0)
        let blamed = await ben.engine.blobChecks.badPeers.map { (ReplicaID($0.key), $0.value) }
        #expect(blamed.map(\.0) == [mallory.engine.me], "only Mallory is counted as bad")
        #expect(blamed.first?.1 == poisoned)
        // Nothing Mallory sent was kept: every stored chunk matches the author's list.
        let hasher = BlobChunkHasher(contentKey: ana.engine.room.contentKey(epoch: 0))
        let id = try #require(BlobID(bytes: shared.blob.id))
        let count = BlobSealer.chunkCount(forSize: plaintext.count)
        for index in 0..<count {
            let sealed = try #require(try await ben.engine.store.chunk(room: ana.engine.room.tag, blob: shared.blob.id, index: index))
            let opened = try BlobSealer.openChunk(
                index: index, of: count, blobID: id, sealed: sealed, contentKey: ana.engine.room.contentKey(epoch: 0))
            #expect(hasher.matches(opened, index: index, hashes: honest))
        }
        // Status shows who sent bad chunks.
        let status = try JSONSerialization.jsonObject(with: Data((await ben.engine.statusText()).utf8)) as? [String: Any]
        let peers = status?["peers"] as? [[String: Any]] ?? []
        let malloryEntry = peers.first { $0["id"] as? String == mallory.engine.me.hex }
        #expect(malloryEntry?["badChunks"] as? Int == poisoned)
    }
}
