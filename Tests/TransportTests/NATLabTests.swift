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
    private static var labScript: String {
        // Tests/TransportTests/NATLabTests.swift → Tests/NATLab/nat-lab.sh
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("NATLab/nat-lab.sh").path
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

    /// Runs one lab case and returns the kind of path ("direct" or "relayed") each side ended on.
    private func runCase(nat2: String) throws -> (a: String, b: String, received: Bool) {
        let prefix = "cvl\(getpid() % 10_000)"
        let lab = Self.labScript
        #expect(Self.run([lab, "up", prefix, nat2], timeout: 60) == 0, "lab did not come up")
        defer { Self.run([lab, "down", prefix]) }

        // nat-lab.sh execs the command inside the namespace, so signals reach the child itself.
        let inLab = URL(fileURLWithPath: lab)
        let rendezvous = try ChildProcess(
            inLab, ["exec", prefix, "pub", BuiltBinary.url("cvpeer").path, "rendezvous", "--listen", "203.0.113.1:7700"],
            name: "rendezvous")
        defer { rendezvous.stop() }
        #expect(rendezvous.line("rendezvous info: listening on", timeout: 20) != nil)

        let secret = ProbeArguments.hex(Sodium.randomBytes(32))
        func probe(_ node: String, _ extra: [String]) throws -> ChildProcess {
            try ChildProcess(
                inLab,
                [
                    "exec", prefix, node, BuiltBinary.url("TransportProbe").path, "--listen", "0.0.0.0:0",
                    "--rendezvous", "203.0.113.1:7700", "--room-secret", secret,
                    "--seed", ProbeArguments.hex(Sodium.randomBytes(32)), "--max-seconds", "60",
                ] + extra, name: node)
        }
        let a = try probe("a", ["--send-count", "200", "--send-bytes", "3000"])
        defer { a.stop() }
        let b = try probe("b", ["--expect-count", "200"])
        defer { b.stop() }

        func finalPath(_ side: ChildProcess) -> String {
            let events = side.output.filter { $0.hasPrefix("link-up") || $0.hasPrefix("path ") }
            guard let last = events.last else { return "none" }
            return last.contains(" direct ") ? "direct" : (last.contains(" relayed ") ? "relayed" : "none")
        }
        let received = b.line("received-all", timeout: 45) != nil
        // Give a relayed link the probing window to move to a direct path, if one works.
        for side in [a, b] {
            let deadline = Date().addingTimeInterval(15)
            while finalPath(side) != "direct", Date() < deadline { usleep(100_000) }
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
