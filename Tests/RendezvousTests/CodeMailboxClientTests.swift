import CVPeerTestSupport
import Primitives
import Testing

@testable import Rendezvous

/// Host and joiner machines and a real `RendezvousServer`, joined by an in-memory network with a
/// manual clock; datagrams can be dropped by a rule to test every retry path.
final class CodeNetwork {
    typealias Event = CodeMailboxClient.Event

    let harness: ServerHarness
    let rendezvous = loopback(1, port: 7_700)
    /// Time since the start.
    private(set) var elapsed = Duration.zero
    private var machines: [UDPEndpoint: CodeMailboxClient] = [:]
    private(set) var events: [UDPEndpoint: [Event]] = [:]
    /// Every datagram in flight: bytes, from, to.
    private var inFlight: [(bytes: [UInt8], from: UDPEndpoint, to: UDPEndpoint)] = []
    /// Datagrams for which this returns true are lost.
    var lose: (_ bytes: [UInt8], _ to: UDPEndpoint) -> Bool = { _, _ in false }
    /// Everything each node sent, with when.
    private(set) var sent: [UDPEndpoint: [(at: Duration, message: RendezvousMessage)]] = [:]

    init(configuration: RendezvousServer.Configuration = .init()) {
        harness = ServerHarness(configuration: configuration)
    }

    var now: ContinuousClock.Instant { harness.start + elapsed }

    func add(_ address: UDPEndpoint, _ role: CodeMailboxClient.Role, seed: UInt64) {
        machines[address] = CodeMailboxClient(role: role, randomSource: SeededBytes(seed: seed).source)
    }

    func machine(_ address: UDPEndpoint) -> CodeMailboxClient { machines[address]! }

    /// Runs one of a machine's event methods now, then delivers until the network is quiet.
    func act(
        _ address: UDPEndpoint,
        _ body: (inout CodeMailboxClient, ContinuousClock.Instant) -> [CodeMailboxClient.Action]
    ) {
        var machine = machines[address]!
        let actions = body(&machine, now)
        machines[address] = machine
        take(actions, from: address)
        deliver()
    }

    /// Moves the clock to `target`, firing every machine's and the server's timers on the way.
    func advance(to target: Duration) {
        while true {
            let serverDue = harness.server.nextTimerDeadline
            let nodeDue = machines.values.compactMap(\.nextTimer).min()
            let due = [serverDue, nodeDue].compactMap { $0 }.min()!
            guard due <= harness.start + target else { break }
            elapsed = max(elapsed, due - harness.start)
            if serverDue <= now {
                for action in harness.server.timerFired(now: now) {
                    if case .send(let bytes, let target) = action { inFlight.append((bytes, rendezvous, target)) }
                }
            }
            for address in machines.keys.sorted(by: { $0.description < $1.description }) {
                guard let timer = machines[address]!.nextTimer, timer <= now else { continue }
                act(address) { $0.timerFired(now: $1) }
            }
            deliver()
        }
        elapsed = target
    }

    private func take(_ actions: [CodeMailboxClient.Action], from address: UDPEndpoint) {
        for action in actions {
            switch action {
            case .send(let bytes):
                inFlight.append((bytes, address, rendezvous))
                if let message = try? RendezvousMessage.decode(bytes) {
                    sent[address, default: []].append((elapsed, message))
                }
            case .event(let event):
                events[address, default: []].append(event)
            }
        }
    }

    private func deliver() {
        while !inFlight.isEmpty {
            let (bytes, from, to) = inFlight.removeFirst()
            if lose(bytes, to) { continue }
            if to == rendezvous {
                for action in harness.server.received(datagram: bytes, from: from, now: now) {
                    if case .send(let reply, let target) = action { inFlight.append((reply, rendezvous, target)) }
                }
            } else if var machine = machines[to] {
                let actions = machine.received(bytes, now: now)
                machines[to] = machine
                take(actions, from: to)
            }
        }
    }

    /// The last event a node reported.
    func lastEvent(_ address: UDPEndpoint) -> Event? { events[address]?.last }

