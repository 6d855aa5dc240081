#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `poll(2)` against a deadline rather than a timeout.
public enum Poll {
    /// Waits until one of `descriptors` is readable (or reports an error or hang-up), or until
    /// `deadline`; after a signal it waits again for the time still left, so a signal neither
    /// cuts the wait short nor stretches it.
    ///
    /// - Returns: for each descriptor, whether it is ready; all false at the deadline.
    /// - Throws: `SocketError.system` if poll itself fails.
    public static func readable(
        _ descriptors: [Int32], until deadline: ContinuousClock.Instant, clock: ContinuousClock = ContinuousClock()
    ) throws(SocketError) -> [Bool] {
        var fds = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        while true {
            let ready = poll(&fds, nfds_t(fds.count), milliseconds(until: deadline, from: clock.now))
            if ready >= 0 { return fds.map { $0.revents != 0 } }
            guard errno == EINTR else { throw .system(call: "poll", errno: errno) }
        }
    }

    /// Whole milliseconds from `now` to `deadline`, rounded up (so the wait never ends just
    /// before the deadline and spins) and kept within what `poll` takes.
    static func milliseconds(until deadline: ContinuousClock.Instant, from now: ContinuousClock.Instant) -> Int32 {
        let parts = (deadline - now).components
        let milliseconds = parts.seconds * 1000 + (parts.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(0, milliseconds))
    }
}
