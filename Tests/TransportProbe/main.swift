// TransportProbe: one node's transport, driven by arguments, for end-to-end tests, benchmarks
// and the NAT lab. Every event is one line on standard output, written unbuffered:
//
//   ready ADDRESS key=KEY fingerprint=FP      bound; KEY is the short hex form peers print
//   registered reflexive=ADDRESS              the rendezvous accepted us
//   introduced PEERID candidates=A,B          the rendezvous introduced a member
//   link-up KEY direct ADDRESS | relayed PEERID
//   path KEY direct ADDRESS | relayed PEERID  the link moved
//   link-down KEY REASON
//   handshake-failed PATHS
//   sent-all count=N bytes=N hash=HEX         every --send-count message is queued
//   queued send count=N bytes=N sent=N sent_hash=HEX   a stdin `send` is queued (totals so far)
//   acked-all count=N seconds=S               everything queued so far is acknowledged
//   received-all count=N bytes=N hash=HEX seconds=S markers=N
//   report count=N bytes=N hash=HEX markers=N unreliable=N   (stdin `report`)
//   status {JSON}                             (--status-every, stdin `status`, and at exit)
//   exit reason=done|signal|time-limit|stdin|error
//
// The hash chains every message in order: h = BLAKE2b-256(h ‖ length (8 bytes BE) ‖ message),
// starting from 32 zero bytes, so sender and receiver agree only on the same messages in the same order.
//
// Standard input takes commands, one per line: `status`, `report`, `send COUNT BYTES`,
// `unreliable COUNT BYTES`, `connect HOST:PORT`, `quit`.
//
// Arguments: --listen HOST:PORT (default 127.0.0.1:0) --room-secret HEX(64) --seed HEX(64)
// [--rendezvous HOST:PORT] [--connect HOST:PORT]… [--send-count N --send-bytes N] [--marker TEXT]
// [--expect-count N] [--expect-bytes N] [--exit-when-done] [--relay-only] [--status-every MS]
// [--max-seconds S (default 60)]. Messages carry seeded filler with the marker at the start and
// every 64 KiB; `markers=` counts the marker in what arrived. SIGINT and SIGTERM close cleanly.
// Exit status: 0 done (or signal, or `quit`), 1 the socket could not be set up, 2 bad arguments,
// 3 the time limit passed first.
//
// `TransportProbe bench handshake|transfer|rendezvous [--count N|--bytes N|--rooms N]` runs one
// in-process benchmark instead and prints one JSON line (used by `cvpeer-bench transport`).

import Dispatch
import PeerCrypto
import Primitives
import Rendezvous
import Sockets
import Synchronization
import Transport

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Darwin)
    @preconcurrency import Darwin
#endif

// MARK: Output

/// Writes one line to standard output with a single unbuffered write, so a parent reading a
/// pipe sees it at once and a killed child never loses a buffered line.
func emit(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let written = write(STDOUT_FILENO, raw.baseAddress! + offset, raw.count - offset)
            if written <= 0 { break }
            offset += written
        }
    }
}

