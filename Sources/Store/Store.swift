import PeerCrypto
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A node's durable store: one SQLite file in WAL mode holding rooms, sealed batches, blob chunks
/// and settings.
///
/// Everything that reaches the store is still sealed (batches, chunks) except the room secrets,
/// which is why the file is created with mode 0600 inside the 0700 data folder. Every write is a
/// transaction committed with `synchronous=FULL` before the call returns, so what a caller was told
/// is stored survives a crash or a power cut.
///
/// Thread-safe: calls are serialised on one connection.
public final class Store: Sendable {
    /// The schema this code writes; an older file is migrated, a newer one refused.
    /// 2 added the rooms' owner key; 3 added `chunk_hashes` (the verified chunk-hash lists of blob
    /// commitments).
    static let schemaVersion: Int64 = 3

    private let connection: Mutex<SQLiteConnection>
    /// The database file's path.
    public let path: String

    /// Opens or creates the store at `path` (created with mode 0600).
    ///
    /// - Throws: `StoreError` if the file cannot be opened, is not a cvpeer store, or is newer.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError.sqlite(path: path, message: String(cString: strerror(errno))) }
        close(fd)
        let db = try SQLiteConnection(path: path)
        try Self.configure(db)
        try Self.migrate(db)
        connection = Mutex(db)
    }

    /// The pragmas every store connection that writes runs with: WAL, and a commit is on disk
    /// (fsync'd) before it returns.
    static func configure(_ db: SQLiteConnection) throws {
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=FULL")
        try db.execute("PRAGMA foreign_keys=ON")
    }

    private static func migrate(_ db: SQLiteConnection) throws {
        let version = try db.statement("PRAGMA user_version")
        let current = try version.firstRow { $0.int(0) } ?? 0
        if current > schemaVersion {
            throw StoreError.newerSchema(path: db.path, found: current, supported: schemaVersion)
        }
        guard current < schemaVersion else { return }
        // Schema 1 held wave-1 rooms (no owner, batch format cvb1), which this version cannot open.
        // From 2, every step only adds tables, so creating what is missing migrates.
        if current == 1 { throw StoreError.olderSchema(path: db.path, found: current) }
        try db.transaction {
            try db.execute(
                """
                CREATE TABLE IF NOT EXISTS rooms (
                    tag BLOB PRIMARY KEY,
                    secret BLOB NOT NULL,
                    owner BLOB NOT NULL,
                    created_ms INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS batches (
                    room BLOB NOT NULL REFERENCES rooms(tag),
                    author BLOB NOT NULL,
                    seq INTEGER NOT NULL,
                    epoch INTEGER NOT NULL,
                    sealed BLOB NOT NULL,
                    PRIMARY KEY (room, author, seq)
                ) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS chunks (
                    room BLOB NOT NULL REFERENCES rooms(tag),
                    blob BLOB NOT NULL,
                    idx INTEGER NOT NULL,
                    data BLOB NOT NULL,
                    PRIMARY KEY (room, blob, idx)
                ) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS chunk_hashes (
                    room BLOB NOT NULL REFERENCES rooms(tag),
                    blob BLOB NOT NULL,
                    commitment BLOB NOT NULL,
                    hashes BLOB NOT NULL,
                    PRIMARY KEY (room, blob, commitment)
                ) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS settings (
                    key TEXT PRIMARY KEY,
                    value BLOB NOT NULL
                ) WITHOUT ROWID;
                PRAGMA user_version = \(schemaVersion);
                """)
        }
    }

    // MARK: Rooms

    /// Records a room and its secret; a room already stored is left as it is.
    public func addRoom(_ keys: RoomKeys, createdMillis: Int64) throws {
        try connection.withLock { db in
            try db.transaction {
                try db.statement("INSERT OR IGNORE INTO rooms (tag, secret, owner, created_ms) VALUES (?, ?, ?, ?)")
                    .bind(.blob(keys.tag), .blob(keys.secret.unsafeCopy()), .blob(keys.owner.bytes), .integer(createdMillis))
                    .run()
            }
        }
    }

    /// Every room this node has joined or hosted, oldest first.
    public func rooms() throws -> [StoredRoom] {
        try connection.withLock { db in
            let query = try db.statement("SELECT tag, secret, owner, created_ms FROM rooms ORDER BY created_ms, tag")
            var result: [StoredRoom] = []
            while try query.step() {
                var secret = query.blob(1)
                defer { Sodium.zero(&secret) }
                guard let owner = try? PublicKey(bytes: query.blob(2)) else {
                    throw StoreError.corrupt(path: path, reason: "room owner key")
                }
                let keys = try RoomKeys(secret: SecretBytes(copying: secret), owner: owner)
                guard keys.tag == query.blob(0) else { throw StoreError.corrupt(path: path, reason: "room tag mismatch") }
                result.append(StoredRoom(keys: keys, createdMillis: query.int(3)))
            }
            return result
        }
    }

    // MARK: Batches

    /// Stores sealed batches of `room` durably; returns how many were new (duplicates are ignored).
    ///
    /// The caller has verified each batch (BatchSealer.open) before handing it here.
    @discardableResult
    public func append(_ batches: [StoredBatch], room: [UInt8]) throws -> Int {
        guard !batches.isEmpty else { return 0 }
        return try connection.withLock { db in
            try db.transaction {
                var added = 0
                for batch in batches {
                    try db.statement("INSERT OR IGNORE INTO batches (room, author, seq, epoch, sealed) VALUES (?, ?, ?, ?, ?)")
                        .bind(
                            .blob(room), .blob(batch.author), .integer(Int64(bitPattern: batch.sequence)),
                            .integer(Int64(batch.epoch)), .blob(batch.sealed)
                        ).run()
                    added += db.changes
                }
                return added
            }
        }
    }

    /// Every stored batch of `room`, ordered by author then sequence.
    public func batches(room: [UInt8]) throws -> [StoredBatch] {
        try connection.withLock { db in
            let query = try db.statement("SELECT author, seq, epoch, sealed FROM batches WHERE room = ? ORDER BY author, seq")
            try query.bind(.blob(room))
            var result: [StoredBatch] = []
            while try query.step() {
                result.append(
                    StoredBatch(
                        author: query.blob(0), sequence: UInt64(bitPattern: query.int(1)), epoch: UInt32(truncatingIfNeeded: query.int(2)),
                        sealed: query.blob(3)))
            }
            return result
        }
    }

    /// The number of stored batches of `room`.
    package func batchCount(room: [UInt8]) throws -> Int {
        try connection.withLock { db in
            let query = try db.statement("SELECT COUNT(*) FROM batches WHERE room = ?")
            try query.bind(.blob(room))
            return try query.firstRow { Int($0.int(0)) } ?? 0
        }
    }

    // MARK: Blob chunks

    /// Stores one encrypted blob chunk durably (idempotent).
    package func putChunk(room: [UInt8], blob: [UInt8], index: Int, data: [UInt8]) throws {
        try connection.withLock { db in
            try db.transaction {
                try db.statement("INSERT OR IGNORE INTO chunks (room, blob, idx, data) VALUES (?, ?, ?, ?)")
                    .bind(.blob(room), .blob(blob), .integer(Int64(index)), .blob(data)).run()
            }
        }
    }

    /// Stores several encrypted chunks of one blob durably in one transaction (idempotent).
    public func putChunks(room: [UInt8], blob: [UInt8], chunks: [(index: Int, data: [UInt8])]) throws {
        guard !chunks.isEmpty else { return }
        try connection.withLock { db in
            try db.transaction {
                for chunk in chunks {
                    try db.statement("INSERT OR IGNORE INTO chunks (room, blob, idx, data) VALUES (?, ?, ?, ?)")
                        .bind(.blob(room), .blob(blob), .integer(Int64(chunk.index)), .blob(chunk.data)).run()
                }
            }
        }
    }

    /// One stored chunk, or nil if it has not arrived.
    public func chunk(room: [UInt8], blob: [UInt8], index: Int) throws -> [UInt8]? {
        try connection.withLock { db in
            let query = try db.statement("SELECT data FROM chunks WHERE room = ? AND blob = ? AND idx = ?")
            try query.bind(.blob(room), .blob(blob), .integer(Int64(index)))
            return try query.firstRow { $0.blob(0) }
        }
    }

    /// The indices of the chunks of `blob` already stored, ascending: what a resumed transfer skips.
    public func chunkIndices(room: [UInt8], blob: [UInt8]) throws -> [Int] {
        try connection.withLock { db in
            let query = try db.statement("SELECT idx FROM chunks WHERE room = ? AND blob = ? ORDER BY idx")
            try query.bind(.blob(room), .blob(blob))
            var result: [Int] = []
            while try query.step() { result.append(Int(query.int(0))) }
            return result
        }
    }

    /// Deletes stored chunks of `blob` (ones found not to match the blob's chunk hashes), durably.
    public func deleteChunks(room: [UInt8], blob: [UInt8], indices: [Int]) throws {
        guard !indices.isEmpty else { return }
        try connection.withLock { db in
            try db.transaction {
                for index in indices {
                    try db.statement("DELETE FROM chunks WHERE room = ? AND blob = ? AND idx = ?")
                        .bind(.blob(room), .blob(blob), .integer(Int64(index))).run()
                }
            }
        }
    }

    // MARK: Chunk hash lists

    /// Stores the chunk-hash list of a blob commitment (idempotent). The caller has checked that
    /// `hashes` hashes to `commitment`; the list is stored so this node can serve it and a resumed
    /// transfer needs no refetch.
    public func putChunkHashes(room: [UInt8], blob: [UInt8], commitment: [UInt8], hashes: [UInt8]) throws {
        try connection.withLock { db in
            try db.transaction {
                try db.statement("INSERT OR IGNORE INTO chunk_hashes (room, blob, commitment, hashes) VALUES (?, ?, ?, ?)")
                    .bind(.blob(room), .blob(blob), .blob(commitment), .blob(hashes)).run()
            }
        }
    }

    /// The stored chunk-hash list of a blob commitment, or nil if none is stored. Not checked
    /// again here: callers that trust it less than the store verify it against the commitment.
    public func chunkHashes(room: [UInt8], blob: [UInt8], commitment: [UInt8]) throws -> [UInt8]? {
        try connection.withLock { db in
            let query = try db.statement("SELECT hashes FROM chunk_hashes WHERE room = ? AND blob = ? AND commitment = ?")
            try query.bind(.blob(room), .blob(blob), .blob(commitment))
            return try query.firstRow { $0.blob(0) }
        }
    }

    // MARK: Settings

    /// Stores a local setting.
    public func setSetting(_ key: String, _ value: [UInt8]) throws {
        try connection.withLock { db in
            try db.transaction {
                try db.statement("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)").bind(.text(key), .blob(value)).run()
            }
        }
    }

    /// Removes a local setting (nothing happens if it was never set).
    public func removeSetting(_ key: String) throws {
        try connection.withLock { db in
            try db.transaction {
                try db.statement("DELETE FROM settings WHERE key = ?").bind(.text(key)).run()
            }
        }
    }

    /// The keys of the settings that start with `prefix`, in order.
    public func settingKeys(prefix: String) throws -> [String] {
        try connection.withLock { db in
            let query = try db.statement("SELECT key FROM settings WHERE substr(key, 1, ?) = ? ORDER BY key")
            try query.bind(.integer(Int64(prefix.utf8.count)), .text(prefix))
            var result: [String] = []
            while try query.step() { result.append(query.text(0)) }
            return result
        }
    }

    /// A local setting, or nil if never set.
    public func setting(_ key: String) throws -> [UInt8]? {
        try connection.withLock { db in
            let query = try db.statement("SELECT value FROM settings WHERE key = ?")
            try query.bind(.text(key))
            return try query.firstRow { $0.blob(0) }
        }
    }
}

