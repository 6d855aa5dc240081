import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file only its owner may read (mode 0600), written under a temporary name in the target's
/// folder and given its name only when whole, so a reader (or a crash) never sees half of it.
///
/// Thread-safe: pieces may be appended from any thread, one at a time.
public final class PrivateFile: Sendable {
    /// Where the file goes.
    public let path: String
    /// The temporary file beside it, removed unless the file is put in place.
    package let temporaryPath: String
    private let descriptor: Int32
    private let state = Mutex((written: Int64(0), open: true, placed: false))
    /// Tells apart the temporary files of several writers in one process.
    private static let counter = Atomic(0)

    /// Creates the temporary file in `path`'s folder, so the final rename stays on one file system.
    ///
    /// - Throws: `SocketError.system` if it cannot be created.
    public init(writingTo path: String) throws(SocketError) {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let number = Self.counter.add(1, ordering: .relaxed).newValue
        let temporary = folder + ".\(name).cvpeer-\(getpid())-\(number).part"
        temporaryPath = temporary
        // A leftover of a crashed process with the same pid would make O_EXCL fail; O_EXCL itself
        // refuses to follow a symlink someone planted at the temporary name.
        unlink(temporary)
        descriptor = SystemCall.retrying { open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        guard descriptor >= 0 else { throw .system(call: "open", errno: errno) }
        // The umask could have narrowed 0600 but never widens it; this pins it whatever the umask.
        fchmod(descriptor, 0o600)
    }

    /// Bytes appended so far.
    public var written: Int64 { state.withLock { $0.written } }

    /// Appends one piece.
    ///
    /// - Throws: `SocketError.system` if a write failed.
    public func append(_ bytes: UnsafeRawBufferPointer) throws(SocketError) {
        try SystemCall.writeAll(descriptor, bytes)
        state.withLock { $0.written += Int64(bytes.count) }
    }

    /// Gives the file its name: replacing an existing file only if `replacing`. With `durable` the
    /// contents and the new name are flushed to disk, for files worth more than one run.
    ///
    /// - Returns: false, placing nothing, if a file is there and `replacing` is false.
    /// - Throws: `SocketError.system` if a step failed.
    @discardableResult
    public func commit(replacing: Bool, durable: Bool) throws(SocketError) -> Bool {
        if durable, fsync(descriptor) != 0 { throw .system(call: "fsync", errno: errno) }
        if let failure = closeOnce() { throw failure }
        if replacing {
            guard rename(temporaryPath, path) == 0 else { throw .system(call: "rename", errno: errno) }
        } else if link(temporaryPath, path) != 0 {
            // link() is the portable "create only if absent"; a file system without hard links gets a
            // check-then-rename, racy only against someone creating the same file in that instant.
            let reason = errno
            guard reason != EEXIST else { return false }
            guard access(path, F_OK) != 0, rename(temporaryPath, path) == 0 else {
                throw .system(call: "link", errno: reason)
            }
        }
        state.withLock { $0.placed = true }
        if !replacing { unlink(temporaryPath) }
        if durable { Self.syncFolder(of: path) }
        return true
    }

    /// Removes the temporary file unless the file was put in place; safe to call more than once.
    public func discard() {
        _ = closeOnce()
        if !state.withLock({ $0.placed }) { unlink(temporaryPath) }
    }

    deinit {
        discard()
    }

    /// Writes `bytes` to `path` in one go: see `commit(replacing:durable:)`. Nothing is left
    /// behind when it fails.
    @discardableResult
    public static func write(_ bytes: [UInt8], to path: String, replacing: Bool, durable: Bool) throws(SocketError) -> Bool {
        let file = try PrivateFile(writingTo: path)
        defer { file.discard() }
        // withUnsafeBytes only rethrows untyped errors: the failure is carried out by hand.
        let failure = bytes.withUnsafeBytes { bytes -> SocketError? in
            do throws(SocketError) {
                try file.append(bytes)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
        return try file.commit(replacing: replacing, durable: durable)
    }

    private func closeOnce() -> SocketError? {
        let wasOpen = state.withLock { state in
            defer { state.open = false }
            return state.open
        }
        guard wasOpen, close(descriptor) != 0 else { return nil }
        return .system(call: "close", errno: errno)
    }

    /// Flushes the folder holding `path`, so the new name survives a crash (best effort: not
    /// every file system lets a folder be opened for that).
    private static func syncFolder(of path: String) {
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        SystemCall.close(fd)
    }
}
