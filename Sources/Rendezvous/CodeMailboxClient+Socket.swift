import Foundation
import Primitives
import Sockets
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One short-code exchange over a real UDP socket: what `cvpeer host --code` and `cvpeer join`
/// run.
///
/// Each call opens its own socket on an ephemeral port (IPv4 or IPv6, as the rendezvous's
/// address), runs the state machine against the rendezvous until the exchange ends, and closes
/// the socket. The caller's closures do the PAKE: they run on the calling thread, between
/// datagrams, and may throw to abandon the exchange (a host then closes its code). The blocking
/// forms wait in `poll(2)`; the async forms run them on a thread of their own and turn task
/// cancellation into `RendezvousError.codeCancelled`.
extension CodeMailboxClient {
    /// What a host does with a knock.
    public enum HostDecision: Equatable, Sendable {
        /// The tag checked out: send this sealed payload (1 … `RendezvousWire.maxCodePayloadSize` bytes).
        case answer([UInt8])
        /// The tag was wrong: burn the code; the joiner is told.
        case burn
    }

    /// How a host's exchange ended, when it did not fail.
    public enum HostOutcome: Equatable, Sendable {
        /// The payload went to the joiner.
        case answered
        /// The code was burnt after a wrong guess.
        case burnt
    }

    /// The longest a blocking exchange sleeps before it asks `isCancelled` again.
    package static let cancellationCheckInterval = Duration.milliseconds(100)

    /// Runs the host's side: opens a code, reports its nameplate, waits for the knock, and
    /// answers or burns as `decide` says.
    ///
    /// - Parameters:
    ///   - rendezvous: the rendezvous's host and port.
    ///   - pakeMessage: the host's PAKE message (1 … 96 bytes).
    ///   - lifetime: how long the code should live; nil for the rendezvous's default (600 s).
    ///   - deadline: give up (and close the code) at this instant; nil to wait until the code expires.
    ///   - configuration: retry and timeout timers.
    ///   - isCancelled: asked at least every `cancellationCheckInterval`; true closes the code and stops.
    ///   - opened: called once with the nameplate and lifetime, to show the code.
    ///   - decide: called with the knock; checks the joiner's tag.
    /// - Returns: whether the code was answered or burnt.
    /// - Throws: `RendezvousError` (`codeRefused`, `codeNoReply`, `codeExpired`, `codeDeadline`,
    ///   `codeCancelled`, `cannotResolve`, `socket`), or what a closure threw.
    public static func runHost(
        rendezvous: HostPort,
        pakeMessage: [UInt8],
        lifetime: Duration? = nil,
        deadline: ContinuousClock.Instant? = nil,
        configuration: Configuration = Configuration(),
        isCancelled: () -> Bool = { false },
        opened: (CodeNameplate, Duration) throws -> Void,
        decide: (Knock) throws -> HostDecision
    ) throws -> HostOutcome {
        let client = CodeMailboxClient(
            role: .host(pakeMessage: pakeMessage, lifetime: lifetime),
            configuration: configuration
        )
        var exchange = try SocketExchange(client: client, rendezvous: rendezvous)
        defer { exchange.closeSocket() }
        var decision: HostDecision?
        do {
            var events = exchange.perform { $0.start(now: $1) }
            while true {
                while !events.isEmpty {
                    switch events.removeFirst() {
                    case .opened(let nameplate, let lifetime):
                        try opened(nameplate, lifetime)
                    case .knocked(let knock):
                        // Cancelled while poll slept (a flag does not wake it): never answer then.
                        if isCancelled() { throw RendezvousError.codeCancelled }
                        let chosen = try decide(knock)
                        decision = chosen
                        switch chosen {
                        case .answer(let payload): events += exchange.perform { $0.answer(payload: payload, now: $1) }
                        case .burn: events += exchange.perform { $0.burn(now: $1) }
                        }
                    case .acknowledged:
                        return decision == .burn ? .burnt : .answered
                    case .failed(let error):
                        throw error
                    case .offered, .answered:
                        preconditionFailure("a host is never offered or answered")
                    }
                }
                events = try exchange.waitForEvents(deadline: deadline, isCancelled: isCancelled)
            }
        } catch {
            // Whatever stopped it, a code still open is closed, so a joiner is told at once.
            exchange.closeCode()
            throw error
        }
    }