    /// Types a node sent, in order.
    func sentTypes(_ address: UDPEndpoint) -> [RendezvousWire.MessageType] {
        sent[address, default: []].map(\.message.type)
    }
}

let rightTag = Array(repeating: UInt8(0x11), count: RendezvousWire.codeTagSize)
let wrongTag = Array(repeating: UInt8(0x22), count: RendezvousWire.codeTagSize)
let invitePayload = Array("sealed: cvp2:…".utf8)

@Suite struct CodeMailboxClientTests {
    let host = loopback(10, port: 5_001)
    let joiner = loopback(20, port: 5_002)

    /// Host opens; joiner looks up and knocks; returns the nameplate.
    private func openAndKnock(_ net: CodeNetwork, tag: [UInt8] = rightTag) throws -> CodeNameplate {
        net.add(host, .host(pakeMessage: hostPake, lifetime: nil), seed: 1)
        net.act(host) { $0.start(now: $1) }
        guard case .opened(let nameplate, let lifetime) = try #require(net.lastEvent(host)) else {
            throw TestFailure("expected .opened, got \(net.events[host] ?? [])")
        }
        #expect(lifetime == .seconds(600))
        net.add(joiner, .joiner(nameplate: nameplate), seed: 2)
        net.act(joiner) { $0.start(now: $1) }
        #expect(net.lastEvent(joiner) == .offered(pakeMessage: hostPake))
        net.act(joiner) { $0.knock(pakeMessage: joinerPake, tag: tag, now: $1) }
        return nameplate
    }

    @Test func hostAndJoinerExchangeThroughTheServer() throws {
        let net = CodeNetwork()
        let nameplate = try openAndKnock(net)
        #expect(nameplate == plate(1))
        guard case .knocked(let knock) = try #require(net.lastEvent(host)) else {
            throw TestFailure("expected .knocked")
        }
        #expect(knock.pakeMessage == joinerPake && knock.tag == rightTag)
        net.act(host) { $0.answer(payload: invitePayload, now: $1) }
        #expect(net.lastEvent(joiner) == .answered(payload: invitePayload))
        #expect(net.lastEvent(host) == .acknowledged)
        #expect(net.machine(host).isFinished && net.machine(joiner).isFinished)
        #expect(net.machine(host).nextTimer == nil && net.machine(joiner).nextTimer == nil)
        // Each side's first request met a cookie challenge and went again with the cookie.
        #expect(net.sentTypes(host) == [.codeOpen, .codeOpen, .codeAnswer])
        #expect(net.sentTypes(joiner) == [.codeLookup, .codeLookup, .codeKnock])
        #expect(net.machine(host).stats.challenges == 1 && net.machine(joiner).stats.challenges == 1)
    }

    @Test func aWrongTagIsBurntAndBothSidesAreTold() throws {
        let net = CodeNetwork()
        _ = try openAndKnock(net, tag: wrongTag)
        guard case .knocked(let knock) = try #require(net.lastEvent(host)), knock.tag == wrongTag else {
            throw TestFailure("expected .knocked with the wrong tag")
        }
        net.act(host) { $0.burn(now: $1) }
        #expect(net.lastEvent(host) == .acknowledged)
        #expect(net.lastEvent(joiner) == .failed(.codeRefused(.burnt)))
    }

    @Test func aSecondKnockIsRefusedEvenAfterASuccessfulLookup() throws {
        let net = CodeNetwork()
        net.add(host, .host(pakeMessage: hostPake, lifetime: nil), seed: 1)
        net.act(host) { $0.start(now: $1) }
        let second = loopback(21, port: 5_003)
        net.add(joiner, .joiner(nameplate: plate(1)), seed: 2)
        net.add(second, .joiner(nameplate: plate(1)), seed: 3)
        net.act(joiner) { $0.start(now: $1) }
        net.act(second) { $0.start(now: $1) }
        #expect(net.lastEvent(second) == .offered(pakeMessage: hostPake))
        net.act(joiner) { $0.knock(pakeMessage: joinerPake, tag: rightTag, now: $1) }
        net.act(second) { $0.knock(pakeMessage: joinerPake, tag: rightTag, now: $1) }
        #expect(net.lastEvent(second) == .failed(.codeRefused(.used)))
        #expect(net.events[host]?.filter { if case .knocked = $0 { true } else { false } }.count == 1)
    }

    @Test func lostDatagramsAreRepairedByRetries() throws {
        let net = CodeNetwork()
        // The first copy of every reply and forward is lost once.
        var lostOnce = Set<RendezvousWire.MessageType>()
        net.lose = { bytes, to in
            guard let type = RendezvousWire.MessageType(rawValue: bytes[0]),
                [.codeOpened, .codeOffer, .codeKnocked, .codeAnswered, .codeAck].contains(type)
            else { return false }
            return lostOnce.insert(type).inserted
        }
        net.add(host, .host(pakeMessage: hostPake, lifetime: nil), seed: 1)
        net.act(host) { $0.start(now: $1) }
        #expect(net.events[host] == nil)
        net.advance(to: .milliseconds(600))
        #expect(net.lastEvent(host) == .opened(plate(1), lifetime: .seconds(600)))
        net.add(joiner, .joiner(nameplate: plate(1)), seed: 2)
        net.act(joiner) { $0.start(now: $1) }
        net.advance(to: .milliseconds(1_200))
        #expect(net.lastEvent(joiner) == .offered(pakeMessage: hostPake))
        net.act(joiner) { $0.knock(pakeMessage: joinerPake, tag: rightTag, now: $1) }
        // The knock's forward to the host was lost; the joiner's retry makes the rendezvous forward it again.
        net.advance(to: .seconds(3))
        guard case .knocked = try #require(net.lastEvent(host)) else { throw TestFailure("expected .knocked") }
        net.act(host) { $0.answer(payload: invitePayload, now: $1) }
        // The answer to the joiner and the ack to the host were both lost: each side's retry repairs its own.
        net.advance(to: .seconds(8))
        #expect(net.lastEvent(joiner) == .answered(payload: invitePayload))
        #expect(net.lastEvent(host) == .acknowledged)
        #expect(lostOnce.count == 5)
        #expect(net.machine(host).stats.retransmissions >= 2 && net.machine(joiner).stats.retransmissions >= 2)
    }

    @Test func retriesBackOffAndGiveUpWithoutAReply() {
        let net = CodeNetwork()
        net.lose = { _, _ in true }
        net.add(host, .host(pakeMessage: hostPake, lifetime: nil), seed: 1)
        net.act(host) { $0.start(now: $1) }
        net.advance(to: .seconds(20))
        let times = net.sent[host, default: []].map(\.at)
        #expect(times == [.zero, .milliseconds(500), .milliseconds(1_500), .milliseconds(3_500), .milliseconds(7_500)])
        #expect(net.lastEvent(host) == .failed(.codeNoReply))
        #expect(net.machine(host).isFinished)
        #expect(CodeMailboxClient.Configuration.defaultReplyTimeout == .seconds(10))
    }

    @Test func aWaitingHostRefreshesAndItsCodeExpires() throws {
        let net = CodeNetwork()
        net.add(host, .host(pakeMessage: hostPake, lifetime: .seconds(40)), seed: 1)
        net.act(host) { $0.start(now: $1) }
        #expect(net.lastEvent(host) == .opened(plate(1), lifetime: .seconds(40)))
        net.advance(to: .seconds(39))
        // Keepalives at 15 and 30 s name the nameplate held.
        let refreshes = net.sent[host, default: []].filter { entry in
            if case .codeOpen(let open) = entry.message { open.nameplate == plate(1) } else { false }
        }
        #expect(refreshes.map(\.at) == [.seconds(15), .seconds(30)])
        #expect(net.harness.server.stats.nameplates == 1)
        net.advance(to: .seconds(41))
        #expect(net.lastEvent(host) == .failed(.codeExpired))
        // A joiner who comes late is told the code expired.
        net.add(joiner, .joiner(nameplate: plate(1)), seed: 2)
        net.act(joiner) { $0.start(now: $1) }
        #expect(net.lastEvent(joiner) == .failed(.codeRefused(.expired)))
    }

    @Test func aKnockTheHostNeverAnswersTimesOut() throws {
        let net = CodeNetwork()
        _ = try openAndKnock(net)
        // The host's process stopped: nothing reaches it any more.
        net.lose = { [host] _, to in to == host }
        net.advance(to: net.elapsed + .seconds(31))
        #expect(net.lastEvent(joiner) == .failed(.codeNoAnswer))
        #expect(net.machine(joiner).stats.retransmissions > 5)
    }

    @Test func aHostThatClosesTellsItsJoiner() throws {
        let net = CodeNetwork()
        _ = try openAndKnock(net)
        net.act(host) { $0.close(now: $1) }
        #expect(net.machine(host).isFinished)
        #expect(net.lastEvent(joiner) == .failed(.codeRefused(.closed)))
    }

    @Test func repliesThatAreNotForThisExchangeAreIgnored() throws {
        let net = CodeNetwork()
        _ = try openAndKnock(net)
        var machine = net.machine(joiner)
        let nonce = machine.clientNonce
        let forged: [([UInt8], CodeMailboxClient.DropReason)] = [
            (
                RendezvousMessage.codeAnswered(.init(clientNonce: nonce &+ 1, nameplate: plate(1), payload: [6]))
                    .encoded(), .wrongNonce
            ),
            (
                RendezvousMessage.codeAnswered(.init(clientNonce: nonce, nameplate: plate(2), payload: [6])).encoded(),
                .wrongNameplate
            ),
            (
                RendezvousMessage.codeError(.init(clientNonce: nonce &+ 1, nameplate: plate(1), reason: .burnt))
                    .encoded(), .wrongNonce
            ),
            (
                RendezvousMessage.codeOffer(.init(clientNonce: nonce, nameplate: plate(1), pakeMessage: [6])).encoded(),
                .unexpected
            ),
            (RendezvousMessage.relayed(.init(source: peer(1), datagram: [])).encoded(), .unexpectedType),
            ([0x2E, 0, 0, 0, 1], .malformed),
        ]
        for (bytes, reason) in forged {
            #expect(machine.received(bytes, now: net.now).isEmpty)
            #expect(machine.stats.drops[reason, default: 0] >= 1, "\(reason)")
        }
        #expect(!machine.isFinished)
        // The real one still ends it.
        let real = RendezvousMessage.codeAnswered(.init(clientNonce: nonce, nameplate: plate(1), payload: [7]))
            .encoded()
        #expect(machine.received(real, now: net.now) == [.event(.answered(payload: [7]))])
        #expect(machine.received(real, now: net.now).isEmpty, "nothing after the end")
    }

    @Test func fuzzedRepliesNeverTrapTheMachine() {
        let seed = SeededRandom.seedFromEnvironment(default: 0xC11E)
        var random = SeededRandom(seed: seed)
        var host = CodeMailboxClient(
            role: .host(pakeMessage: hostPake, lifetime: nil),
            randomSource: SeededBytes(seed: 1).source
        )
        var joiner = CodeMailboxClient(role: .joiner(nameplate: plate(1)), randomSource: SeededBytes(seed: 2).source)
        let start = ContinuousClock.now
        _ = host.start(now: start)
        _ = joiner.start(now: start)
        for i in 0..<20_000 {
            let now = start + .milliseconds(i)
            _ = host.received(fuzzInput(using: &random), now: now)
            _ = joiner.received(fuzzInput(using: &random), now: now)
        }
        // Off-path bytes do not know the nonces, so neither exchange moved.
        #expect(!host.isFinished && host.nameplate == nil, "seed \(seed)")
        #expect(!joiner.isFinished, "seed \(seed)")
    }
}
