import PeerCrypto
import Primitives
import Rendezvous

/// A way to reach a peer: straight to a UDP address, or through the rendezvous relay.
public enum TransportPath: LinkPath, CustomStringConvertible {
    /// Datagrams go to this address.
    case direct(UDPEndpoint)
    /// Datagrams go to the rendezvous, wrapped in `relay` for this peer id.
    case relay(RendezvousPeerID)

    /// True for the relay: the link layer prefers any working direct path over it.
    public var isRelayed: Bool {
        switch self {
        case .direct: false
        case .relay: true
        }
    }

    /// A direct path's address and port (what a responder's cookie is bound to).
    public var cookieAddress: [UInt8] {
        switch self {
        case .direct(let endpoint): endpoint.addressBytes + endpoint.port.bigEndianBytes
        case .relay: []
        }
    }

    /// `direct ADDRESS` or `relayed PEERID`, for logs and probe lines.
    public var description: String {
        switch self {
        case .direct(let endpoint): "direct \(endpoint)"
        case .relay(let peer): "relayed \(peer.shortDescription)"
        }
    }
}

/// What a `PeerTransport` reports, on its loop thread, in the order it happened.
public enum TransportEvent: Equatable, Sendable {
    /// An encrypted link to this peer is up on this path; `send` works from now on.
    case linkUp(PublicKey, path: TransportPath)
    /// The link is gone; messages still queued to the peer are dropped.
    case linkDown(PublicKey, reason: LinkDownReason)
    /// The link moved (a direct path found, relay fallback, or the peer roamed).
    case pathChanged(PublicKey, path: TransportPath)
    /// A whole reliable message, in order, exactly once.
    case message(PublicKey, [UInt8])
    /// An unreliable datagram (presence), at most once.
    case unreliable(PublicKey, [UInt8])
    /// The rendezvous accepted the registration and sees this node at this address.
    case registered(reflexive: UDPEndpoint)
    /// The rendezvous introduced another member of the room (or one whose addresses changed),
    /// with its reflexive address first, then its own candidates.
    case introduced(RendezvousPeerID, candidates: [UDPEndpoint])
    /// The rendezvous refused to create the room (reported once until a registration succeeds;
    /// the transport keeps trying).
    case registrationRefused(RendezvousWire.RegisterRefusalReason)
    /// A handshake attempt gave up on all of these paths.
    case handshakeFailed(paths: [TransportPath])
}

/// A request the transport refuses; network input never throws, it is dropped and counted.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `start()` was called twice, or after `close()`.
    case alreadyStarted
    /// The transport is not running (not started, or closed).
    case notRunning
    /// No link to this peer is up.
    case notConnected(PublicKey)
    /// The message exceeds `Wire.maxMessageSize` (its size).
    case messageTooLarge(Int)
    /// The datagram exceeds `Wire.maxUnreliableSize` (its size).
    case datagramTooLarge(Int)
    /// The socket could not be set up (the rendezvous module's description).
    case socket(String)

    /// One line for people.
    public var description: String {
        switch self {
        case .alreadyStarted: "the transport was already started"
        case .notRunning: "the transport is not running"
        case .notConnected(let peer): "no link to \(peer.shortDescription)"
        case .messageTooLarge(let size): "message of \(size) bytes exceeds \(Wire.maxMessageSize)"
        case .datagramTooLarge(let size): "datagram of \(size) bytes exceeds \(Wire.maxUnreliableSize)"
        case .socket(let reason): reason
        }
    }
}

/// One connected peer, as of the loop's last status snapshot.
public struct PeerStatus: Equatable, Sendable {
    /// The link: path, whether it is direct, session times, next packet number.
    public var link: LinkInfo<TransportPath>
    /// Round-trip estimate, congestion window, bytes in flight, losses and retransmissions.
    public var reliability: ReliableLink.Stats

    /// The peer's identity.
    public var peer: PublicKey { link.peer }
    /// Where packets to the peer go now.
    public var path: TransportPath { link.path }
}

