import Foundation
import PeerCrypto
import Replication
import Store
import Testing

@testable import Node

/// The engine's side of receiving a blob: chunks in any order complete it, and chunks that open
/// but do not add up to the blob's id (a member's forgery) never make it whole.
@Suite("Receiving blobs")
struct BlobReceiveTests {
    struct Setup {
        let engine: RoomEngine
        let key: BlobKey
        let id: BlobID
        let folder: String
        let room: RoomKeys
    }

    /// An engine whose document shows an item with a blob of `size` bytes it does not hold.
    static func setup(plaintext: [UInt8]) async throws -> Setup {
        let folder = NSTemporaryDirectory() + "cvpeer-blob-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let room = RoomKeys.generate()
        let engine = try RoomEngine(identity: Identity.generate(), room: room, store: Store(path: folder + "/store.sqlite"), nowMillis: 0)
        let contentKey = room.contentKey(epoch: RoomEngine.epoch)
        let id = BlobSealer.blobID(for: plaintext, contentKey: contentKey)
        let blob = BlobRef(id: id.bytes, size: UInt64(plaintext.count), mime: "video/mp4")
        try await engine.commit([.createItem(kind: .video, position: .middle, fields: [.media(blob)])])
        let key = BlobKey(id: id.bytes, count: UInt32(BlobSealer.chunkCount(forSize: plaintext.count)))
        return Setup(engine: engine, key: key, id: id, folder: folder, room: room)
    }

    static func sealed(_ plaintext: [UInt8], index: Int, count: Int, id: BlobID, room: RoomKeys) -> [UInt8] {
        let start = index * BlobSealer.chunkSize
        let chunk = Array(plaintext[start..<min(start + BlobSealer.chunkSize, plaintext.count)])
        return BlobSealer.sealChunk(index: index, of: count, blobID: id, plaintext: chunk, contentKey: room.contentKey(epoch: RoomEngine.epoch))
    }

    @Test("a blob larger than what a node may share is never fetched; one of exactly that size is")
    func sizeLimit() async throws {
        let folder = NSTemporaryDirectory() + "cvpeer-blob-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let engine = try RoomEngine(identity: Identity.generate(), room: RoomKeys.generate(), store: Store(path: folder + "/store.sqlite"), nowMillis: 0)
        let largest = BlobRef(id: Array(repeating: 1, count: BlobID.length), size: UInt64(RoomEngine.maxBlobSize), mime: "video/mp4")
        let tooLarge = BlobRef(id: Array(repeating: 2, count: BlobID.length), size: UInt64(RoomEngine.maxBlobSize) + 1, mime: "video/mp4")
        try await engine.commit([
            .createItem(kind: .video, position: .middle, fields: [.media(largest)]),
            .createItem(kind: .video, position: .middle, fields: [.media(tooLarge)]),
        ])
        let fetching = await engine.transfers.transfers.keys.map(\.id)
        #expect(fetching == [largest.id])
    }

    @Test("chunks arriving in any order complete the blob, checked against its id", arguments: [false, true])
    func anyOrder(reversed: Bool) async throws {
        let plaintext = (0..<(5 * BlobSealer.chunkSize + 123)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let setup = try await Self.setup(plaintext: plaintext)
        defer { try? FileManager.default.removeItem(atPath: setup.folder) }
        let peer = Identity.generate().publicKey
        let count = Int(setup.key.count)
        let order = reversed ? Array((0..<count).reversed()) : Array(0..<count)
        for index in order {
            await setup.engine.receiveChunk(
                setup.key, index: UInt32(index), sealed: Self.sealed(plaintext, index: index, count: count, id: setup.id, room: setup.room),
                from: peer)
        }
        #expect(await setup.engine.holdsWhole(blobHex: Hex.string(setup.id.bytes)))
        #expect(try await setup.engine.blob(hex: Hex.string(setup.id.bytes)).bytes == plaintext)
    }

    @Test("chunks that open but carry other bytes never make the blob whole")
    func forgedContent() async throws {
        let plaintext = (0..<(3 * BlobSealer.chunkSize)).map { UInt8(truncatingIfNeeded: $0) }
        let setup = try await Self.setup(plaintext: plaintext)
        defer { try? FileManager.default.removeItem(atPath: setup.folder) }
        // A member seals other bytes under the announced id: every chunk opens, the whole does not match.
        var forged = plaintext
        forged[BlobSealer.chunkSize + 5] ^= 0xFF
        let peer = Identity.generate().publicKey
        for index in 0..<3 {
            await setup.engine.receiveChunk(
                setup.key, index: UInt32(index), sealed: Self.sealed(forged, index: index, count: 3, id: setup.id, room: setup.room), from: peer)
        }
        #expect(await !setup.engine.holdsWhole(blobHex: Hex.string(setup.id.bytes)))
        #expect(await setup.engine.corruptBlobs.contains(setup.id.bytes))
        await #expect(throws: NodeError.self) { try await setup.engine.blob(hex: Hex.string(setup.id.bytes)) }
    }

    @Test("a chunk sealed for another index or blob is rejected and counted")
    func misplacedChunk() async throws {
        let plaintext = (0..<(2 * BlobSealer.chunkSize)).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        let setup = try await Self.setup(plaintext: plaintext)
        defer { try? FileManager.default.removeItem(atPath: setup.folder) }
        let peer = Identity.generate().publicKey
        await setup.engine.receiveChunk(
            setup.key, index: 1, sealed: Self.sealed(plaintext, index: 0, count: 2, id: setup.id, room: setup.room), from: peer)
        #expect(await setup.engine.counters.rejectedChunks == 1)
        #expect(await !setup.engine.holdsWhole(blobHex: Hex.string(setup.id.bytes)))
    }
}
