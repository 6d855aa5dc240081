// A hostile client of the rendezvous for the flood test, never part of the shipped binary.
//
// It speaks the wire format of docs/PROTOCOL.md (Rendezvous) through the project's own encoder and
// client, from many source addresses the test gave its network namespace. Two roles:
//
//     RendezvousFlooder flood --rendezvous HOST:PORT --net A.B --subnets N --hosts M
//                             [--first-host H] [--sockets S] [--rooms R] [--max-rounds K]
//
// Binds S sockets on each address A.B.s.h (s = 1…N, h = H…H+M-1) and, address after address, makes
// up rooms of its own (each with its own random room secret, so it holds every room key it signs
// with), does the cookie round trip per socket and sends R signed registers per socket, each
// creating a room: the flood. It prints `filled created=C tries=T …` once every address has had its
// turn, then presses on in rounds (every 100 ms): new rooms that the full table must refuse, a
// refresh of its rooms every 10 s, and the outsider's tries against the room named by a
// `target TAG KEY PEER` line on standard input (what an observer of one register learns: the tag,
// the room's public registration key and the peer id, never the room's secret), plus garbage,
// truncated and oversized datagrams. A `stop` line, the end of standard input or K rounds end it
// with `done …`, its own count of what it sent and received.
//
//     RendezvousFlooder owner --rendezvous HOST:PORT --from ADDRESS --identity FILE
//
// An allowed owner: a new room owned by the identity in FILE, registered through the project's
// `RendezvousClient` over a real socket bound to ADDRESS. Prints `owner registered …` with the
// registers it took, then answers `refresh` lines (`owner refreshed …`) until `stop`.

import Foundation
import PeerCrypto
import Primitives
import Rendezvous
import Sockets
import Transport

#if canImport(Glibc)
    import Glibc
#endif

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("RendezvousFlooder: \(message)\n".utf8))
    exit(2)
}

/// One line on standard output at once (a pipe would otherwise buffer it).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func unhex(_ text: Substring) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var bytes: [UInt8] = []
    var index = 0
    while index < digits.count {
        guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
        bytes.append(byte)
        index += 2
    }
    return bytes
}

/// Reads whole lines from standard input without blocking; nil once it has ended.
struct StandardInputLines {
    private var pending: [UInt8] = []
    private(set) var ended = false

    init() { _ = fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK) }

    mutating func take() -> [String] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        // Bounded: standard input holds only the test's few command lines.
        for _ in 0..<64 {
            let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count == 0 { ended = true }
            guard count > 0 else { break }
            pending += buffer[0..<count]
        }
        var lines: [String] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: pending[..<newline], as: UTF8.self))
            pending.removeSubrange(...newline)
        }
        return lines
    }
}

/// What the flooder sent and received, counted in UDP payload bytes.
struct Traffic {
    var datagramsSent = 0
    var bytesSent = 0
    var datagramsReceived = 0
    var bytesReceived = 0
}

// MARK: Flood

/// One of the flood's sockets: its own nonce and, after the round trip, the cookie for it.
struct FloodSocket {
    let socket: UDPSocket
    let local: UDPEndpoint
    let nonce: UInt64
    var cookie = RendezvousCookie.none
}

/// A room the flooder made up, with the key only a member holds.
struct FloodRoom {
    let key: Identity
    let tag: RoomTag
    let peer: RendezvousPeerID
    let socket: Int
    var created = false
}

/// The room an outsider attacks: what it read off one register on the wire.
struct Target {
    let tag: [UInt8]
    let key: [UInt8]
    let peer: [UInt8]
}

final class Flooder {
    let rendezvous: UDPEndpoint
    var sockets: [FloodSocket] = []
    /// Never registers: its relays come from an address and port the rendezvous does not know.
    var stranger: FloodSocket
    var rooms: [FloodRoom] = []
    var roomsByPeer: [RendezvousPeerID: Int] = [:]
    var traffic = Traffic()
    var challenges = 0
    var registeredReplies = 0
    var otherReplies = 0
    var tries = 0
    var outsiderTries = 0
    var target: Target?
    /// The outsider's own key: it signs with this, never with a room's.
    let outsiderKey = Identity.generate()
    /// The owner of every flood room: an agent not on any allow list.
    let floodOwner = Identity.generate()
    var random = SystemRandomNumberGenerator()
    var buffer = [UInt8](repeating: 0, count: 2048)