/// A room as the store holds it.
public struct StoredRoom: Sendable {
    /// The room's keys, derived again from its stored secret.
    public let keys: RoomKeys
    /// When this node created or joined the room (Unix milliseconds).
    public let createdMillis: Int64
}

/// A sealed batch as stored: the verified header fields beside the sealed bytes.
public struct StoredBatch: Hashable, Sendable {
    /// The author's Ed25519 public key.
    public let author: [UInt8]
    /// The author's sequence number.
    public let sequence: UInt64
    /// The content-key epoch.
    public let epoch: UInt32
    /// The sealed bytes exactly as received or made.
    public let sealed: [UInt8]

    /// Creates a stored batch record.
    public init(author: [UInt8], sequence: UInt64, epoch: UInt32, sealed: [UInt8]) {
        self.author = author
        self.sequence = sequence
        self.epoch = epoch
        self.sealed = sealed
    }
}

/// Failures of the store, reported to the user in one line.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    /// SQLite reported an error (path, SQLite's message).
    case sqlite(path: String, message: String)
    /// The file was written by a newer cvpeer (path, found, supported).
    case newerSchema(path: String, found: Int64, supported: Int64)
    /// The file was written by an earlier cvpeer whose rooms this one cannot open (path, found).
    case olderSchema(path: String, found: Int64)
    /// The file's contents contradict themselves (path, reason).
    case corrupt(path: String, reason: String)

    public var description: String {
        switch self {
        case let .sqlite(path, message): "store \(path): \(message)"
        case let .newerSchema(path, found, supported):
            "store \(path) was written by a newer cvpeer (schema \(found), this one reads up to \(supported))"
        case let .olderSchema(path, found):
            "store \(path) was written by an earlier cvpeer (schema \(found)) whose rooms this one cannot open; move it aside and start again"
        case let .corrupt(path, reason): "store \(path) is corrupt: \(reason)"
        }
    }
}
