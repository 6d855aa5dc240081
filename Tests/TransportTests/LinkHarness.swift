import CVPeerTestSupport
import PeerCrypto
@testable import Transport

/// A path as the link tests' little internet sees it: a UDP address, or the relay to a node.
enum LinkTestPath: LinkPath, CustomStringConvertible {
    case direct(UInt16)
    case relay(Int)

    var isRelayed: Bool {
        switch self {
        case .direct: false
        case .relay: true
        }
    }

    var cookieAddress: [UInt8] {
        switch self {
        case .direct(let address): [UInt8(address >> 8), UInt8(address & 0xFF)]
        case .relay: []
        }
    }

    var description: String {
        switch self {
        case .direct(let address): "direct(\(address))"
        case .relay(let node): "relay(\(node))"
        }
    }
}

typealias TestLinkEndpoint = LinkEndpoint<LinkTestPath>
typealias TestLinkAction = LinkAction<LinkTestPath>

/// Milliseconds and seconds in the endpoints' nanoseconds.
let linkMs: UInt64 = 1_000_000
let linkSecond: UInt64 = 1_000_000_000

/// Deterministic identities and rooms, so failures repeat.
enum LinkFixtures {
    static func identity(_ n: UInt8) -> Identity {
        try! Identity(seed: SecretBytes(copying: [UInt8](repeating: n, count: Identity.seedLength)))
    }

    static func room(_ n: UInt8) -> RoomKeys {
        try! RoomKeys(secret: SecretBytes(copying: [UInt8](repeating: n, count: RoomKeys.secretLength)), owner: testOwner)
    }
}

/// Endpoints joined by an in-memory packet shuttle on a manual clock.
///
/// Node `i` owns direct address `1000 + i` (more can be added to model NAT rebinding) and is
/// reachable through the relay as `.relay(i)`. Datagrams take `directDelay` or `relayDelay`; a
/// filter may drop or record any of them. `run(until:)` moves the clock from event to event,
/// delivering datagrams and firing timers, with a bound on the number of steps.
struct LinkNetwork {
    struct Datagram {
        var deliverAt: UInt64
        var sequence: Int
        var sender: Int
        var to: Int
        var from: LinkTestPath
        var via: LinkTestPath
        var bytes: [UInt8]
    }

    var nodes: [TestLinkEndpoint]
    var now: UInt64 = 0
    var queue: [Datagram] = []
    private var sequence = 0
    /// Who receives what is sent to a direct address.
    var addressOwner: [UInt16: Int] = [:]
    /// The address node i's direct packets appear to come from.
    var sourceAddress: [Int: UInt16] = [:]
    var directDelay: UInt64 = 10 * linkMs
    var relayDelay: UInt64 = 20 * linkMs
    var directWorks = true
    var relayWorks = true
    /// Return false to drop a datagram as it is sent.
    var filter: ((Datagram) -> Bool)?
    /// Every datagram put on the wire, in order.
    var wire: [Datagram] = []
    /// Non-send actions per node, with the time they happened.
    var events: [[(UInt64, TestLinkAction)]]
    /// Plaintexts delivered per node.
    var delivered: [[(peer: PublicKey, bytes: [UInt8], number: UInt64)]]

    init(identities: [Identity], rooms: [RoomKeys], configuration: TestLinkEndpoint.Configuration = .init(), seed: UInt64 = 1)
    {
        nodes = identities.indices.map { i in
            TestLinkEndpoint(
                identity: identities[i], room: rooms[i], random: SeededRandom(seed: seed &+ UInt64(i) &* 7919),
                configuration: configuration)
        }
        events = Array(repeating: [], count: identities.count)
        delivered = Array(repeating: [], count: identities.count)
        for i in identities.indices {
            addressOwner[Self.address(i)] = i
            sourceAddress[i] = Self.address(i)
        }
    }

    /// Two or more nodes in one room.
    init(count: Int, room: UInt8 = 1, configuration: TestLinkEndpoint.Configuration = .init(), seed: UInt64 = 1) {
        self.init(
            identities: (0..<count).map { LinkFixtures.identity(UInt8(10 + $0)) },
            rooms: Array(repeating: LinkFixtures.room(room), count: count), configuration: configuration, seed: seed)
    }

    static func address(_ node: Int) -> UInt16 { UInt16(1000 + node) }

    /// Node i's direct path as others address it.
    func direct(_ node: Int) -> LinkTestPath { .direct(sourceAddress[node]!) }

    func key(_ node: Int) -> PublicKey { nodes[node].localKey }