    init(rendezvous: UDPEndpoint, addresses: [String], socketsPerAddress: Int) {
        self.rendezvous = rendezvous
        func open(_ address: String) -> FloodSocket {
            do {
                let socket = try UDPSocket.open(boundTo: HostPort(host: address, port: 0))
                return FloodSocket(socket: socket, local: try socket.localEndpoint(), nonce: UInt64.random(in: 1...UInt64.max))
            } catch {
                fail("cannot bind \(address): \(error)")
            }
        }
        for address in addresses {
            for _ in 0..<socketsPerAddress { sockets.append(open(address)) }
        }
        stranger = open(addresses[0])
    }

    func send(_ datagram: [UInt8], on socket: UDPSocket) {
        guard socket.send(datagram, to: rendezvous) == nil else { return }
        traffic.datagramsSent += 1
        traffic.bytesSent += datagram.count
    }

    /// A new room of the flood's own: a fresh room secret, so a key it really holds.
    func makeRoom(on socket: Int) -> Int {
        let keys = RoomKeys.generate(owner: floodOwner.publicKey)
        let room = FloodRoom(
            key: keys.registrationKey, tag: RoomTag(roomKeys: keys), peer: RendezvousPeerID(rawValue: random.next()),
            socket: socket)
        rooms.append(room)
        roomsByPeer[room.peer] = rooms.count - 1
        return rooms.count - 1
    }

    func register(_ index: Int, cookie: RendezvousCookie? = nil) -> [UInt8] {
        let room = rooms[index]
        let socket = sockets[room.socket]
        return RendezvousMessage.register(
            RendezvousMessage.Register(
                roomTag: room.tag, peerID: room.peer, clientNonce: socket.nonce, cookie: cookie ?? socket.cookie,
                registrationKey: room.key.publicKey, candidates: [socket.local]
            ).signed(by: room.key)
        ).encoded()
    }

    /// Reads whatever has arrived on every socket, waiting up to `milliseconds` for the first;
    /// returns how many datagrams were read.
    @discardableResult
    func drain(waitingUpTo milliseconds: Int32) -> Int {
        var fds = (sockets.map(\.socket.descriptor) + [stranger.socket.descriptor]).map {
            pollfd(fd: $0, events: Int16(POLLIN), revents: 0)
        }
        guard poll(&fds, nfds_t(fds.count), milliseconds) > 0 else { return 0 }
        var read = 0
        for (index, fd) in fds.enumerated() where fd.revents != 0 {
            let socket = index < sockets.count ? sockets[index].socket : stranger.socket
            // Bounded: a socket holds at most its receive buffer's worth.
            for _ in 0..<1024 {
                guard case .datagram(let count, _) = socket.receive(into: &buffer) else { break }
                read += 1
                traffic.datagramsReceived += 1
                traffic.bytesReceived += count
                handle(Array(buffer[0..<min(count, buffer.count)]), on: index)
            }
        }
        return read
    }

    func handle(_ datagram: [UInt8], on index: Int) {
        switch try? RendezvousMessage.decode(datagram) {
        case .cookieChallenge(let challenge) where index < sockets.count && challenge.clientNonce == sockets[index].nonce:
            challenges += 1
            sockets[index].cookie = challenge.cookie
        case .registered(let registered):
            registeredReplies += 1
            if let room = roomsByPeer[registered.peerID] { rooms[room].created = true }
        default:
            otherReplies += 1
        }
    }

    /// Reads until nothing has arrived for `quiet` ms (at most `rounds` waits).
    func settle(quiet: Int32 = 40, rounds: Int = 100) {
        for _ in 0..<rounds {
            if drain(waitingUpTo: quiet) == 0 { break }
        }
    }

