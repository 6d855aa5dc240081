import Dispatch
import Foundation
import PeerCrypto
import Primitives
import Sockets
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The rendezvous as a running service: a UDP socket and a loop thread around `RendezvousServer`.
///
/// The loop waits in `poll(2)` on the socket and a wake-up pipe, with a timeout that is the
/// server's next timer deadline; it feeds every datagram to the state machine, performs the
/// actions it returns, and calls `timerFired(now:)` when due. Nothing is written to disk.
///
/// Thread-safe: `start()`, `stop()` and `stats` may be called from any thread, but not from
/// inside the log handler (which runs on the loop thread). Call `stop()` before releasing it.
public final class RendezvousService: Sendable {
    /// How much a log line matters.
    public enum LogLevel: Int, Comparable, Sendable, CustomStringConvertible {
        /// Per-datagram detail: drops, send failures, secret rotations.
        case debug
        /// Lifecycle: listening, rooms created and removed, peers registered, moved and expired.
        case info
        /// Degraded: a socket error the loop survives.
        case warning
        /// The loop cannot go on.
        case error

        /// Orders levels from debug to error.
        public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }

        /// The lowercase level name used in log lines.
        public var description: String {
            switch self {
            case .debug: "debug"
            case .info: "info"
            case .warning: "warning"
            case .error: "error"
            }
        }
    }

    /// Receives each log line at or above the service's level; called on the loop thread too.
    public typealias LogHandler = @Sendable (LogLevel, String) -> Void

    /// `0.0.0.0:7700`, the address the design's `cvpeer rendezvous` listens on by default.
    public static let defaultListenAddress = HostPort(host: "0.0.0.0", port: 7700)
    /// Larger than any valid datagram, so an oversized one arrives long enough to be recognised and dropped.
    package static let receiveBufferSize = 2048
    /// Datagrams handled per poll wake-up before timers are checked again, so a flood cannot starve them.
    public static let receiveBatch = 256
    /// The longest poll wait: the loop re-reads the clock at least this often.
    package static let maxPollMilliseconds: Int32 = 1000
    /// Drop lines logged per second at debug level; the rest are counted in one summary line.
    package static let dropLogLinesPerSecond = 20

    private struct Running: Sendable {
        let socket: UDPSocket
        let wakeRead: Int32
        let wakeWrite: Int32
        let finished: DispatchSemaphore
        let endpoint: UDPEndpoint
    }

    private struct State: Sendable {
        var running: Running?
        /// True while `stop()` tears down, so a concurrent `start()` or `stop()` waits its turn.
        var stopping = false
        var stats = RendezvousServer.Stats()
        var sendFailures = 0
        /// The allow list in force (nil: open); the loop copies it into the server when `allowVersion` moves.
        var allowedOwners: AllowedOwners?
        var allowVersion = 0
    }

    /// The address this service binds.
    public let listenAddress: HostPort
    /// The state machine's limits and timers.
    public let configuration: RendezvousServer.Configuration
    /// Lines below this level are not even formatted.
    public let logLevel: LogLevel
    /// With an allow list, whether owners not on it may still create rooms within the limits
    /// (`--open`); fixed for the service's life, while the list itself may be replaced.
    public let unlistedOwnersMayCreate: Bool
    private let logHandler: LogHandler
    private let state = Mutex(State())

    /// Creates a stopped service.
    ///
    /// - Parameters:
    ///   - listenAddress: host and port to bind; port 0 picks a free port, reported by `start()`.
    ///   - configuration: the server's limits and timers.
    ///   - logLevel: the lowest level passed to `log`.
    ///   - allowedOwners: the owners allowed to create rooms; nil: anyone may.
    ///   - unlistedOwnersMayCreate: with a list, let owners not on it create rooms within the
    ///     per-prefix limits and `maxRooms` too (`RendezvousServer.unlistedOwnersMayCreate`).
    ///   - log: receives log lines; by default they go to standard output.
    public init(
        listenAddress: HostPort = RendezvousService.defaultListenAddress,
        configuration: RendezvousServer.Configuration = RendezvousServer.Configuration(),
        logLevel: LogLevel = .info,
        allowedOwners: AllowedOwners? = nil,
        unlistedOwnersMayCreate: Bool = false,
        log: @escaping LogHandler = RendezvousService.standardOutputLog
    ) {
        self.listenAddress = listenAddress
        self.configuration = configuration
        self.logLevel = logLevel
        self.unlistedOwnersMayCreate = unlistedOwnersMayCreate
        logHandler = log
        state.withLock { $0.allowedOwners = allowedOwners }
    }

    /// The owners allowed to create rooms now; nil when anyone may.
    public var allowedOwners: AllowedOwners? {
        state.withLock { $0.allowedOwners }
    }

    /// Replaces the allow list (nil opens room creation to anyone), from any thread; the loop
    /// applies it within `maxPollMilliseconds`. Rooms that exist stay. Logs one info line.
    public func setAllowedOwners(_ list: AllowedOwners?) {
        state.withLock {
            $0.allowedOwners = list
            $0.allowVersion += 1
        }
        log(.info, allowLine(list))
    }

    private func allowLine(_ list: AllowedOwners?) -> String {
        guard let list else { return "room creation is open to anyone (no --allow list)" }
        let owners = "\(list.count) owner\(list.count == 1 ? "" : "s") on the --allow list"
        guard unlistedOwnersMayCreate else { return "room creation is limited to the \(owners)" }
        return "room creation is open to anyone within the per-network limits (--open); rooms of the \(owners) always get in"
    }

    /// Writes `LEVEL line` to standard output in one unbuffered write, so a parent process reading
    /// a pipe sees each line at once.
    public static let standardOutputLog: LogHandler = { level, line in
        let text = Array("rendezvous \(level): \(line)\n".utf8)
        text.withUnsafeBytes { try? SystemCall.writeAll(STDOUT_FILENO, $0) }
    }

    /// Binds the socket and starts the loop thread.
    ///
    /// Logs `listening on HOST:PORT` at info level with the actual port.
    /// - Returns: the bound port (the real one when `listenAddress` has port 0).
    /// - Throws: `RendezvousError.alreadyRunning`, `.cannotResolve` or `.socket`.
    @discardableResult
    public func start() throws(RendezvousError) -> UInt16 {
        let running: Running = try state.withLock { (state) throws(RendezvousError) -> Running in
            guard state.running == nil, !state.stopping else { throw .alreadyRunning }
            let socket: UDPSocket
            do throws(SocketError) {
                socket = try UDPSocket.open(boundTo: listenAddress)
            } catch {
                throw RendezvousError(error)
            }
            let endpoint: UDPEndpoint
            let wake: (read: Int32, write: Int32)
            do throws(SocketError) {
                endpoint = try socket.localEndpoint()
                wake = try SystemCall.wakePipe()
            } catch {
                socket.close()
                throw RendezvousError(error)
            }
            let running = Running(
                socket: socket,
                wakeRead: wake.read,
                wakeWrite: wake.write,
                finished: DispatchSemaphore(value: 0),
                endpoint: endpoint
            )
            state.running = running
            state.stats = RendezvousServer.Stats()
            state.sendFailures = 0
            return running
        }
        log(.info, "listening on \(running.endpoint.description) (udp)")
        log(.info, allowLine(allowedOwners))
        let thread = Thread { [self] in
            runLoop(running)
            running.finished.signal()
        }
        thread.name = "cvpeer.rendezvous"
        thread.start()
        return running.endpoint.port
    }

    /// Stops the loop, waits for its thread to finish, and closes the socket; does nothing if stopped.
    public func stop() {
        // Taken out under the lock, so of two concurrent calls only one tears down.
        let taken = state.withLock { state -> Running? in
            guard let running = state.running else { return nil }
            state.running = nil
            state.stopping = true
            return running
        }
        guard let running = taken else { return }
        var byte: UInt8 = 1
        _ = write(running.wakeWrite, &byte, 1)
        running.finished.wait()
        running.socket.close()
        SystemCall.close(running.wakeRead)
        SystemCall.close(running.wakeWrite)
        state.withLock { $0.stopping = false }
        log(.info, Self.totalsLine(stats))
        log(.info, "stopped")
    }

    /// The run's counters in one line, so an operator (or a test) sees at the end what a flood
    /// cost and what was dropped, without debug logging.
    static func totalsLine(_ stats: RendezvousServer.Stats) -> String {
        let drops = RendezvousServer.DropReason.allCases.filter { stats.drops[$0] > 0 }
            .map { "\($0) \(stats.drops[$0])" }
        return "totals: \(stats.rooms) rooms and \(stats.peers) registrations held; "
            + "\(stats.registrations) registers accepted, \(stats.challengesSent) cookie challenges sent, "
            + "\(stats.signatureChecks) signatures checked, \(stats.roomsEvicted) rooms evicted, "
            + "\(stats.refusalsSent) refusals sent, \(stats.relayedPackets) datagrams relayed; "
            + "\(stats.drops.total) datagrams dropped"
            + (drops.isEmpty ? "" : " (\(drops.joined(separator: ", ")))")
    }

    /// The bound address while running, else nil.
    public var localEndpoint: UDPEndpoint? {
        state.withLock { $0.running?.endpoint }
    }

    /// The state machine's counters as of the loop's last pass (at most a poll interval old).
    public var stats: RendezvousServer.Stats {
        state.withLock { $0.stats }
    }

    /// Datagrams the socket refused to send (buffer full, unreachable, wrong family).
    public var sendFailures: Int {
        state.withLock { $0.sendFailures }
    }

    // MARK: Loop

    private func log(_ level: LogLevel, _ line: @autoclosure () -> String) {
        guard level >= logLevel else { return }
        logHandler(level, line())
    }

    private func runLoop(_ running: Running) {
        let clock = ContinuousClock()
        var server = RendezvousServer(configuration: configuration, now: clock.now)
        server.unlistedOwnersMayCreate = unlistedOwnersMayCreate
        var allowVersion = -1
        var buffer = [UInt8](repeating: 0, count: Self.receiveBufferSize)
        var dropLog = DropLogLimiter(start: clock.now)
        var sendFailures = 0
        let descriptors = [running.socket.descriptor, running.wakeRead]
        loop: while true {
            let ready: [Bool]
            do throws(SocketError) {
                ready = try Poll.readable(
                    descriptors, until: min(server.nextTimerDeadline, clock.now + .milliseconds(Self.maxPollMilliseconds)),
                    clock: clock)
            } catch {
                log(.error, "poll failed: \(error.reason); the rendezvous stops")
                break loop
            }
            if ready[1] { break loop }
            // A new allow list (SIGHUP) applies from the first datagram after it was set.
            let (list, version) = state.withLock { ($0.allowedOwners, $0.allowVersion) }
            if version != allowVersion {
                server.allowedOwners = list
                allowVersion = version
            }
            if ready[0] {
                receiving: for _ in 0..<Self.receiveBatch {
                    switch running.socket.receive(into: &buffer) {
                    case .datagram(let count, let source):
                        let actions = server.received(
                            datagram: Array(buffer[0..<count]),
                            from: source,
                            now: clock.now
                        )
                        perform(
                            actions,
                            on: running.socket,
                            dropLog: &dropLog,
                            sendFailures: &sendFailures,
                            now: clock.now
                        )
                    case .empty:
                        break receiving
                    case .transient(let code):
                        log(.debug, "receive: \(SystemCall.errorText(code))")
                    case .failed(let code):
                        log(.error, "receive failed: \(SystemCall.errorText(code)); the rendezvous stops")
                        break loop
                    }
                }
            }
            let now = clock.now
            if now >= server.nextTimerDeadline {
                perform(
                    server.timerFired(now: now),
                    on: running.socket,
                    dropLog: &dropLog,
                    sendFailures: &sendFailures,
                    now: now
                )
            }
            let stats = server.stats
            state.withLock {
                $0.stats = stats
                $0.sendFailures = sendFailures
            }
        }
    }

    private func perform(
        _ actions: [RendezvousServer.Action],
        on socket: UDPSocket,
        dropLog: inout DropLogLimiter,
        sendFailures: inout Int,
        now: ContinuousClock.Instant
    ) {
        for action in actions {
            switch action {
            case .send(let datagram, let target):
                if let code = socket.send(datagram, to: target) {
                    sendFailures += 1
                    log(.debug, "send to \(target) failed: \(SystemCall.errorText(code))")
                }
            case .log(let event):
                log(event.level, event.line)
            case .drop(let reason, let source):
                guard logLevel <= .debug else { continue }
                switch dropLog.admit(now: now) {
                case .log(let suppressed):
                    if suppressed > 0 { log(.debug, "\(suppressed) more dropped datagrams not shown") }
                    log(.debug, "dropped datagram from \(source): \(reason)")
                case .suppress:
                    continue
                }
            }
        }
    }
}

