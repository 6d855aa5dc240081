/// One frame inside a data packet's plaintext; a packet is a concatenation of frames.
///
/// Integers are unsigned LEB128 varints that must be minimal, so each frame has exactly one
/// encoding. `decode` is total: any bytes give frames or a thrown error, never a trap, and
/// every length is checked against a `Wire` bound before anything is allocated.
package enum LinkFrame: Equatable, Sendable {
    /// `length` zero bytes (at least one); consecutive padding decodes as one frame.
    case padding(length: Int)
    /// Asks for an acknowledgement.
    case ping
    /// Acknowledges ranges of packet numbers.
    case ack(AckFrame)
    /// A fragment of a reliable message.
    case message(MessageFragment)
    /// An unreliable datagram of at most `Wire.maxUnreliableSize` bytes.
    case unreliable([UInt8])
    /// The sender closes the link.
    case close(reason: UInt64)
    /// Flow-control credit: the peer may send message bytes up to stream offset `maxData` and
    /// message ids below `maxMessageID`.
    case maxData(maxData: UInt64, maxMessageID: UInt64)

    /// True for frames the receiver must acknowledge; ACK, PADDING and CLOSE are not, so two
    /// idle links never ack each other's acks.
    package var isAckEliciting: Bool {
        switch self {
        case .padding, .ack, .close: false
        case .ping, .message, .unreliable, .maxData: true
        }
    }
}

/// The ranges of an ACK frame, newest first, QUIC-style.
///
/// `ranges` are disjoint, descending and separated by at least one missing packet number, so
/// they encode as "first range length" and then (gap, length) pairs.
package struct AckFrame: Equatable, Sendable {
    /// Acknowledged packet numbers, highest range first.
    package let ranges: [ClosedRange<UInt64>]
    /// How long the receiver held the ACK after receiving the largest packet, in microseconds.
    package let ackDelayMicros: UInt64

    /// The largest acknowledged packet number.
    package var largest: UInt64 { ranges[0].upperBound }

    /// Builds an ACK frame; `ranges` must be non-empty, descending and non-adjacent.
    public init(ranges: [ClosedRange<UInt64>], ackDelayMicros: UInt64) {
        precondition(!ranges.isEmpty, "an ACK acknowledges at least one packet")
        for index in ranges.indices.dropFirst() {
            precondition(ranges[index - 1].lowerBound >= 2 &&
                ranges[index].upperBound <= ranges[index - 1].lowerBound - 2,
                "ACK ranges must be descending and separated by a gap")
        }
        self.ranges = ranges
        self.ackDelayMicros = ackDelayMicros
    }
}

/// A piece of reliable message `messageID`: `bytes` belong at `offset` of a message of
/// `totalLength` bytes.
package struct MessageFragment: Equatable, Sendable {
    /// The message's sequence number on this link (0, 1, 2, …); delivery follows it.
    package let messageID: UInt64
    /// The whole message's length, repeated in every fragment so any one can start reassembly.
    package let totalLength: Int
    /// Where `bytes` start inside the message.
    public let offset: Int
    /// The fragment's data (may be empty only for an empty message).
    public let bytes: [UInt8]

    /// Builds a fragment; the fragment must lie inside a message of at most `Wire.maxMessageSize`.
    public init(messageID: UInt64, totalLength: Int, offset: Int, bytes: [UInt8]) {
        precondition(totalLength >= 0 && totalLength <= Wire.maxMessageSize, "message too large")
        precondition(offset >= 0 && offset <= totalLength - bytes.count, "fragment outside its message")
        self.messageID = messageID
        self.totalLength = totalLength
        self.offset = offset
        self.bytes = bytes
    }
}
