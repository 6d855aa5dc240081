import Rendezvous

/// Sizes and constants of the datagram format, named so that no bare number stands in the code.
///
/// The full format is written down in docs/PROTOCOL.md once the transport exists.
package enum Wire {
    /// The largest UDP payload cvpeer sends: fits the IPv6 minimum MTU (1280) less headers, so no
    /// datagram is ever fragmented on any path. One socket carries links and rendezvous messages,
    /// so the rendezvous's bound is the one source of truth.
    public static let maxDatagramSize = RendezvousWire.maxDatagramSize
}

// MARK: Reliability
// Sizes, frame types and limits of the frames inside a data packet's plaintext
// (docs/PROTOCOL.md, "Reliability (inside data packets)"). Owned by Sources/Transport/Reliability.

extension Wire {
    /// The largest datagram a node sends on a link: 1200 − the rendezvous's 12-byte relay header,
    /// so a relayed packet still fits `maxDatagramSize`.
    package static let maxLinkDatagramSize = maxDatagramSize - RendezvousWire.relayHeaderSize
    /// A data packet's cleartext header (type, reserved, receiver index, 64-bit counter), which
    /// the frames' budget must leave room for.
    package static let dataHeaderSize = 16
    /// The Poly1305 tag every data packet's ciphertext ends with.
    package static let aeadTagSize = 16
    /// The plaintext budget of one data packet: what is left of `maxLinkDatagramSize` after the
    /// header and the tag (1156 bytes), so a full packet never exceeds 1188 bytes on the wire.
    package static let maxFramesSize = maxLinkDatagramSize - dataHeaderSize - aeadTagSize

    /// The first byte of each frame inside a data packet's plaintext.
    package enum LinkFrameType: UInt8, Sendable, CaseIterable {
        /// Zero bytes that carry nothing; a run of them decodes as one frame.
        case padding = 0x00
        /// Asks for an acknowledgement and nothing else (keepalive, RTT probe, PTO probe).
        case ping = 0x01
        /// Acknowledged packet numbers as ranges, with the ack delay.
        case ack = 0x02
        /// A fragment of a reliable, ordered message.
        case message = 0x03
        /// An unreliable datagram (presence): delivered at most once, never retransmitted.
        case unreliable = 0x04
        /// The sender closes the link, with a reason code.
        case close = 0x05
        /// Flow-control credit: how far the peer may send message data and message ids.
        case maxData = 0x06
    }

    /// The largest reliable message: fits a 64 KiB blob chunk many times over and a large sync
    /// summary, while keeping a receiver's worst-case buffer small enough to bound.
    public static let maxMessageSize = 16 << 20
    /// Message bytes a receiver buffers per link (and the credit each side assumes before any
    /// MAX_DATA arrives): twice `maxMessageSize`, so the next message always fits even when the
    /// one after it is half received.
    package static let linkReceiveWindow: UInt64 = 32 << 20
    /// Message ids a receiver accepts ahead of the next one it delivers (and the initial credit):
    /// bounds the number of partly received messages a peer can make a receiver hold.
    package static let linkMessageWindow: UInt64 = 4096
    /// The most ranges one ACK frame may carry: older gaps are long since declared lost by the
    /// sender, so more would only cost bytes.
    package static let maxAckRanges = 256
    /// The largest unreliable datagram: it must fit one packet with its frame type and a
    /// two-byte length, since it is never fragmented.
    package static let maxUnreliableSize = maxFramesSize - 3
}
