import Foundation
import PeerCrypto
import Primitives
import Replication
import Testing

@testable import Node
@testable import Store

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

    /// The chunk hashes of `plaintext` (concatenated) and the commitment to them.
    static func commitment(to plaintext: [UInt8], room: RoomKeys) -> (hashes: [UInt8], commitment: [UInt8]) {
        let hasher = BlobChunkHasher(contentKey: room.contentKey(epoch: 0))
        let count = BlobSealer.chunkCount(forSize: plaintext.count)
        var hashes: [UInt8] = []
        for index in 0..<count {
            let start = index * BlobSealer.chunkSize
            hashes += hasher.hash(Array(plaintext[start..<min(start + BlobSealer.chunkSize, plaintext.count)]))
        }
        return (hashes, BlobCommitment.commitment(hashes: hashes, chunkCount: count))
    }

    /// An engine whose document shows an item with a blob of `plaintext` it does not hold, whose
    /// chunk-hash list (of `committed`, the author's bytes, by default the same) it already holds.
    static func setup(plaintext: [UInt8], committed: [UInt8]? = nil) async throws -> Setup {
        let owned = try OwnedEngine()
        let (engine, room, folder) = (owned.engine, owned.room, owned.folder)
        let contentKey = room.contentKey(epoch: 0)
        let id = BlobSealer.blobID(for: plaintext, contentKey: contentKey)
        let list = commitment(to: committed ?? plaintext, room: room)
        try await engine.store.putChunkHashes(room: room.tag, blob: id.bytes, commitment: list.commitment, hashes: list.hashes)
        let blob = BlobRef(id: id.bytes, size: UInt64(plaintext.count), mime: "video/mp4", commitment: list.commitment)
        try await engine.commit([.createItem(kind: .video, position: .middle, fields: [.media(blob)])])
        let key = BlobKey(id: id.bytes, count: UInt32(BlobSealer.chunkCount(forSize: plaintext.count)))
        return Setup(engine: engine, key: key, id: id, folder: folder, room: room)
    }

    static func sealed(_ plaintext: [UInt8], index: Int, count: Int, id: BlobID, room: RoomKeys) -> [UInt8] {
        let start = index * BlobSealer.chunkSize
        let chunk = Array(plaintext[start..<min(start + BlobSealer.chunkSize, plaintext.count)])
        return BlobSealer.sealChunk(index: index, of: count, blobID: id, plaintext: chunk, contentKey: room.contentKey(epoch: 0))
    }

    @Test("a blob larger than what a node may share is never fetched; one of exactly that size is")
    func sizeLimit() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let engine = setup.engine
        let commitment = Array(repeating: UInt8(3), count: BlobCommitment.length)
        let largest = BlobRef(
            id: Array(repeating: 1, count: BlobID.length), size: UInt64(RoomEngine.maxBlobSize), mime: "video/mp4", commitment: commitment)
        let tooLarge = BlobRef(
            id: Array(repeating: 2, count: BlobID.length), size: UInt64(RoomEngine.maxBlobSize) + 1, mime: "video/mp4", commitment: commitment)
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

    @Test("chunks that open and match a hostile author's commitment but not the id never make the blob whole")
    func forgedContent() async throws {
        let plaintext = (0..<(3 * BlobSealer.chunkSize)).map { UInt8(truncatingIfNeeded: $0) }
        var forged = plaintext
        forged[BlobSealer.chunkSize + 5] ^= 0xFF
        // The author commits to other bytes than the id names: every chunk opens and matches the
        // list, only the whole does not match.
        let setup = try await Self.setup(plaintext: plaintext, committed: forged)
        defer { try? FileManager.default.removeItem(atPath: setup.folder) }
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

    @Test("a chunk that opens under the room key but does not match the author's hash is refused, not stored, and counted against its peer")
    func poisonedChunk() async throws {
        let plaintext = (0..<(3 * BlobSealer.chunkSize + 17)).map { UInt8(truncatingIfNeeded: $0 &* 5) }
        let setup = try await Self.setup(plaintext: plaintext)
        defer { try? FileManager.default.removeItem(atPath: setup.folder) }
        var poisoned = plaintext
        poisoned[BlobSealer.chunkSize + 9] ^= 0x40
        let (mallory, honest) = (Identity.generate().publicKey, Identity.generate().publicKey)
        await setup.engine.receiveChunk(
            setup.key, index: 1, sealed: Self.sealed(poisoned, index: 1, count: 4, id: setup.id, room: setup.room), from: mallory)
        await setup.engine.flushChunks()
        #expect(await setup.engine.counters.poisonedChunks == 1)
        #expect(await setup.engine.counters.rejectedChunks == 0, "it opened: only the hash refuses it")
        #expect(await setup.engine.blobChecks.badPeers[mallory] == 1)
        #expect(await setup.engine.blobChecks.badPeers[honest] == nil)
        #expect(try await setup.engine.store.chunk(room: setup.room.tag, blob: setup.id.bytes, index: 1) == nil)
        #expect(await setup.engine.transfers.wants(setup.key, index: 1))
        #expect(await setup.engine.transfers.transfers[setup.key]?.distrusted[mallory] != nil)
        for index in 0..<4 {
            await setup.engine.receiveChunk(
                setup.key, index: UInt32(index), sealed: Self.sealed(plaintext, index: index, count: 4, id: setup.id, room: setup.room),
                from: honest)
        }
        #expect(try await setup.engine.blob(hex: Hex.string(setup.id.bytes)).bytes == plaintext)
        let status = try JSONSerialization.jsonObject(with: Data((await setup.engine.statusText()).utf8)) as? [String: Any]
        #expect(status?["blobChecks"] as? [String: Int] == ["poisonedChunks": 1, "badHashLists": 0, "repairedChunks": 0])
    }

    @Test("no chunk is taken before the blob's hash list is verified")
    func noChunkWithoutList() async throws {
        let plaintext = (0..<(2 * BlobSealer.chunkSize)).map { UInt8(truncatingIfNeeded: $0 &* 11) }
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let engine = setup.engine
        let room = setup.room
        let id = BlobSealer.blobID(for: plaintext, contentKey: room.contentKey(epoch: 0))
        let list = Self.commitment(to: plaintext, room: room)
        let blob = BlobRef(id: id.bytes, size: UInt64(plaintext.count), mime: "image/png", commitment: list.commitment)
        try await engine.commit([.createItem(kind: .image, position: .middle, fields: [.media(blob)])])
        let key = BlobKey(id: id.bytes, count: 2)
        await engine.receiveChunk(key, index: 0, sealed: Self.sealed(plaintext, index: 0, count: 2, id: id, room: room), from: Identity.generate().publicKey)
        #expect(await engine.counters.unwantedChunks == 1)
        await engine.flushChunks()
        #expect(try await engine.store.chunkIndices(room: room.tag, blob: id.bytes).isEmpty)
    }

    @Test("the commitment made while sharing equals the one recomputed from the stored chunks, and the list is stored", arguments: [false, true])
    func shareCommitment(fromFile: Bool) async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let engine = setup.engine
        let folder = setup.folder
        let room = setup.room
        let plaintext = (0..<(4 * BlobSealer.chunkSize + 1000)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        let contentKey = room.contentKey(epoch: 0)
        let result: RoomEngine.ShareResult
        if fromFile {
            let path = folder + "/upload"
            #expect(FileManager.default.createFile(atPath: path, contents: Data(plaintext)))
            result = try await engine.share(
                file: path, size: plaintext.count, id: BlobSealer.blobID(for: plaintext, contentKey: contentKey), mime: "image/png", title: nil,
                price: nil)
        } else {
            result = try await engine.share(bytes: plaintext, mime: "image/png", title: nil, price: nil)
        }
        guard let id = BlobID(bytes: result.blob.id) else { throw NodeError.notFound("blob") }
        let hasher = BlobChunkHasher(contentKey: contentKey)
        var hashes: [UInt8] = []
        for index in 0..<5 {
            let sealed = try #require(try await engine.store.chunk(room: room.tag, blob: id.bytes, index: index))
            hashes += hasher.hash(try BlobSealer.openChunk(index: index, of: 5, blobID: id, sealed: sealed, contentKey: contentKey))
        }
        #expect(result.blob.commitment == BlobCommitment.commitment(hashes: hashes, chunkCount: 5))
        #expect(result.blob.commitment == Self.commitment(to: plaintext, room: room).commitment)
        #expect(try await engine.store.chunkHashes(room: room.tag, blob: id.bytes, commitment: result.blob.commitment) == hashes)
    }

    @Test("sharing a file whose store holds a poisoned chunk of it replaces the chunk instead of committing to it")
    func shareReplacesPoisonedChunk() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let engine = setup.engine
        let room = setup.room
        let plaintext = (0..<(2 * BlobSealer.chunkSize)).map { UInt8(truncatingIfNeeded: $0 &* 17) }
        let id = BlobSealer.blobID(for: plaintext, contentKey: room.contentKey(epoch: 0))
        var poisoned = plaintext
        poisoned[3] ^= 1
        try await engine.store.putChunk(room: room.tag, blob: id.bytes, index: 0, data: Self.sealed(poisoned, index: 0, count: 2, id: id, room: room))
        let result = try await engine.share(bytes: plaintext, mime: "image/png", title: nil, price: nil)
        #expect(try await engine.blob(hex: Hex.string(result.blob.id)).bytes == plaintext)
    }

    @Test("a store holding a bad chunk repairs itself at the next start: the chunk is deleted and fetched again")
    func repairAtStart() async throws {
        let plaintext = (0..<(4 * BlobSealer.chunkSize)).map { UInt8(truncatingIfNeeded: $0 &* 19 &+ 3) }
        let setup = try await Self.setup(plaintext: plaintext)
        defer { try? FileManager.default.removeItem(atPath: setup.folder) }
        let peer = Identity.generate().publicKey
        for index in 0..<3 {
            await setup.engine.receiveChunk(
                setup.key, index: UInt32(index), sealed: Self.sealed(plaintext, index: index, count: 4, id: setup.id, room: setup.room), from: peer)
        }
        await setup.engine.flushChunks()
        // Chunk 1 is overwritten in SQLite with one that opens (a member sealed it) but holds other bytes.
        var poisoned = plaintext
        poisoned[BlobSealer.chunkSize + 100] ^= 0x01
        let bad = Self.sealed(poisoned, index: 1, count: 4, id: setup.id, room: setup.room)
        let db = try SQLiteConnection(path: setup.folder + "/store.sqlite")
        try db.statement("UPDATE chunks SET data = ? WHERE blob = ? AND idx = 1").bind(.blob(bad), .blob(setup.id.bytes)).run()
        #expect(try Store(path: setup.folder + "/store.sqlite").chunk(room: setup.room.tag, blob: setup.id.bytes, index: 1) == bad)

        // The next start: a new engine on the same store, and the scan `attach` runs.
        let restarted = try RoomEngine(
            identity: Identity.generate(), room: setup.room, store: Store(path: setup.folder + "/store.sqlite"), nowMillis: 0)
        await restarted.scanBlobs()
        #expect(await restarted.counters.repairedChunks == 1)
        #expect(try await restarted.store.chunkIndices(room: setup.room.tag, blob: setup.id.bytes) == [0, 2])
        #expect(await restarted.transfers.wants(setup.key, index: 1))
        #expect(await restarted.transfers.wants(setup.key, index: 3))
        #expect(await !restarted.transfers.wants(setup.key, index: 0))
        for index in [1, 3] {
            await restarted.receiveChunk(
                setup.key, index: UInt32(index), sealed: Self.sealed(plaintext, index: index, count: 4, id: setup.id, room: setup.room), from: peer)
        }
        #expect(await restarted.holdsWhole(blobHex: Hex.string(setup.id.bytes)))
        #expect(try await restarted.blob(hex: Hex.string(setup.id.bytes)).bytes == plaintext)
    }

    @Test("a blob found complete but not matching its id waits for its list, which finds the bad chunk to fetch again")
    func repairWhenComplete() async throws {
        let plaintext = (0..<(3 * BlobSealer.chunkSize)).map { UInt8(truncatingIfNeeded: $0 &* 23) }
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let engine = setup.engine
        let room = setup.room
        let id = BlobSealer.blobID(for: plaintext, contentKey: room.contentKey(epoch: 0))
        // Every chunk is in the store, chunk 2 poisoned, and no list yet (a store filled before
        // commitments were checked, or damaged since).
        var poisoned = plaintext
        poisoned[2 * BlobSealer.chunkSize] ^= 0x80
        try await engine.store.putChunks(
            room: room.tag, blob: id.bytes, chunks: (0..<3).map { ($0, Self.sealed($0 == 2 ? poisoned : plaintext, index: $0, count: 3, id: id, room: room)) })
        let list = Self.commitment(to: plaintext, room: room)
        let blob = BlobRef(id: id.bytes, size: UInt64(plaintext.count), mime: "image/png", commitment: list.commitment)
        try await engine.commit([.createItem(kind: .image, position: .middle, fields: [.media(blob)])])
        let key = BlobKey(id: id.bytes, count: 3)
        #expect(await !engine.holdsWhole(blobHex: Hex.string(id.bytes)))
        #expect(await !engine.corruptBlobs.contains(id.bytes), "not given up: the list may find the bad chunk")
        #expect(await engine.transfers.transfers[key]?.hashes == nil)
        await engine.listVerified(key, hashes: list.hashes)
        #expect(await engine.counters.repairedChunks == 1)
        #expect(await engine.transfers.wants(key, index: 2))
        #expect(await !engine.transfers.wants(key, index: 1))
        #expect(try await engine.store.chunkHashes(room: room.tag, blob: id.bytes, commitment: list.commitment) == list.hashes)
        await engine.receiveChunk(key, index: 2, sealed: Self.sealed(plaintext, index: 2, count: 3, id: id, room: room), from: Identity.generate().publicKey)
        #expect(try await engine.blob(hex: Hex.string(id.bytes)).bytes == plaintext)
    }

    @Test("an item naming the blob with a member's forged commitment does not stop the author's item from completing")
    func forgedCommitmentBesideTheTrueOne() async throws {
        let plaintext = (0..<(3 * BlobSealer.chunkSize)).map { UInt8(truncatingIfNeeded: $0 &* 29) }
        var forged = plaintext
        forged[BlobSealer.chunkSize + 1] ^= 0x10
        // The forged commitment's item comes first, so its transfer starts first.
        let setup = try await Self.setup(plaintext: plaintext, committed: forged)
        defer { try? FileManager.default.removeItem(atPath: setup.folder) }
        let honest = Self.commitment(to: plaintext, room: setup.room)
        try await setup.engine.store.putChunkHashes(room: setup.room.tag, blob: setup.id.bytes, commitment: honest.commitment, hashes: honest.hashes)
        let blob = BlobRef(id: setup.id.bytes, size: UInt64(plaintext.count), mime: "video/mp4", commitment: honest.commitment)
        try await setup.engine.commit([.createItem(kind: .video, position: .middle, fields: [.media(blob)])])
        let mallory = Identity.generate().publicKey
        for index in 0..<3 {
            await setup.engine.receiveChunk(
                setup.key, index: UInt32(index), sealed: Self.sealed(forged, index: index, count: 3, id: setup.id, room: setup.room), from: mallory)
        }
        // The forged whole did not match the id; the author's list then found chunk 1 bad.
        #expect(await !setup.engine.corruptBlobs.contains(setup.id.bytes))
        #expect(await setup.engine.transfers.transfers[setup.key]?.commitment == honest.commitment)
        #expect(await setup.engine.transfers.wants(setup.key, index: 1))
        #expect(await !setup.engine.transfers.wants(setup.key, index: 0))
        await setup.engine.receiveChunk(
            setup.key, index: 1, sealed: Self.sealed(plaintext, index: 1, count: 3, id: setup.id, room: setup.room), from: Identity.generate().publicKey)
        #expect(try await setup.engine.blob(hex: Hex.string(setup.id.bytes)).bytes == plaintext)
    }

    @Test("a blob held whole whose stored chunk is damaged later is found out when read, and fetched again")
    func damagedAfterVerification() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let engine = setup.engine
        let folder = setup.folder
        let owner = setup.identity
        let room = setup.room
        let plaintext = (0..<(2 * BlobSealer.chunkSize + 5)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let shared = try await engine.share(bytes: plaintext, mime: "image/png", title: nil, price: nil)
        let hex = Hex.string(shared.blob.id)
        let id = try #require(BlobID(bytes: shared.blob.id))
        var poisoned = plaintext
        poisoned[BlobSealer.chunkSize] ^= 0x02
        // Through the engine's own connection: a cached single-row read there holds its WAL
        // snapshot, so another connection's write would not be seen until the next start.
        try await engine.store.deleteChunks(room: room.tag, blob: shared.blob.id, indices: [1])
        try await engine.store.putChunk(room: room.tag, blob: shared.blob.id, index: 1, data: Self.sealed(poisoned, index: 1, count: 3, id: id, room: room))
        #expect(await engine.holdsWhole(blobHex: hex))
        await #expect(throws: NodeError.self) { try await engine.blob(hex: hex) }
        #expect(await !engine.holdsWhole(blobHex: hex))
        #expect(await engine.counters.repairedChunks == 1)
        let key = BlobKey(id: shared.blob.id, count: 3)
        #expect(await engine.transfers.wants(key, index: 1))
        // Not marked whole at the next start either.
        let restarted = try RoomEngine(identity: owner, room: room, store: Store(path: folder + "/store.sqlite"), nowMillis: 0)
        #expect(await !restarted.holdsWhole(blobHex: hex))
        await engine.receiveChunk(key, index: 1, sealed: Self.sealed(plaintext, index: 1, count: 3, id: id, room: room), from: Identity.generate().publicKey)
        #expect(try await engine.blob(hex: hex).bytes == plaintext)
    }
}
