#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An advisory lock on a file (`flock`), held until `release()` or the process ends: how one
/// process claims a data folder.
public struct FileLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock on `path`, creating the file (0600) if needed; nil if another holder has it.
    ///
    /// - Throws: `SocketError.system` if the file cannot be opened.
    public static func acquire(_ path: String) throws(SocketError) -> FileLock? {
        let fd = SystemCall.retrying { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw .system(call: "open", errno: errno) }
        guard SystemCall.retrying({ flock(fd, LOCK_EX | LOCK_NB) }) == 0 else {
            SystemCall.close(fd)
            return nil
        }
        return FileLock(descriptor: fd)
    }

    /// Gives the lock up; call once.
    public func release() {
        _ = flock(descriptor, LOCK_UN)
        SystemCall.close(descriptor)
    }
}
