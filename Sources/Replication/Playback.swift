/// An item's shared playback: whether it plays, where, and how fast, as of the operation that set it.
///
/// The reference time is that operation's timestamp (`HLC.millis`, the author's wall clock), so
/// while it plays the position now is `positionMillis + (now − set) × rate / 1000`. A timestamp
/// is at most `Limits.maxFutureMillis` ahead of any node that merged it, and a viewer never
/// extrapolates backwards nor past the video's end, so a skewed or hostile clock moves the
/// shared position, never anything else. Integers throughout, like the rest of the document.
public struct Playback: Hashable, Sendable {
    /// Rates in thousandths: a quarter to four times normal speed, what players offer.
    public static let rateRange: ClosedRange<UInt32> = 250...4000
    /// The normal rate.
    public static let normalRate: UInt32 = 1000

    /// True while it plays.
    public var playing: Bool
    /// The position in milliseconds from the start, at most `Limits.maxMediaMillis`.
    public var positionMillis: UInt64
    /// The rate in thousandths, within `rateRange`.
    public var rate: UInt32

    /// Creates a playback state; `validate` (on every append and decode) checks its bounds.
    public init(playing: Bool, positionMillis: UInt64, rate: UInt32 = Playback.normalRate) {
        self.playing = playing
        self.positionMillis = positionMillis
        self.rate = rate
    }

    func validate() throws(ReplicationError) {
        guard positionMillis <= Limits.maxMediaMillis else { throw .invalidValue("playback position") }
        guard Self.rateRange.contains(rate) else { throw .invalidValue("playback rate") }
    }
}

/// The time range of a video a mark is about, in milliseconds from the start; a point in time
/// has `start == end`.
public struct MarkSpan: Hashable, Sendable {
    /// The first millisecond.
    public var startMillis: UInt64
    /// The last millisecond, at or after `startMillis`, at most `Limits.maxMediaMillis`.
    public var endMillis: UInt64

    /// Creates a span; `validate` checks its bounds.
    public init(startMillis: UInt64, endMillis: UInt64) {
        self.startMillis = startMillis
        self.endMillis = endMillis
    }

    func validate() throws(ReplicationError) {
        guard startMillis <= endMillis, endMillis <= Limits.maxMediaMillis else { throw .invalidValue("mark time range") }
    }
}

/// An item's shared playback as the viewer shows it.
public struct PlaybackView: Hashable, Sendable {
    /// The state.
    public let playback: Playback
    /// The operation that set it: its author is who last played, paused or sought.
    public let id: OpID
    /// When it was set: the reference time of `playback.positionMillis`.
    public let updated: HLC

    /// Who set it.
    public var author: ReplicaID { id.replica }
}
