import CSQLite

/// A thin, safe layer over the system SQLite: one connection, prepared statements, typed errors.
///
/// Not thread-safe: a `SQLiteConnection` belongs to one owner (the `Store` actor or one thread).
final class SQLiteConnection {
    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    let path: String

    /// Opens (creating if needed) the database at `path`.
    init(path: String) throws {
        self.path = path
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw StoreError.sqlite(path: path, message: message)
        }
        handle = db
        // Wait rather than fail if another connection (a control command) holds a lock briefly.
        sqlite3_busy_timeout(db, 5_000)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? "error \(rc)"
            sqlite3_free(error)
            throw StoreError.sqlite(path: path, message: message)
        }
    }

    /// A cached prepared statement for `sql`, reset and ready to bind.
    func statement(_ sql: String) throws -> Statement {
        if let cached = statements[sql] {
            sqlite3_reset(cached)
            sqlite3_clear_bindings(cached)
            return Statement(handle: cached, connection: self)
        }
        var prepared: OpaquePointer?
        guard sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil) == SQLITE_OK,
            let prepared
        else { throw error() }
        statements[sql] = prepared
        return Statement(handle: prepared, connection: self)
    }

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws.
    func transaction<R>(_ body: () throws -> R) throws -> R {
        // Prepared once and kept, like every statement: on the path of each edit, parsing them
        // again each time is pure overhead.
        try statement("BEGIN IMMEDIATE").run()
        do {
            let result = try body()
            try statement("COMMIT").run()
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// The connection's last error as a `StoreError`.
    func error() -> StoreError {
        StoreError.sqlite(path: path, message: String(cString: sqlite3_errmsg(handle)))
    }

    /// Rows changed by the last statement.
    var changes: Int { Int(sqlite3_changes(handle)) }
}

/// A prepared statement borrowed from its connection's cache; valid until the next `statement` call.
struct Statement {
    let handle: OpaquePointer
    unowned let connection: SQLiteConnection

    /// Binds values to `?` parameters in order.
    @discardableResult
    func bind(_ values: SQLValue...) throws -> Statement {
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            let rc: Int32
            switch value {
            case let .integer(v): rc = sqlite3_bind_int64(handle, position, v)
            case let .text(v): rc = sqlite3_bind_text(handle, position, v, -1, sqliteTransient)
            case let .blob(v):
                rc = v.withUnsafeBytes { bytes in
                    // A zero-length blob must still bind as a blob, not NULL: give SQLite a valid pointer.
                    sqlite3_bind_blob(handle, position, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(v.count), sqliteTransient)
                }
            case .null: rc = sqlite3_bind_null(handle, position)
            }
            guard rc == SQLITE_OK else { throw connection.error() }
        }
        return self
    }

    /// Runs a statement that returns no rows.
    func run() throws {
        let rc = sqlite3_step(handle)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw connection.error() }
        sqlite3_reset(handle)
    }

    /// Steps to the next row; false when there are no more.
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error()
        }
    }

    /// The first row read by `read`, or nil; the statement is reset at once, because a statement
    /// left on a row keeps its read transaction open: the WAL could not be checkpointed past it.
    func firstRow<T>(_ read: (Statement) -> T) throws -> T? {
        defer { sqlite3_reset(handle) }
        return try step() ? read(self) : nil
    }

    /// Column `index` of the current row as an integer.
    func int(_ index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }

    /// Column `index` of the current row as text.
    func text(_ index: Int32) -> String {
        sqlite3_column_text(handle, index).map { String(cString: $0) } ?? ""
    }

    /// Column `index` of the current row as bytes.
    func blob(_ index: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, index))
        guard count > 0, let base = sqlite3_column_blob(handle, index) else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// True if column `index` of the current row is NULL.
    func isNull(_ index: Int32) -> Bool { sqlite3_column_type(handle, index) == SQLITE_NULL }
}

/// A value bound to a statement parameter.
enum SQLValue {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}

/// SQLite's SQLITE_TRANSIENT (copy the bound bytes now), which does not import as a constant.
private let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
