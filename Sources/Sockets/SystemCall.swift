#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a call of this module failed at; Rendezvous, Transport and the callers of `PrivateFile`
/// turn it into their own errors, so what people read stays as it was.
public enum SocketError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed (the call as messages name it, errno).
    case system(call: String, errno: Int32)
    /// A host did not resolve to an address (host, the resolver's reason).
    case cannotResolve(host: String, reason: String)

    /// The C library's text for a system call's errno; the description otherwise.
    public var reason: String {
        switch self {
        case .system(_, let code): SystemCall.errorText(code)
        case .cannotResolve(_, let reason): reason
        }
    }

    public var description: String {
        switch self {
        case .system(let call, let code): "\(call) failed: \(SystemCall.errorText(code)) (errno \(code))"
        case .cannotResolve(let host, let reason): "cannot resolve listen address \(host): \(reason)"
        }
    }
}

/// System calls the way every caller wants them: restarted after a signal, errors as values.
public enum SystemCall {
    /// Runs `call` again for as long as it fails with EINTR (a signal arrived first), and returns
    /// its first other result; errno is then the call's own.
    public static func retrying<Result: SignedInteger>(_ call: () -> Result) -> Result {
        while true {
            let result = call()
            if result != -1 || errno != EINTR { return result }
        }
    }

    /// Writes all of `bytes` to `descriptor`, restarting after signals and short writes.
    ///
    /// - Throws: `SocketError.system` with errno of the write that failed.
    public static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) throws(SocketError) {
        var offset = 0
        while offset < bytes.count {
            let written = retrying { write(descriptor, bytes.baseAddress! + offset, bytes.count - offset) }
            guard written >= 0 else { throw .system(call: "write", errno: errno) }
            offset += written
        }
    }

    /// A pipe whose write end wakes a loop waiting in poll on its read end: both ends
    /// non-blocking (a full pipe already means "wake up") and closed on exec.
    ///
    /// - Throws: `SocketError.system` if the pipe cannot be made.
    public static func wakePipe() throws(SocketError) -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw .system(call: "pipe", errno: errno) }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        return (ends[0], ends[1])
    }

    /// The C library's text for an errno value.
    package static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// `close(2)`, under a name the types' own `close` members do not shadow.
    public static func close(_ descriptor: Int32) {
        #if canImport(Glibc)
            _ = Glibc.close(descriptor)
        #else
            _ = Darwin.close(descriptor)
        #endif
    }
}