func fail(_ message: String) -> Never {
    let bytes = Array("TransportProbe: \(message)\n".utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(2)
}

func seconds(since start: UInt64) -> String {
    let thousandths = (nowNanoseconds() - start) / 1_000_000
    let fraction = String(thousandths % 1000)
    return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}

/// A lock-protected value that closures can share (a `Mutex` itself cannot be captured).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

func nowNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

func residentKiB() -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix("VmRSS:") {
            return Int(text.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
    }
    return 0
}

func resolve(_ text: String) -> UDPEndpoint? {
    guard let hostPort = HostPort(parsing: text) else { return nil }
    return try? UDPSocket.resolveEndpoint(hostPort)
}

// MARK: Messages

/// SplitMix64: fast, repeatable filler for message bodies.
struct Filler: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Message `index` of `size` bytes: seeded filler, with the marker at the start and every 64 KiB.
func makeMessage(index: Int, size: Int, seed: UInt64, marker: [UInt8]) -> [UInt8] {
    var filler = Filler(state: seed ^ (UInt64(index) &* 0x2545_F491_4F6C_DD1D))
    var message = [UInt8](repeating: 0, count: size)
    message.withUnsafeMutableBytes { raw in
        var offset = 0
        while offset + 8 <= raw.count {
            raw.storeBytes(of: filler.next(), toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        while offset < raw.count {
            raw[offset] = UInt8(truncatingIfNeeded: filler.next())
            offset += 1
        }
    }
    if !marker.isEmpty {
        var offset = 0
        while offset + marker.count <= size {
            message.replaceSubrange(offset..<(offset + marker.count), with: marker)
            offset += 65_536
        }
    }
    return message
}

/// Chains one message into the running hash.
func chain(_ hash: [UInt8], _ message: [UInt8]) -> [UInt8] {
    let hasher = Blake2b.Hasher(outputLength: 32)
    hasher.update(hash)
    var length = UInt64(message.count).bigEndian
    withUnsafeBytes(of: &length) { hasher.update($0) }
    hasher.update(message)
    return hasher.finalize()
}

/// How many times `marker` occurs in `message` (non-overlapping is not needed: markers are spread out).
func count(_ marker: [UInt8], in message: [UInt8]) -> Int {
    guard !marker.isEmpty, message.count >= marker.count else { return 0 }
    var found = 0
    message.withUnsafeBufferPointer { bytes in
        let first = marker[0]
        var index = 0
        let last = bytes.count - marker.count
        while index <= last {
            if bytes[index] == first {
                var match = true
                for j in 1..<marker.count where bytes[index + j] != marker[j] {
                    match = false
                    break
                }
                if match { found += 1 }
            }
            index += 1
        }
    }
    return found
}

// MARK: Status JSON

func json(_ status: TransportStatus, received: Received) -> String {
    func string(_ text: String) -> String { "\"" + text + "\"" }
    var fields: [String] = []
    fields.append("\"local\":" + string(status.localEndpoint?.description ?? ""))
    fields.append("\"registered\":\(status.registered)")
    fields.append("\"reflexive\":" + string(status.reflexive?.description ?? ""))
    let peers = status.peers.map { peer -> String in
        let path: (String, String) = {
            switch peer.path {
            case .direct(let endpoint): ("direct", endpoint.description)
            case .relay(let id): ("relayed", id.shortDescription)
            }
        }()
        let r = peer.reliability
        return "{\"peer\":\(string(peer.peer.shortDescription)),\"path\":\(string(path.0)),\"via\":\(string(path.1)),"
            + "\"srtt_us\":\(r.smoothedRTT / 1000),\"min_rtt_us\":\(r.minRTT / 1000),\"cwnd\":\(r.congestionWindow),"
            + "\"in_flight\":\(r.bytesInFlight),\"packets_sent\":\(r.packetsSent),\"packets_lost\":\(r.packetsLost),"
            + "\"retransmitted_bytes\":\(r.retransmittedBytes),\"probe_timeouts\":\(r.probeTimeouts),"
            + "\"congestion_events\":\(r.congestionEvents),\"duplicates\":\(r.duplicatePackets),"
            + "\"queued_messages\":\(r.queuedMessages),\"messages_delivered\":\(r.messagesDelivered),"
            + "\"sessions\":\(peer.link.sessionCount)}"
    }
    fields.append("\"peers\":[" + peers.joined(separator: ",") + "]")
    let drops = LinkDropReason.allCases.map { "\(string("\($0)")):\(status.link.dropped($0))" }
    fields.append("\"link_drops\":{" + drops.joined(separator: ",") + "}")
    fields.append("\"link_drops_total\":\(status.link.totalDrops)")
    fields.append(
        "\"link\":{\"sessions_established\":\(status.link.sessionsEstablished),\"handshakes_initiated\":"
            + "\(status.link.handshakesInitiated),\"data_received\":\(status.link.dataPacketsReceived),"
            + "\"data_sent\":\(status.link.dataPacketsSent),\"probes_sent\":\(status.link.probesSent),"
            + "\"punches_received\":\(status.link.punchesReceived),\"path_changes\":\(status.link.pathChanges),"
            + "\"half_open_evicted\":\(status.link.halfOpenEvicted)}")
    if let rendezvous = status.rendezvous {
        let drops = RendezvousClient.DropReason.allCases.map { "\(string("\($0)")):\(rendezvous.drops[$0, default: 0])" }
        fields.append(
            "\"rendezvous\":{\"registers_sent\":\(rendezvous.registersSent),\"registrations\":\(rendezvous.registrations),"
                + "\"challenges\":\(rendezvous.challengesReceived),\"restarts\":\(rendezvous.restarts),"
                + "\"introductions\":\(rendezvous.introductions),\"relayed_received\":\(rendezvous.relayedReceived),"
                + "\"drops\":{" + drops.joined(separator: ",") + "}}")
    }
    let c = status.counters
    fields.append(
        "\"shell\":{\"datagrams_received\":\(c.datagramsReceived),\"bytes_received\":\(c.bytesReceived),"
            + "\"datagrams_sent\":\(c.datagramsSent),\"bytes_sent\":\(c.bytesSent),\"send_failures\":\(c.sendFailures),"
            + "\"oversized_drops\":\(c.oversizedDrops),\"stray_rendezvous_drops\":\(c.strayRendezvousDrops),"
            + "\"stray_link_drops\":\(c.strayLinkDrops),\"direct_disabled_drops\":\(c.directDisabledDrops),"
            + "\"reliability_decode_drops\":\(c.reliabilityDecodeDrops),\"punches_sent\":\(c.punchesSent),\"unverified_sends_refused\":\(c.unverifiedSendsRefused),"
            + "\"probe_rounds\":\(c.probeRounds),\"traversals_refused\":\(c.traversalsRefused),"
            + "\"loop_iterations\":\(c.loopIterations)}")
    fields.append("\"drops_total\":\(status.link.totalDrops + c.totalDrops + (status.rendezvous?.totalDrops ?? 0))")
    fields.append("\"pending_handshakes\":\(status.pendingHandshakes),\"half_open\":\(status.halfOpenHandshakes)")
    fields.append("\"socket_buffers\":[\(status.socketReceiveBuffer),\(status.socketSendBuffer)]")
    fields.append("\"send_offload\":\(status.sendOffload),\"receive_offload\":\(status.receiveOffload)")
    fields.append(
        "\"received\":{\"count\":\(received.count),\"bytes\":\(received.bytes),\"markers\":\(received.markers),"
            + "\"unreliable\":\(received.unreliable)}")
    fields.append("\"rss_kib\":\(residentKiB())")
    return "{" + fields.joined(separator: ",") + "}"
}

// MARK: Probe state

struct Received: Sendable {
    var count = 0
    var bytes = 0
    var markers = 0
    var unreliable = 0
    var hash = [UInt8](repeating: 0, count: 32)
    /// When the first link came up: `received-all` counts seconds from here.
    var firstAt: UInt64?
    var reportedAll = false
    var reportedAllAt: UInt64?
}

struct ProbeState: Sendable {
    var received = Received()
    /// Peers whose link came up and that are still up, in link-up order.
    var linked: [PublicKey] = []
    var pendingLinkUps = 0
    var commands: [String] = []
    var stop: String?
}

struct Options {
    var listen = HostPort(host: "127.0.0.1", port: 0)
    var roomSecret: [UInt8]?
    var seed: [UInt8]?
    var rendezvous: HostPort?
    var connect: [String] = []
    var sendBytes = 0
    var sendCount = 0
    var marker: [UInt8] = []
    var expectBytes: Int?
    var expectCount: Int?
    var maxSeconds = 60.0
    var relayOnly = false
    var exitWhenDone = false
    var statusEvery: Double?
}

func parseOptions(_ arguments: [String]) -> Options {
    var options = Options()
    var rest = arguments[...]
    func value(_ name: String) -> String {
        guard let value = rest.popFirst() else { fail("\(name) needs a value") }
        return value
    }
    func number(_ name: String) -> Int {
        guard let number = Int(value(name)), number >= 0 else { fail("\(name) needs a whole number") }
        return number
    }
    while let argument = rest.popFirst() {
        switch argument {
        case "--listen":
            guard let hostPort = HostPort(parsing: value(argument)) else { fail("--listen needs HOST:PORT") }
            options.listen = hostPort
        case "--room-secret":
            guard let bytes = Hex.bytes(value(argument)), bytes.count == RoomKeys.secretLength else {
                fail("--room-secret needs \(RoomKeys.secretLength * 2) hex digits")
            }
            options.roomSecret = bytes
        case "--seed":
            guard let bytes = Hex.bytes(value(argument)), bytes.count == Identity.seedLength else {
                fail("--seed needs \(Identity.seedLength * 2) hex digits")
            }
            options.seed = bytes
        case "--rendezvous":
            guard let hostPort = HostPort(parsing: value(argument)) else { fail("--rendezvous needs HOST:PORT") }
            options.rendezvous = hostPort
        case "--connect": options.connect.append(value(argument))
        case "--send-bytes": options.sendBytes = number(argument)
        case "--send-count": options.sendCount = number(argument)
        case "--marker": options.marker = Array(value(argument).utf8)
        case "--expect-bytes": options.expectBytes = number(argument)
        case "--expect-count": options.expectCount = number(argument)
        case "--max-seconds":
            guard let seconds = Double(value(argument)), seconds > 0 else { fail("--max-seconds needs a positive number") }
            options.maxSeconds = seconds
        case "--status-every":
            guard let ms = Double(value(argument)), ms > 0 else { fail("--status-every needs milliseconds") }
            options.statusEvery = ms / 1000
        case "--relay-only": options.relayOnly = true
        case "--exit-when-done": options.exitWhenDone = true
        default: fail("unknown argument '\(argument)'")
        }
    }
    guard options.sendBytes <= Wire.maxMessageSize else { fail("--send-bytes is above \(Wire.maxMessageSize)") }
    return options
}

// MARK: Signals and stdin

/// Blocks SIGINT and SIGTERM in this thread and every thread started afterwards, then takes
/// them with sigwait on a thread of their own (the same scheme as `cvpeer rendezvous`).
func watchSignals(_ onSignal: @escaping @Sendable (Int32) -> Void) {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_BLOCK, &set, nil)
    let blocked = set
    let thread = Thread {
        var signals = blocked
        var received: Int32 = 0
        sigwait(&signals, &received)
        onSignal(received)
    }
    thread.start()
}

/// A detached thread: Foundation is not imported, so a tiny pthread wrapper starts closures.
final class Thread: @unchecked Sendable {
    private let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    func start() {
        let box = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let created = pthread_create(
            &handle, nil,
            { raw in
                #if canImport(Darwin)
                    let thread = Unmanaged<Thread>.fromOpaque(raw).takeRetainedValue()
                #else
                    let thread = Unmanaged<Thread>.fromOpaque(raw!).takeRetainedValue()
                #endif
                thread.body()
                return nil
            }, box.toOpaque())
        guard created == 0 else {
            box.release()
            fail("cannot start a thread")
        }
        pthread_detach(handle)
    }
}

// MARK: Probe run

/// The transport knows no owner; probes only need to agree on one so they derive the same room.
let probeOwner = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0x0f, count: Identity.seedLength))).publicKey

