/// Reliable ordered messages, unreliable datagrams, loss recovery and congestion control for
/// one encrypted link, as a pure state machine.
///
/// Outbound flow: the application calls `enqueue(message:)` / `enqueueUnreliable(_:)`; the shell
/// asks `nextPacket(packetNumber:maxSize:now:)` for each data packet's plaintext (passing the
/// AEAD counter it will use) until it returns nil, encrypts and sends each one at once, and
/// wakes up at `nextTimer` to call `timerFired(now:)` and ask again. Inbound flow: after a data
/// packet authenticates, the shell passes its counter and plaintext to
/// `received(packetNumber:plaintext:now:)` and hands the returned deliveries to the application.
///
/// No I/O, no clock, no randomness: every event takes `now`, a monotonic time in nanoseconds.
/// Packet numbers passed to `nextPacket` must strictly increase over the link's life (a rekey
/// must not restart them from the reliability layer's point of view). Not thread-safe; owned by
/// one link's shell.
public struct ReliableLink: Sendable {
    /// What the application receives from `received(packetNumber:plaintext:now:)`.
    public enum Delivery: Equatable, Sendable {
        /// A whole reliable message, in message-id order, exactly once.
        case message([UInt8])
        /// An unreliable datagram, at most once, in arrival order.
        case unreliable([UInt8])
        /// The peer closed the link with this reason code; nothing more will be delivered.
        case closed(reason: UInt64)
    }

    /// Counters and estimates for status displays, logs and tests.
    public struct Stats: Equatable, Sendable {
        /// Smoothed round-trip time in nanoseconds (`Reliability.initialRTT` before a sample).
        public internal(set) var smoothedRTT: UInt64 = 0
        /// Round-trip variance in nanoseconds.
        package internal(set) var rttVariance: UInt64 = 0
        /// Smallest round-trip sample in nanoseconds (0 before a sample).
        package internal(set) var minRTT: UInt64 = 0
        /// Latest round-trip sample in nanoseconds (0 before a sample).
        package internal(set) var latestRTT: UInt64 = 0
        /// Congestion window in bytes.
        package internal(set) var congestionWindow = 0
        /// Slow-start threshold in bytes (`Int.max` until the first loss).
        package internal(set) var slowStartThreshold = 0
        /// Bytes of ack-eliciting packets neither acknowledged nor declared lost.
        package internal(set) var bytesInFlight = 0
        /// Losses that shrank the congestion window.
        package internal(set) var congestionEvents = 0
        /// Packets built by `nextPacket`.
        package internal(set) var packetsSent = 0
        /// Of those, packets that count in flight (everything but ACK-only and CLOSE packets).
        package internal(set) var ackElicitingPacketsSent = 0
        /// Packets taken in by `received`.
        package internal(set) var packetsReceived = 0
        /// Packets dropped because their number was already seen (or too old to tell).
        package internal(set) var duplicatePackets = 0
        /// Packets left unacknowledged because a fragment in them exceeded a receive bound.
        package internal(set) var refusedPackets = 0
        /// ACK frames ignored because they acknowledged a packet never sent.
        package internal(set) var invalidAcks = 0
        /// Sent packets declared lost.
        package internal(set) var packetsLost = 0
        /// Probe timeouts that fired.
        package internal(set) var probeTimeouts = 0
        /// Message fragments sent again after a loss or as a probe.
        package internal(set) var retransmittedFragments = 0
        /// Message bytes sent again after a loss or as a probe.
        package internal(set) var retransmittedBytes = 0
        /// Reliable messages delivered to the application.
        package internal(set) var messagesDelivered = 0
        /// Unreliable datagrams sent (each exactly once).
        package internal(set) var unreliableSent = 0
        /// Unreliable datagrams delivered to the application.
        package internal(set) var unreliableDelivered = 0
        /// Unreliable datagrams dropped before sending (queue full or larger than the packet).
        package internal(set) var unreliableDropped = 0
        /// Reliable messages queued or in flight and not yet fully acknowledged.
        package internal(set) var queuedMessages = 0
        /// Partly received (or received but not yet deliverable) messages held.
        package internal(set) var reassemblyMessages = 0
        /// Bytes reserved for those messages.
        package internal(set) var reassemblyBytes = 0
        /// Disjoint received ranges across those messages.
        package internal(set) var reassemblyRanges = 0

        init() {}
    }

    enum State: Equatable, Sendable {
        case open
        case closing(reason: UInt64, requestedAt: UInt64)
        case closed
    }

    /// Flow-control credit: message stream offset and message id limits.
    struct FlowCredit: Equatable, Sendable {
        var maxData: UInt64
        var maxMessageID: UInt64

        static let initial = FlowCredit(maxData: Wire.linkReceiveWindow, maxMessageID: Wire.linkMessageWindow)
    }

    struct OutgoingMessage: Sendable {
        let bytes: [UInt8]
        /// Where the message starts in the concatenation of all messages: flow control counts there.
        let streamStart: UInt64
        var acked = OffsetRangeSet()
        var anyFragmentAcked = false

        /// An empty message is acknowledged only once its one empty fragment is.
        var fullyAcked: Bool { anyFragmentAcked && acked.covers(bytes.count) }
    }

    struct FragmentRef: Equatable, Sendable {
        let messageID: UInt64
        let offset: Int
        let length: Int
    }

    struct SentPacket: Sendable {
        let packetNumber: UInt64
        let timeSent: UInt64
        let bytes: Int
        var fragments: [FragmentRef] = []
        var credit: FlowCredit?
    }

    struct Reassembly: Sendable {
        let totalLength: Int
        var buffer: [UInt8]
        var received = OffsetRangeSet()
        var sawFragment = false