    /// The flood: address after address, the cookie round trip on each socket, then `roomsPerSocket`
    /// rooms on each.
    func fill(socketsPerAddress: Int, roomsPerSocket: Int) {
        for first in stride(from: 0, to: sockets.count, by: socketsPerAddress) {
            let group = first..<min(first + socketsPerAddress, sockets.count)
            var firstRoom: [Int: Int] = [:]
            for index in group {
                // The first register of a socket, signed like any, with no cookie: only a challenge comes back.
                firstRoom[index] = makeRoom(on: index)
                send(register(firstRoom[index]!, cookie: RendezvousCookie.none), on: sockets[index].socket)
            }
            for _ in 0..<50 where group.contains(where: { sockets[$0].cookie.isNone }) { drain(waitingUpTo: 100) }
            for index in group where !sockets[index].cookie.isNone {
                // The room of the round trip, now with the cookie, then the rest.
                send(register(firstRoom[index]!), on: sockets[index].socket)
                tries += 1
                for _ in 1..<roomsPerSocket {
                    send(register(makeRoom(on: index)), on: sockets[index].socket)
                    tries += 1
                }
            }
            settle()
        }
        settle()
    }

    /// One round of pressing on a full table, with the outsider's tries.
    func press(round: Int) {
        // New rooms, which a full table refuses.
        for offset in 0..<8 {
            let index = (round * 8 + offset) % sockets.count
            guard !sockets[index].cookie.isNone else { continue }
            send(register(makeRoom(on: index)), on: sockets[index].socket)
            tries += 1
        }
        // Every 10 s a refresh of the rooms it holds, address by address so no source bursts.
        if round % 100 == 99 {
            for (index, room) in rooms.enumerated() where room.created {
                send(register(index), on: sockets[room.socket].socket)
                if index % 64 == 63 { drain(waitingUpTo: 5) }
            }
        }
        outsider(round: round)
        drain(waitingUpTo: 0)
    }

