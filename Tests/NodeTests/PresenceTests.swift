import Foundation
import LocalAPI
import PeerCrypto
import Primitives
import Rendezvous
import Replication
import Testing

@testable import Node

/// Pointers between real nodes in this process, over UDP on 127.0.0.1.
@Suite("Presence between nodes", .serialized)
struct PresenceTests {
    @Test("in a star (joiners that reach only the host) each joiner sees the other's pointer, passed on by the host")
    func pointersCrossTheHost() async throws {
        let folder = NSTemporaryDirectory() + "cvpeer-presence-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let loopback = HostPort(host: "127.0.0.1", port: 0)
        let host = try await NodeRuntime.host(
            NodeOptions(dataFolder: try DataFolder(path: folder + "/host"), role: .agent, name: "Ana", listen: loopback))
        let ben = try await NodeRuntime.join(
            host.invite, options: NodeOptions(dataFolder: try DataFolder(path: folder + "/ben"), role: .customer, name: "Ben", listen: loopback))
        let cleo = try await NodeRuntime.join(
            host.invite, options: NodeOptions(dataFolder: try DataFolder(path: folder + "/cleo"), role: .guest, name: "Cleo", listen: loopback))
        defer {
            let done = DispatchSemaphore(value: 0)
            Task {
                await cleo.stop()
                await ben.stop()
                await host.stop()
                done.signal()
            }
            done.wait()
        }
        let item = try await host.engine.commit([.createItem(kind: .note, position: .middle, fields: [.title("Board")])])[0]
        // Linked: the host to both; the joiners only to the host.
        for _ in 0..<300 where await host.engine.summary().peers.count < 2 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(await host.engine.summary().peers.count == 2)
        #expect(await ben.engine.summary().peers.count == 1)

        let (subscription, stream) = await cleo.engine.subscribe()
        defer { Task { await cleo.engine.unsubscribe(subscription) } }
        let benID = ben.engine.me.hex
        // Pointers are unreliable: keep moving until one arrives, at most 15 s.
        let seen = Task {
            for await text in stream.map(\.text) where text.contains("\"type\":\"pointer\"") && text.contains(benID) && text.contains("\"x\":0.25") {
                return true
            }
            return false
        }
        let mover = Task {
            for _ in 0..<300 {
                await ben.engine.setPointer(item: item, x: 0.25, y: 0.75)
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(15))
            seen.cancel()
        }
        let arrived = await seen.value
        mover.cancel()
        watchdog.cancel()
        await cleo.engine.unsubscribe(subscription)
        #expect(arrived, "Ben's pointer never reached Cleo through the host")
    }