    /// Runs the joiner's side: looks the nameplate up, knocks with what `knock` computes from the
    /// host's PAKE message, and returns the host's sealed payload.
    ///
    /// - Parameters:
    ///   - rendezvous: the rendezvous's host and port.
    ///   - nameplate: the number part of the code the person typed.
    ///   - deadline: give up at this instant; nil to rely on the reply and answer timeouts.
    ///   - configuration: retry and timeout timers.
    ///   - isCancelled: asked at least every `cancellationCheckInterval`; true stops.
    ///   - knock: given the host's PAKE message, returns the joiner's PAKE message (1 … 96 bytes)
    ///     and its confirmation tag (32 bytes).
    /// - Returns: the host's payload, to open with the PAKE key.
    /// - Throws: `RendezvousError` (`codeRefused`, `codeNoReply`, `codeNoAnswer`, `codeDeadline`,
    ///   `codeCancelled`, `cannotResolve`, `socket`), or what `knock` threw.
    public static func runJoiner(
        rendezvous: HostPort,
        nameplate: CodeNameplate,
        deadline: ContinuousClock.Instant? = nil,
        configuration: Configuration = Configuration(),
        isCancelled: () -> Bool = { false },
        knock: (_ hostPakeMessage: [UInt8]) throws -> (pakeMessage: [UInt8], tag: [UInt8])
    ) throws -> [UInt8] {
        let client = CodeMailboxClient(role: .joiner(nameplate: nameplate), configuration: configuration)
        var exchange = try SocketExchange(client: client, rendezvous: rendezvous)
        defer { exchange.closeSocket() }
        var events = exchange.perform { $0.start(now: $1) }
        while true {
            while !events.isEmpty {
                switch events.removeFirst() {
                case .offered(let hostPakeMessage):
                    let (pakeMessage, tag) = try knock(hostPakeMessage)
                    events += exchange.perform { $0.knock(pakeMessage: pakeMessage, tag: tag, now: $1) }
                case .answered(let payload):
                    return payload
                case .failed(let error):
                    throw error
                case .opened, .knocked, .acknowledged:
                    preconditionFailure("a joiner never opens, is knocked on or acknowledged")
                }
            }
            events = try exchange.waitForEvents(deadline: deadline, isCancelled: isCancelled)
        }
    }

    /// `runHost` for async callers: runs on a thread of its own; cancelling the task closes the
    /// code and throws `RendezvousError.codeCancelled`.
    public static func runHost(
        rendezvous: HostPort,
        pakeMessage: [UInt8],
        lifetime: Duration? = nil,
        deadline: ContinuousClock.Instant? = nil,
        configuration: Configuration = Configuration(),
        opened: @escaping @Sendable (CodeNameplate, Duration) throws -> Void,
        decide: @escaping @Sendable (Knock) throws -> HostDecision
    ) async throws -> HostOutcome {
        try await onOwnThread { isCancelled in
            try runHost(
                rendezvous: rendezvous,
                pakeMessage: pakeMessage,
                lifetime: lifetime,
                deadline: deadline,
                configuration: configuration,
                isCancelled: isCancelled,
                opened: opened,
                decide: decide
            )
        }
    }

    /// `runJoiner` for async callers: runs on a thread of its own; cancelling the task throws
    /// `RendezvousError.codeCancelled`.
    public static func runJoiner(
        rendezvous: HostPort,
        nameplate: CodeNameplate,
        deadline: ContinuousClock.Instant? = nil,
        configuration: Configuration = Configuration(),
        knock: @escaping @Sendable (_ hostPakeMessage: [UInt8]) throws -> (pakeMessage: [UInt8], tag: [UInt8])
    ) async throws -> [UInt8] {
        try await onOwnThread { isCancelled in
            try runJoiner(
                rendezvous: rendezvous,
                nameplate: nameplate,
                deadline: deadline,
                configuration: configuration,
                isCancelled: isCancelled,
                knock: knock
            )
        }
    }
}

