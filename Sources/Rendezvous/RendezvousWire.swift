/// The rendezvous datagrams on one screen: types, field sizes, offsets and size bounds.
///
/// Named one to one with the "Rendezvous" section of docs/PROTOCOL.md, so no bare number stands
/// in the codec or the server. Every rendezvous datagram starts with the common 4-byte header:
/// the type byte, then 3 reserved bytes that must be zero.
public enum RendezvousWire {
    /// The first byte of a rendezvous datagram.
    public enum MessageType: UInt8, CaseIterable, Sendable {
        /// Node → rendezvous: join or refresh a room's registration.
        case register = 0x20
        /// Rendezvous → node: the stateless cookie that proves the node receives at its address.
        case cookieChallenge = 0x21
        /// Rendezvous → node: registration accepted, with the node's observed address.
        case registered = 0x22
        /// Rendezvous → node: another member of the room and its candidates.
        case introduce = 0x23
        /// Node → rendezvous: forward an opaque datagram to another member of the room.
        case relay = 0x24
        /// Rendezvous → node: an opaque datagram forwarded from another member of the room.
        case relayed = 0x25
        /// Node → rendezvous: leave a room before the registration would expire.
        case unregister = 0x26
    }

    /// The address family byte of a candidate.
    public enum Family: UInt8, Sendable {
        /// IPv4: 4 address bytes follow.
        case ipv4 = 4
        /// IPv6: 16 address bytes follow.
        case ipv6 = 6
    }

    /// Every datagram stays at or under this size; equal to `Wire.maxDatagramSize` in Transport,
    /// which this module cannot import (Transport depends on Rendezvous).
    public static let maxDatagramSize = 1200
    /// Type byte plus 3 reserved bytes: keeps the fields after it 4-byte aligned and leaves room
    /// for flags without a new type.
    public static let headerSize = 4
    /// Offset of the first reserved byte.
    public static let reservedOffset = 1
    /// Number of reserved bytes after the type.
    public static let reservedSize = 3

    /// The public room tag (`RoomKeys.tagLength`).
    public static let roomTagSize = 16
    /// A node's random per-room peer id: 64 bits make collisions in a 16-peer room negligible.
    public static let peerIDSize = 8
    /// The node's nonce that the cookie binds, so a node can match a challenge to its request.
    public static let clientNonceSize = 8
    /// BLAKE2b-128: forging one means guessing 128 bits.
    public static let cookieSize = 16
    /// Candidate count byte in register and introduce.
    public static let candidateCountSize = 1
    /// The refresh interval field of registered, in whole seconds.
    public static let refreshIntervalSize = 2
    /// The most local candidates a node may list: enough for a few interfaces of both families,
    /// small enough that an introduce stays tiny.
    public static let maxCandidates = 8
    /// Family byte, IPv4 address, port.
    public static let ipv4CandidateSize = 1 + 4 + 2
    /// Family byte, IPv6 address, port.
    public static let ipv6CandidateSize = 1 + 16 + 2
    /// The largest candidate encoding.
    public static let maxCandidateSize = ipv6CandidateSize

    /// Register offsets: header, tag, peer id, client nonce, cookie, count, candidates.
    public static let registerRoomTagOffset = headerSize
    /// Offset of the peer id in register.
    public static let registerPeerIDOffset = registerRoomTagOffset + roomTagSize
    /// Offset of the client nonce in register.
    public static let registerClientNonceOffset = registerPeerIDOffset + peerIDSize
    /// Offset of the cookie in register.
    public static let registerCookieOffset = registerClientNonceOffset + clientNonceSize
    /// Offset of the candidate count in register.
    public static let registerCandidateCountOffset = registerCookieOffset + cookieSize
    /// Offset of the first candidate in register.
    public static let registerCandidatesOffset = registerCandidateCountOffset + candidateCountSize
    /// The smallest register (no candidates): 53 bytes.
    public static let registerMinSize = registerCandidatesOffset
    /// The largest register (8 IPv6 candidates): 205 bytes.
    public static let registerMaxSize = registerMinSize + maxCandidates * maxCandidateSize

    /// Cookie challenge: header, client nonce, cookie; 28 bytes, well under `registerMinSize`, so
    /// the only reply to an unverified source is smaller than what it sent.
    public static let cookieChallengeSize = headerSize + clientNonceSize + cookieSize

    /// Registered: header, peer id, reflexive candidate, refresh interval; 21 bytes with IPv4.
    public static let registeredMinSize = headerSize + peerIDSize + ipv4CandidateSize + refreshIntervalSize
    /// Registered with an IPv6 reflexive candidate: 33 bytes.
    public static let registeredMaxSize = headerSize + peerIDSize + ipv6CandidateSize + refreshIntervalSize

    /// Introduce: header, tag, peer id, reflexive candidate, count, local candidates; 36 bytes
    /// with an IPv4 reflexive candidate and no local ones.
    public static let introduceMinSize = headerSize + roomTagSize + peerIDSize + ipv4CandidateSize + candidateCountSize
    /// The largest introduce: 200 bytes.
    public static let introduceMaxSize =
        headerSize + roomTagSize + peerIDSize + maxCandidateSize + candidateCountSize + maxCandidates * maxCandidateSize

    /// Offset of the peer id in relay (target) and relayed (source).
    public static let relayPeerIDOffset = headerSize
    /// Offset of the inner datagram in relay and relayed.
    public static let relayPayloadOffset = relayPeerIDOffset + peerIDSize
    /// Relay and relayed headers are both 12 bytes, so forwarding never changes a datagram's size.
    public static let relayHeaderSize = relayPayloadOffset
    /// The largest inner datagram: a node's own datagrams stay this small so the relay header fits.
    public static let maxRelayedDatagramSize = maxDatagramSize - relayHeaderSize

    /// Unregister: header, tag, peer id, client nonce, cookie; 52 bytes.
    public static let unregisterSize = headerSize + roomTagSize + peerIDSize + clientNonceSize + cookieSize

    /// The sizes a datagram of `type` may have; anything else is dropped before decoding.
    public static func sizeRange(of type: MessageType) -> ClosedRange<Int> {
        switch type {
        case .register: registerMinSize...registerMaxSize
        case .cookieChallenge: cookieChallengeSize...cookieChallengeSize
        case .registered: registeredMinSize...registeredMaxSize
        case .introduce: introduceMinSize...introduceMaxSize
        case .relay, .relayed: relayHeaderSize...maxDatagramSize
        case .unregister: unregisterSize...unregisterSize
        }
    }
}
