import PeerCrypto

/// A way to reach a peer, chosen and interpreted by the I/O shell (a UDP address, or "through
/// the relay to peer X"); the link layer only compares paths and asks whether one is relayed.
public protocol LinkPath: Hashable, Sendable {
    /// True for a path through the rendezvous relay: direct paths are preferred over it.
    var isRelayed: Bool { get }
    /// The bytes a responder's cookie binds a direct path to (its address and port); never used
    /// for a relayed path, which the rendezvous only opens between registered members.
    var cookieAddress: [UInt8] { get }
}

/// What the shell must do after an event: the link layer itself never does I/O.
package enum LinkAction<Path: LinkPath>: Equatable, Sendable {
    /// Send these bytes as one datagram on `to`.
    case send([UInt8], to: Path)
    /// Hand an authenticated plaintext (the reliability layer's frames) to the link's owner; the
    /// packet number is unique per direction over the link's whole life, rekeys included.
    case deliver([UInt8], from: PublicKey, packetNumber: UInt64)
    /// A link to this peer is established and confirmed both ways; `send` works from now on.
    case linkUp(PublicKey, path: Path)
    /// The link is gone; nothing more is sent or accepted on it.
    case linkDown(PublicKey, reason: LinkDownReason)
    /// The link now sends on another path (roaming, a direct path found, or relay fallback).
    case pathChanged(PublicKey, path: Path, isDirect: Bool)
    /// A `connect` gave up: no handshake completed on any of these paths in time.
    case handshakeFailed(paths: [Path])
}

/// Why a link went down.
public enum LinkDownReason: Equatable, Sendable {
    /// Nothing authenticated arrived for `Wire.linkDeadAfter`.
    case timeout
    /// Every session reached `Wire.linkRejectAfterTime` and no rekey replaced them.
    case expired
    /// The packet numbers reached `Wire.linkRejectAfterMessages`; connect again for a fresh link.
    case exhausted
    /// The peer sent a close notice.
    case closedByPeer
    /// `close(peer:now:)` was called here.
    case closedLocally
    /// The peer restarted (a handshake came with a new incarnation); a new link replaces this one at once.
    case peerRestarted
}

/// A local request the link layer refuses; network input never throws, it is dropped.
package enum LinkError: Error, Equatable, Sendable {
    /// There is no established link to this peer.
    case noLink
    /// The plaintext exceeds `Wire.maxFramesSize`.
    case plaintextTooLarge(Int)
    /// The link's packet numbers are used up (`Wire.linkRejectAfterMessages`).
    case exhausted
    /// The plaintext is exactly the close notice (`Wire.linkCloseNotice`), which only `close` sends.
    case reservedPlaintext
}

/// The state of one link, for status displays and the viewer.
public struct LinkInfo<Path: LinkPath>: Equatable, Sendable {
    /// The peer's identity, proven by the handshake.
    public var peer: PublicKey
    /// Where packets to the peer go now.
    public var path: Path
    /// False when the path goes through the relay.
    package var isDirect: Bool
    /// When the link came up.
    package var establishedAt: UInt64
    /// When the session now used for sending completed its handshake (moves on each rekey).
    package var sessionStartedAt: UInt64
    /// When the last authenticated packet arrived.
    package var lastReceivedAt: UInt64
    /// Whether this side initiated the session now used for sending.
    package var initiatedLocally: Bool
    /// Confirmed sessions held (current and older ones still accepted for receiving).
    package var sessionCount: Int
    /// The packet number the next packet sent will carry.
    package var nextPacketNumber: UInt64
    /// The room epoch whose keys made the session now used for sending.
    public var epoch: UInt32 = 0
}

