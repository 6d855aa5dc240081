import CVPeerTestSupport
import Primitives
import Rendezvous
import Synchronization
import Testing

/// Collects the service's log lines for assertions.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])

    var handler: RendezvousService.LogHandler {
        { [self] level, line in lines.withLock { $0.append("\(level): \(line)") } }
    }

    var all: [String] { lines.withLock { $0 } }

    func contains(_ fragment: String) -> Bool { all.contains { $0.contains(fragment) } }
}

/// Real sockets on 127.0.0.1 only; every wait is bounded (2 s per datagram, a fixed number of tries).
@Suite(.serialized) struct RendezvousServiceTests {
    /// Registers `client` through the full cookie round trip; returns the registered reply.
    private func register(
        _ client: LoopbackSocket,
        peerID: RendezvousPeerID,
        room: RoomTag,
        candidates: [UDPEndpoint],
        port: UInt16
    ) throws -> RendezvousMessage.Registered {
        let nonce = UInt64(client.endpoint.port)
        client.send(
            RendezvousMessage.register(
                .init(roomTag: room, peerID: peerID, clientNonce: nonce, cookie: .none, candidates: candidates)
            )
            .encoded(),
            to: port
        )
        guard case .cookieChallenge(let challenge) = try #require(client.receiveMessage()) else {
            throw TestFailure("expected a cookie challenge first")
        }
        #expect(challenge.clientNonce == nonce)
        client.send(
            RendezvousMessage.register(
                .init(
                    roomTag: room,
                    peerID: peerID,
                    clientNonce: nonce,
                    cookie: challenge.cookie,
                    candidates: candidates
                )
            ).encoded(),
            to: port
        )
        guard case .registered(let registered) = try #require(client.receiveMessage()) else {
            throw TestFailure("expected registered after the cookie")
        }
        return registered
    }

    @Test func twoRealClientsRegisterMeetAndRelayThroughTheService() throws {
        let log = LogLines()
        let service = RendezvousService(
            listenAddress: HostPort(host: "127.0.0.1", port: 0),
            logLevel: .debug,
            log: log.handler
        )
        let port = try service.start()
        defer { service.stop() }
        #expect(port != 0)
        #expect(service.localEndpoint == .ipv4(127, 0, 0, 1, port: port))
        #expect(log.contains("info: listening on 127.0.0.1:\(port)"))

        let a = try LoopbackSocket()
        let b = try LoopbackSocket()
        let room = tag(42)
        let aLocal = [a.endpoint]
        let bLocal = [b.endpoint]

        let aRegistered = try register(a, peerID: peer(1), room: room, candidates: aLocal, port: port)
        #expect(aRegistered.peerID == peer(1))
        #expect(aRegistered.reflexive == a.endpoint, "the server reports the address it saw")
        #expect(aRegistered.refreshIntervalSeconds == 15)

        let bRegistered = try register(b, peerID: peer(2), room: room, candidates: bLocal, port: port)
        #expect(bRegistered.reflexive == b.endpoint)
        #expect(
            b.receiveMessage()
                == .introduce(
                    .init(
                        clientNonce: UInt64(b.endpoint.port), roomTag: room, peerID: peer(1), reflexive: a.endpoint,
                        candidates: aLocal))
        )
        #expect(
            a.receiveMessage()
                == .introduce(
                    .init(
                        clientNonce: UInt64(a.endpoint.port), roomTag: room, peerID: peer(2), reflexive: b.endpoint,
                        candidates: bLocal))
        )

        // A relay round trip: a → b and back, each forwarded unchanged with the sender's id.
        let ping = Array("ping".utf8)
        a.send(RendezvousMessage.relay(.init(target: peer(2), datagram: ping)).encoded(), to: port)
        #expect(b.receiveMessage() == .relayed(.init(source: peer(1), datagram: ping)))
        let pong = [UInt8](repeating: 0xEE, count: RendezvousWire.maxRelayedDatagramSize)
        b.send(RendezvousMessage.relay(.init(target: peer(1), datagram: pong)).encoded(), to: port)
        #expect(a.receiveMessage() == .relayed(.init(source: peer(2), datagram: pong)))

        // Garbage gets no answer.
        a.send([0xFF, 0, 0, 0, 1, 2, 3], to: port)
        #expect(a.receive(within: 200) == nil)

        service.stop()
        let stats = service.stats
        #expect(stats.rooms == 1)
        #expect(stats.peers == 2)
        #expect(stats.relayedPackets == 2)
        #expect(stats.relayedBytes == RendezvousWire.relayHeaderSize * 2 + ping.count + pong.count)
        #expect(stats.challengesSent == 2)
        #expect(stats.drops[.unknownType] == 1)
        #expect(log.contains("info: room \(room.shortDescription) created"))
        #expect(
            log.contains(
                "info: peer \(peer(1).shortDescription) registered in room \(room.shortDescription) from \(a.endpoint)"
            )
        )
        #expect(log.contains("debug: dropped datagram from \(a.endpoint): unknown type"))
        #expect(log.all.last == "info: stopped")
    }

    @Test func aSpentRelayReservationIsRefusedAndLoggedOnce() throws {
        let log = LogLines()
        var configuration = RendezvousServer.Configuration()
        configuration.relayReservationBytes = 2 * RendezvousWire.maxDatagramSize
        let service = RendezvousService(
            listenAddress: HostPort(host: "127.0.0.1", port: 0),
            configuration: configuration,
            log: log.handler
        )
        let port = try service.start()
        defer { service.stop() }
        let a = try LoopbackSocket()
        let b = try LoopbackSocket()
        let room = tag(43)
        _ = try register(a, peerID: peer(1), room: room, candidates: [], port: port)
        _ = try register(b, peerID: peer(2), room: room, candidates: [], port: port)
        #expect(b.receiveMessage() != nil, "b's introduce of a")
        #expect(a.receiveMessage() != nil, "a's introduce of b")

        let full = [UInt8](repeating: 0x5A, count: RendezvousWire.maxRelayedDatagramSize)
        for _ in 0..<4 {
            a.send(RendezvousMessage.relay(.init(target: peer(2), datagram: full)).encoded(), to: port)
        }
        #expect(b.receiveMessage() == .relayed(.init(source: peer(1), datagram: full)))
        #expect(b.receiveMessage() == .relayed(.init(source: peer(1), datagram: full)))
        #expect(b.receive(within: 300) == nil, "the reservation's two datagrams, and no more")
        // b's own reservation is untouched.
        b.send(RendezvousMessage.relay(.init(target: peer(1), datagram: [1])).encoded(), to: port)
        #expect(a.receiveMessage() == .relayed(.init(source: peer(2), datagram: [1])))

        service.stop()
        let stats = service.stats
        #expect(stats.relayedPackets == 3)
        #expect(stats.drops[.relayReservationExhausted] == 2)
        #expect(stats.relayReservationsExhausted == 1)
        let line =
            "info: relay reservation of peer \(peer(1).shortDescription) in room \(room.shortDescription) ran out "
            + "(\(2 * RendezvousWire.maxDatagramSize) bytes relayed); its relays are refused until the next window"
        #expect(log.all.filter { $0 == line }.count == 1)
    }

    @Test func theIPv6WildcardAlsoServesIPv4ClientsAsIPv4() throws {
        let service = RendezvousService(listenAddress: HostPort(host: "::", port: 0), log: { _, _ in })
        let port: UInt16
        do {
            port = try service.start()
        } catch {
            // A host without IPv6 cannot bind `::`; nothing to test there.
            return
        }
        defer { service.stop() }
        let client = try LoopbackSocket()
        let registered = try register(client, peerID: peer(1), room: tag(1), candidates: [], port: port)
        // Seen through a dual-stack socket as ::ffff:127.0.0.1, reported as plain IPv4.
        #expect(registered.reflexive == client.endpoint)
    }

    @Test func startTwiceOrOnABusyPortFails() throws {
        let first = RendezvousService(listenAddress: HostPort(host: "127.0.0.1", port: 0), log: { _, _ in })
        let port = try first.start()
        defer { first.stop() }
        #expect(throws: RendezvousError.alreadyRunning) { try first.start() }
        let second = RendezvousService(listenAddress: HostPort(host: "127.0.0.1", port: port), log: { _, _ in })
        #expect(throws: RendezvousError.self) { try second.start() }
        // Stop, then the same service can start again.
        first.stop()
        first.stop()
        let again = try first.start()
        #expect(again != 0)
        #expect(RendezvousService.defaultListenAddress.description == "0.0.0.0:7700")
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
