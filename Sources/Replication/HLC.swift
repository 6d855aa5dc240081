/// A hybrid logical clock timestamp: wall-clock milliseconds plus a logical counter.
///
/// Close to real time (so "dwell time" and "time to purchase" mean something) yet never going
/// backwards on one node, even when the wall clock does. Ordering and ties in the document use
/// `OpID`, not this: timestamps only describe when things happened.
public struct HLC: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Milliseconds since the Unix epoch, as the author's clock (or a later one it had seen) said.
    public var millis: UInt64
    /// Distinguishes events within one millisecond.
    package var logical: UInt32

    /// The largest `millis` accepted: 2^48 ms is the year 10889, and keeps the value exact in JSON.
    package static let maxMillis: UInt64 = (1 << 48) - 1

    /// The zero timestamp.
    public static let zero = HLC(millis: 0, logical: 0)

    /// Creates a timestamp.
    public init(millis: UInt64, logical: UInt32) {
        self.millis = millis
        self.logical = logical
    }

    /// Orders by milliseconds, then logical counter.
    public static func < (lhs: HLC, rhs: HLC) -> Bool {
        (lhs.millis, lhs.logical) < (rhs.millis, rhs.logical)
    }

    public var description: String { "\(millis).\(logical)" }
}

/// The state of one node's hybrid logical clock.
///
/// A pure value: the caller passes the wall clock's reading in, so tests drive it with any time.
/// Not thread-safe; owned by the node's replication engine.
public struct HybridClock: Sendable {
    /// How far ahead of our wall clock a remote timestamp may be and still move our clock: a peer
    /// with a wrong (or hostile) clock must not drag everyone's timestamps into the future.
    package static let maxForwardSkewMillis: UInt64 = 60_000

    /// The latest timestamp issued or observed.
    public private(set) var latest: HLC

    /// Starts a clock that has seen nothing (or resumes after `latest`).
    public init(latest: HLC = .zero) {
        self.latest = latest
    }

    /// A timestamp for a local event, greater than every one issued or observed before.
    ///
    /// - Parameter wallMillis: the wall clock now, in milliseconds since the Unix epoch.
    public mutating func now(wallMillis: UInt64) -> HLC {
        let wall = min(wallMillis, HLC.maxMillis)
        if wall > latest.millis {
            latest = HLC(millis: wall, logical: 0)
        } else if latest.logical < UInt32.max {
            latest.logical += 1
        } else {
            // 4 billion events in one millisecond: borrow the next millisecond rather than wrap.
            latest = HLC(millis: min(latest.millis + 1, HLC.maxMillis), logical: 0)
        }
        return latest
    }

    /// Takes a remote timestamp into account, so later local events sort after it.
    ///
    /// - Returns: false if `remote` is too far ahead of `wallMillis` and was ignored.
    @discardableResult
    public mutating func observe(_ remote: HLC, wallMillis: UInt64) -> Bool {
        let (limit, overflow) = wallMillis.addingReportingOverflow(Self.maxForwardSkewMillis)
        guard overflow || remote.millis <= limit else { return false }
        if remote > latest { latest = remote }
        return true
    }
}
