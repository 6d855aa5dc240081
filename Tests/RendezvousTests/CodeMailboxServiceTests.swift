import CVPeerTestSupport
import Primitives
import Rendezvous
import Testing

/// A rendezvous service and code exchanges over real sockets on 127.0.0.1, with dummy PAKE bytes.
/// Every wait is bounded: each exchange has a 10-second deadline.
@Suite(.serialized) struct CodeMailboxServiceTests {
    private static func startService() throws -> (RendezvousService, HostPort) {
        let service = RendezvousService(listenAddress: HostPort(host: "127.0.0.1", port: 0), log: { _, _ in })
        let port = try service.start()
        return (service, HostPort(host: "127.0.0.1", port: port))
    }

    private static var deadline: ContinuousClock.Instant { .now + .seconds(10) }

    /// Starts a host in a task; returns the task and the nameplate it opened.
    private static func startHost(
        _ rendezvous: HostPort,
        lifetime: Duration? = nil
    ) async throws -> (Task<CodeMailboxClient.HostOutcome, any Error>, CodeNameplate) {
        let (nameplates, continuation) = AsyncStream<CodeNameplate>.makeStream()
        let host = Task {
            try await CodeMailboxClient.runHost(
                rendezvous: rendezvous,
                pakeMessage: hostPake,
                lifetime: lifetime,
                deadline: deadline,
                opened: { nameplate, _ in continuation.yield(nameplate) },
                // The host's PAKE check, reduced to comparing the tag with the right one.
                decide: { knock in knock.tag == rightTag ? .answer(invitePayload) : .burn }
            )
        }
        var iterator = nameplates.makeAsyncIterator()
        guard let nameplate = await iterator.next() else { throw TestFailure("the host opened no code") }
        return (host, nameplate)
    }

    private static func join(_ rendezvous: HostPort, _ nameplate: CodeNameplate, tag: [UInt8]) async throws -> [UInt8] {
        try await CodeMailboxClient.runJoiner(rendezvous: rendezvous, nameplate: nameplate, deadline: deadline) {
            offered in
            guard offered == hostPake else { throw TestFailure("offered another PAKE message") }
            return (joinerPake, tag)
        }
    }

    @Test func aJoinerGetsTheHostsSealedInviteOverRealUDP() async throws {
        let (service, rendezvous) = try Self.startService()
        defer { service.stop() }
        let (host, nameplate) = try await Self.startHost(rendezvous)
        #expect(nameplate == CodeNameplate(rawValue: 1))
        let payload = try await Self.join(rendezvous, nameplate, tag: rightTag)
        #expect(payload == invitePayload)
        #expect(try await host.value == .answered)
        service.stop()
        let stats = service.stats
        #expect(stats.codesOpened == 1 && stats.codeKnocks == 1 && stats.codesAnswered == 1)
        #expect(stats.nameplates == 1, "kept for the linger")
    }

    @Test func aWrongGuessBurnsTheCodeAndBothSidesAreTold() async throws {
        let (service, rendezvous) = try Self.startService()
        defer { service.stop() }
        let (host, nameplate) = try await Self.startHost(rendezvous)
        await #expect(throws: RendezvousError.codeRefused(.burnt)) {
            try await Self.join(rendezvous, nameplate, tag: wrongTag)
        }
        #expect(try await host.value == .burnt)
        // The one guess is spent: the right words now get nowhere either.
        await #expect(throws: RendezvousError.codeRefused(.burnt)) {
            try await Self.join(rendezvous, nameplate, tag: rightTag)
        }
    }

    @Test func anUnusedCodeExpiresForBothSides() async throws {
        let (service, rendezvous) = try Self.startService()
        defer { service.stop() }
        let (host, nameplate) = try await Self.startHost(rendezvous, lifetime: .seconds(1))
        await #expect(throws: RendezvousError.codeExpired) { try await host.value }
        await #expect(throws: RendezvousError.codeRefused(.expired)) {
            try await Self.join(rendezvous, nameplate, tag: rightTag)
        }
    }

    @Test func aSecondKnockIsRefusedAfterTheFirst() async throws {
        let (service, rendezvous) = try Self.startService()
        defer { service.stop() }
        let (host, nameplate) = try await Self.startHost(rendezvous)
        // A second joiner looks the code up before the first knocks, so it gets as far as knocking.
        let socket = try LoopbackSocket()
        var second = CodeMailboxClient(role: .joiner(nameplate: nameplate))
        let lookup = second.start(now: .now)
        let offered = drive(&second, over: socket, port: rendezvous.port, lookup)
        #expect(offered == [.offered(pakeMessage: hostPake)])
        #expect(try await Self.join(rendezvous, nameplate, tag: rightTag) == invitePayload)
        let knock = second.knock(pakeMessage: joinerPake, tag: rightTag, now: .now)
        let knocked = drive(&second, over: socket, port: rendezvous.port, knock)
        #expect(knocked == [.failed(.codeRefused(.used))])
        #expect(try await host.value == .answered)
        // Stopped first: the stats are then those of the loop's last pass, which sent the replies.
        service.stop()
        #expect(service.stats.codeKnocks == 1)
    }

    @Test func cancellingTheHostClosesItsCode() async throws {
        let (service, rendezvous) = try Self.startService()
        defer { service.stop() }
        let (host, nameplate) = try await Self.startHost(rendezvous)
        host.cancel()
        await #expect(throws: RendezvousError.codeCancelled) { try await host.value }
        await #expect(throws: RendezvousError.codeRefused(.closed)) {
            try await Self.join(rendezvous, nameplate, tag: rightTag)
        }
    }

    @Test func aRendezvousThatDoesNotAnswerTimesOut() async throws {
        // A bound socket that never replies stands in for a dead rendezvous.
        let silent = try LoopbackSocket()
        var configuration = CodeMailboxClient.Configuration()
        configuration.replyTimeout = .milliseconds(600)
        let started = ContinuousClock.now
        await #expect(throws: RendezvousError.codeNoReply) {
            try await CodeMailboxClient.runJoiner(
                rendezvous: HostPort(host: "127.0.0.1", port: silent.endpoint.port),
                nameplate: CodeNameplate(rawValue: 5)!,
                configuration: configuration
            ) { _ in ([1], rightTag) }
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        // It retried before giving up: 0, 0.5 s.
        var received = 0
        while silent.receive(within: 50) != nil { received += 1 }
        #expect(received == 2)
    }
}

/// Runs a machine over a plain loopback socket until it reports something (at most 5 s).
private func drive(
    _ machine: inout CodeMailboxClient,
    over socket: LoopbackSocket,
    port: UInt16,
    _ actions: [CodeMailboxClient.Action]
) -> [CodeMailboxClient.Event] {
    var pending = actions
    let deadline = ContinuousClock.now + .seconds(5)
    while ContinuousClock.now < deadline {
        var events: [CodeMailboxClient.Event] = []
        for action in pending {
            switch action {
            case .send(let bytes): socket.send(bytes, to: port)
            case .event(let event): events.append(event)
            }
        }
        if !events.isEmpty { return events }
        if let bytes = socket.receive(within: 100) {
            pending = machine.received(bytes, now: .now)
        } else {
            pending = machine.timerFired(now: .now)
        }
    }
    return []
}