/// Lets through `RendezvousService.dropLogLinesPerSecond` drop lines a second and counts the rest,
/// so a flood cannot turn the debug log into a flood of its own.
private struct DropLogLimiter {
    enum Decision {
        /// Log it; first report this many suppressed since the last logged line.
        case log(suppressed: Int)
        /// Count it only.
        case suppress
    }

    private var windowStart: ContinuousClock.Instant
    private var linesInWindow = 0
    private var suppressed = 0

    init(start: ContinuousClock.Instant) {
        windowStart = start
    }

    mutating func admit(now: ContinuousClock.Instant) -> Decision {
        if now - windowStart >= .seconds(1) {
            windowStart = now
            linesInWindow = 0
        }
        guard linesInWindow < RendezvousService.dropLogLinesPerSecond else {
            suppressed += 1
            return .suppress
        }
        linesInWindow += 1
        defer { suppressed = 0 }
        return .log(suppressed: suppressed)
    }
}

extension RendezvousServer.Event {
    /// The level of this event's log line.
    var level: RendezvousService.LogLevel {
        switch self {
        case .roomCreated, .roomRemoved, .roomRetired, .roomRefused, .roomEvicted, .peerRegistered, .peerMoved, .peerReplaced, .peerExpired,
            .peerUnregistered, .codeOpened, .codeKnocked, .codeAnswered, .codeBurnt, .codeClosed, .codeExpired,
            .relayReservationExpired, .relayReservationExhausted:
            .info
        case .secretRotated, .codeReleased: .debug
        }
    }

