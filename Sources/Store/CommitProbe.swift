/// The bare floor under a durable edit, for the node benchmark's reference: one single-row INSERT
/// per transaction, on a connection opened with the store's own pragmas (`Store.configure`), so
/// each `insert` waits for the same fsync a stored batch does and for nothing else of cvpeer's.
package final class CommitProbe {
    private let db: SQLiteConnection

    /// Opens (creating) a probe database at `path`.
    package init(path: String) throws {
        db = try SQLiteConnection(path: path)
        try Store.configure(db)
        try db.execute("CREATE TABLE IF NOT EXISTS probe (key INTEGER PRIMARY KEY, value BLOB NOT NULL)")
    }

    /// Inserts one row in a transaction of its own, committed durably before it returns.
    package func insert(key: Int64, value: [UInt8]) throws {
        try db.transaction {
            try db.statement("INSERT INTO probe (key, value) VALUES (?, ?)").bind(.integer(key), .blob(value)).run()
        }
    }
}