func runProbe(_ options: Options) -> Never {
    guard let secret = options.roomSecret else { fail("--room-secret is required") }
    guard let seed = options.seed else { fail("--seed is required") }
    let room: RoomKeys
    let identity: Identity
    do {
        room = try RoomKeys(secret: SecretBytes(copying: secret), owner: probeOwner)
        identity = try Identity(seed: SecretBytes(copying: seed))
    } catch {
        fail("bad key material: \(error)")
    }
    let fillSeed = seed.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    let marker = options.marker
    let wakeUp = DispatchSemaphore(value: 0)
    let state = Locked(ProbeState())
    let start = nowNanoseconds()

    watchSignals { signal in
        state.withLock { $0.stop = $0.stop ?? "signal" }
        wakeUp.signal()
    }

    let expectCount = options.expectCount
    let expectBytes = options.expectBytes
    let expectsAnything = expectCount != nil || expectBytes != nil

    var configuration = PeerTransport.Configuration()
    configuration.directPathsDisabled = options.relayOnly
    let transport = PeerTransport(
        identity: identity, room: room, listen: options.listen, rendezvous: options.rendezvous,
        configuration: configuration
    ) { event in
        switch event {
        case .linkUp(let peer, let path):
            emit("link-up \(peer.shortDescription) \(path)")
            state.withLock {
                $0.linked.append(peer)
                $0.pendingLinkUps += 1
                if $0.received.firstAt == nil { $0.received.firstAt = nowNanoseconds() }
            }
            wakeUp.signal()
        case .linkDown(let peer, let reason):
            emit("link-down \(peer.shortDescription) \(reason)")
            state.withLock { $0.linked.removeAll { $0 == peer } }
        case .pathChanged(let peer, let path):
            emit("path \(peer.shortDescription) \(path)")
        case .message(_, let message):
            let line: String? = state.withLock { state in
                var received = state.received
                received.count += 1
                received.bytes += message.count
                received.markers += count(marker, in: message)
                received.hash = chain(received.hash, message)
                defer { state.received = received }
                guard !received.reportedAll, expectsAnything, received.count >= expectCount ?? 0,
                    received.bytes >= expectBytes ?? 0
                else { return nil }
                received.reportedAll = true
                received.reportedAllAt = nowNanoseconds()
                return "received-all count=\(received.count) bytes=\(received.bytes) hash=\(Hex.string(received.hash)) "
                    + "seconds=\(seconds(since: received.firstAt ?? start)) markers=\(received.markers)"
            }
            if let line {
                emit(line)
                wakeUp.signal()
            }
        case .unreliable:
            state.withLock { $0.received.unreliable += 1 }
        case .registered(let reflexive):
            emit("registered reflexive=\(reflexive)")
        case .introduced(let id, let candidates):
            emit("introduced \(id.shortDescription) candidates=\(candidates.map(\.description).joined(separator: ","))")
        case .registrationRefused(let reason):
            emit("refused \(reason.rawValue)")
        case .handshakeFailed(let paths):
            emit("handshake-failed \(paths.map(\.description).joined(separator: ","))")
        }
    }

    let local: UDPEndpoint
    do {
        local = try transport.start()
    } catch {
        emit("exit reason=error \(error)")
        exit(1)
    }
    emit("ready \(local) key=\(identity.publicKey.shortDescription) fingerprint=\(identity.publicKey.fingerprint)")

    Thread {
        while let line = readLine() {
            state.withLock { $0.commands.append(line) }
            wakeUp.signal()
        }
    }.start()

    var targets: [UDPEndpoint] = []
    for text in options.connect {
        guard let endpoint = resolve(text) else { fail("cannot resolve --connect \(text)") }
        targets.append(endpoint)
    }
    transport.connect(to: targets)

    // The sender's side: a batch of messages queued once the first link is up, and more on
    // `send` commands; `acked-all` once everything queued so far is acknowledged.
    var sentHash = [UInt8](repeating: 0, count: 32)
    var sentCount = 0
    var sendTarget: PublicKey?
    var sendStarted: UInt64 = 0
    var awaitingAck = false
    var batchSent = options.sendCount == 0

    func send(count: Int, bytes: Int, to peer: PublicKey) -> Bool {
        if sendTarget == nil {
            sendTarget = peer
            sendStarted = nowNanoseconds()
        }
        awaitingAck = true
        for _ in 0..<count {
            let message = makeMessage(index: sentCount, size: bytes, seed: fillSeed, marker: marker)
            do {
                try transport.send(message: message, to: peer)
            } catch {
                emit("send-failed \(error)")
                return false
            }
            sentHash = chain(sentHash, message)
            sentCount += 1
        }
        return true
    }

    func report() -> String {
        let received = state.withLock { $0.received }
        return "report count=\(received.count) bytes=\(received.bytes) hash=\(Hex.string(received.hash)) "
            + "markers=\(received.markers) unreliable=\(received.unreliable) sent=\(sentCount) sent_hash=\(Hex.string(sentHash))"
    }

    let deadline = start + UInt64(options.maxSeconds * 1e9)
    var nextStatus = options.statusEvery.map { start + UInt64($0 * 1e9) }
    var reason = "done"
    var deferred: [String] = []
    while true {
        _ = wakeUp.wait(timeout: .now() + .milliseconds(20))
        let (stop, commands, linkUps, firstPeer, received) = state.withLock { state in
            defer {
                state.commands = []
                state.pendingLinkUps = 0
            }
            return (state.stop, state.commands, state.pendingLinkUps, state.linked.first, state.received)
        }
        if let stop {
            reason = stop
            break
        }
        if nowNanoseconds() >= deadline {
            reason = "time-limit"
            break
        }
        // Sends wait for a link: a command that names no peer yet is kept for later.
        var waiting = deferred + commands
        deferred = []
        if firstPeer == nil {
            deferred = waiting.filter { $0.hasPrefix("send ") || $0.hasPrefix("unreliable ") }
            waiting.removeAll { $0.hasPrefix("send ") || $0.hasPrefix("unreliable ") }
        } else if !batchSent {
            // The --send-count batch goes first; later commands follow it next pass.
            deferred = waiting.filter { $0.hasPrefix("send ") || $0.hasPrefix("unreliable ") }
            waiting.removeAll { $0.hasPrefix("send ") || $0.hasPrefix("unreliable ") }
        }
        for command in waiting {
            let words = command.split(separator: " ").map(String.init)
            switch words.first {
            case "status":
                emit("status " + json(transport.status, received: received))
            case "report":
                emit(report())
            case "send", "unreliable":
                guard words.count == 3, let count = Int(words[1]), let bytes = Int(words[2]), let peer = firstPeer else {
                    emit("error bad command '\(command)'")
                    continue
                }
                if words[0] == "send" {
                    _ = send(count: count, bytes: bytes, to: peer)
                } else {
                    for index in 0..<count {
                        let datagram = makeMessage(index: index, size: bytes, seed: fillSeed, marker: marker)
                        try? transport.sendUnreliable(datagram, to: peer)
                    }
                }
                emit("queued \(words[0]) count=\(count) bytes=\(bytes) sent=\(sentCount) sent_hash=\(Hex.string(sentHash))")
            case "connect":
                guard words.count == 2, let endpoint = resolve(words[1]) else {
                    emit("error bad command '\(command)'")
                    continue
                }
                transport.connect(to: [endpoint])
            case "quit":
                state.withLock { $0.stop = "stdin" }
            default:
                emit("error unknown command '\(command)'")
            }
        }
        if linkUps > 0, !batchSent, let peer = firstPeer {
            batchSent = true
            if send(count: options.sendCount, bytes: options.sendBytes, to: peer) {
                emit("sent-all count=\(sentCount) bytes=\(sentCount * options.sendBytes) hash=\(Hex.string(sentHash))")
            }
        }
        if awaitingAck, deferred.isEmpty, let peer = sendTarget,
            let status = transport.peers.first(where: { $0.peer == peer }), status.reliability.queuedMessages == 0
        {
            awaitingAck = false
            emit("acked-all count=\(sentCount) seconds=\(seconds(since: sendStarted))")
        }
        let sendDone = batchSent && !awaitingAck && deferred.isEmpty
        if let next = nextStatus, nowNanoseconds() >= next {
            emit("status " + json(transport.status, received: received))
            nextStatus = next + UInt64((options.statusEvery ?? 1) * 1e9)
        }
        // A receiver lingers after its last message until the sender closes (or 2 s pass), so
        // the sender hears the final acknowledgements and can report `acked-all`.
        let receiveDone =
            !expectsAnything
            || (received.reportedAll
                && (firstPeer == nil || nowNanoseconds() >= (received.reportedAllAt ?? 0) + 2_000_000_000))
        if options.exitWhenDone, sendDone, receiveDone {
            break
        }
    }
    transport.close()
    let received = state.withLock { $0.received }
    emit("status " + json(transport.status, received: received))
    emit("exit reason=\(reason)")
    exit(reason == "time-limit" ? 3 : 0)
}

