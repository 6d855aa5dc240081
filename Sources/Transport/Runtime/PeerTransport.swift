import Dispatch
import Foundation
import PeerCrypto
import Primitives
import Rendezvous
import Sockets
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One node's transport: a UDP socket and a loop thread around the link, reliability and
/// rendezvous state machines.
///
/// Connection establishment: with a rendezvous, the node registers in the room and, for every
/// member introduced to it, punches towards all of the member's candidates and (the side with
/// the lower rendezvous peer id) starts one handshake on every direct candidate and the relay at
/// once; the first path to complete wins, and a link that came up on the relay keeps probing the
/// direct candidates until one works. Without one, `connect(to:)` handshakes with known
/// addresses and the other side simply answers.
///
/// Encryption: every link is a Noise XXpsk3 session keyed by the room; the rendezvous relays
/// sealed packets it cannot read. Reliability: each link carries a `ReliableLink` (ordered
/// messages, unreliable datagrams, RFC 9002 loss recovery, NewReno with pacing) whose packet
/// numbers are the link's AEAD counters.
///
/// Thread-safe: every method may be called from any thread. Events are delivered on the loop
/// thread, in order; a handler must not block for long (it stalls the link), and may call
/// `send` and even `close` (which then does not wait). Call `close()` when done; releasing the
/// last reference closes it too, without draining.
public final class PeerTransport: Sendable {
    /// Choices made per transport.
    public struct Configuration: Sendable {
        /// Keepalives every `Wire.linkKeepaliveInterval` even on idle links, so NAT bindings stay open.
        package var persistentKeepalive = true
        /// Kernel socket buffer sizes asked for (rmem_max / wmem_max cap them for unprivileged processes).
        package var socketBufferSize = PeerTransport.defaultSocketBufferSize
        /// Test switch: announce no local candidates, ignore the peers' direct candidates, and
        /// drop every datagram that does not come from the rendezvous, as if no direct path
        /// existed (a symmetric NAT on both sides).
        package var directPathsDisabled = false
        /// The node's peer id at the rendezvous; nil picks a random one, kept for the transport's life.
        package var rendezvousPeerID: RendezvousPeerID?

        /// The defaults: persistent keepalives, 4 MiB buffers, direct paths on.
        public init() {}
    }

    /// 4 MiB per direction: a full congestion window of a fast loopback or LAN transfer
    /// arrives between two loop passes without the kernel dropping it.
    package static let defaultSocketBufferSize = 4 << 20

    /// Receives every event on the loop thread.
    public typealias EventHandler = @Sendable (TransportEvent) -> Void

    /// This node's identity, as peers see it after a handshake.
    package let localKey: PublicKey
    /// The address and port given to bind.
    public let listenAddress: HostPort
    /// The rendezvous used to find peers and relay, if any.
    public let rendezvousAddress: HostPort?
    /// The configuration given at creation.
    public let configuration: Configuration

    let identity: Identity
    let room: RoomKeys
    let shared: TransportShared

    /// A stopped transport for `identity` in the room `room`.
    ///
    /// - Parameters:
    ///   - identity: this node's signing key; links prove it to peers.
    ///   - room: the room's keys; only holders complete a handshake.
    ///   - listen: where to bind the UDP socket (port 0 picks one, reported by `start()`).
    ///   - rendezvous: the rendezvous to register with, or nil to use `connect(to:)` only.
    ///   - configuration: keepalives, buffers, test switches.
    ///   - events: called on the loop thread for every event.
    public init(
        identity: Identity, room: RoomKeys, listen: HostPort, rendezvous: HostPort?,
        configuration: Configuration = Configuration(), events: @escaping EventHandler
    ) {
        self.identity = identity
        self.room = room
        localKey = identity.publicKey
        listenAddress = listen
        rendezvousAddress = rendezvous
        self.configuration = configuration
        shared = TransportShared(events: events)
    }