    /// The log line; room tags and peer ids are shortened, cookies never appear.
    var line: String {
        switch self {
        case .roomCreated(let tag): "room \(tag.shortDescription) created"
        case .roomRemoved(let tag): "room \(tag.shortDescription) removed"
        case .roomRefused(let tag, let owner, let source):
            if let owner {
                "room \(tag.shortDescription) refused from \(source): owner \(owner.fingerprint) is not on the --allow list"
            } else {
                "room \(tag.shortDescription) refused from \(source): no owner proof (a member registers "
                    + "before its room's owner; an --allow list is in force)"
            }
        case .roomEvicted(let tag, let peers):
            "room \(tag.shortDescription) evicted (\(peers) registrations) to make way for an allowed owner's room"
        case .roomRetired(let tag, let peers):
            "room \(tag.shortDescription) retired by a member (\(peers) registrations removed); "
                + "registers under its tag are refused"
        case .peerRegistered(let tag, let peer, let endpoint):
            "peer \(peer.shortDescription) registered in room \(tag.shortDescription) from \(endpoint)"
        case .peerMoved(let tag, let peer, let from, let to):
            "peer \(peer.shortDescription) of room \(tag.shortDescription) moved from \(from) to \(to)"
        case .peerReplaced(let tag, let old, let new):
            "peer \(old.shortDescription) of room \(tag.shortDescription) replaced by "
                + "\(new.shortDescription) at its address"
        case .peerExpired(let tag, let peer):
            "peer \(peer.shortDescription) expired from room \(tag.shortDescription)"
        case .peerUnregistered(let tag, let peer):
            "peer \(peer.shortDescription) unregistered from room \(tag.shortDescription)"
        case .secretRotated: "cookie secret rotated"
        case .codeOpened(let nameplate, let host): "code \(nameplate) opened by \(host)"
        case .codeKnocked(let nameplate, let joiner): "code \(nameplate) knocked on from \(joiner)"
        case .codeAnswered(let nameplate): "code \(nameplate) answered"
        case .codeBurnt(let nameplate): "code \(nameplate) burnt by its host after a wrong guess"
        case .codeClosed(let nameplate): "code \(nameplate) closed by its host"
        case .codeExpired(let nameplate): "code \(nameplate) expired"
        case .codeReleased(let nameplate): "nameplate \(nameplate) released"
        case .relayReservationExpired(let tag, let peer):
            "relay reservation of peer \(peer.shortDescription) in room \(tag.shortDescription) expired; "
                + "its relays are refused until a refresh renews it"
        case .relayReservationExhausted(let tag, let peer, let bytes):
            "relay reservation of peer \(peer.shortDescription) in room \(tag.shortDescription) ran out "
                + "(\(bytes) bytes relayed); its relays are refused until the next window"
        }
    }
}
