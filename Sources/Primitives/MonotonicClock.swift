#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The clocks every cvpeer state machine runs on, read in one place.
public enum MonotonicClock {
    /// Monotonic nanoseconds (CLOCK_MONOTONIC): timers, pacing, rate limits.
    public static func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Monotonic seconds, for code that keeps time as a Double.
    public static func seconds() -> Double {
        Double(nanoseconds()) / 1e9
    }

    /// The system's wall clock in milliseconds since 1970 (UTC): for handshake initiation timestamps only.
    public static func wallClockMilliseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(max(0, time.tv_sec)) * 1_000 + UInt64(time.tv_nsec) / 1_000_000
    }
}
