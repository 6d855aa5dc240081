import Foundation
import Testing

@Suite struct RendezvousCommandTests {
    @Test func startsOnTheGivenAddressAndStopsCleanlyOnSIGTERM() throws {
        let process = Process()
        process.executableURL = CLIProcess.binary
        process.arguments = ["rendezvous", "--listen", "127.0.0.1:0"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { CLIProcess.waitForExit(process, timeout: 0) }
        // Wait (bounded) for the readiness line with the real port.
        var printed = ""
        let deadline = Date().addingTimeInterval(20)
        while !printed.contains("listening on"), Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
        #expect(printed.contains("listening on 127.0.0.1:"))
        #expect(!printed.contains("127.0.0.1:0 "))
        kill(process.processIdentifier, SIGTERM)
        #expect(CLIProcess.waitForExit(process), "cvpeer rendezvous did not stop on SIGTERM")
        printed += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(printed.contains("stopped"))
    }

    @Test(arguments: [["--listen", "nonsense"], ["--log-level", "loud"], ["--max-peers-per-room", "1"]])
    func badFlagsGiveAClearErrorAndNonZeroExit(arguments: [String]) throws {
        let result = try CLIProcess.run(["rendezvous"] + arguments)
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix("error: "))
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    /// Reads `output` until `fragment` has appeared (bounded by the child's own lines), returning all read.
    private func read(_ output: Pipe, until fragment: String, after printed: inout String) {
        let deadline = Date().addingTimeInterval(20)
        while !printed.contains(fragment), Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
    }

    @Test func withoutAllowRoomCreationIsOpenAndSaysSoAtStart() throws {
        let process = Process()
        process.executableURL = CLIProcess.binary
        process.arguments = ["rendezvous", "--listen", "127.0.0.1:0"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { CLIProcess.waitForExit(process, timeout: 0) }
        var printed = ""
        read(output, until: "room creation", after: &printed)
        #expect(printed.contains("room creation is open to anyone (no --allow list)"))
        kill(process.processIdentifier, SIGTERM)
        #expect(CLIProcess.waitForExit(process))
    }

    @Test func openBesideAnAllowListSaysSoAtStartAndItsTotalsAtStop() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("allow-open-\(getpid())").path
        try "abcd-efgh-ijkl-mnop\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = Process()
        process.executableURL = CLIProcess.binary
        process.arguments = ["rendezvous", "--listen", "127.0.0.1:0", "--allow", path, "--open"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { CLIProcess.waitForExit(process, timeout: 0) }
        var printed = ""
        read(output, until: "room creation", after: &printed)
        #expect(
            printed.contains(
                "room creation is open to anyone within the per-network limits (--open); rooms of the 1 owner on the "
                    + "--allow list always get in"), "\(printed)")
        kill(process.processIdentifier, SIGTERM)
        #expect(CLIProcess.waitForExit(process))
        printed += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(printed.contains("rendezvous info: totals: 0 rooms and 0 registrations held; 0 registers accepted"), "\(printed)")
    }

    @Test func openWithoutAnAllowListIsAnError() throws {
        let result = try CLIProcess.run(["rendezvous", "--listen", "127.0.0.1:0", "--open"])
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix("error: --open goes with --allow FILE"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    @Test func aBadAllowFileIsAOneLineErrorNamingTheLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("allow-bad-\(getpid())").path
        try "# agents\nabcd-efgh-ijkl-mnop\nnot a key\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try CLIProcess.run(["rendezvous", "--listen", "127.0.0.1:0", "--allow", path])
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix("error: --allow \(path): line 3: "), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        let missing = try CLIProcess.run(["rendezvous", "--listen", "127.0.0.1:0", "--allow", path + ".missing"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("cannot be read"), "\(missing.stderr)")
    }

    @Test func sighupReloadsTheAllowFileAndABadFileKeepsTheOldList() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("allow-\(getpid())").path
        try "# the shop's agents\n\nfingerprint: abcd-efgh-ijkl-mnop\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = Process()
        process.executableURL = CLIProcess.binary
        process.arguments = ["rendezvous", "--listen", "127.0.0.1:0", "--allow", path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { CLIProcess.waitForExit(process, timeout: 0) }
        var printed = ""
        read(output, until: "room creation", after: &printed)
        #expect(printed.contains("room creation is limited to the 1 owner on the --allow list"))
        try "abcd-efgh-ijkl-mnop\nqrst-uvwx-yz23-4567 # Ben\n".write(toFile: path, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        read(output, until: "limited to the 2 owners", after: &printed)
        #expect(printed.contains("room creation is limited to the 2 owners on the --allow list"))
        try "abcd-efgh-ijkl-mnop\nbroken\n".write(toFile: path, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        read(output, until: "not reloaded", after: &printed)
        #expect(printed.contains("allow file not reloaded, the previous list stays in force: --allow \(path): line 2: "))
        #expect(process.isRunning)
        kill(process.processIdentifier, SIGTERM)
        #expect(CLIProcess.waitForExit(process), "cvpeer rendezvous did not stop on SIGTERM")
        #expect(process.terminationStatus == 0)
    }
}