// MARK: Benchmarks

/// Two transports in this process on loopback, linked; returns them with their event counters.
final class BenchPair: Sendable {
    struct Counts: Sendable {
        var linkUpsA = 0
        var linkUpsB = 0
        var receivedBytes = 0
        var receivedMessages = 0
    }

    let a: PeerTransport
    let b: PeerTransport
    let counts: Locked<Counts>
    let signal: DispatchSemaphore
    let room: RoomKeys

    init(room: RoomKeys) {
        self.room = room
        let counts = Locked(Counts())
        let signal = DispatchSemaphore(value: 0)
        self.counts = counts
        self.signal = signal
        a = PeerTransport(
            identity: .generate(), room: room, listen: HostPort(host: "127.0.0.1", port: 0), rendezvous: nil
        ) { event in
            if case .linkUp = event {
                counts.withLock { $0.linkUpsA += 1 }
                signal.signal()
            }
        }
        b = PeerTransport(
            identity: .generate(), room: room, listen: HostPort(host: "127.0.0.1", port: 0), rendezvous: nil
        ) { event in
            switch event {
            case .linkUp:
                counts.withLock { $0.linkUpsB += 1 }
                signal.signal()
            case .message(_, let message):
                counts.withLock {
                    $0.receivedBytes += message.count
                    $0.receivedMessages += 1
                }
                signal.signal()
            case .linkDown, .pathChanged, .unreliable, .registered, .introduced, .handshakeFailed, .registrationRefused:
                break
            }
        }
    }

