import CVPeerTestSupport
import Foundation
import Testing

/// The invite holds the room's key, and a process's command line is readable by every local user
/// (`ps`, /proc/PID/cmdline): `join` asks for it instead, and hides one given as an argument.
@Suite("The invite stays out of the command line", .serialized)
struct InvitePromptTests {
    /// What other users of this machine read as the process's command line.
    static func commandLine(of process: ChildProcess) throws -> String {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(process.processIdentifier)/cmdline"))
        return String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
    }

    @Test("a join with the invite pasted at the prompt links and shows no invite in its command line; one given as an argument warns and is hidden")
    func inviteAtThePrompt() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        let secret = String(invite.dropFirst("cvp2:".count).prefix(20))

        let ben = try lab.joinAtPrompt("  cvpeer join '\(invite)'  ", name: "Ben", data: "ben")
        try #require(lab.wait(40) { try lab.peerCount("agent") == 1 }, "Ben did not link:\n\(lab.transcript)")
        let benLine = try Self.commandLine(of: ben)
        #expect(benLine.contains("join") && !benLine.contains("cvp2:") && !benLine.contains(secret), "\(benLine)")

        let cleo = try lab.join(invite, name: "Cleo", data: "cleo")
        try #require(lab.wait(40) { try lab.peerCount("agent") == 2 }, "Cleo did not link:\n\(lab.transcript)")
        let cleoLine = try Self.commandLine(of: cleo)
        #expect(!cleoLine.contains("cvp2:") && !cleoLine.contains(secret), "the invite argument is still readable: \(cleoLine)")
        #expect(cleo.output.contains { $0.hasPrefix("warning: an invite or code on the command line can be read by other users") })
    }

    @Test("a join whose standard input ends without an invite stops with one clear line")
    func noInvite() throws {
        let folder = NSTemporaryDirectory() + "cvpeer-prompt-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let process = Process()
        process.executableURL = BuiltBinary.url("cvpeer")
        process.arguments = ["join", "--data", folder, "--listen", "127.0.0.1:0"]
        process.standardInput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(text.contains("no code or invite was given"), "\(text)")
        #expect(text.split(separator: "\n").count == 1, "\(text)")
    }
}
