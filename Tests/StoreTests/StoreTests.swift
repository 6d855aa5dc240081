import Foundation
import PeerCrypto
import Testing

@testable import Store

@Suite struct StoreTests {
    private func temporaryFile() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("cvpeer-store-\(UUID().uuidString).db").path
    }

    private func cleanUp(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    @Test func fileIsCreatedWithMode0600AndInWALMode() throws {
        let path = temporaryFile()
        defer { cleanUp(path) }
        let store = try Store(path: path)
        try store.setSetting("x", [1])
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // The write-ahead log exists only in WAL mode, while the store is open.
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        let walMode = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.posixPermissions] as? Int
        #expect(walMode == 0o600)
        withExtendedLifetime(store) {}
    }

    @Test func roomsBatchesChunksAndSettingsSurviveReopening() throws {
        let path = temporaryFile()
        defer { cleanUp(path) }
        let author = Identity.generate()
        let room = RoomKeys.generate(owner: author.publicKey)
        let key = room.contentKey(epoch: 0)
        let sealed = (1...5).map { seq in
            StoredBatch(
                author: author.publicKey.bytes, sequence: UInt64(seq), epoch: 0,
                sealed: BatchSealer.seal(
                    payload: [UInt8(seq)], sequence: UInt64(seq), epoch: 0, previous: BatchSealer.noPrevious, room: room.roomID,
                    identity: author, contentKey: key
                ).sealed)
        }
        do {
            let store = try Store(path: path)
            try store.addRoom(room, createdMillis: 1)
            #expect(try store.append(sealed, room: room.tag) == 5)
            #expect(try store.append(sealed, room: room.tag) == 0)
            try store.putChunk(room: room.tag, blob: [1, 2], index: 3, data: [9, 9])
            try store.setSetting("name", Array("Ana".utf8))
        }
        let reopened = try Store(path: path)
        let rooms = try reopened.rooms()
        #expect(rooms.count == 1)
        #expect(rooms[0].keys.secret == room.secret)
        #expect(try reopened.batches(room: room.tag) == sealed)
        #expect(try reopened.chunk(room: room.tag, blob: [1, 2], index: 3) == [9, 9])
        #expect(try reopened.chunk(room: room.tag, blob: [1, 2], index: 4) == nil)
        #expect(try reopened.chunkIndices(room: room.tag, blob: [1, 2]) == [3])
        #expect(try reopened.setting("name") == Array("Ana".utf8))
    }

    @Test func chunkHashListsSurviveReopeningAndBadChunksAndSettingsCanBeDeleted() throws {
        let path = temporaryFile()
        defer { cleanUp(path) }
        let room = RoomKeys.generate(owner: Identity.generate().publicKey)
        let blob = [UInt8](repeating: 9, count: 32)
        let (commitment, other) = ([UInt8](repeating: 1, count: 32), [UInt8](repeating: 2, count: 32))
        do {
            let store = try Store(path: path)
            try store.addRoom(room, createdMillis: 1)
            try store.putChunkHashes(room: room.tag, blob: blob, commitment: commitment, hashes: [1, 2, 3])
            try store.putChunkHashes(room: room.tag, blob: blob, commitment: commitment, hashes: [4])  // kept as first stored
            try store.putChunks(room: room.tag, blob: blob, chunks: [(0, [0]), (1, [1]), (2, [2])])
            try store.deleteChunks(room: room.tag, blob: blob, indices: [1, 7])
            try store.setSetting("whole", [1])
            try store.removeSetting("whole")
            try store.removeSetting("never set")
        }
        let store = try Store(path: path)
        #expect(try store.chunkHashes(room: room.tag, blob: blob, commitment: commitment) == [1, 2, 3])
        #expect(try store.chunkHashes(room: room.tag, blob: blob, commitment: other) == nil)
        #expect(try store.chunkIndices(room: room.tag, blob: blob) == [0, 2])
        #expect(try store.setting("whole") == nil)
    }

    @Test func aSchemaTwoStoreGainsTheChunkHashTable() throws {
        let path = temporaryFile()
        defer { cleanUp(path) }
        let room = RoomKeys.generate(owner: Identity.generate().publicKey)
        do {
            let store = try Store(path: path)
            try store.addRoom(room, createdMillis: 1)
            try store.putChunk(room: room.tag, blob: [1], index: 0, data: [5])
        }
        // What a schema-2 file looks like: no chunk_hashes table.
        do {
            let db = try SQLiteConnection(path: path)
            try db.execute("DROP TABLE chunk_hashes; PRAGMA user_version = 2;")
        }
        let store = try Store(path: path)
        #expect(try store.chunk(room: room.tag, blob: [1], index: 0) == [5])
        try store.putChunkHashes(room: room.tag, blob: [1], commitment: [2], hashes: [3])
        #expect(try store.chunkHashes(room: room.tag, blob: [1], commitment: [2]) == [3])
    }

    @Test func aSingleRowReadDoesNotHoldItsSnapshot() throws {
        let path = temporaryFile()
        defer { cleanUp(path) }
        let room = RoomKeys.generate(owner: Identity.generate().publicKey)
        let store = try Store(path: path)
        try store.addRoom(room, createdMillis: 1)
        try store.putChunk(room: room.tag, blob: [1], index: 0, data: [5])
        #expect(try store.chunk(room: room.tag, blob: [1], index: 0) == [5])
        // Another process's write (a second connection) must be seen by the next read: a statement
        // left on its row would keep the connection's read transaction, and the WAL, pinned.
        let other = try SQLiteConnection(path: path)
        try other.statement("INSERT INTO settings (key, value) VALUES (?, ?)").bind(.text("k"), .blob([7])).run()
        #expect(try store.setting("k") == [7])
    }

    @Test func aWaveOneStoreIsRefusedWithAClearError() throws {
        let path = temporaryFile()
        defer { cleanUp(path) }
        do { _ = try Store(path: path) }
        do {
            let db = try SQLiteConnection(path: path)
            try db.execute("PRAGMA user_version = 1;")
        }
        #expect(throws: StoreError.olderSchema(path: path, found: 1)) { try Store(path: path) }
    }

    @Test func aFileThatIsNotADatabaseGivesAClearError() throws {
        let path = temporaryFile()
        defer { cleanUp(path) }
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.self) { try Store(path: path) }
    }
}
