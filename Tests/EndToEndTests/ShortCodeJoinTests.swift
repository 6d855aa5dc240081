import CVPeerTestSupport
import Foundation
import Testing

/// Joining by a short code read out on the phone, with real processes and a real `cvpeer rendezvous`.
@Suite("Short codes", .serialized)
struct ShortCodeJoinTests {
    @Test(
        "host --code prints a code; typed at join's prompt it brings the joiner into the room; a wrong code burns it and the host is told; a code works once; a key change closes waiting codes; no command line shows the code or the invite",
        .timeLimit(.minutes(4)))
    func joinByCode() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, port) = try lab.rendezvous()
        let (host, _) = try lab.host(name: "Ana", data: "agent", rendezvous: port, extra: ["--code"])
        guard let line = host.line("Or read this code to your customer", timeout: 30),
            let code = line.split(separator: " ").last.map(String.init)
        else { throw LabFailure("the host printed no code:\n\(lab.transcript)") }
        #expect(code.split(separator: "-").count == 3, "\(code)")

        // Typed as a person would: spaces and capitals.
        let typed = " " + code.replacingOccurrences(of: "-", with: " ").uppercased() + " "
        let ben = try lab.joinWithCode(typed, rendezvous: port, name: "Ben", data: "ben")
        try #require(ben.line("Your viewer", timeout: 40) != nil, "Ben did not get in:\n\(lab.transcript)")
        #expect(host.line("Code \(code.split(separator: "-")[0]) was used", timeout: 20) != nil, "\(lab.transcript)")
        try #require(lab.wait(40) { try lab.peerCount("ben") >= 1 && lab.stateHash("ben") == lab.stateHash("agent") }, "\(lab.transcript)")
        for process in [host, ben] {
            let commandLine = try InvitePromptTests.commandLine(of: process)
            #expect(!commandLine.contains("cvp2:") && !commandLine.lowercased().contains(code.split(separator: "-")[1]), "\(commandLine)")
        }

        // Used once: the same code again gets nothing.
        let again = try lab.joinWithCode(code, rendezvous: port, name: "Eve", data: "eve")
        #expect(again.waitForExit(timeout: 60) != 0)
        #expect(again.output.contains { $0.contains("used already") || $0.contains("knows no code") }, "\(again.output)")

        // A wrong guess at a fresh code burns it; the host hears of it; the right words then get nothing.
        let fresh = try lab.cli("agent", ["code"]).split(separator: "\n")[0]
        let parts = fresh.split(separator: "-")
        let wrongWord = parts[2] == "anchor" ? "apple" : "anchor"
        let wrong = try lab.joinWithCode("\(parts[0])-\(parts[1])-\(wrongWord)", rendezvous: port, name: "Mallory", data: "mallory")
        #expect(wrong.waitForExit(timeout: 60) != 0)
        #expect(wrong.output.contains { $0.contains("the code did not work") }, "\(wrong.output)")
        #expect(host.line("Someone typed a wrong code for \(parts[0])", timeout: 20) != nil, "\(lab.transcript)")
        let codes = try lab.json("agent", ["status", "--json"])["codes"] as? [[String: Any]] ?? []
        #expect(codes.contains { $0["nameplate"] as? Int == Int(parts[0]) && $0["state"] as? String == "burnt" }, "\(codes)")
        let late = try lab.joinWithCode(String(fresh), rendezvous: port, name: "Fay", data: "fay")
        #expect(late.waitForExit(timeout: 60) != 0)
        #expect(try lab.peerCount("agent") == 1)

        // A code given before the room's keys change carries an invite that admits nobody after:
        // the change closes it, and the one who types it is told.
        let stale = try lab.cli("agent", ["code"]).split(separator: "\n")[0]
        try lab.cli("agent", ["rotate"])
        #expect(host.line("Code \(stale.split(separator: "-")[0]) was closed", timeout: 20) != nil, "\(lab.transcript)")
        let closed = try lab.joinWithCode(String(stale), rendezvous: port, name: "Gus", data: "gus")
        #expect(closed.waitForExit(timeout: 60) != 0)
        #expect(closed.output.contains { $0.contains("cancelled that code") }, "\(closed.output)")
    }
}
