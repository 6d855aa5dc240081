import CVPeerTestSupport
import PeerCrypto
import Primitives
import Synchronization
import Testing
@testable import Rendezvous

/// The node-side client driven against the real (pure) rendezvous server, in memory, on one
/// scripted clock: no sockets, no threads.
@Suite struct RendezvousClientTests {
    // MARK: Harness

    /// A server and any number of clients; datagrams are delivered at once unless a test drops them.
    final class Network {
        var server: RendezvousServer
        let start = ContinuousClock.now
        var clients: [RendezvousClient] = []
        var addresses: [UDPEndpoint] = []
        /// What each client was told, in order, excluding sends.
        var reports: [[RendezvousClient.Action]] = []
        /// Datagrams each client sent to the server (all of them, delivered or not).
        var sent: [[[UInt8]]] = []
        var serverUp = true
        var now: UInt64 = 1_000_000_000

        init(seed: UInt64 = 1) {
            server = RendezvousServer(now: start, randomSource: Self.random(seed))
        }

        static func random(_ seed: UInt64) -> RendezvousServer.RandomSource {
            let generator = Mutex(SeededRandom(seed: seed))
            return { count in generator.withLock { rng in (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) } } }
        }

        func instant(_ nanoseconds: UInt64) -> ContinuousClock.Instant {
            start + .nanoseconds(Int64(nanoseconds))
        }

        @discardableResult
        func addClient(key: Identity, id: UInt64, port: UInt16) -> Int {
            let address = UDPEndpoint.ipv4(127, 0, 0, 1, port: port)
            clients.append(
                RendezvousClient(
                    registrationKey: key, peerID: RendezvousPeerID(rawValue: id), candidates: [address],
                    random: SeededRandom(seed: id)))
            addresses.append(address)
            reports.append([])
            sent.append([])
            return clients.count - 1
        }

        func start(_ index: Int) { handle(clients[index].start(now: now), from: index) }

        /// Runs every timer due up to `time`, in order, delivering everything.
        func advance(to time: UInt64) {
            while true {
                let due = clients.indices.compactMap { index in clients[index].nextTimer.map { ($0, index) } }
                    .filter { $0.0 <= time }.min { $0.0 < $1.0 }
                guard let (at, index) = due else { break }
                now = max(now, at)
                handle(clients[index].timerFired(now: now), from: index)
            }
            now = time
            _ = server.timerFired(now: instant(now))
        }

        func handle(_ actions: [RendezvousClient.Action], from index: Int) {
            for action in actions {
                switch action {
                case .send(let datagram):
                    sent[index].append(datagram)
                    guard serverUp else { continue }
                    for reply in server.received(datagram: datagram, from: addresses[index], now: instant(now)) {
                        guard case .send(let bytes, let target) = reply,
                            let receiver = addresses.firstIndex(of: target)
                        else { continue }
                        handle(clients[receiver].received(bytes, now: now), from: receiver)
                    }
                case .registered, .introduced, .relayed, .registrationLost, .refused:
                    reports[index].append(action)
                }
            }
        }