/// Runs a blocking exchange on a new thread, so it never holds one of the cooperative pool's few
/// threads for minutes; task cancellation reaches it through a flag it polls.
private func onOwnThread<Value: Sendable>(
    _ body: @escaping @Sendable (_ isCancelled: () -> Bool) throws -> Value
) async throws -> Value {
    let cancelled = CancellationFlag()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let thread = Thread {
                continuation.resume(with: Result { try body { cancelled.isSet } })
            }
            thread.name = "cvpeer.code-exchange"
            thread.start()
        }
    } onCancel: {
        cancelled.set()
    }
}

/// A flag one thread sets and another polls.
private final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    var isSet: Bool { flag.load(ordering: .relaxed) }

    func set() { flag.store(true, ordering: .relaxed) }
}

/// A `CodeMailboxClient`, its socket and the rendezvous's address; performs the machine's actions.
private struct SocketExchange {
    var client: CodeMailboxClient
    let socket: UDPSocket
    let server: UDPEndpoint
    private let clock = ContinuousClock()
    private var buffer = [UInt8](repeating: 0, count: RendezvousService.receiveBufferSize)

    init(client: CodeMailboxClient, rendezvous: HostPort) throws(RendezvousError) {
        let server: UDPEndpoint
        do throws(SocketError) {
            server = try UDPSocket.resolveEndpoint(rendezvous)
        } catch {
            throw RendezvousError(error)
        }
        let wildcard: String
        switch server.address {
        case .v4: wildcard = "0.0.0.0"
        case .v6: wildcard = "::"
        }
        do throws(SocketError) {
            socket = try UDPSocket.open(boundTo: HostPort(host: wildcard, port: 0))
        } catch {
            throw RendezvousError(error)
        }
        self.client = client
        self.server = server
    }

    /// Calls one of the machine's event methods now and performs what it returns.
    mutating func perform(
        _ body: (inout CodeMailboxClient, ContinuousClock.Instant) -> [CodeMailboxClient.Action]
    ) -> [CodeMailboxClient.Event] {
        let actions = body(&client, clock.now)
        var events: [CodeMailboxClient.Event] = []
        for action in actions {
            switch action {
            case .send(let datagram):
                // A failed send is a lost datagram; the machine's retries cover it.
                _ = socket.send(datagram, to: server)
            case .event(let event):
                events.append(event)
            }
        }
        return events
    }

    /// Waits for datagrams and timers until the machine reports something.
    mutating func waitForEvents(
        deadline: ContinuousClock.Instant?,
        isCancelled: () -> Bool
    ) throws(RendezvousError) -> [CodeMailboxClient.Event] {
        while true {
            if isCancelled() { throw .codeCancelled }
            let now = clock.now
            if let deadline, now >= deadline { throw .codeDeadline }
            var wakeAt = now + CodeMailboxClient.cancellationCheckInterval
            if let timer = client.nextTimer { wakeAt = min(wakeAt, timer) }
            if let deadline { wakeAt = min(wakeAt, deadline) }
            let ready: [Bool]
            do throws(SocketError) {
                ready = try Poll.readable([socket.descriptor], until: wakeAt, clock: clock)
            } catch {
                throw RendezvousError(error)
            }
            var events: [CodeMailboxClient.Event] = []
            if ready[0] { events += try drain() }
            if let timer = client.nextTimer, clock.now >= timer {
                events += perform { $0.timerFired(now: $1) }
            }
            if !events.isEmpty { return events }
        }
    }

    /// Feeds every waiting datagram from the rendezvous to the machine; others are ignored.
    private mutating func drain() throws(RendezvousError) -> [CodeMailboxClient.Event] {
        var events: [CodeMailboxClient.Event] = []
        // Bounded, so a flood cannot keep the timers from running; poll reports the rest at once.
        for _ in 0..<RendezvousService.receiveBatch {
            switch socket.receive(into: &buffer) {
            case .datagram(let count, let source):
                guard source == server, count <= RendezvousWire.maxDatagramSize else { continue }
                let datagram = Array(buffer[0..<count])
                events += perform { $0.received(datagram, now: $1) }
            case .empty:
                return events
            case .transient:
                continue
            case .failed(let code):
                throw .socket(call: "recvfrom", errno: code)
            }
        }
        return events
    }

    /// Sends a host's codeClose if it holds a code (best effort) and ends the machine.
    mutating func closeCode() {
        _ = perform { $0.close(now: $1) }
    }

    func closeSocket() {
        socket.close()
    }
}