        var isComplete: Bool { sawFragment && received.covers(totalLength) }

        /// Copies the fragment in; returns how the number of disjoint ranges changed.
        mutating func absorb(_ fragment: MessageFragment) -> Int {
            sawFragment = true
            guard !fragment.bytes.isEmpty else { return 0 }
            let before = received.ranges.count
            buffer.replaceSubrange(fragment.offset..<(fragment.offset + fragment.bytes.count), with: fragment.bytes)
            received.insert(fragment.offset..<(fragment.offset + fragment.bytes.count))
            return received.ranges.count - before
        }
    }

    var state = State.open
    var counters = Stats()

    // Sending side.
    var outgoing: [UInt64: OutgoingMessage] = [:]
    var nextMessageID: UInt64 = 0
    var nextStreamOffset: UInt64 = 0
    /// The first message with bytes never sent, and how far it was sent.
    var newDataMessageID: UInt64 = 0
    var newDataOffset = 0
    /// Lost (or probed) message bytes to send again, oldest first; never holds acknowledged bytes.
    var retransmitQueue: [FragmentRef] = []
    var unreliableQueue: [[UInt8]] = []
    var pingPending = false
    /// Ack-eliciting packets in flight, ascending by packet number.
    var sentPackets: [SentPacket] = []
    var largestSent: UInt64?
    var largestAcked: UInt64?
    var lastAckElicitingSentTime: UInt64?
    var lossTime: UInt64?
    var timeoutCount = 0
    var probesOwed = 0
    var probeDueTime: UInt64 = 0
    var peerCredit = FlowCredit.initial
    /// The round-trip estimate.
    public internal(set) var rtt = RTTEstimator()
    /// The congestion window, bytes in flight and pacer.
    package internal(set) var congestion = CongestionController()

    // Receiving side.
    var receivedPackets = PacketNumberSet()
    var largestReceivedTime: UInt64 = 0
    var ackElicitingSinceAck = 0
    var ackDeadline: UInt64?
    var reassemblies: [UInt64: Reassembly] = [:]
    var nextDeliverID: UInt64 = 0
    var deliveredBytes: UInt64 = 0
    var reservedBytes = 0
    var reassemblyRangeCount = 0
    var advertisedCredit = FlowCredit.initial
    var creditPending = false

    /// A fresh link: nothing sent or received, initial window and credit.
    public init() {}

    /// Queues a reliable message; it is delivered whole, in order, exactly once.
    ///
    /// - Parameter message: At most `Wire.maxMessageSize` bytes (may be empty).
    /// - Returns: The message id (0, 1, 2, … in call order).
    /// - Throws: `ReliabilityError.messageTooLarge` or `.linkClosed`.
    @discardableResult
    package mutating func enqueue(message: [UInt8]) throws(ReliabilityError) -> UInt64 {
        guard case .open = state else { throw .linkClosed }
        guard message.count <= Wire.maxMessageSize else { throw .messageTooLarge(message.count) }
        let id = nextMessageID
        outgoing[id] = OutgoingMessage(bytes: message, streamStart: nextStreamOffset)
        nextMessageID += 1
        nextStreamOffset += UInt64(message.count)
        return id
    }

    /// Queues an unreliable datagram: sent once in the next packet it fits, never retransmitted.
    ///
    /// If `Reliability.maxQueuedUnreliable` are already waiting, the oldest is dropped, since
    /// presence is latest-wins.
    /// - Throws: `ReliabilityError.datagramTooLarge` above `Wire.maxUnreliableSize`, or `.linkClosed`.
    package mutating func enqueueUnreliable(_ datagram: [UInt8]) throws(ReliabilityError) {
        guard case .open = state else { throw .linkClosed }
        guard datagram.count <= Wire.maxUnreliableSize else { throw .datagramTooLarge(datagram.count) }
        if unreliableQueue.count >= Reliability.maxQueuedUnreliable {
            unreliableQueue.removeFirst()
            counters.unreliableDropped += 1
        }
        unreliableQueue.append(datagram)
    }

    /// Asks for a PING in the next packet: a keepalive that also refreshes the RTT estimate.
    package mutating func ping() {
        guard case .open = state else { return }
        pingPending = true
    }

    /// Closes the link: the next packet carries CLOSE (sent once, not retransmitted), then nothing more.
    public mutating func close(reason: UInt64, now: UInt64) {
        guard case .open = state else { return }
        state = .closing(reason: reason, requestedAt: now)
    }

    /// True once a CLOSE was sent or received.
    package var isClosed: Bool {
        switch state {
        case .closed: true
        case .open, .closing: false
        }
    }

    /// True when nothing is queued, in flight or waiting to be acknowledged: the link may idle.
    public var isIdle: Bool {
        outgoing.isEmpty && unreliableQueue.isEmpty && sentPackets.isEmpty && !pingPending && !creditPending
            && ackDeadline == nil
    }

    /// The current counters and estimates.
    public var stats: Stats {
        var stats = counters
        stats.smoothedRTT = rtt.smoothed
        stats.rttVariance = rtt.variance
        stats.minRTT = rtt.minimum
        stats.latestRTT = rtt.latest
        stats.congestionWindow = congestion.window
        stats.slowStartThreshold = congestion.slowStartThreshold
        stats.bytesInFlight = congestion.bytesInFlight
        stats.congestionEvents = congestion.congestionEvents
        stats.queuedMessages = outgoing.count
        stats.reassemblyMessages = reassemblies.count
        stats.reassemblyBytes = reservedBytes
        stats.reassemblyRanges = reassemblyRangeCount
        return stats
    }
}
