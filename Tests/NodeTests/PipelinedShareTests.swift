import Foundation
import LocalAPI
import PeerCrypto
import Primitives
import Replication
import Store
import Testing
import Transport

@testable import Node

/// The pipelined share between real nodes in this process over UDP on 127.0.0.1: the item is
/// announced once its commitment is known, and peers fetch while the author still stores.
@Suite("Pipelined share between nodes", .serialized)
struct PipelinedShareTests {
    static let loopback = HostPort(host: "127.0.0.1", port: 0)

    static func plaintext(chunks: Int) -> [UInt8] {
        (0..<(chunks * BlobSealer.chunkSize + 321)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ $0 >> 13) }
    }

    /// Runs `body` with a list of started nodes, stopping them (with `await`) on every path.
    static func withNodes(_ body: (inout [NodeRuntime], String) async throws -> Void) async throws {
        let folder = NSTemporaryDirectory() + "cvpeer-pipeline-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var running: [NodeRuntime] = []
        do {
            try await body(&running, folder)
        } catch {
            for node in running.reversed() { await node.stop() }
            throw error
        }
        for node in running.reversed() { await node.stop() }
    }

    /// The blob of the one item on the author's panel, once announced.
    static func announced(_ node: NodeRuntime) async throws -> BlobRef {
        try await BlobPoisonTests.waitUntil(seconds: 15) { node.engine.shareGate.holding }
        let panel = await node.engine.document.panel
        guard case .media(let blob)? = panel.first?.fields[.media] else { throw NodeError.notFound("announced item") }
        return blob
    }

    @Test("a peer gets the item and the whole checked blob while the author has stored none of it; the author then holds it too")
    func fetchWhileStoring() async throws {
        try await Self.withNodes { running, folder in
            let ana = try await NodeRuntime.host(
                NodeOptions(dataFolder: try DataFolder(path: folder + "/ana"), role: .agent, name: "Ana", listen: Self.loopback))
            running.append(ana)
            let ben = try await NodeRuntime.join(
                ana.invite, options: NodeOptions(dataFolder: try DataFolder(path: folder + "/ben"), role: .customer, name: "Ben", listen: Self.loopback))
            running.append(ben)
            try await BlobPoisonTests.waitUntil(seconds: 15) { await ana.engine.summary().peers.count == 1 }

            let bytes = Self.plaintext(chunks: 48)
            ana.engine.shareGate.close()
            let engine = ana.engine
            let sharing = Task { try await engine.share(bytes: bytes, mime: "image/png", title: "Photo", price: nil) }
            let blob = try await Self.announced(ana)
            let hex = Hex.string(blob.id)
            try await BlobPoisonTests.waitUntil(seconds: 30) { await ben.engine.holdsWhole(blobHex: hex) }

            // Ben is done while Ana's share still waits before storing its first chunk.
            #expect(await ben.engine.holdsWhole(blobHex: hex))
            #expect(ana.engine.shareGate.holding)
            #expect(try await ana.engine.store.chunkIndices(room: ana.engine.room.tag, blob: blob.id).isEmpty)
            #expect(!(await ana.engine.holdsWhole(blobHex: hex)))
            #expect(try await ben.engine.blob(hex: hex).bytes == bytes)

            ana.engine.shareGate.open()
            let result = try await sharing.value
            #expect(result.blob == blob)
            #expect(await ana.engine.holdsWhole(blobHex: hex))
            #expect(try await ana.engine.blob(hex: hex).bytes == bytes)
            #expect(try await ana.engine.store.settingKeys(prefix: RoomEngine.sharingPrefix).isEmpty)
        }
    }

    @Test("while the author still stores, a member's forged chunks are refused and counted; the blob completes from the author's source")
    func forgedChunkDuringShare() async throws {
        try await Self.withNodes { running, folder in
            let ana = try await NodeRuntime.host(
                NodeOptions(dataFolder: try DataFolder(path: folder + "/ana"), role: .agent, name: "Ana", listen: Self.loopback))
            running.append(ana)
            let bytes = Self.plaintext(chunks: 40)
            ana.engine.shareGate.close()
            let engine = ana.engine
            let sharing = Task { try await engine.share(bytes: bytes, mime: "image/png", title: "Photo", price: nil) }
            let blob = try await Self.announced(ana)
            let honest = try #require(try await ana.engine.store.chunkHashes(room: ana.engine.room.tag, blob: blob.id, commitment: blob.commitment))

            // Mallory holds a copy sealed with the room's key around other bytes, marked as held.
            let malloryFolder = try DataFolder(path: folder + "/mallory")
            try BlobPoisonTests.seedPoisoned(malloryFolder, room: ana.engine.room, blob: blob, plaintext: bytes, honest: honest)
            let mallory = try await NodeRuntime.join(
                ana.invite, options: NodeOptions(dataFolder: malloryFolder, role: .guest, name: "Mallory", listen: Self.loopback))
            running.append(mallory)
            try await BlobPoisonTests.waitUntil(seconds: 15) { await mallory.engine.document.panel.count == 1 }

            // Ben's first link is to Mallory only; then he links to Ana, who has stored nothing yet.
            let viaMallory = try Invite(
                route: .direct, address: HostPort(host: "127.0.0.1", port: mallory.listenEndpoint.port), roomSecret: ana.engine.room.secret,
                owner: ana.engine.room.owner)
            let ben = try await NodeRuntime.join(
                viaMallory, options: NodeOptions(dataFolder: try DataFolder(path: folder + "/ben"), role: .customer, name: "Ben", listen: Self.loopback))
            running.append(ben)
            try await BlobPoisonTests.waitUntil(seconds: 15) { await ben.engine.counters.poisonedChunks > 0 }
            #expect(await ben.engine.counters.poisonedChunks > 0)
            ben.transport.connect(to: [ana.listenEndpoint])
            let hex = Hex.string(blob.id)
            try await BlobPoisonTests.waitUntil(seconds: 30) { await ben.engine.holdsWhole(blobHex: hex) }

            #expect(await ben.engine.holdsWhole(blobHex: hex))
            #expect(ana.engine.shareGate.holding, "Ana's share still waits before storing")
            #expect(try await ana.engine.store.chunkIndices(room: ana.engine.room.tag, blob: blob.id).isEmpty)
            #expect(try await ben.engine.blob(hex: hex).bytes == bytes)
            let blamed = await ben.engine.blobChecks.badPeers.keys.map { ReplicaID($0) }
            #expect(blamed == [mallory.engine.me], "only Mallory is counted as bad")

            ana.engine.shareGate.open()
            _ = try await sharing.value
            #expect(await ana.engine.holdsWhole(blobHex: hex))
        }
    }

    @Test("a share interrupted after its announcement is withdrawn at the next start: item removed, chunks and mark gone")
    func interruptedShareWithdrawn() async throws {
        try await Self.withNodes { running, folder in
            let ana = try await NodeRuntime.host(
                NodeOptions(dataFolder: try DataFolder(path: folder + "/ana"), role: .agent, name: "Ana", listen: Self.loopback))
            running.append(ana)
            // Ana announces, then stops before storing (as a crash would leave her store).
            let bytes = Self.plaintext(chunks: 8)
            ana.engine.shareGate.close()
            let engine = ana.engine
            let sharing = Task { try await engine.share(bytes: bytes, mime: "image/png", title: "Photo", price: nil) }
            let blob = try await Self.announced(ana)
            #expect(try await ana.engine.store.settingKeys(prefix: RoomEngine.sharingPrefix) == [RoomEngine.sharingPrefix + Hex.string(blob.id)])
            // The share stays held at the gate for good: like a killed process, it never stores a chunk.
            _ = sharing
            await ana.stop()
            running.removeAll()

            let again = try await NodeRuntime.host(
                NodeOptions(dataFolder: try DataFolder(path: folder + "/ana"), role: .agent, name: "Ana", listen: Self.loopback), resume: true)
            running.append(again)
            #expect(await again.engine.document.panel.isEmpty, "the item is withdrawn")
            #expect(try await again.engine.store.settingKeys(prefix: RoomEngine.sharingPrefix).isEmpty)
            #expect(try await again.engine.store.chunkIndices(room: again.engine.room.tag, blob: blob.id).isEmpty)
        }
    }
}
