import CVPeerTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Real processes and real sockets on 127.0.0.1 for the transport's end-to-end tests: the built
// `TransportProbe` and `cvpeer` binaries as child processes, and an in-test UDP proxy that can
// drop, duplicate, reorder and record datagrams. `ChildProcess` and `BuiltBinary` live in
// CVPeerTestSupport, shared with the end-to-end tests.

/// The children of one test, every one stopped when the test ends, whatever happened.
final class ProcessGroup: Sendable {
    private let children = Mutex<[ChildProcess]>([])

    /// A `TransportProbe` child.
    func probe(_ name: String, _ arguments: [String]) throws -> ChildProcess {
        let child = try ChildProcess(BuiltBinary.url("TransportProbe"), arguments, name: name)
        children.withLock { $0.append(child) }
        return child
    }

    /// A `cvpeer rendezvous --listen 127.0.0.1:0` child and the port it listens on.
    func rendezvous() throws -> (ChildProcess, UInt16) {
        let child = try ChildProcess(
            BuiltBinary.url("cvpeer"), ["rendezvous", "--listen", "127.0.0.1:0", "--log-level", "debug"], name: "rendezvous")
        children.withLock { $0.append(child) }
        guard let line = child.line("rendezvous info: listening on ", timeout: 20),
            let port = line.split(separator: " ").dropFirst(4).first?.split(separator: ":").last.flatMap({ UInt16($0) })
        else { throw E2EFailure("the rendezvous did not start: \(child.output)") }
        return (child, port)
    }

    /// Stops every child (SIGTERM, then SIGKILL) and prints the output of any that misbehaved.
    func stopAll() {
        for child in children.withLock({ $0 }) { child.stop() }
    }

    /// Every child's output, for failure messages.
    var transcript: String {
        children.withLock { $0 }.map { "--- \($0.name)\n" + $0.output.map { String($0.prefix(400)) }.joined(separator: "\n") }
            .joined(separator: "\n")
    }
}

struct E2EFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Arguments every probe shares: the room, its identity, a time limit.
enum ProbeArguments {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func room(_ n: UInt8) -> String { hex([UInt8](repeating: n, count: 32)) }

    static func seed(_ n: UInt8) -> String { hex((0..<32).map { UInt8(truncatingIfNeeded: Int(n) &* 31 &+ $0) }) }

    static func node(room: UInt8, seed: UInt8, maxSeconds: Int = 90) -> [String] {
        ["--listen", "127.0.0.1:0", "--room-secret", Self.room(room), "--seed", Self.seed(seed), "--max-seconds", String(maxSeconds)]
    }
}

/// `key=value` fields of a probe line.
func field(_ line: String?, _ name: String) -> String? {
    guard let line else { return nil }
    for word in line.split(separator: " ") where word.hasPrefix(name + "=") {
        return String(word.dropFirst(name.count + 1))
    }
    return nil
}

/// The port of a `ready 127.0.0.1:PORT …` line.
func readyPort(_ child: ChildProcess, timeout: Double = 20) throws -> UInt16 {
    guard let line = child.line("ready ", timeout: timeout),
        let port = line.split(separator: " ").dropFirst().first?.split(separator: ":").last.flatMap({ UInt16($0) })
    else { throw E2EFailure("\(child.name) never became ready: \(child.output)") }
    return port
}

/// A number in a status JSON: the first `"name":N` (good enough for the flat fields read here).
func jsonNumber(_ json: String?, _ name: String) -> Int? {
    guard let json, let range = json.range(of: "\"\(name)\":") else { return nil }
    let digits = json[range.upperBound...].prefix { $0.isNumber }
    return Int(digits)
}

/// True if `haystack` contains `needle` anywhere.
func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return false }
    return haystack.withUnsafeBufferPointer { bytes in
        var index = 0
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0], Array(bytes[index..<(index + needle.count)]) == needle { return true }
            index += 1
        }
        return false
    }
}

// MARK: Sockets

/// A UDP proxy on 127.0.0.1 between clients and one target, like a NAT: each client gets its
/// own upstream socket, so the target sees each client at a distinct port. It can drop,
/// duplicate and reorder datagrams (seeded) and record every datagram in both directions.
final class UDPProxy: Sendable {
    struct Impairment: Sendable {
        var loss = 0.0
        var duplicate = 0.0
        var reorder = 0.0
    }

    struct Counts: Sendable {
        var forwarded = 0
        var dropped = 0
        var duplicated = 0
        var reordered = 0
    }

