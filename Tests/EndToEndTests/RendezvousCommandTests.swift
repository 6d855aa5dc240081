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
}