/// Counters of the I/O shell itself (the link and rendezvous layers count their own drops).
public struct TransportCounters: Equatable, Sendable {
    /// Datagrams read from the socket.
    package internal(set) var datagramsReceived = 0
    /// Bytes read from the socket.
    package internal(set) var bytesReceived = 0
    /// Datagrams written to the socket.
    package internal(set) var datagramsSent = 0
    /// Bytes written to the socket.
    package internal(set) var bytesSent = 0
    /// Datagrams the socket refused (buffer full, unreachable, wrong family); UDP may lose them anyway.
    public internal(set) var sendFailures = 0
    /// Datagrams larger than `Wire.maxDatagramSize`, dropped unread.
    package internal(set) var oversizedDrops = 0
    /// Reads the kernel cut short (longer than the receive buffer), dropped whole.
    package internal(set) var truncatedDrops = 0
    /// Rendezvous-type datagrams from an address other than the rendezvous's, dropped.
    package internal(set) var strayRendezvousDrops = 0
    /// Link datagrams from the rendezvous's own address (it only ever sends rendezvous types), dropped.
    package internal(set) var strayLinkDrops = 0
    /// Direct datagrams dropped because direct paths are disabled (`Configuration.directPathsDisabled`).
    package internal(set) var directDisabledDrops = 0
    /// Authenticated plaintexts the reliability layer refused to decode (a member's bad frames).
    package internal(set) var reliabilityDecodeDrops = 0
    /// Punch packets sent.
    package internal(set) var punchesSent = 0
    /// Probe rounds run on relayed links.
    package internal(set) var probeRounds = 0
    /// Introductions ignored because `Wire.natMaxPendingTraversals` traversals were in progress.
    package internal(set) var traversalsRefused = 0
    /// Datagrams not sent to an address nothing authenticated came from, over its budget
    /// (`Wire.natUnverifiedBudgetBytes`).
    package internal(set) var unverifiedSendsRefused = 0
    /// Loop passes, for profiling.
    package internal(set) var loopIterations = 0
    /// Time the loop spent waiting in ppoll, in nanoseconds, for profiling (busy = wall − this).
    package internal(set) var waitNanoseconds: UInt64 = 0

    /// Dropped datagrams of all kinds counted here.
    public var totalDrops: Int {
        oversizedDrops + truncatedDrops + strayRendezvousDrops + strayLinkDrops + directDisabledDrops + reliabilityDecodeDrops
    }
}

/// Everything `status` reports about a running transport.
public struct TransportStatus: Equatable, Sendable {
    /// The bound address (its real port when bound to port 0), nil before `start()`.
    public var localEndpoint: UDPEndpoint?
    /// The addresses this node announces as its direct candidates.
    package var localCandidates: [UDPEndpoint] = []
    /// Whether a rendezvous registration is in force.
    public var registered = false
    /// The node's address as the rendezvous sees it.
    public var reflexive: UDPEndpoint?
    /// This node's random peer id at the rendezvous, if one is used.
    package var rendezvousPeerID: RendezvousPeerID?
    /// Connected peers, in key order.
    public var peers: [PeerStatus] = []
    /// The link layer's counters, drops by reason included.
    public var link = LinkStats()
    /// The rendezvous client's counters, if one is used.
    public var rendezvous: RendezvousClient.Stats?
    /// The I/O shell's counters.
    public var counters = TransportCounters()
    /// Handshakes in progress as initiator.
    package var pendingHandshakes = 0
    /// Responder states waiting for message 3.
    package var halfOpenHandshakes = 0
    /// The socket's receive buffer size as the kernel reports it.
    package var socketReceiveBuffer = 0
    /// The socket's send buffer size as the kernel reports it.
    package var socketSendBuffer = 0
    /// True while datagrams to one target leave in segmented sends (UDP GSO).
    package var sendOffload = false
    /// True if the kernel may hand over coalesced runs of received datagrams (UDP GRO).
    package var receiveOffload = false
}
