import CVPeerTestSupport
import Foundation
import Testing

/// `cvpeer rendezvous --allow` with real hosts: an agent not on the list is told in one line and
/// the rendezvous logs the refusal; a listed agent's room opens.
@Suite struct AllowListSessionTests {
    private func fingerprint(_ lab: SessionLab, _ data: String) throws -> String {
        let printed = try lab.cli(data, ["identity"])
        let line = try #require(printed.split(separator: "\n").first { $0.hasPrefix("fingerprint: ") })
        return String(line.dropFirst("fingerprint: ".count))
    }

    @Test func anAgentNotOnTheListIsToldInOneLineAndAListedAgentsRoomOpens() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let ana = try fingerprint(lab, "ana")
        let ben = try fingerprint(lab, "ben")
        let allow = lab.folder + "/agents"
        try "# the shop's agents\nfingerprint: \(ana)   # Ana\n".write(toFile: allow, atomically: true, encoding: .utf8)
        let (rendezvous, port) = try lab.rendezvous(extra: ["--allow", allow])
        #expect(rendezvous.line("rendezvous info: room creation is limited to the 1 owner", timeout: 10) != nil)

        let (benHost, _) = try lab.host(name: "Ben", data: "ben", rendezvous: port)
        let told =
            "the rendezvous does not let this agent open rooms (ask the shop's operator to add \(ben) to its --allow file)"
        #expect(benHost.line(told, timeout: 20) != nil, "\(lab.transcript)")
        #expect(
            lab.wait(10) { rendezvous.output.contains { $0.contains("owner \(ben) is not on the --allow list") } },
            "\(lab.transcript)")

        let (anaHost, _) = try lab.host(name: "Ana", data: "ana", rendezvous: port)
        #expect(lab.wait(20) { rendezvous.output.contains { $0.contains("created") } }, "\(lab.transcript)")
        #expect(!anaHost.output.contains { $0.contains("does not let this agent") })
        // Ben's node keeps trying quietly: the line was printed once.
        #expect(benHost.output.filter { $0.contains("does not let this agent") }.count == 1)
    }
}
