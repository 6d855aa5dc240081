/// NewReno congestion control (RFC 9002 §7) with a pacer, counted in bytes on the wire.
///
/// Slow start grows the window by every acknowledged byte; after the first loss, congestion
/// avoidance adds one datagram per window. A loss starts a recovery period (until a packet sent
/// after it is acknowledged) during which further losses do not shrink the window again, since
/// they are the same congestion event. Not thread-safe; owned by one `ReliableLink`.
public struct CongestionController: Equatable, Sendable {
    /// Bytes that may be in flight.
    package private(set) var window = Reliability.initialWindowPackets * Reliability.maxDatagramSize
    /// Above this the window grows linearly; `Int.max` until the first loss.
    package private(set) var slowStartThreshold = Int.max
    /// Bytes of ack-eliciting packets sent and neither acknowledged nor declared lost.
    package private(set) var bytesInFlight = 0
    /// Send time of the packet whose loss started the current recovery period.
    package private(set) var recoveryStartTime: UInt64?
    /// Losses that shrank the window.
    package private(set) var congestionEvents = 0

    private var pacerTokens = Double(Reliability.pacingBurstPackets * Reliability.maxDatagramSize)
    private var pacerUpdated: UInt64?

    /// The smallest the window gets.
    package static let minimumWindow = Reliability.minimumWindowPackets * Reliability.maxDatagramSize

    /// Starts in slow start with the initial window and a full pacing burst.
    public init() {}

    /// True if one more full datagram fits in the window.
    package var windowAllowsSending: Bool { bytesInFlight + Reliability.maxDatagramSize <= window }

    /// True while no loss has happened yet, or the window is below the threshold.
    package var inSlowStart: Bool { window < slowStartThreshold }

    /// Records an ack-eliciting packet of `bytes` sent at `now`.
    package mutating func packetSent(bytes: Int, now: UInt64, smoothedRTT: UInt64) {
        bytesInFlight += bytes
        refillPacer(now: now, smoothedRTT: smoothedRTT)
        pacerTokens -= Double(bytes)
    }

    /// Records an in-flight packet acknowledged; grows the window unless in recovery or the
    /// sender was not using it (`appLimited`), so idle links do not build a window they never tested.
    package mutating func packetAcked(bytes: Int, timeSent: UInt64, appLimited: Bool) {
        bytesInFlight -= bytes
        if let recoveryStartTime, timeSent <= recoveryStartTime { return }
        if appLimited { return }
        if inSlowStart {
            window += bytes
        } else {
            window += max(1, Reliability.maxDatagramSize * bytes / window)
        }
    }

    /// Takes a packet out of flight without an acknowledgement (declared lost).
    package mutating func removeFromFlight(bytes: Int) {
        bytesInFlight -= bytes
    }

    /// A congestion event: packets were lost, the newest of them sent at `largestLostTimeSent`.
    package mutating func packetsLost(largestLostTimeSent: UInt64, now: UInt64) {
        if let recoveryStartTime, largestLostTimeSent <= recoveryStartTime { return }
        recoveryStartTime = now
        congestionEvents += 1
        slowStartThreshold = max(window / Reliability.lossReductionDivisor, Self.minimumWindow)
        window = slowStartThreshold
    }

    /// The earliest time pacing lets the next full datagram leave: tokens refill at
    /// 5/4 × window / smoothed RTT up to a burst of `Reliability.pacingBurstPackets` datagrams.
    package func pacingReadyTime(smoothedRTT: UInt64) -> UInt64 {
        guard let pacerUpdated else { return 0 }
        let needed = Double(Reliability.maxDatagramSize)
        if pacerTokens >= needed { return pacerUpdated }
        let wait = (needed - pacerTokens) / pacingRate(smoothedRTT: smoothedRTT)
        // A window of whole datagrams over a nanosecond RTT keeps `wait` finite and small.
        return pacerUpdated &+ UInt64(min(wait.rounded(.up), Double(UInt64.max >> 2)))
    }

    /// Bytes per nanosecond.
    private func pacingRate(smoothedRTT: UInt64) -> Double {
        Double(window * Reliability.pacingGainNumerator / Reliability.pacingGainDenominator)
            / Double(max(smoothedRTT, 1))
    }

    private mutating func refillPacer(now: UInt64, smoothedRTT: UInt64) {
        let capacity = Double(min(window, Reliability.pacingBurstPackets * Reliability.maxDatagramSize))
        if let pacerUpdated, now > pacerUpdated {
            pacerTokens += Double(now - pacerUpdated) * pacingRate(smoothedRTT: smoothedRTT)
        }
        pacerTokens = min(pacerTokens, capacity)
        pacerUpdated = max(pacerUpdated ?? now, now)
    }
}
