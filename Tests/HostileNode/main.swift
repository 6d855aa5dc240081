// A hostile room member for the end-to-end tests, never part of the shipped binary.
//
// It is a real node on the network: the project's own transport, under the member's own identity
// and the room keys from its data folder (both written by a stock `cvpeer join`). What it sends is
// not what a stock node would: each peer gets the sealed batches the test chose for it, in sync
// messages, whatever they hold (two versions of one batch for two peers, a far-future batch, a
// batch copied from another room). It answers nothing and runs until it is stopped.
//
//     HostileNode --data FOLDER --send PORT=FILE [--send PORT=FILE …]
//
// FILE holds sealed batches, each as a 4-byte big-endian length then its bytes. For every peer on
// 127.0.0.1:PORT it prints `linked PORT` once the link is up and `sent N to PORT` after each send
// (once at the link, then every two seconds: reliable messages arrive, but the test need not
// depend on when the peer's engine first looked).

import Foundation
import PeerCrypto
import Primitives
import Rendezvous
import Replication
import Store
import Synchronization
import Transport

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("HostileNode: \(message)\n".utf8))
    exit(2)
}

/// One line on standard output at once (a pipe would otherwise buffer it).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func readBatches(_ path: String) -> [[UInt8]] {
    guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
    let bytes = [UInt8](data)
    var batches: [[UInt8]] = []
    var offset = 0
    while offset + 4 <= bytes.count {
        let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        offset += 4
        guard offset + length <= bytes.count else { fail("\(path) is truncated") }
        batches.append(Array(bytes[offset..<offset + length]))
        offset += length
    }
    return batches
}

/// The batches for each peer port, and the links up so far.
final class Hostile: Sendable {
    let plans: [UInt16: [[UInt8]]]
    /// Which peer came in from which port; sends go to linked peers only.
    private let linked = Mutex<[UInt16: PublicKey]>([:])
    private let transport = Mutex<PeerTransport?>(nil)

    init(plans: [UInt16: [[UInt8]]]) { self.plans = plans }

    func attach(_ transport: PeerTransport) { self.transport.withLock { $0 = transport } }

    func handle(_ event: TransportEvent) {
        guard case let .linkUp(peer, .direct(endpoint)) = event, plans[endpoint.port] != nil else { return }
        if linked.withLock({ $0.updateValue(peer, forKey: endpoint.port) == nil }) { say("linked \(endpoint.port)") }
        send(to: endpoint.port)
    }

    func send(to port: UInt16) {
        guard let peer = linked.withLock({ $0[port] }), let batches = plans[port], let transport = transport.withLock({ $0 }) else {
            return
        }
        let message = SyncMessage(summary: [], wants: [], proofs: [], batches: batches)
        guard let encoded = try? SyncMessageCodec.encode(message) else { fail("the batches do not fit one sync message") }
        // Tag 1 is the node's sync message.
        do {
            try transport.send(message: [1] + encoded, to: peer)
            say("sent \(batches.count) to \(port)")
        } catch {
            say("cannot send to \(port): \(error)")
        }
    }
}

func main() -> Never {
    var folder: String?
    var plans: [UInt16: [[UInt8]]] = [:]
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        switch argument {
        case "--data": folder = arguments.popFirst()
        case "--send":
            guard let value = arguments.popFirst(), let equals = value.firstIndex(of: "="), let port = UInt16(value[..<equals]) else {
                fail("--send wants PORT=FILE")
            }
            plans[port] = readBatches(String(value[value.index(after: equals)...]))
        default: fail("unknown argument \(argument)")
        }
    }
    guard let folder, !plans.isEmpty else { fail("usage: HostileNode --data FOLDER --send PORT=FILE …") }
    let identity: Identity
    let room: RoomKeys
    do {
        identity = try Identity.load(from: folder + "/identity.key")
        guard let first = try Store(path: folder + "/store.sqlite").rooms().first else { fail("no room in \(folder)") }
        room = first.keys
    } catch {
        fail("\(error)")
    }
    let hostile = Hostile(plans: plans)
    let transport = PeerTransport(
        identity: identity, room: room, listen: HostPort(host: "127.0.0.1", port: 0), rendezvous: nil,
        events: { hostile.handle($0) })
    hostile.attach(transport)
    do {
        try transport.start()
    } catch {
        fail("\(error)")
    }
    // One call per peer: the endpoints of one call are candidate paths to a single peer.
    for port in plans.keys { transport.connect(to: [.ipv4(127, 0, 0, 1, port: port)]) }
    signal(SIGTERM) { _ in exit(0) }
    while true {
        sleep(2)
        for port in plans.keys { hostile.send(to: port) }
    }
}

main()