    /// Starts both and connects A to B; returns nanoseconds from `connect` to A's link-up, or nil on timeout.
    func link(timeoutSeconds: Double = 10) -> UInt64? {
        guard (try? a.start()) != nil, let bAddress = try? b.start() else { return nil }
        let started = nowNanoseconds()
        a.connect(to: [bAddress])
        let deadline = started + UInt64(timeoutSeconds * 1e9)
        while nowNanoseconds() < deadline {
            let linked = counts.withLock { $0.linkUpsA > 0 && $0.linkUpsB > 0 }
            if linked { return nowNanoseconds() - started }
            _ = signal.wait(timeout: .now() + .milliseconds(5))
        }
        return nil
    }

    func close() {
        a.close(drainTimeout: .zero)
        b.close(drainTimeout: .zero)
    }
}

func benchHandshake(count: Int) -> Never {
    let room = RoomKeys.generate(owner: probeOwner)
    var samples: [Double] = []
    for _ in 0..<count {
        let pair = BenchPair(room: room)
        guard let nanoseconds = pair.link() else {
            pair.close()
            fail("a handshake did not complete")
        }
        samples.append(Double(nanoseconds) / 1e6)
        pair.close()
    }
    samples.sort()
    let median = samples[samples.count / 2]
    emit(
        "{\"bench\":\"handshake\",\"count\":\(count),\"median_ms\":\(median),\"min_ms\":\(samples.first ?? 0),"
            + "\"max_ms\":\(samples.last ?? 0)}")
    exit(0)
}

