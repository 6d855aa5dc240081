import CVPeerTestSupport
import Foundation
import Testing

/// `host --approve`: the owner's agent decides who joins, in the terminal or with `cvpeer admit`.
@Suite("Admission asked of the agent", .serialized)
struct ApproveTests {
    @Test(
        "with --approve a joiner waits and can change nothing until the agent answers y in the host's terminal; a member refused with `cvpeer admit --refuse` stays out, also after the host restarts",
        .timeLimit(.minutes(4)))
    func approveAndRefuse() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (host, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil, extra: ["--approve"])
        func status(_ node: String) throws -> [String: Any] { try lab.json(node, ["status", "--json"]) }
        func role(_ node: String) throws -> String? { (try status(node)["me"] as? [String: Any])?["role"] as? String }
        func requests() throws -> [String] { (try status("agent")["joinRequests"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String } }

        _ = try lab.join(invite, name: "Ben", data: "ben")
        let asked = host.line("Ben (fingerprint ", timeout: 30)
        try #require(asked?.hasSuffix("asks to join. Admit? [y/n]") == true, "the host did not ask:\n\(lab.transcript)")
        #expect(try requests() == ["Ben"])
        #expect(try role("ben") == "not admitted yet")
        let early = try CLIProcess.run(["say", "let me in", "--data", lab.data("ben")], timeout: 60)
        #expect(early.status != 0 && early.stderr.contains("has not admitted this node yet"), "\(early.stderr)")

        host.send("y")
        #expect(host.line("Ben is in.", timeout: 20) != nil, "\(lab.transcript)")
        try #require(lab.wait(30) { try role("ben") == "customer" }, "Ben was not admitted:\n\(lab.transcript)")
        try lab.cli("ben", ["say", "hello, I am in"])
        try #require(lab.wait(30) { try lab.stateHash("ben") == lab.stateHash("agent") })

        let cleo = try lab.join(invite, name: "Cleo", data: "cleo")
        try #require(lab.wait(30) { try requests() == ["Cleo"] }, "Cleo's request did not show: \((try? requests()) ?? [])\n\(lab.transcript)")
        try lab.cli("agent", ["admit", "Cleo", "--refuse"])
        #expect(try requests().isEmpty)
        let members = { try (status("agent")["members"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String } }
        #expect(try !members().contains("Cleo"))
        #expect(try role("cleo") == "not admitted yet")

        // The refusal outlives a restart: Cleo's node links again and is not asked about again.
        let listen = try status("agent")["listen"] as? String ?? ""
        host.stop()
        // On the same port, which the invite names and the members' nodes keep trying.
        let (again, _) = try lab.host(name: "Ana", data: "agent", rendezvous: nil, extra: ["--resume", "--approve", "--listen", listen])
        try #require(lab.wait(40) { try lab.peerCount("ben") == 1 }, "Ben did not come back:\n\(lab.transcript)")
        Thread.sleep(forTimeInterval: 4)
        #expect(again.output.allSatisfy { !$0.contains("Cleo") }, "\(again.output)")
        #expect(try requests().isEmpty)
        #expect(try role("cleo") == "not admitted yet")
        _ = cleo
    }
}