    @Test("a hostile member between two others can neither forge nor replay the customer's pointer; her genuine ones still show")
    func hostileForwarder() async throws {
        let folder = NSTemporaryDirectory() + "cvpeer-presence-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let loopback = HostPort(host: "127.0.0.1", port: 0)
        // Ana hosts; Mallory (hostile, built by hand) joins her; Ben joins through Mallory. So Ana
        // sees Ben's pointer only as Mallory passes it on.
        let ana = try await NodeRuntime.host(
            NodeOptions(dataFolder: try DataFolder(path: folder + "/ana"), role: .agent, name: "Ana", listen: loopback))
        let mallory = try await HandBuiltMember(room: ana.invite.roomKeys, folder: folder + "/mallory", name: "Mallory")
        mallory.connect(to: ana.listenEndpoint)
        let throughMallory = try Invite(
            route: .direct, address: HostPort(host: "127.0.0.1", port: mallory.endpoint.port), roomSecret: ana.invite.roomSecret, owner: ana.invite.owner)
        let ben = try await NodeRuntime.join(
            throughMallory, options: NodeOptions(dataFolder: try DataFolder(path: folder + "/ben"), role: .customer, name: "Ben", listen: loopback))
        try await withCleanup {
            let benKey = try PublicKey(bytes: ben.engine.me.bytes)
            let anaKey = try PublicKey(bytes: ana.engine.me.bytes)
            // Ben has no link to the owner, so her node cannot admit him when a link completes:
            // she admits him by hand, and Mallory passes his batches on once the grant reaches her.
            try await ana.engine.grant(.customer, to: ben.engine.me)
            let item = try await ana.engine.commit([.createItem(kind: .note, position: .middle, fields: [.title("Board")])])[0]
            for _ in 0..<300 {
                let benKnown = await ana.engine.document.participants.contains { $0.id == ben.engine.me }
                if benKnown, await mallory.engine.linkedPeerCount == 2 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(await ana.engine.linkedPeerCount == 1, "Ana is linked to Mallory only")
            #expect(await mallory.engine.linkedPeerCount == 2)

            /// Ben points at `x` until Ana shows it (pointers are unreliable), at most 10 s.
            func benPoints(at x: Double) async -> Bool {
                for _ in 0..<200 {
                    await ben.engine.setPointer(item: item, x: x, y: 0.5)
                    try? await Task.sleep(for: .milliseconds(50))
                    if case .some(.some(let shown)) = await ana.engine.presence.current[benKey], shown.x == UInt32(x * 1_000_000) { return true }
                }
                return false
            }
            #expect(await benPoints(at: 0.25), "Ben's genuine pointer, passed on by Mallory, never showed on Ana's node")
            let captured = try #require(mallory.receivedPointers.last { $0.origin == benKey.bytes && $0.position?.x == 250_000 })
            #expect(await benPoints(at: 0.5))

            let (subscription, stream) = await ana.engine.subscribe()
            let shown = Task {
                var texts: [String] = []
                for await text in stream.map(\.text) where text.contains("\"type\":\"pointer\"") && text.contains(benKey.bytes.map { String(format: "%02x", $0) }.joined()) {
                    texts.append(text)
                }
                return texts
            }
            // Mallory's attacks, each sent a few times (unreliable): Ben's older pointer again; a
            // pointer claiming Ben's origin signed with her own key; Ben's genuine one with its
            // position changed and a newer stamp.
            let replay = PeerMessage.pointer(captured).encoded
            var claimed = SignedPointer.make(
                identity: mallory.identity, roomTag: ana.invite.roomKeys.tag, stamp: captured.stamp + 10_000_000,
                position: .init(counter: item.counter, replica: item.replica.bytes, x: 900_000, y: 500_000))
            claimed.origin = benKey.bytes
            var altered = captured
            altered.stamp += 20_000_000
            altered.position?.x = 900_000
            for _ in 0..<5 {
                for attack in [replay, PeerMessage.pointer(claimed).encoded, PeerMessage.pointer(altered).encoded] {
                    try mallory.sendUnreliable(attack, to: anaKey)
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            for _ in 0..<100 {
                let refused = await ana.engine.refusedPointers
                if refused.forged >= 2, refused.replayed >= 1 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let refused = await ana.engine.refusedPointers
            #expect(refused.replayed >= 1, "the replay was not refused as one")
            #expect(refused.forged >= 2, "the two forgeries were not refused as such")
            if case .some(.some(let still)) = await ana.engine.presence.current[benKey] {
                #expect(still.x == 500_000, "Ana's node no longer shows Ben's real pointer")
            } else {
                Issue.record("Ben's pointer disappeared from Ana's node")
            }
            await ana.engine.unsubscribe(subscription)
            let texts = await shown.value
            #expect(!texts.contains { $0.contains("\"x\":0.25") || $0.contains("\"x\":0.9") }, "a forged or replayed pointer reached Ana's viewer: \(texts)")
            // And the genuine ones still get through after the attacks.
            #expect(await benPoints(at: 0.75))
            let status = await ana.engine.statusText()
            #expect(status.contains("\"pointersRefused\""))
        } cleanup: {
            await ben.stop()
            await mallory.stop()
            await ana.stop()
        }
    }
}