        func introductions(_ index: Int) -> [RendezvousClient.Introduction] {
            reports[index].compactMap { if case .introduced(let introduction) = $0 { introduction } else { nil } }
        }
    }

    /// The room's registration key (as `RoomKeys` would derive it) and its tag.
    static let roomKey = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0xC0, count: 32)))
    static let room = RoomTag(registrationKey: roomKey.publicKey)
    static let second: UInt64 = 1_000_000_000

    // MARK: Tests

    @Test func registersThroughTheCookieRoundTripAndLearnsItsReflexiveAddress() {
        let net = Network()
        let a = net.addClient(key: Self.roomKey, id: 10, port: 5000)
        net.start(a)
        #expect(net.clients[a].isRegistered)
        #expect(net.clients[a].reflexive == net.addresses[a])
        #expect(net.reports[a] == [.registered(reflexive: net.addresses[a])])
        // Register without a cookie, then with the cookie from the challenge.
        #expect(net.sent[a].count == 2)
        #expect(net.clients[a].stats.challengesReceived == 1)
        #expect(net.server.stats.peers == 1)
    }

    @Test func twoMembersAreIntroducedToEachOtherWithTheirCandidates() throws {
        let net = Network()
        let a = net.addClient(key: Self.roomKey, id: 10, port: 5000)
        let b = net.addClient(key: Self.roomKey, id: 20, port: 5001)
        net.start(a)
        net.start(b)
        let toA = try #require(net.introductions(a).first)
        let toB = try #require(net.introductions(b).first)
        #expect(toA.peerID.rawValue == 20 && toA.reflexive == net.addresses[b] && toA.candidates == [net.addresses[b]])
        #expect(toB.peerID.rawValue == 10 && toB.isNew)
    }

    @Test func refreshesAtTheServersIntervalAndReportsRepeatsAsNotNew() {
        let net = Network()
        let a = net.addClient(key: Self.roomKey, id: 10, port: 5000)
        let b = net.addClient(key: Self.roomKey, id: 20, port: 5001)
        net.start(a)
        net.start(b)
        let before = net.sent[b].count
        #expect(net.clients[b].nextTimer == net.now + 15 * Self.second)
        net.advance(to: net.now + 15 * Self.second)
        #expect(net.sent[b].count == before + 1)
        // The server repeats every member to a refreshing node: reported, but not new.
        #expect(net.introductions(b).last?.isNew == false)
        net.advance(to: net.now + 120 * Self.second)
        #expect(net.clients[a].isRegistered && net.clients[b].isRegistered)
        #expect(net.server.stats.peers == 2)
        #expect(net.clients[b].stats.restarts == 0)
    }

    @Test func reRegistersWithAFreshCookieAfterTheServerRestarts() {
        let net = Network()
        let a = net.addClient(key: Self.roomKey, id: 10, port: 5000)
        let b = net.addClient(key: Self.roomKey, id: 20, port: 5001)
        net.start(a)
        net.start(b)
        // A restart: a new secret, no registrations.
        net.server = RendezvousServer(now: net.instant(net.now), randomSource: Network.random(99))
        net.advance(to: net.now + 16 * Self.second)
        // Each refresh was answered with a challenge and sent again with the new cookie.
        #expect(net.server.stats.peers == 2)
        #expect(net.clients[a].stats.challengesReceived == 2)
        #expect(net.clients[a].isRegistered && net.clients[b].isRegistered)
        #expect(net.introductions(a).count >= 2)
    }

    @Test func startsOverWhenTheServerStopsAnswering() {
        let net = Network()
        let a = net.addClient(key: Self.roomKey, id: 10, port: 5000)
        net.start(a)
        net.serverUp = false
        let nonceBefore = net.clients[a].nonce
        net.advance(to: net.now + 40 * Self.second)
        #expect(net.reports[a].contains(.registrationLost))
        #expect(!net.clients[a].isRegistered)
        #expect(net.clients[a].nonce != nonceBefore)
        // Retries back off: far fewer than one a second.
        #expect(net.sent[a].count < 2 + 15)
        net.serverUp = true
        net.server = RendezvousServer(now: net.instant(net.now), randomSource: Network.random(7))
        net.advance(to: net.now + 10 * Self.second)
        #expect(net.clients[a].isRegistered)
        #expect(net.server.stats.peers == 1)
    }

    @Test func wrapsAndUnwrapsRelayedDatagrams() throws {
        let net = Network()
        let a = net.addClient(key: Self.roomKey, id: 10, port: 5000)
        let b = net.addClient(key: Self.roomKey, id: 20, port: 5001)
        net.start(a)
        net.start(b)
        let inner: [UInt8] = Array(0..<200)
        let wrapped = RendezvousClient.relayDatagram(inner, to: RendezvousPeerID(rawValue: 20))
        #expect(wrapped.count == inner.count + RendezvousWire.relayHeaderSize)
        #expect(try RendezvousMessage.decode(wrapped) == .relay(.init(target: RendezvousPeerID(rawValue: 20), datagram: inner)))
        net.handle([.send(wrapped)], from: a)
        #expect(net.reports[b].last == .relayed(inner, from: RendezvousPeerID(rawValue: 10)))
    }

    @Test func unregistersOnCloseAndIgnoresEverythingAfter() {
        let net = Network()
        let a = net.addClient(key: Self.roomKey, id: 10, port: 5000)
        net.start(a)
        #expect(net.server.stats.peers == 1)
        net.handle(net.clients[a].close(now: net.now), from: a)
        #expect(net.server.stats.peers == 0)
        #expect(net.clients[a].nextTimer == nil && !net.clients[a].isRegistered)
        #expect(net.clients[a].received([0x22, 0, 0, 0], now: net.now).isEmpty)
        #expect(net.clients[a].stats.drops[.closed] == 1)
    }

    @Test func dropsWhatTheServerWouldNeverSend() {
        var client = RendezvousClient(
            registrationKey: Self.roomKey, peerID: RendezvousPeerID(rawValue: 1), candidates: [], random: SeededRandom(seed: 3))
        _ = client.start(now: 0)
        let wrongNonce = RendezvousMessage.cookieChallenge(.init(clientNonce: client.nonce &+ 1, cookie: .init(high: 1, low: 2)))
        let wrongPeer = RendezvousMessage.registered(
            .init(clientNonce: client.nonce, peerID: RendezvousPeerID(rawValue: 2), reflexive: .ipv4(1, 2, 3, 4, port: 5), refreshIntervalSeconds: 15))
        let otherRoom = RendezvousMessage.introduce(
            .init(clientNonce: client.nonce, roomTag: RoomTag(high: 1, low: 1), peerID: RendezvousPeerID(rawValue: 9), reflexive: .ipv4(1, 2, 3, 4, port: 5), candidates: []))
        let itself = RendezvousMessage.introduce(
            .init(clientNonce: client.nonce, roomTag: Self.room, peerID: RendezvousPeerID(rawValue: 1), reflexive: .ipv4(1, 2, 3, 4, port: 5), candidates: []))
        let nodeBound = RendezvousMessage.relay(.init(target: RendezvousPeerID(rawValue: 1), datagram: [1]))
        for message in [wrongNonce, wrongPeer, otherRoom, itself, nodeBound] {
            #expect(client.received(message.encoded(), now: 1).isEmpty)
        }
        #expect(client.received([0x99, 1, 2], now: 1).isEmpty)
        #expect(client.stats.drops == [.wrongNonce: 1, .wrongPeerID: 1, .wrongRoom: 1, .selfIntroduction: 1, .unexpectedType: 1, .malformed: 1])
        #expect(!client.isRegistered)
    }

    @Test func survivesRandomAndMutatedInput() {
        var rng = SeededRandom(seed: SeededRandom.seedFromEnvironment(default: 0xC11E))
        let net = Network()
        let a = net.addClient(key: Self.roomKey, id: 10, port: 5000)
        let b = net.addClient(key: Self.roomKey, id: 20, port: 5001)
        net.start(a)
        net.start(b)
        // Everything the server said, to mutate.
        var samples: [[UInt8]] = [
            RendezvousMessage.introduce(.init(clientNonce: net.clients[a].nonce, roomTag: Self.room, peerID: RendezvousPeerID(rawValue: 20), reflexive: net.addresses[b], candidates: [net.addresses[b]])).encoded(),
            RendezvousMessage.registered(.init(clientNonce: net.clients[a].nonce, peerID: RendezvousPeerID(rawValue: 10), reflexive: net.addresses[a], refreshIntervalSeconds: 15)).encoded(),
            RendezvousMessage.relayed(.init(source: RendezvousPeerID(rawValue: 20), datagram: [1, 2, 3])).encoded(),
        ]
        samples.append(rng.bytes(40))
        for round in 0..<5_000 {
            var datagram = samples[round % samples.count]
            switch round % 3 {
            case 0: datagram = rng.bytes(Int.random(in: 0...1300, using: &rng))
            case 1: if !datagram.isEmpty { datagram[Int.random(in: 0..<datagram.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng) }
            default: datagram = Array(datagram.prefix(Int.random(in: 0...datagram.count, using: &rng)))
            }
            _ = net.clients[a].received(datagram, now: net.now)
        }
        // Still registered and refreshing normally.
        net.advance(to: net.now + 31 * Self.second)
        #expect(net.clients[a].isRegistered)
        #expect(net.clients[a].known.count <= RendezvousWire.clientMaxKnownPeers)
    }

    @Test func remembersABoundedNumberOfIntroducedPeers() {
        var client = RendezvousClient(
            registrationKey: Self.roomKey, peerID: RendezvousPeerID(rawValue: 1), candidates: [], random: SeededRandom(seed: 3))
        _ = client.start(now: 0)
        for n in 0..<200 {
            let introduce = RendezvousMessage.introduce(
                .init(clientNonce: client.nonce, roomTag: Self.room, peerID: RendezvousPeerID(rawValue: UInt64(100 + n)), reflexive: .ipv4(10, 0, 0, 1, port: UInt16(n + 1)), candidates: []))
            _ = client.received(introduce.encoded(), now: UInt64(n))
        }
        #expect(client.knownPeers.count == RendezvousWire.clientMaxKnownPeers)
        #expect(client.knownPeers.allSatisfy { $0.peerID.rawValue >= 236 })
    }

    @Test func aSpoofedRegisteredOrIntroductionWithoutTheClientsNonceIsIgnored() {
        let net = Network()
        let a = net.addClient(key: Self.roomKey, id: 10, port: 5000)
        // Before the round trip finishes: a spoofed registered must not make it believe it is registered.
        net.serverUp = false
        net.start(a)
        let nonce = net.clients[a].nonce
        let reflexive = UDPEndpoint.ipv4(203, 0, 113, 9, port: 9)
        let spoofedRegistered = RendezvousMessage.registered(
            .init(clientNonce: nonce &+ 1, peerID: RendezvousPeerID(rawValue: 10), reflexive: reflexive, refreshIntervalSeconds: 15))
        #expect(net.clients[a].received(spoofedRegistered.encoded(), now: net.now).isEmpty)
        #expect(!net.clients[a].isRegistered && net.clients[a].reflexive == nil)
        // Once registered: a spoofed introduction (an address the outsider names) is not reported.
        net.serverUp = true
        net.advance(to: net.now + 2 * Self.second)
        #expect(net.clients[a].isRegistered)
        let spoofedIntroduce = RendezvousMessage.introduce(
            .init(clientNonce: nonce &+ 1, roomTag: Self.room, peerID: RendezvousPeerID(rawValue: 66), reflexive: reflexive, candidates: [reflexive]))
        #expect(net.clients[a].received(spoofedIntroduce.encoded(), now: net.now).isEmpty)
        #expect(net.clients[a].knownPeers.isEmpty)
        let stale = RendezvousMessage.registered(
            .init(clientNonce: 0, peerID: RendezvousPeerID(rawValue: 10), reflexive: reflexive, refreshIntervalSeconds: 1))
        #expect(net.clients[a].received(stale.encoded(), now: net.now).isEmpty)
        #expect(net.clients[a].reflexive == net.addresses[a])
        #expect(net.clients[a].stats.drops[.wrongNonce] == 3)
        // The same messages naming its nonce are taken: the nonce is all that differed.
        var genuine = spoofedIntroduce
        if case .introduce(var body) = genuine {
            body.clientNonce = net.clients[a].nonce
            genuine = .introduce(body)
        }
        #expect(net.clients[a].received(genuine.encoded(), now: net.now).count == 1)
    }

    @Test func signsWhatItSendsWithTheRoomsRegistrationKey() throws {
        let net = Network()
        let a = net.addClient(key: Self.roomKey, id: 10, port: 5000)
        net.start(a)
        net.handle(net.clients[a].close(now: net.now), from: a)
        #expect(net.server.stats.unregisteredPeers == 1)
        for datagram in net.sent[a] {
            #expect(RendezvousMessage.hasValidSignature(datagram, by: Self.roomKey.publicKey))
            let key: PublicKey? =
                switch try RendezvousMessage.decode(datagram) {
                case .register(let r): r.registrationKey
                case .unregister(let u): u.registrationKey
                default: nil
                }
            #expect(key == Self.roomKey.publicKey)
        }
        #expect(net.sent[a].count == 3)
    }

    @Test func retiresTheTagSoNobodyRegistersUnderItAgain() throws {
        let net = Network()
        let a = net.addClient(key: Self.roomKey, id: 10, port: 5000)
        let b = net.addClient(key: Self.roomKey, id: 20, port: 5001)
        net.start(a)
        net.start(b)
        #expect(net.server.stats.peers == 2)
        net.handle(net.clients[a].retire(now: net.now), from: a)
        #expect(net.server.stats.roomsRetired == 1 && net.server.stats.peers == 0)
        #expect(!net.clients[a].isRegistered && !net.clients[a].isFinished)
        // Sent RendezvousWire.clientRetireAttempts times (repeats are no-ops), then finished.
        net.advance(to: net.now + 10 * Self.second)
        #expect(net.clients[a].isFinished && net.clients[a].nextTimer == nil)
        #expect(net.clients[a].stats.retiresSent == RendezvousWire.clientRetireAttempts)
        #expect(net.server.stats.roomsRetired == 1)
        // b's refreshes under the retired tag are refused (its registration went with the room).
        net.advance(to: net.now + 20 * Self.second)
        #expect(net.server.stats.drops[.roomRetired] > 0)
        #expect(net.server.stats.peers == 0)
        // A node with the next epoch's key registers under its own tag.
        let next = try Identity(seed: SecretBytes(copying: [UInt8](repeating: 0xC1, count: 32)))
        let c = net.addClient(key: next, id: 30, port: 5002)
        net.start(c)
        #expect(net.clients[c].isRegistered)
    }

    @Test func aRetireWithAStaleCookieAnswersTheChallenge() {
        let net = Network()
        let a = net.addClient(key: Self.roomKey, id: 10, port: 5000)
        let b = net.addClient(key: Self.roomKey, id: 20, port: 5001)
        net.start(a)
        net.start(b)
        // The rendezvous restarted: a's cookie is stale, its retire gets a challenge, and goes again.
        net.server = RendezvousServer(now: net.instant(net.now), randomSource: Network.random(42))
        net.handle(net.clients[a].retire(now: net.now), from: a)
        #expect(net.clients[a].stats.retiresSent == 2)
        #expect(net.server.stats.roomsRetired == 1)
        // A challenge for another nonce is not answered.
        let stray = RendezvousMessage.cookieChallenge(.init(clientNonce: net.clients[a].nonce &+ 1, cookie: .init(high: 1, low: 1)))
        #expect(net.clients[a].received(stray.encoded(), now: net.now).isEmpty)
        net.advance(to: net.now + 10 * Self.second)
        #expect(net.clients[a].isFinished)
    }
}
