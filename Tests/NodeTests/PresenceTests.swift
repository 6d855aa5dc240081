import Foundation
import PeerCrypto
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
            for await text in stream where text.contains("\"type\":\"pointer\"") && text.contains(benID) && text.contains("\"x\":0.25") {
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
}