    private struct State: Sendable {
        var upstreams: [UInt16: LoopbackSocket] = [:]
        var clientOf: [UInt16: UInt16] = [:]
        var recorded: [[UInt8]] = []
        var recordedBytes = 0
        var counts = Counts()
        var impairment: Impairment
        var random: SeededRandom
        /// Held for reordering: the datagram, the socket to send it from, its target port.
        var held: [([UInt8], LoopbackSocket, UInt16)] = []
        var running = true
    }

    /// The port clients send to.
    let port: UInt16
    let target: UInt16
    private let front: LoopbackSocket
    private let state: Mutex<State>
    private let record: Bool
    private let finished = DispatchSemaphore(value: 0)

    init(target: UInt16, impairment: Impairment = Impairment(), seed: UInt64, record: Bool = false) throws {
        front = try LoopbackSocket()
        port = front.port
        self.target = target
        self.record = record
        state = Mutex(State(impairment: impairment, random: SeededRandom(seed: seed)))
        let proxy = self
        Thread.detachNewThread { proxy.run() }
    }

    /// Every datagram that passed (or was dropped), in both directions, if recording.
    var recorded: [[UInt8]] { state.withLock { $0.recorded } }
    var recordedBytes: Int { state.withLock { $0.recordedBytes } }
    var counts: Counts { state.withLock { $0.counts } }

    /// The upstream ports the target sees, one per client.
    var upstreamPorts: [UInt16] { state.withLock { $0.upstreams.values.map(\.port) } }

    func setImpairment(_ impairment: Impairment) { state.withLock { $0.impairment = impairment } }

    /// Sends `datagram` to the target from the upstream socket of the first client, as if that client sent it.
    func inject(_ datagram: [UInt8]) {
        let socket = state.withLock { $0.upstreams.values.first }
        socket?.send(datagram, to: target)
    }

    func stop() {
        let wasRunning = state.withLock { state in
            defer { state.running = false }
            return state.running
        }
        guard wasRunning else { return }
        _ = finished.wait(timeout: .now() + 5)
        front.close()
        for socket in state.withLock({ Array($0.upstreams.values) }) { socket.close() }
    }

    private func run() {
        defer { finished.signal() }
        while state.withLock({ $0.running }) {
            let upstreams = state.withLock { Array($0.upstreams.values) }
            var fds = [pollfd(fd: front.descriptor, events: Int16(POLLIN), revents: 0)]
            fds += upstreams.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), 5)
            if ready == 0 { releaseHeld() }
            if fds[0].revents != 0 {
                while let (datagram, client) = front.receive() {
                    guard let upstream = upstream(for: client) else { continue }
                    forward(datagram, from: upstream, to: target)
                }
            }
            for (index, socket) in upstreams.enumerated() where fds[index + 1].revents != 0 {
                while let (datagram, source) = socket.receive() {
                    // Like a filtering NAT: only the target's answers come back.
                    guard source == target, let client = state.withLock({ $0.clientOf[socket.port] }) else { continue }
                    forward(datagram, from: front, to: client)
                }
            }
        }
    }

    private func upstream(for client: UInt16) -> LoopbackSocket? {
        if let socket = state.withLock({ $0.upstreams[client] }) { return socket }
        guard let socket = try? LoopbackSocket() else { return nil }
        state.withLock {
            $0.upstreams[client] = socket
            $0.clientOf[socket.port] = client
        }
        return socket
    }

    private func forward(_ datagram: [UInt8], from socket: LoopbackSocket, to port: UInt16) {
        enum Fate { case drop, send(copies: Int), hold }
        let (fate, release) = state.withLock { state -> (Fate, [([UInt8], LoopbackSocket, UInt16)]) in
            if record {
                state.recorded.append(datagram)
                state.recordedBytes += datagram.count
            }
            let roll = Double.random(in: 0..<1, using: &state.random)
            let impairment = state.impairment
            if roll < impairment.loss {
                state.counts.dropped += 1
                return (.drop, [])
            }
            if roll < impairment.loss + impairment.reorder, state.held.count < 4 {
                state.counts.reordered += 1
                state.held.append((datagram, socket, port))
                return (.hold, [])
            }
            let copies = roll < impairment.loss + impairment.reorder + impairment.duplicate ? 2 : 1
            if copies == 2 { state.counts.duplicated += 1 }
            state.counts.forwarded += 1
            // Held datagrams go out after this one: they arrive late.
            defer { state.held = [] }
            return (.send(copies: copies), state.held)
        }
        switch fate {
        case .drop, .hold:
            break
        case .send(let copies):
            for _ in 0..<copies { socket.send(datagram, to: port) }
            for (held, from, to) in release { from.send(held, to: to) }
        }
    }

    private func releaseHeld() {
        let release = state.withLock { state in
            defer { state.held = [] }
            return state.held
        }
        for (held, from, to) in release { from.send(held, to: to) }
    }
}