    /// Binds the socket, resolves the rendezvous and starts the loop thread.
    ///
    /// - Returns: the bound address (with the real port when bound to port 0).
    /// - Throws: `TransportError.alreadyStarted`, or `.socket` if binding or resolving failed.
    @discardableResult
    public func start() throws(TransportError) -> UDPEndpoint {
        try shared.state.withLock { (state) throws(TransportError) in
            guard case .idle = state.phase else { throw .alreadyStarted }
            state.phase = .starting
        }
        let setup: TransportLoop.Setup
        do {
            setup = try makeSetup()
        } catch {
            shared.state.withLock { $0.phase = .idle }
            throw error
        }
        let finished = DispatchGroup()
        finished.enter()
        shared.state.withLock { state in
            state.phase = .running(
                TransportShared.Running(wakeWrite: setup.wakeWrite, finished: finished))
            state.status.localEndpoint = setup.local
            state.status.localCandidates = setup.candidates
        }
        let shared = self.shared
        let thread = Thread {
            let loop = TransportLoop(setup: setup, shared: shared)
            loop.run()
            setup.socket.close()
            SystemCall.close(setup.wakeRead)
            // Under the lock, where every write to the pipe happens, so none can follow.
            shared.state.withLock { state in
                SystemCall.close(setup.wakeWrite)
                state.phase = .closed
                state.connected = []
            }
            finished.leave()
        }
        thread.name = "cvpeer.transport"
        thread.start()
        return setup.local
    }

    private func makeSetup() throws(TransportError) -> TransportLoop.Setup {
        let socket: NodeSocket
        do throws(SocketError) {
            socket = try NodeSocket.open(listen: listenAddress, bufferSize: configuration.socketBufferSize)
        } catch {
            throw .socket(error.description)
        }
        do throws(TransportError) {
            let local: UDPEndpoint
            let server: UDPEndpoint?
            do throws(SocketError) {
                local = try socket.socket.localEndpoint()
                server = try rendezvousAddress.map(UDPSocket.resolveEndpoint)
            } catch {
                throw TransportError.socket("\(error)")
            }
            if let rendezvousAddress {
                guard let server, socket.canReach(server) else {
                    throw TransportError.socket("cannot reach the rendezvous \(rendezvousAddress) from \(listenAddress)")
                }
            }
            let candidates =
                configuration.directPathsDisabled
                ? [] : NodeSocket.candidates(for: local, limit: RendezvousWire.maxCandidates)
            let wake: (read: Int32, write: Int32)
            do throws(SocketError) {
                wake = try SystemCall.wakePipe()
            } catch {
                guard case .system(_, let code) = error else { throw TransportError.socket("\(error)") }
                throw TransportError.socket("pipe failed: errno \(code)")
            }
            return TransportLoop.Setup(
                socket: socket, wakeRead: wake.read, wakeWrite: wake.write, local: local, server: server,
                candidates: candidates, identity: identity, room: room, configuration: configuration,
                rendezvousPeerID: configuration.rendezvousPeerID ?? .random())
        } catch {
            socket.close()
            throw error
        }
    }

    /// Starts handshakes with whoever answers at these addresses (no rendezvous needed).
    ///
    /// The first to answer wins; `linkUp` reports it. Does nothing if the transport is not running.
    public func connect(to endpoints: [UDPEndpoint]) {
        guard !endpoints.isEmpty else { return }
        shared.post(.connect(endpoints))
    }

    /// Queues a reliable message to `peer`: delivered whole, in order, exactly once while the link lives.
    ///
    /// - Throws: `TransportError.messageTooLarge` above `Wire.maxMessageSize`, `.notConnected`
    ///   without a link, `.notRunning` before `start()` or after `close()`.
    public func send(message: [UInt8], to peer: PublicKey) throws(TransportError) {
        guard message.count <= Wire.maxMessageSize else { throw .messageTooLarge(message.count) }
        try shared.post(.send(peer, message), requiring: peer)
    }

    /// Queues an unreliable datagram (presence) to `peer`: sent once, never retransmitted.
    ///
    /// - Throws: `TransportError.datagramTooLarge` above `Wire.maxUnreliableSize`, `.notConnected`, `.notRunning`.
    public func sendUnreliable(_ datagram: [UInt8], to peer: PublicKey) throws(TransportError) {
        guard datagram.count <= Wire.maxUnreliableSize else { throw .datagramTooLarge(datagram.count) }
        try shared.post(.unreliable(peer, datagram), requiring: peer)
    }

    /// Moves to a new epoch of the room: registers under its tag (keeping the previous
    /// registration for a while), starts every handshake with its keys and rekeys every link
    /// under them. Handshakes in the `older` epochs are still answered, for `olderEpochPeers`
    /// only: members who were away when the room moved on link there, then sync brings them
    /// the change. Does nothing if the transport is not running.
    public func switchEpoch(to keys: RoomKeys, older: [RoomKeys], olderEpochPeers: Set<PublicKey>) {
        shared.post(.switchEpoch(keys, older: older, olderEpochPeers: olderEpochPeers))
    }

    /// Closes the link to `peer` (a close notice goes out); it may link again later, if the
    /// handshake rules let it. Does nothing without a link.
    public func disconnect(_ peer: PublicKey) {
        shared.post(.disconnect(peer))
    }

