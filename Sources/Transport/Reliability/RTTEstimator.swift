/// The round-trip estimate of RFC 9002 §5: latest, minimum, smoothed and variance, in nanoseconds.
///
/// Not thread-safe; owned by one `ReliableLink`.
public struct RTTEstimator: Equatable, Sendable {
    /// The most recent sample, before the ack delay is taken off.
    public private(set) var latest: UInt64 = 0
    /// The smallest sample seen: a floor the ack-delay correction may not go below.
    package private(set) var minimum: UInt64 = 0
    /// The exponentially weighted mean (7/8 old, 1/8 new).
    package private(set) var smoothed: UInt64 = Reliability.initialRTT
    /// The mean deviation (3/4 old, 1/4 new).
    package private(set) var variance: UInt64 = Reliability.initialRTT / 2
    /// False until the first sample; until then `smoothed` is `Reliability.initialRTT`.
    package private(set) var hasSample = false

    /// Starts with no sample.
    public init() {}

    /// Takes one sample: `latest` from send to ack, and the delay the peer reported.
    ///
    /// - Parameters:
    ///   - latest: Nanoseconds from sending the largest newly acknowledged packet to its ACK.
    ///   - ackDelay: The peer's reported delay, already capped at `Reliability.maxAckDelay`.
    package mutating func addSample(latest: UInt64, ackDelay: UInt64) {
        self.latest = latest
        guard hasSample else {
            hasSample = true
            minimum = latest
            smoothed = latest
            variance = latest / 2
            return
        }
        minimum = min(minimum, latest)
        // The delay is taken off only while that stays above the minimum: a peer reporting
        // more delay than there was cannot shrink the estimate below what was measured.
        let adjusted = latest >= minimum &+ ackDelay ? latest - ackDelay : latest
        let deviation = smoothed > adjusted ? smoothed - adjusted : adjusted - smoothed
        variance = (3 * variance + deviation) / 4
        smoothed = (7 * smoothed + adjusted) / 8
    }

    /// How long after a later packet's ACK an unacked packet is declared lost:
    /// 9/8 × max(smoothed, latest), at least `Reliability.granularity`.
    package var lossDelay: UInt64 {
        max(max(smoothed, latest) / Reliability.timeThresholdDenominator * Reliability.timeThresholdNumerator,
            Reliability.granularity)
    }

    /// The base probe timeout: smoothed + max(4 × variance, granularity) + max ack delay.
    package var probeTimeout: UInt64 {
        smoothed + max(4 * variance, Reliability.granularity) + Reliability.maxAckDelay
    }
}
