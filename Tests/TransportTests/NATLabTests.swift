import CVPeerTestSupport
import Foundation
import PeerCrypto
import Testing

/// Hole punching and relay fallback between real processes behind real NATs.
///
/// The test builds a lab of Linux network namespaces with nftables NATs (Tests/NATLab/nat-lab.sh:
/// a "public" segment with the rendezvous, two private LANs behind two NATs), runs
/// `cvpeer rendezvous` in the public namespace and one TransportProbe behind each NAT, and reads
/// which path each link ends on. Where namespaces cannot be made (not root, no `ip netns`), the
/// test says so and skips.
@Suite(.serialized) struct NATLabTests {
    private static let buildFolder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()

    private static var labScript: String {
        // Tests/TransportTests/NATLabTests.swift → Tests/NATLab/nat-lab.sh
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("NATLab/nat-lab.sh").path
    }

    private static func binary(_ name: String) -> String {
        var directory = buildFolder
        while !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent(name).path),
            directory.pathComponents.count > 1
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent(name).path
    }

    /// Runs a command to completion (bounded), returning its exit status.
    @discardableResult
    private static func run(_ arguments: [String], timeout: TimeInterval = 30) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return -1
        }
        return process.terminationStatus
    }

    /// Why the lab cannot run here, or nil if it can.
    private static func labUnavailableReason() -> String? {
        guard getuid() == 0 else { return "not root: network namespaces need CAP_SYS_ADMIN" }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") || FileManager.default.isExecutableFile(atPath: "/sbin/nft")
        else { return "nftables (nft) is not installed" }
        let probe = "cvlprobe\(getpid())"
        guard run(["ip", "netns", "add", probe]) == 0 else { return "`ip netns add` was refused" }
        run(["ip", "netns", "del", probe])
        return nil
    }

    /// A child process whose stdout goes to a file that the test reads as it grows.
    ///
    /// A file rather than a pipe: nothing can block on a full pipe, and no reader thread is needed.
    final class LineProcess {
        let process = Process()
        private let outputPath: String
        private let input = Pipe()

        init(_ arguments: [String]) throws {
            outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("cvpeer-lab-\(UUID().uuidString).log").path
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
            process.standardError = FileHandle.nullDevice
            // The probe reads commands from stdin and ends at EOF, so keep a pipe open.
            process.standardInput = input
            try process.run()
        }

        var lines: [String] {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").map(String.init)
        }

        /// Waits (bounded) for a line satisfying `predicate`.
        func waitForLine(timeout: TimeInterval, _ predicate: (String) -> Bool) -> String? {
            let deadline = Date().addingTimeInterval(timeout)
            repeat {
                if let line = lines.first(where: predicate) { return line }
                usleep(100_000)
            } while Date() < deadline && process.isRunning
            return lines.first(where: predicate)
        }

        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            try? input.fileHandleForWriting.close()
            try? FileManager.default.removeItem(atPath: outputPath)
        }
    }

    private static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// Runs one lab case and returns the kind of path ("direct" or "relayed") each side ended on.
    private func runCase(nat2: String) throws -> (a: String, b: String, received: Bool) {
        let prefix = "cvl\(getpid() % 10_000)"
        let lab = Self.labScript
        #expect(Self.run([lab, "up", prefix, nat2], timeout: 60) == 0, "lab did not come up")
        defer { Self.run([lab, "down", prefix]) }

        let rendezvous = try LineProcess([
            lab, "exec", prefix, "pub", Self.binary("cvpeer"), "rendezvous", "--listen", "203.0.113.1:7700",
        ])
        defer { rendezvous.stop() }
        #expect(rendezvous.waitForLine(timeout: 20) { $0.contains("listening on") } != nil)

        let secret = Self.hex(Sodium.randomBytes(32))
        func probe(_ node: String, _ extra: [String]) throws -> LineProcess {
            try LineProcess(
                [
                    lab, "exec", prefix, node, Self.binary("TransportProbe"), "--listen", "0.0.0.0:0",
                    "--rendezvous", "203.0.113.1:7700", "--room-secret", secret, "--seed", Self.hex(Sodium.randomBytes(32)),
                    "--max-seconds", "60",
                ] + extra)
        }
        let a = try probe("a", ["--send-count", "200", "--send-bytes", "3000"])
        defer { a.stop() }
        let b = try probe("b", ["--expect-count", "200"])
        defer { b.stop() }

        let received = b.waitForLine(timeout: 45) { $0.hasPrefix("received-all") } != nil
        // Give a relayed link the probing window to move to a direct path, if one works.
        for side in [a, b] {
            _ = side.waitForLine(timeout: 15) { line in
                (line.hasPrefix("link-up") || line.hasPrefix("path")) && line.contains(" direct ")
            }
        }
        func finalPath(_ side: LineProcess) -> String {
            let events = side.lines.filter { $0.hasPrefix("link-up") || $0.hasPrefix("path ") }
            guard let last = events.last else { return "none" }
            return last.contains(" direct ") ? "direct" : (last.contains(" relayed ") ? "relayed" : "none")
        }
        return (finalPath(a), finalPath(b), received)
    }

    @Test func twoConeNATsEndUpDirectThroughHolePunching() throws {
        if let reason = Self.labUnavailableReason() {
            print("NAT lab skipped: \(reason)")
            return
        }
        let result = try runCase(nat2: "cone")
        print("NAT lab, cone + cone: node a \(result.a), node b \(result.b), all delivered: \(result.received)")
        #expect(result.received)
        #expect(result.a == "direct")
        #expect(result.b == "direct")
    }

    @Test func aSymmetricNATFallsBackToTheRelayAndStillCarriesMessages() throws {
        if let reason = Self.labUnavailableReason() {
            print("NAT lab skipped: \(reason)")
            return
        }
        let result = try runCase(nat2: "symmetric")
        print("NAT lab, cone + symmetric: node a \(result.a), node b \(result.b), all delivered: \(result.received)")
        #expect(result.received)
        #expect(result.a == "relayed")
        #expect(result.b == "relayed")
    }
}