    /// Connected peers with their path, round-trip time, window and losses.
    public var peers: [PeerStatus] { status.peers }

    /// The whole status: peers, drops by reason at every layer, rendezvous registration.
    ///
    /// The loop's last snapshot, read without waiting (so callable from async code): taken at
    /// once on link and registration events, and within 50 ms of any other change.
    public var status: TransportStatus {
        shared.state.withLock { $0.status }
    }

    /// True from `start()` until the loop has stopped.
    public var isRunning: Bool {
        shared.state.withLock { state in
            switch state.phase {
            case .running: true
            case .idle, .starting, .closed: false
            }
        }
    }

    /// Closes cleanly: waits up to `drainTimeout` for queued messages to be acknowledged, sends
    /// CLOSE and a close notice to every peer, unregisters from the rendezvous, stops the thread.
    ///
    /// Blocks until the loop has stopped, except when called on the loop thread (from an event
    /// handler), where it only asks the loop to stop. Later calls do nothing.
    public func close(drainTimeout: Duration = .seconds(1)) {
        let nanoseconds = UInt64(max(0, drainTimeout.components.seconds)) * 1_000_000_000
            + UInt64(max(0, drainTimeout.components.attoseconds / 1_000_000_000))
        let running: TransportShared.Running? = shared.state.withLock { state in
            guard case .running(let running) = state.phase else { return nil }
            if !state.closeRequested {
                state.closeRequested = true
                state.commands.append(.close(drainNanoseconds: nanoseconds))
                shared.wake(state)
            }
            return running
        }
        guard let running, shared.state.withLock({ $0.loopThread }) != TransportShared.currentThreadID else { return }
        running.finished.wait()
    }

    deinit {
        // Without this the loop thread would run on, unreachable, until the process ends.
        close(drainTimeout: .zero)
    }
}

/// The state the API threads and the loop thread share, under one lock.
final class TransportShared: Sendable {
    enum Command: Sendable {
        case connect([UDPEndpoint])
        case send(PublicKey, [UInt8])
        case unreliable(PublicKey, [UInt8])
        case close(drainNanoseconds: UInt64)
        case switchEpoch(RoomKeys, older: [RoomKeys], olderEpochPeers: Set<PublicKey>)
        case disconnect(PublicKey)
    }

    struct Running: Sendable {
        let wakeWrite: Int32
        /// Left when the loop thread has stopped and closed everything.
        let finished: DispatchGroup
    }

    enum Phase: Sendable {
        case idle
        case starting
        case running(Running)
        case closed
    }

    struct State: Sendable {
        var phase = Phase.idle
        var closeRequested = false
        var commands: [Command] = []
        /// Updated before a link event is reported, so a handler can send at once.
        var connected: Set<PublicKey> = []
        var status = TransportStatus()
        /// The loop thread's `pthread_self()`, to recognise `close()` from an event handler.
        var loopThread: UInt?
    }

    /// The calling thread's id, comparable with `State.loopThread`.
    static var currentThreadID: UInt {
        #if canImport(Glibc)
            pthread_self()
        #else
            UInt(bitPattern: pthread_self())
        #endif
    }

    let state = Mutex(State())
    /// True while a wake-up byte is in the pipe and not yet consumed: one byte per batch of
    /// commands instead of one syscall per message.
    let wakePending = Atomic(false)
    let events: PeerTransport.EventHandler

    init(events: @escaping PeerTransport.EventHandler) {
        self.events = events
    }

    /// Appends a command if the transport runs (and, for sends, the peer is connected).
    func post(_ command: Command, requiring peer: PublicKey? = nil) throws(TransportError) {
        try state.withLock { (state) throws(TransportError) in
            guard case .running = state.phase, !state.closeRequested else { throw .notRunning }
            if let peer, !state.connected.contains(peer) { throw .notConnected(peer) }
            state.commands.append(command)
            wake(state)
        }
    }

    /// Posts without failing: for requests that simply do nothing on a stopped transport.
    func post(_ command: Command) {
        try? post(command, requiring: nil)
    }

    /// Writes the wake-up byte unless one is pending; called with the lock held, so the pipe
    /// cannot be closed meanwhile.
    func wake(_ state: State) {
        guard case .running(let running) = state.phase, !wakePending.exchange(true, ordering: .acquiringAndReleasing)
        else { return }
        var byte: UInt8 = 1
        _ = write(running.wakeWrite, &byte, 1)
    }
}
