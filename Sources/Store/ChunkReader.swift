import Synchronization

/// A second, read-only connection to a store's chunks and hash lists, for reading blobs off the
/// engine: in WAL mode it reads while the store's own connection writes (a transfer's chunks, a
/// batch), so a viewer streaming a video neither waits for those writes nor holds them up.
///
/// Thread-safe: calls are serialised on its one connection.
package final class ChunkReader: Sendable {
    private let connection: Mutex<SQLiteConnection>

    /// Opens a read-only connection to the store at `path` (which `Store` has created).
    package init(path: String) throws {
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA query_only=ON")
        connection = Mutex(db)
    }

    /// One stored chunk, or nil if it has not arrived.
    package func chunk(room: [UInt8], blob: [UInt8], index: Int) throws -> [UInt8]? {
        try connection.withLock { db in
            let query = try db.statement("SELECT data FROM chunks WHERE room = ? AND blob = ? AND idx = ?")
            try query.bind(.blob(room), .blob(blob), .integer(Int64(index)))
            return try query.firstRow { $0.blob(0) }
        }
    }

    /// The stored chunk-hash list of a blob commitment, not checked here.
    package func chunkHashes(room: [UInt8], blob: [UInt8], commitment: [UInt8]) throws -> [UInt8]? {
        try connection.withLock { db in
            let query = try db.statement("SELECT hashes FROM chunk_hashes WHERE room = ? AND blob = ? AND commitment = ?")
            try query.bind(.blob(room), .blob(blob), .blob(commitment))
            return try query.firstRow { $0.blob(0) }
        }
    }
}

extension Store {
    /// A read-only connection to this store's chunks (see `ChunkReader`).
    package func chunkReader() throws -> ChunkReader { try ChunkReader(path: path) }
}
