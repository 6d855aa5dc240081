import CVPeerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The author of a pipelined share killed between announcing a video and storing it whole.
@Suite("Share faults between real processes", .serialized)
struct ShareFaultTests {
    @Test("an author killed with SIGKILL after announcing a video, before storing it whole, withdraws it at restart; the peer stops waiting")
    func authorKilledMidShare() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        // Through a rendezvous: the restarted agent listens on a new port, and the customer finds it there.
        let (_, port) = try lab.rendezvous()
        var (agent, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: port)
        _ = try lab.join(invite, name: "Ben", data: "customer")
        #expect(lab.wait(30) { try lab.peerCount("customer") == 1 })

        let video = lab.fakeVideo(size: 256 << 20, name: "tour.mp4")
        // `cvpeer share` in the background: it returns only once the agent stored every chunk.
        let share = try ChildProcess(BuiltBinary.url("cvpeer"), ["share", video, "--title", "Tour", "--data", lab.data("agent")], name: "share")
        defer { _ = share.stop() }

        // Kill the agent as soon as the customer sees the item, while the share is still running.
        var killed = false
        _ = lab.wait(120) {
            let items = (try lab.json("customer", ["export", "--json"])["document"] as? [String: Any])?["items"] as? [String: Any] ?? [:]
            guard !items.isEmpty else { return false }
            killed = share.waitForExit(timeout: 0) == nil
            kill(agent.processIdentifier, SIGKILL)
            return true
        }
        #expect(killed, "the share finished before the customer saw its item:\n\(lab.transcript)")
        #expect(agent.waitForExit(timeout: 10) != nil)
        _ = share.waitForExit(timeout: 10)

        // Restarted, the agent holds an announced blob it can never finish (the upload is gone
        // with the process): it withdraws the item, and the customer stops fetching it.
        (agent, _) = try lab.host(name: "Ana", data: "agent", rendezvous: port, extra: ["--resume"])
        let settled = lab.wait(90) {
            try lab.peerCount("customer") == 1 && lab.transfersDone("customer") && lab.stateHash("customer") == lab.stateHash("agent")
        }
        let agentItems = (try? lab.json("agent", ["export", "--json"])["document"] as? [String: Any])??["items"] as? [String: Any] ?? [:]
        let agentStatus = (try? lab.cli("agent", ["status", "--json"])) ?? ""
        let customerStatus = (try? lab.cli("customer", ["status", "--json"])) ?? ""
        #expect(
            settled,
            "the customer still waits for the video: agent items \(agentItems.keys.sorted()), agent \(agentStatus.prefix(600)), customer \(customerStatus.prefix(600))\n\(lab.transcript)"
        )
        let items = (try lab.json("customer", ["export", "--json"])["document"] as? [String: Any])?["items"] as? [String: Any] ?? [:]
        #expect(items.isEmpty, "the interrupted item is withdrawn")
        #expect(try lab.transfersDone("agent"))
    }
}
