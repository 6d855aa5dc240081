import CVPeerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Nodes killed, rendezvous restarted, peers gone and back: nothing acknowledged is lost.
@Suite("Session faults between real processes", .serialized)
struct SessionFaultTests {
    @Test("a node killed with SIGKILL in the middle of a transfer resumes it after a restart and ends with the whole file")
    func killMidTransfer() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        var customer = try lab.join(invite, name: "Ben", data: "customer")
        #expect(lab.wait(20) { try lab.peerCount("customer") == 1 })

        let video = lab.fakeVideo(size: 128 << 20, name: "tour.mp4")
        let item = SessionLab.itemID(try lab.cli("agent", ["share", video, "--title", "Tour"]))

        // Kill the customer's node as soon as it holds part of the video, but not all of it.
        var killedAt: Double?
        _ = lab.wait(60) {
            let transfers = try lab.json("customer", ["status", "--json"])["transfers"] as? [[String: Any]] ?? []
            guard let percent = transfers.first?["percent"] as? Double, percent > 0, percent < 90 else { return false }
            kill(customer.processIdentifier, SIGKILL)
            killedAt = percent
            return true
        }
        let percent = try #require(killedAt, "the transfer was never seen in progress:\n\(lab.transcript)")
        #expect(customer.waitForExit(timeout: 10) != nil)

        customer = try lab.join(invite, name: "Ben", data: "customer")
        // The restarted node starts from the chunks it had stored, not from zero.
        var resumedFrom: Double?
        _ = lab.wait(30) {
            let transfers = try lab.json("customer", ["status", "--json"])["transfers"] as? [[String: Any]] ?? []
            if let first = transfers.first?["percent"] as? Double { resumedFrom = first } else if resumedFrom == nil { resumedFrom = 100 }
            return true
        }
        #expect((resumedFrom ?? 0) > 0, "killed at \(percent)%, resumed from \(resumedFrom ?? -1)%")
        #expect(lab.wait(90) { try lab.transfersDone("customer") }, "the transfer did not finish:\n\(lab.transcript)")
        let out = lab.data("saved.mp4")
        try lab.cli("customer", ["save", item, "--out", out])
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: video)))
        #expect(try lab.stateHash("customer") == lab.stateHash("agent"))
    }

    @Test("restarting the rendezvous does not interrupt two nodes linked directly")
    func rendezvousRestart() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        var (rendezvous, port) = try lab.rendezvous()
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: port)
        _ = try lab.join(invite, name: "Ben", data: "customer")
        let direct = lab.wait(30) {
            let peers = try lab.json("customer", ["status", "--json"])["peers"] as? [[String: Any]] ?? []
            return peers.count == 1 && peers[0]["path"] as? String == "direct"
        }
        #expect(direct, "no direct link:\n\(lab.transcript)")

        rendezvous.stop()
        try lab.cli("customer", ["say", "still there?"])
        #expect(lab.wait(10) { try lab.stateHash("agent") == lab.stateHash("customer") }, "an edit did not cross while the rendezvous was down")
        #expect(try lab.peerCount("agent") == 1)

        (rendezvous, _) = try lab.rendezvous(port: port)
        try lab.cli("agent", ["say", "yes"])
        #expect(lab.wait(10) { try lab.stateHash("agent") == lab.stateHash("customer") })
        let peers = try lab.json("agent", ["status", "--json"])["peers"] as? [[String: Any]] ?? []
        #expect(peers.count == 1 && peers.first?["path"] as? String == "direct")
        let chat = (try lab.json("agent", ["export", "--json"])["document"] as? [String: Any])?["chat"] as? [Any]
        #expect(chat?.count == 2)
    }

    @Test("nodes that lose each other keep working alone and merge their offline edits when they meet again")
    func offlineEditsMerge() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, port) = try lab.rendezvous()
        var (agent, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: port)
        var customer = try lab.join(invite, name: "Ben", data: "customer")
        #expect(lab.wait(30) { try lab.peerCount("agent") == 1 })
        let photo = lab.fakeVideo(size: 300_000, name: "clip.mp4")
        let item = SessionLab.itemID(try lab.cli("agent", ["share", photo, "--title", "Clip"]))
        #expect(lab.wait(20) { try lab.stateHash("agent") == lab.stateHash("customer") })

        // The customer vanishes; the agent carries on alone.
        kill(customer.processIdentifier, SIGKILL)
        _ = customer.waitForExit(timeout: 10)
        try lab.cli("agent", ["mark", item, "--arrow", "0.1,0.1,0.4,0.4"])
        try lab.cli("agent", ["say", "are you there?"])
        // Now the agent is gone too, and the customer comes back alone and edits.
        agent.stop()
        customer = try lab.join(invite, name: "Ben", data: "customer")
        try lab.cli("customer", ["mark", item, "--text", "0.6,0.6,too dark"])
        try lab.cli("customer", ["say", "back again"])
        #expect(try lab.peerCount("customer") == 0)

        (agent, _) = try lab.host(name: "Ana", data: "agent", rendezvous: port, extra: ["--resume"])
        let merged = lab.wait(40) { try lab.stateHash("agent") == lab.stateHash("customer") }
        #expect(merged, "the offline edits did not merge:\n\(lab.transcript)")
        let document = try lab.json("agent", ["export", "--json"])["document"] as? [String: Any] ?? [:]
        let chat = (document["chat"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        #expect(Set(chat) == ["are you there?", "back again"])
        let marks = ((document["items"] as? [String: [String: Any]])?[item]?["marks"] as? [Any])?.count
        #expect(marks == 2)
    }
}
