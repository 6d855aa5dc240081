import CVPeerTestSupport
import Foundation
import PeerCrypto
import Primitives
import Replication
import Store
import Synchronization
import Testing
import Transport

@testable import Node

#if canImport(Glibc)
    import Glibc
#endif

/// The rule under every edit: it is in the node's store before any peer can see it. A real
/// `cvpeer host` process is killed with SIGKILL from the peer's receiving thread the instant its
/// new batch arrives; the store it leaves behind must hold that batch.
@Suite("An edit is stored before it leaves the node", .serialized)
struct DurableBeforeSendTests {
    /// Rounds, each on a fresh host: each is one chance for a send that ran ahead of the write to be caught.
    static let rounds = 5

    @Test("a node killed with SIGKILL the moment a peer receives its edit holds that edit in its store")
    func killedTheMomentItsEditArrives() async throws {
        let folder = NSTemporaryDirectory() + "cvpeer-durable-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for round in 0..<Self.rounds {
            try await killRound(folder: folder + "/round\(round)")
        }
    }

    private func killRound(folder: String) async throws {
        let data = folder + "/ana"
        let host = try ChildProcess(
            BuiltBinary.url("cvpeer"), ["host", "--data", data, "--name", "Ana", "--listen", "127.0.0.1:0"], name: "host Ana")
        defer { _ = host.stop(grace: 1) }
        let line = try #require(host.line("  cvpeer join '", timeout: 30), "no invite:\n\(host.output.joined(separator: "\n"))")
        let start = try #require(line.range(of: "cvp2:"))
        let invite = try Invite(code: String(line[start.lowerBound...].prefix { $0 != "'" }))
        #expect(host.line("Your viewer", timeout: 30) != nil)

        let watcher = KillOnArrival(pid: host.processIdentifier, author: invite.owner)
        let peer = try await HandBuiltMember(room: invite.roomKeys, folder: folder + "/ben", name: "Ben", observe: watcher.observe)
        #expect(invite.address.host == "127.0.0.1")
        peer.connect(to: .ipv4(127, 0, 0, 1, port: invite.address.port))
        // Linked and admitted: Ben holds Ana's batches so far (her profile, his grant).
        var held: UInt64 = 0
        for _ in 0..<300 {
            held = await peer.engine.vector[ReplicaID(invite.owner)]
            if held > 0, await peer.engine.document.members.contains(where: { $0.id == peer.engine.me }) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try #require(held > 0, "Ben never received Ana's batches:\n\(host.output.joined(separator: "\n"))")

        watcher.arm(after: held)
        // Ana's edit, as a person makes it: through her local API, from a `cvpeer say` process.
        let say = try ChildProcess(BuiltBinary.url("cvpeer"), ["say", "--data", data, "durable"], name: "say")
        defer { _ = say.stop(grace: 1) }
        #expect(host.waitForExit(timeout: 30) != nil, "Ana was not killed:\n\(host.output.joined(separator: "\n"))")
        await peer.stop()
        let killed = try #require(watcher.killedFor, "Ben never saw Ana's new batch")

        // What survived is what Ana's store holds now.
        let store = try Store(path: data + "/store.sqlite")
        let batches = try store.batches(room: invite.roomKeys.tag)
        let ana = invite.owner.bytes
        #expect(
            batches.contains { $0.author == ana && $0.sequence == killed },
            "Ana's batch \(killed), seen by Ben, is not in her store (she holds up to \(batches.filter { $0.author == ana }.map(\.sequence).max() ?? 0))")
    }
}

/// Kills the host the instant a sync message carrying its author's batch past `after` arrives,
/// on the transport's own receiving path, before the engine even sees it.
final class KillOnArrival: Sendable {
    let pid: Int32
    let author: PublicKey
    private let state = Mutex<(armedAfter: UInt64?, killedFor: UInt64?)>((nil, nil))

    init(pid: Int32, author: PublicKey) {
        self.pid = pid
        self.author = author
    }

    func arm(after sequence: UInt64) { state.withLock { $0.armedAfter = sequence } }

    /// The batch sequence whose arrival killed the host, if any.
    var killedFor: UInt64? { state.withLock { $0.killedFor } }

    func observe(_ event: TransportEvent) {
        guard case let .message(_, bytes) = event, case .sync(let encoded)? = PeerMessage.decode(bytes),
            let message = try? SyncMessageCodec.decode(encoded)
        else { return }
        for sealed in message.batches {
            guard let header = try? BatchSealer.peekHeader(sealed), header.author == author else { continue }
            let fire = state.withLock { state -> Bool in
                guard let after = state.armedAfter, state.killedFor == nil, header.sequence > after else { return false }
                state.killedFor = header.sequence
                return true
            }
            if fire { kill(pid, SIGKILL) }
        }
    }
}