    /// The outsider's tries: with the tag, key and peer id of someone else's room, it registers,
    /// moves, unregisters, retires and relays; and sends garbage. Each try comes from a socket
    /// whose cookie is valid, so only the room key stands in its way.
    func outsider(round: Int) {
        let socket = sockets[(round * 7) % sockets.count]
        guard !socket.cookie.isNone else { return }
        func be(_ value: UInt64) -> [UInt8] { value.bigEndianBytes }
        let sign = { (label: [UInt8], body: [UInt8]) in self.outsiderKey.sign(label + body) }
        var datagrams: [[UInt8]] = []
        if let target {
            let cookie = socket.cookie.bytes
            // register (0x20): header, tag, peer id, nonce, cookie, key, candidate count, signature.
            func registerBody(peer: [UInt8], key: [UInt8]) -> [UInt8] {
                [0x20, 0, 0, 0] + target.tag + peer + be(socket.nonce) + cookie + key + [0]
            }
            let ownKey = registerBody(peer: be(random.next()), key: outsiderKey.publicKey.bytes)
            let join = registerBody(peer: be(random.next()), key: target.key)
            let move = registerBody(peer: target.peer, key: target.key)
            // unregister (0x26): header, tag, peer id, nonce, cookie, key, signature.
            let unregister = [0x26, 0, 0, 0] + target.tag + target.peer + be(socket.nonce) + cookie + target.key
            let unproven = [0x26, 0, 0, 0] + target.tag + target.peer + be(socket.nonce) + [UInt8](repeating: 0, count: 16)
                + target.key
            // retire (0x33): header, tag, key, nonce, cookie, signature.
            let retire = [0x33, 0, 0, 0] + target.tag + target.key + be(socket.nonce) + cookie
            datagrams += [
                ownKey + sign(RendezvousWire.registerSignatureLabel, ownKey),
                join + sign(RendezvousWire.registerSignatureLabel, join),
                move + sign(RendezvousWire.registerSignatureLabel, move),
                unregister + sign(RendezvousWire.unregisterSignatureLabel, unregister),
                unproven + sign(RendezvousWire.unregisterSignatureLabel, unproven),
                retire + sign(RendezvousWire.retireSignatureLabel, retire),
            ]
            // relay (0x24) to the member, from this registered socket (a peer of other rooms).
            datagrams.append([0x24, 0, 0, 0] + target.peer + [UInt8](repeating: 0xEE, count: 100))
            let relay = [0x24, 0, 0, 0] + target.peer + [UInt8](repeating: 0xEE, count: 1_000)
            send(relay, on: stranger.socket)
            outsiderTries += 1
        }
        // Garbage of every shape: random bytes, a register cut short, an oversized datagram, and
        // each server-bound type with nothing after its header.
        let garbage = (0..<Int.random(in: 1...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        let whole = register(rooms.count - 1)
        let cut = Array(whole.prefix(Int.random(in: 1..<whole.count, using: &random)))
        let oversized = [0x20, 0, 0, 0] + [UInt8](repeating: 0x41, count: 1_300)
        let header: UInt8 = [0x20, 0x24, 0x26, 0x33, 0x27, 0x28][round % 6]
        datagrams += [garbage, cut, oversized, [header, 0, 0, 0]]
        for datagram in datagrams { send(datagram, on: socket.socket) }
        outsiderTries += datagrams.count
    }

    var created: Int { rooms.count(where: \.created) }

    var summary: String {
        "created=\(created) tries=\(tries) outsider=\(outsiderTries) challenges=\(challenges) "
            + "registered=\(registeredReplies) other-replies=\(otherReplies) sockets=\(sockets.count + 1) "
            + "sent-datagrams=\(traffic.datagramsSent) sent-bytes=\(traffic.bytesSent) "
            + "received-datagrams=\(traffic.datagramsReceived) received-bytes=\(traffic.bytesReceived)"
    }
}

func flood(_ options: [String: String]) -> Never {
    guard let server = options["rendezvous"].flatMap(HostPort.init(parsing:)),
        let rendezvous = UDPEndpoint.parse(server),
        let net = options["net"], let subnets = options["subnets"].flatMap(Int.init), let hosts = options["hosts"].flatMap(Int.init)
    else { fail("flood needs --rendezvous A.B.C.D:PORT --net A.B --subnets N --hosts M") }
    let firstHost = options["first-host"].flatMap(Int.init) ?? 10
    let socketsPerAddress = options["sockets"].flatMap(Int.init) ?? 10
    let roomsPerSocket = options["rooms"].flatMap(Int.init) ?? RendezvousServer.Configuration.defaultMaxRegistrationsPerEndpoint
    let maxRounds = options["max-rounds"].flatMap(Int.init) ?? 600
    guard (1...254).contains(subnets), (1...240).contains(hosts), socketsPerAddress > 0, roomsPerSocket > 0 else {
        fail("flood sizes out of range")
    }
    var limit = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    let addresses = (1...subnets).flatMap { subnet in (0..<hosts).map { "\(net).\(subnet).\(firstHost + $0)" } }
    let flooder = Flooder(rendezvous: rendezvous, addresses: addresses, socketsPerAddress: socketsPerAddress)
    say("sockets \(flooder.sockets.count + 1) on \(addresses.count) addresses")
    flooder.fill(socketsPerAddress: socketsPerAddress, roomsPerSocket: roomsPerSocket)
    say("filled \(flooder.summary)")
    var input = StandardInputLines()
    var stopped = false
    for round in 0..<maxRounds where !stopped {
        for line in input.take() {
            let words = line.split(separator: " ")
            if words.first == "stop" { stopped = true }
            if words.count == 4, words[0] == "target", let tag = unhex(words[1]), let key = unhex(words[2]),
                let peer = unhex(words[3]), tag.count == 16, key.count == 32, peer.count == 8
            {
                flooder.target = Target(tag: tag, key: key, peer: peer)
                say("target set")
            }
        }
        if input.ended { stopped = true }
        flooder.press(round: round)
        if round % 10 == 9 { say("pressing round=\(round + 1) \(flooder.summary)") }
        flooder.drain(waitingUpTo: 100)
    }
    flooder.settle(quiet: 100, rounds: 20)
    say("done \(flooder.summary)")
    exit(0)
}

// MARK: Owner

func owner(_ options: [String: String]) -> Never {
    guard let server = options["rendezvous"].flatMap(HostPort.init(parsing:)),
        let rendezvous = UDPEndpoint.parse(server), let from = options["from"], let path = options["identity"]
    else { fail("owner needs --rendezvous A.B.C.D:PORT --from ADDRESS --identity FILE") }
    let identity: Identity
    do {
        identity = try Identity.load(from: path)
    } catch {
        fail("cannot load \(path): \(error)")
    }
    let socket: UDPSocket
    let local: UDPEndpoint
    do {
        socket = try UDPSocket.open(boundTo: HostPort(host: from, port: 0))
        local = try socket.localEndpoint()
    } catch {
        fail("cannot bind \(from): \(error)")
    }
    let keys = RoomKeys.generate(owner: identity.publicKey)
    var client = RendezvousClient(
        roomKeys: keys, peerID: .random(), candidates: [local], identity: identity, random: SystemRandomNumberGenerator())
    var buffer = [UInt8](repeating: 0, count: 2048)
    var traffic = Traffic()
    let started = MonotonicClock.nanoseconds()
    var registeredAt: UInt64?

    func perform(_ actions: [RendezvousClient.Action]) {
        for action in actions {
            switch action {
            case .send(let datagram):
                if socket.send(datagram, to: rendezvous) == nil {
                    traffic.datagramsSent += 1
                    traffic.bytesSent += datagram.count
                }
            case .registered:
                if registeredAt == nil { registeredAt = MonotonicClock.nanoseconds() }
            case .refused(let reason):
                say("owner refused \(reason)")
            case .introduced, .relayed, .registrationLost:
                break
            }
        }
    }

    /// Feeds the client what arrives for up to `milliseconds`, and its timers.
    func run(milliseconds: Int, until done: () -> Bool) {
        let deadline = MonotonicClock.nanoseconds() + UInt64(milliseconds) * 1_000_000
        while !done(), MonotonicClock.nanoseconds() < deadline {
            var fd = pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&fd, 1, 20)
            for _ in 0..<64 {
                guard case .datagram(let count, let source) = socket.receive(into: &buffer) else { break }
                guard source == rendezvous else { continue }
                traffic.datagramsReceived += 1
                traffic.bytesReceived += count
                perform(client.received(Array(buffer[0..<min(count, buffer.count)]), now: MonotonicClock.nanoseconds()))
            }
            perform(client.timerFired(now: MonotonicClock.nanoseconds()))
        }
    }

    func report(_ event: String) -> String {
        let stats = client.stats
        return "owner \(event) tag=\(hex(client.roomTag.bytes)) key=\(hex(keys.registrationKey.publicKey.bytes)) "
            + "peer=\(hex(client.peerID.bytes)) registers=\(stats.registersSent) challenges=\(stats.challengesReceived) "
            + "registrations=\(stats.registrations) refusals=\(stats.refusals) introductions=\(stats.introductions) "
            + "relayed=\(stats.relayedReceived) drops=\(stats.totalDrops) sent-bytes=\(traffic.bytesSent) "
            + "received-bytes=\(traffic.bytesReceived)"
    }

    perform(client.start(now: started))
    run(milliseconds: 20_000) { client.isRegistered }
    guard let registeredAt else {
        say(report("unregistered"))
        exit(1)
    }
    say(report("registered") + " ms=\(Double(registeredAt - started) / 1e6)")
    var input = StandardInputLines()
    // Bounded: the test sends a few lines; an hour of idling ends it whatever happens.
    for _ in 0..<36_000 {
        let lines = input.take()
        if input.ended || lines.contains("stop") { break }
        if lines.contains("refresh"), let due = client.nextTimer {
            let before = client.stats.registrations
            // The refresh falls due now: the client's clock is whatever the caller says.
            perform(client.timerFired(now: max(due, MonotonicClock.nanoseconds())))
            run(milliseconds: 5_000) { client.stats.registrations > before }
            say(report("refreshed"))
        }
        run(milliseconds: 100) { false }
    }
    exit(0)
}

extension UDPEndpoint {
    /// A numeric IPv4 host and port.
    static func parse(_ hostPort: HostPort) -> UDPEndpoint? {
        let parts = hostPort.host.split(separator: ".").compactMap { UInt8($0) }
        guard parts.count == 4 else { return nil }
        return .ipv4(parts[0], parts[1], parts[2], parts[3], port: hostPort.port)
    }
}

var arguments = CommandLine.arguments.dropFirst()
guard let role = arguments.popFirst() else { fail("usage: RendezvousFlooder flood|owner --NAME VALUE …") }
var options: [String: String] = [:]
while let name = arguments.popFirst() {
    guard name.hasPrefix("--"), let value = arguments.popFirst() else { fail("options are --NAME VALUE") }
    options[String(name.dropFirst(2))] = value
}
switch role {
case "flood": flood(options)
case "owner": owner(options)
default: fail("unknown role \(role)")
}