    /// Hands a node's actions to the network and the logs.
    mutating func apply(_ actions: [TestLinkAction], from node: Int) {
        for action in actions {
            switch action {
            case .send(let bytes, let path):
                enqueue(bytes, from: node, via: path)
            case .deliver(let bytes, let peer, let number):
                delivered[node].append((peer, bytes, number))
            case .linkUp, .linkDown, .pathChanged, .handshakeFailed:
                events[node].append((now, action))
            }
        }
    }

    mutating func enqueue(_ bytes: [UInt8], from node: Int, via path: LinkTestPath) {
        let target: Int?
        let from: LinkTestPath
        let delay: UInt64
        switch path {
        case .direct(let address):
            target = directWorks ? addressOwner[address] : nil
            from = .direct(sourceAddress[node]!)
            delay = directDelay
        case .relay(let peer):
            target = relayWorks && peer < nodes.count ? peer : nil
            from = .relay(node)
            delay = relayDelay
        }
        sequence += 1
        let datagram = Datagram(
            deliverAt: now + delay, sequence: sequence, sender: node, to: target ?? -1, from: from, via: path,
            bytes: bytes)
        wire.append(datagram)
        guard target != nil, filter?(datagram) ?? true else { return }
        queue.append(datagram)
    }

    /// Puts raw bytes in front of a node as if they came from `from`, at the current time.
    mutating func inject(_ bytes: [UInt8], to node: Int, from: LinkTestPath) {
        let actions = nodes[node].received(bytes, from: from, now: now)
        apply(actions, from: node)
    }

    mutating func connect(_ node: Int, paths: [LinkTestPath]) {
        apply(nodes[node].connect(paths: paths, now: now), from: node)
    }

    mutating func connect(_ node: Int, to peer: Int) {
        connect(node, paths: [direct(peer)])
    }

    @discardableResult
    mutating func send(_ bytes: [UInt8], from node: Int, to peer: Int) -> Bool {
        do {
            let actions = try nodes[node].send(bytes, to: key(peer), now: now)
            apply(actions, from: node)
            return true
        } catch {
            return false
        }
    }

    /// Advances the clock to `end`, delivering and firing everything due on the way.
    mutating func run(until end: UInt64, maxSteps: Int = 2_000_000) {
        var steps = 0
        while true {
            steps += 1
            precondition(steps < maxSteps, "the network did not settle: a timer loop?")
            let nextDatagram = queue.map(\.deliverAt).min()
            let nextTimer = nodes.compactMap(\.nextTimer).min()
            guard let next = [nextDatagram, nextTimer].compactMap({ $0 }).min(), next <= end else {
                now = max(now, end)
                return
            }
            now = max(now, next)
            if let index = queue.indices.filter({ queue[$0].deliverAt <= now }).min(by: {
                queue[$0].sequence < queue[$1].sequence
            }) {
                let datagram = queue.remove(at: index)
                apply(nodes[datagram.to].received(datagram.bytes, from: datagram.from, now: now), from: datagram.to)
                continue
            }
            for i in nodes.indices where (nodes[i].nextTimer ?? .max) <= now {
                apply(nodes[i].timerFired(now: now), from: i)
            }
        }
    }

    /// Runs for `duration` more.
    mutating func run(for duration: UInt64) { run(until: now + duration) }

    /// True if node i reported the link to j up and has it now.
    func isLinked(_ i: Int, _ j: Int) -> Bool { nodes[i].linkInfo(for: key(j)) != nil }

    func linkUps(_ node: Int) -> [PublicKey] {
        events[node].compactMap { if case .linkUp(let peer, _) = $0.1 { peer } else { nil } }
    }

    func linkDowns(_ node: Int) -> [(UInt64, PublicKey, LinkDownReason)] {
        events[node].compactMap { if case .linkDown(let peer, let reason) = $0.1 { ($0.0, peer, reason) } else { nil } }
    }

    func pathChanges(_ node: Int) -> [LinkTestPath] {
        events[node].compactMap { if case .pathChanged(_, let path, _) = $0.1 { path } else { nil } }
    }

    /// Data packets node `sender` put on the wire.
    func dataPackets(from sender: Int) -> [Datagram] {
        wire.filter { $0.sender == sender && $0.bytes.first == Wire.LinkPacketType.data.rawValue }
    }

    /// Handshake packets of one type node `sender` put on the wire.
    func packets(_ type: Wire.LinkPacketType, from sender: Int) -> [Datagram] {
        wire.filter { $0.sender == sender && $0.bytes.first == type.rawValue }
    }
}

/// The owner the transport tests' rooms are derived with; the transport itself knows no owner,
/// and TransportProbe child processes use the same one (seed 0x0f) to reach the same room.
let testOwner = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0x0f, count: Identity.seedLength))).publicKey