/// Why an incoming datagram was dropped; every drop is silent and counted.
public enum LinkDropReason: Hashable, Sendable, CaseIterable {
    /// Wrong length, unknown type or reserved bytes not zero.
    case malformed
    /// The room mac did not verify: a non-member, another room, or corruption.
    case badMac
    /// Over the handshake processing budget of its path or of the endpoint.
    case rateLimited
    /// No live session, attempt or half-open state has this receiver index.
    case unknownIndex
    /// A handshake message that Noise refused (a forgery by a member, a wrong psk, our own key).
    case handshakeRejected
    /// A handshake message for a state that no longer awaits it.
    case staleHandshake
    /// A copy of a handshake message already processed that needs no answer.
    case duplicateHandshake
    /// A data packet that did not decrypt.
    case decryptionFailed
    /// A data packet whose counter was seen before or is too old for the replay window.
    case replayed
    /// A data packet for a session past `Wire.linkRejectAfterTime`.
    case expiredSession
    /// A data packet numbered at or above `Wire.linkRejectAfterMessages`.
    case counterTooHigh
    /// A new peer beyond `Wire.linkMaxLinks`.
    case tooManyLinks
    /// A handshake in an earlier epoch by a key that is not among those still let in on it:
    /// a removed member, or someone with an invite the room has moved past.
    case olderEpochRefused
    /// An initiation whose timestamp is more than `Wire.linkInitiationWindow` from our wall
    /// clock: an old harvested packet (or a badly set clock). Refused before any Diffie-Hellman.
    case initiationStale
    /// An initiation already answered within the window (a replay), refused before any
    /// Diffie-Hellman; copies arriving while its half-open state lives still get message 2.
    case initiationReplayed
    /// A cookie reply that did not open for the attempt it names (forged, or for another
    /// initiation), or came again within a second for the same path.
    case badCookieReply
}

/// Counters of one endpoint, for tests, logs and `status`.
public struct LinkStats: Equatable, Sendable {
    /// Dropped datagrams by reason.
    public internal(set) var drops: [LinkDropReason: Int] = [:]
    /// Handshake attempts started (connects and rekeys).
    package internal(set) var handshakesInitiated = 0
    /// Sessions created by a completed handshake, either role.
    package internal(set) var sessionsEstablished = 0
    /// Links replaced because the peer came back with a new incarnation (it restarted).
    package internal(set) var peerRestarts = 0
    /// Rekeys started by this side.
    package internal(set) var rekeysStarted = 0
    /// Handshake attempts that gave up.
    package internal(set) var handshakesFailed = 0
    /// Duplicates of message 1 answered with the cached message 2 (no Diffie-Hellman).
    package internal(set) var duplicateInitiationsAnswered = 0
    /// Duplicates of message 3 answered with a fresh confirmation.
    package internal(set) var duplicateFinishesAnswered = 0
    /// Half-open responder states evicted because `Wire.linkMaxHalfOpen` were pending.
    package internal(set) var halfOpenEvicted = 0
    /// Data packets sent (keepalives, probes and close notices included).
    package internal(set) var dataPacketsSent = 0
    /// Data packets that authenticated.
    package internal(set) var dataPacketsReceived = 0
    /// Empty data packets sent to keep a link or a NAT mapping alive.
    package internal(set) var keepalivesSent = 0
    /// Empty data packets sent on candidate paths.
    package internal(set) var probesSent = 0
    /// Punch packets received (and ignored).
    package internal(set) var punchesReceived = 0
    /// Initiations answered with a cookie reply instead of message 2 (under load, no valid mac2).
    package internal(set) var cookieRepliesSent = 0
    /// Cookie replies that opened: message 1 went out again with mac2.
    package internal(set) var cookieRepliesReceived = 0
    /// Times a link moved to another path.
    package internal(set) var pathChanges = 0

    /// Drops for one reason.
    public func dropped(_ reason: LinkDropReason) -> Int { drops[reason, default: 0] }

    /// Drops for all reasons.
    public var totalDrops: Int { drops.values.reduce(0, +) }

    mutating func drop(_ reason: LinkDropReason) { drops[reason, default: 0] += 1 }
}
