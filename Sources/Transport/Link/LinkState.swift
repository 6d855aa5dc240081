import PeerCrypto

// The endpoint's internal records. Index spaces: an initiator attempt, a responder's half-open
// state and a session are each found by the 32-bit index this endpoint chose for it; the index of
// an attempt or half-open state carries over to the session it becomes.

/// One direction pair of keys from a completed handshake.
struct LinkSession: Sendable {
    let localIndex: UInt32
    let remoteIndex: UInt32
    let peer: PublicKey
    /// Who sent message 1: decides which of two competing sessions wins (the lower key).
    let initiator: PublicKey
    let isLocalInitiator: Bool
    /// The one live copy of each direction's cipher; nonces are set explicitly per packet.
    var send: NoiseCipherState
    var receive: NoiseCipherState
    var replay = ReplayWindow()
    let createdAt: UInt64
    /// When message 1 of its handshake was sent or first arrived.
    let handshakeStartedAt: UInt64
    /// False for an initiator's session until a packet from the responder decrypts.
    var confirmed: Bool { confirmedAt != nil }
    /// When the session was confirmed: message 3 for a responder, the first packet for an initiator.
    var confirmedAt: UInt64?
    /// The handshake packets that made this session, to recognise copies of them.
    let message1Packet: [UInt8]?
    let message3Packet: [UInt8]?
    /// The peer's incarnation from the handshake: a new one means the peer restarted.
    let peerIncarnation: [UInt8]
    /// The room epoch whose keys the handshake used.
    let epoch: UInt32
}

/// A link: everything known about one peer identity, over any number of sessions.
struct LinkRecord<Path: LinkPath>: Sendable {
    let peer: PublicKey
    /// The confirmed session packets are sent on.
    var current: UInt32
    /// Every confirmed session still accepted for receiving, oldest first (current included).
    var sessions: [UInt32]
    var path: Path
    /// A relayed path to fall back on when a direct one goes silent.
    var relayPath: Path?
    /// When an authenticated packet last arrived on each path (bounded).
    var lastReceivedOn: [Path: UInt64] = [:]
    let establishedAt: UInt64
    var lastReceived: UInt64
    /// The incarnation of the peer process this link talks to.
    let peerIncarnation: [UInt8]
    var lastSent: UInt64?
    var lastNonEmptyReceived: UInt64?
    /// The first packet with content sent on the current direct path since anything authenticated
    /// came back on it: the start of a possible silence.
    var unansweredSince: UInt64?
    var nextPacketNumber: UInt64 = 0
    var highestReceivedNumber: UInt64?
    /// The index of this side's rekey attempt in progress.
    var rekeyAttempt: UInt32?
}

/// This side's handshake attempt as initiator.
struct InitiatorAttempt<Path: LinkPath>: Sendable {
    enum Phase: Sendable {
        /// Message 1 is out; retries send the same bytes, so the responder answers from its cache.
        case awaitingResponse
        /// Message 3 is out and the session exists; retries send message 3 again until a packet
        /// from the responder confirms it.
        case awaitingConfirmation(message2Packet: [UInt8], message3Packet: [UInt8], path: Path)
    }

    let localIndex: UInt32
    /// Where message 1 goes; for a rekey, the link's path at each retry instead.
    var paths: [Path]
    let message1Packet: [UInt8]
    /// The handshake right after message 1: each response is tried on a copy, so a forged one
    /// cannot spoil the attempt.
    let handshake: CvpeerHandshake
    /// The room epoch whose keys message 1 was made with.
    let epoch: UInt32
    let startedAt: UInt64
    var nextRetryAt: UInt64
    /// The peer whose link this attempt rekeys, if it is a rekey.
    let rekeyOf: PublicKey?
    var phase: Phase
    /// Cookies responders under load gave us, per path, with when they came.
    var cookies: [Path: (cookie: [UInt8], receivedAt: UInt64)] = [:]

    /// Message 1 as it goes out on `path`: with mac2 while a cookie for the path is fresh.
    func initiation(on path: Path, now: UInt64) -> [UInt8] {
        guard let held = cookies[path], now &- held.receivedAt < Wire.linkCookieLifetime else { return message1Packet }
        return LinkCookie.withMac2(message1Packet, cookie: held.cookie)
    }
}

/// A responder's state between message 2 and message 3.
struct HalfOpenResponder<Path: LinkPath>: Sendable {
    let localIndex: UInt32
    let remoteIndex: UInt32
    /// Message 1 without its mac2 (copies with and without a cookie are the same message).
    let message1Packet: [UInt8]
    let message2Packet: [UInt8]
    let handshake: CvpeerHandshake
    /// The room epoch whose keys message 1 was made with.
    let epoch: UInt32
    let createdAt: UInt64
    /// Arrival order, for evicting the oldest.
    let sequence: UInt64
    /// Paths message 1 arrived on: candidates for probes once the link is up.
    var paths: [Path]
}