func benchTransfer(bytes total: Int, messageSize: Int) -> Never {
    let pair = BenchPair(room: RoomKeys.generate(owner: probeOwner))
    guard pair.link() != nil else { fail("the link did not come up") }
    guard let peerB = pair.a.peers.first?.peer ?? waitForPeer(pair.a) else { fail("no peer") }
    let message = makeMessage(index: 0, size: messageSize, seed: 1, marker: [])
    let messages = (total + messageSize - 1) / messageSize
    let rssBefore = residentKiB()
    let started = nowNanoseconds()
    // Queued in windows of 32 MiB so the sender's memory stays bounded like a real application's.
    var queued = 0
    let window = max(1, (32 << 20) / messageSize)
    let deadline = started + 120_000_000_000
    while true {
        let received = pair.counts.withLock { $0.receivedMessages }
        if received >= messages { break }
        while queued < messages, queued - received < window {
            do {
                try pair.a.send(message: message, to: peerB)
            } catch {
                fail("send failed: \(error)")
            }
            queued += 1
        }
        guard nowNanoseconds() < deadline else { fail("the transfer did not finish in 120 s") }
        _ = pair.signal.wait(timeout: .now() + .milliseconds(2))
    }
    let elapsed = Double(nowNanoseconds() - started) / 1e9
    let received = pair.counts.withLock { $0 }
    let sender = pair.a.status
    let receiver = pair.b.status
    let link = sender.peers.first?.reliability
    pair.close()
    let megabytes = Double(received.receivedBytes) / 1e6
    emit(
        "{\"bench\":\"transfer\",\"bytes\":\(received.receivedBytes),\"messages\":\(received.receivedMessages),"
            + "\"seconds\":\(elapsed),\"mb_per_s\":\(megabytes / elapsed),"
            + "\"datagrams_sent\":\(sender.counters.datagramsSent),\"datagrams_received\":\(receiver.counters.datagramsReceived),"
            + "\"packets_lost\":\(link?.packetsLost ?? 0),\"retransmitted_bytes\":\(link?.retransmittedBytes ?? 0),"
            + "\"congestion_events\":\(link?.congestionEvents ?? 0),\"cwnd\":\(link?.congestionWindow ?? 0),"
            + "\"srtt_us\":\((link?.smoothedRTT ?? 0) / 1000),\"sender_loops\":\(sender.counters.loopIterations),"
            + "\"receiver_loops\":\(receiver.counters.loopIterations),\"sender_wait_s\":\(Double(sender.counters.waitNanoseconds) / 1e9),"
            + "\"receiver_wait_s\":\(Double(receiver.counters.waitNanoseconds) / 1e9),\"probe_timeouts\":\(link?.probeTimeouts ?? 0),"
            + "\"send_failures\":\(sender.counters.sendFailures),\"send_offload\":\(sender.sendOffload),"
            + "\"receive_offload\":\(receiver.receiveOffload),\"receiver_drops\":\(receiver.counters.totalDrops),"
            + "\"rss_delta_kib\":\(residentKiB() - rssBefore)}")
    exit(0)
}

