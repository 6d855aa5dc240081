/// Timers and algorithm constants of the reliability layer, after RFC 9002.
///
/// Times are monotonic nanoseconds (`UInt64`), the unit every `now` parameter uses. Each value is
/// listed under the same name in docs/PROTOCOL.md, "Reliability (inside data packets)".
package enum Reliability {
    /// One millisecond: the timer granularity of RFC 9002, a floor under loss delay and PTO so
    /// that a tiny RTT never makes timers fire on every packet.
    package static let granularity: UInt64 = 1_000_000
    /// The RTT assumed before the first sample (RFC 9002's 333 ms): conservative, so the first
    /// PTO does not fire spuriously on a slow path.
    package static let initialRTT: UInt64 = 333_000_000
    /// How long a receiver may hold back an ACK (25 ms, as in QUIC): halves ACK traffic on a
    /// steady flow while adding little to the sender's recovery time. Both sides assume it.
    package static let maxAckDelay: UInt64 = 25_000_000
    /// A receiver acks at once after this many ack-eliciting packets, so the sender's window
    /// keeps opening in slow start.
    package static let ackElicitingThreshold = 2
    /// A packet is lost once a packet this many numbers later is acked (RFC 9002's kPacketThreshold):
    /// tolerates a little reordering without waiting for a timer.
    package static let packetThreshold: UInt64 = 3
    /// Numerator of the time threshold 9/8 × max(srtt, latest RTT): a packet unacked that long
    /// after a later packet was acked is lost.
    package static let timeThresholdNumerator: UInt64 = 9
    /// Denominator of the time threshold (see `timeThresholdNumerator`).
    package static let timeThresholdDenominator: UInt64 = 8
    /// Probe packets sent when the PTO fires (RFC 9002 allows up to two): one lost probe does not
    /// cost another whole timeout.
    package static let probePacketsPerTimeout = 2
    /// The PTO doubles at most this many times in a row, so the shift never overflows; the shell
    /// gives up on a silent peer long before.
    package static let maxTimeoutBackoffExponent = 16
    /// The congestion window's unit: one full datagram on the wire.
    public static let maxDatagramSize = Wire.maxLinkDatagramSize
    /// The congestion window starts at 10 datagrams (RFC 9002's initial window).
    package static let initialWindowPackets = 10
    /// The window never shrinks below 2 datagrams, so loss recovery can always make progress.
    package static let minimumWindowPackets = 2
    /// On a congestion event the window is multiplied by 1/2 (NewReno's loss reduction factor).
    package static let lossReductionDivisor = 2
    /// Pacing runs at 5/4 of cwnd/srtt, so pacing alone never keeps the window from filling.
    package static let pacingGainNumerator = 5
    /// Denominator of the pacing gain (see `pacingGainNumerator`).
    package static let pacingGainDenominator = 4
    /// Datagrams that may leave back to back before pacing applies: the initial window's worth,
    /// as RFC 9002 suggests for bursts.
    package static let pacingBurstPackets = 10
    /// Received-packet ranges a receiver remembers for ACKs and duplicate detection; a packet
    /// older than the oldest remembered range is dropped as a possible duplicate.
    package static let maxTrackedAckRanges = 1024
    /// Ranges a receiver puts in one ACK frame: the newest ones are all a sender's loss detection
    /// looks at; older gaps were declared lost long ago.
    package static let maxAckRangesSent = 64
    /// Unreliable datagrams queued while the window is full; presence is "latest wins", so the
    /// oldest is dropped rather than buffering without bound.
    package static let maxQueuedUnreliable = 64
    /// Disjoint received ranges across all partly received messages: bounds reassembly
    /// bookkeeping against a peer that sends every other byte.
    package static let maxReassemblyRanges = 8192
    /// A receiver advertises new credit once it grew by 1/4 of a window, so a sender never
    /// blocks while MAX_DATA frames stay rare.
    package static let flowControlUpdateDivisor: UInt64 = 4
}