func waitForPeer(_ transport: PeerTransport) -> PublicKey? {
    for _ in 0..<200 {
        if let peer = transport.peers.first?.peer { return peer }
        usleep(5_000)
    }
    return nil
}

func benchRendezvous(rooms: Int) -> Never {
    let clock = ContinuousClock()
    let rssBefore = residentKiB()
    var server = RendezvousServer(configuration: RendezvousServer.Configuration(), now: clock.now)
    var filler = Filler(state: 7)
    // Two members per room (an agent and a customer), each at its own address.
    let peersPerRoom = 2
    var registrations = 0
    var datagrams = 0
    // Signing is the members' work, not the server's: only the server's calls are timed.
    var serverTime = Duration.zero
    for _ in 0..<rooms {
        let seed = (0..<4).flatMap { _ in filler.next().bigEndianBytes }
        let key = try! Identity(seed: SecretBytes(copying: seed))
        let tag = RoomTag(registrationKey: key.publicKey)
        for member in 0..<peersPerRoom {
            let index = registrations + member
            let source = UDPEndpoint(address: .v4(0x0A00_0000 | UInt32(index + 1)), port: 40_000)
            let id = RendezvousPeerID(rawValue: filler.next())
            let nonce = filler.next()
            func register(_ cookie: RendezvousCookie) -> [UInt8] {
                RendezvousMessage.register(
                    RendezvousMessage.Register(
                        roomTag: tag, peerID: id, clientNonce: nonce, cookie: cookie, registrationKey: key.publicKey,
                        candidates: [source]
                    ).signed(by: key)
                ).encoded()
            }
            let first = register(.none)
            var now = clock.now
            var cookie = RendezvousCookie.none
            for action in server.received(datagram: first, from: source, now: now) {
                guard case .send(let reply, _) = action,
                    case .cookieChallenge(let challenge)? = try? RendezvousMessage.decode(reply)
                else { continue }
                cookie = challenge.cookie
            }
            serverTime += clock.now - now
            let second = register(cookie)
            now = clock.now
            for action in server.received(datagram: second, from: source, now: now) {
                if case .send = action { datagrams += 1 }
            }
            serverTime += clock.now - now
        }
        registrations += peersPerRoom
    }
    let elapsed = serverTime
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let stats = server.stats
    let rssDelta = residentKiB() - rssBefore
    // Refreshes: every member registers again with its cookie (the steady-state load).
    emit(
        "{\"bench\":\"rendezvous\",\"rooms\":\(stats.rooms),\"peers\":\(stats.peers),\"registrations\":\(registrations),"
            + "\"seconds\":\(seconds),\"registrations_per_s\":\(Double(registrations) / seconds),"
            + "\"replies\":\(datagrams),\"rss_delta_kib\":\(rssDelta),"
            + "\"bytes_per_room\":\(rooms > 0 ? rssDelta * 1024 / rooms : 0)}")
    withExtendedLifetime(server) {}
    exit(0)
}

func runBench(_ arguments: [String]) -> Never {
    guard let kind = arguments.first else { fail("bench needs handshake, transfer or rendezvous") }
    var rest = arguments.dropFirst()
    var values: [String: Int] = [:]
    while let name = rest.popFirst() {
        guard name.hasPrefix("--"), let text = rest.popFirst(), let value = Int(text), value > 0 else {
            fail("bench options are --NAME POSITIVE-NUMBER")
        }
        values[String(name.dropFirst(2))] = value
    }
    switch kind {
    case "handshake": benchHandshake(count: values["count"] ?? 21)
    case "transfer": benchTransfer(bytes: values["bytes"] ?? 100_000_000, messageSize: values["message-size"] ?? 1 << 20)
    case "rendezvous": benchRendezvous(rooms: values["rooms"] ?? 10_000)
    default: fail("unknown bench '\(kind)'")
    }
}

// MARK: Entry point

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "bench" {
    runBench(Array(arguments.dropFirst()))
} else {
    runProbe(parseOptions(arguments))
}
