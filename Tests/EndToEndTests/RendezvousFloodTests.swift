import CVPeerTestSupport
import Foundation
import Testing

/// A flood of room creations from many source addresses against a real
/// `cvpeer rendezvous --allow FILE --open`, over real UDP between two network namespaces
/// (Tests/NATLab/flood-lab.sh): the flood fills the open part of the table, held by the per-prefix
/// and global limits; an outsider who read one register off the wire tries everything with its
/// tag; and the owners on the allow list — a real `cvpeer host` and the project's
/// `RendezvousClient` (RendezvousFlooder owner) — still register at once, from an address in a
/// /24 the flood filled. nftables in the rendezvous's namespace measures what it sent to the
/// flood's addresses against what it received from them. Where namespaces cannot be made (not
/// root, no `ip` or `nft`), the test says so and skips.
@Suite(.serialized) struct RendezvousFloodTests {
    /// The rendezvous's address in its namespace.
    private static let rendezvous = "10.200.0.1:7700"
    /// The listed owners, in the flood's first /24 (which it fills), outside the counters.
    private static let hostAddress = "10.201.1.250"
    private static let probeAddress = "10.201.1.251"
    /// Eight /24s of six flooding addresses each; ten sockets per address, eight rooms per socket
    /// (the per-endpoint limit): 80 tries per address against 64 per address, 256 per /24 and
    /// 1,024 rooms in all.
    private static let subnets = 8
    private static let hostsPerSubnet = 6
    private static let maxRooms = 1_024

    private static var labScript: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("NATLab/flood-lab.sh").path
    }

    /// Runs a command to completion (bounded by `timeout`), returning its status and output.
    @discardableResult
    private static func run(_ arguments: [String], timeout: TimeInterval = 30) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return (-1, "") }
        nonisolated(unsafe) var data = Data()
        let reader = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            data = pipe.fileHandleForReading.readDataToEndOfFile()
            reader.signal()
        }
        if !CLIProcess.waitForExit(process, timeout: timeout) { return (-1, "") }
        _ = reader.wait(timeout: .now() + 5)
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Why the lab cannot run here, or nil if it can.
    private static func unavailableReason() -> String? {
        guard getuid() == 0 else { return "not root: network namespaces need CAP_SYS_ADMIN" }
        guard run(["ip", "-V"]).status == 0 else { return "iproute2 (`ip`) is not installed" }
        guard run(["nft", "--version"]).status == 0 else { return "nftables (`nft`) is not installed" }
        let probe = "cvfprobe\(getpid())"
        guard run(["ip", "netns", "add", probe]).status == 0 else { return "`ip netns add` was refused" }
        run(["ip", "netns", "del", probe])
        return nil
    }

    /// The integer after `name=` in a `key=value` line.
    private static func field(_ name: String, _ line: String) -> Int? {
        line.split(separator: " ").first { $0.hasPrefix(name + "=") }.flatMap { Int($0.dropFirst(name.count + 1)) }
    }

    /// The text after `name=` in a `key=value` line.
    private static func text(_ name: String, _ line: String) -> String? {
        line.split(separator: " ").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
    }

    /// The count after `label ` in the rendezvous's totals line (0 when the label is absent).
    private static func count(_ label: String, _ line: String) -> Int {
        guard let range = line.range(of: label + " ") else { return 0 }
        return Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
    }

    private static func fingerprint(_ data: String) throws -> String {
        let result = try CLIProcess.run(["identity", "--data", data])
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("fingerprint: ") })
        return String(line.dropFirst("fingerprint: ".count))
    }

    @Test func aFloodFillsTheOpenPartWhileListedOwnersStillRegisterAtOnceAndNothingIsAmplified() throws {
        if let reason = Self.unavailableReason() {
            print("flood lab skipped: \(reason)")
            return
        }
        let folder = NSTemporaryDirectory() + "cvpeer-flood-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let prefix = "cvf\(getpid() % 10_000)"
        let lab = Self.labScript
        let up = Self.run(
            [lab, "up", prefix, "\(Self.subnets)", "\(Self.hostsPerSubnet)", "10", Self.hostAddress, Self.probeAddress],
            timeout: 60)
        defer { Self.run([lab, "down", prefix]) }
        try #require(up.status == 0, "the flood lab did not come up: \(up.output)")

        let allow = folder + "/agents"
        let ana = try Self.fingerprint(folder + "/ana")
        let probeOwner = try Self.fingerprint(folder + "/probe")
        try "# the shop's agents\n\(ana)\n\(probeOwner)\n".write(toFile: allow, atomically: true, encoding: .utf8)

        let inLab = URL(fileURLWithPath: lab)
        let cvpeer = BuiltBinary.url("cvpeer").path
        let flooderBinary = BuiltBinary.url("RendezvousFlooder").path
        let rendezvous = try ChildProcess(
            inLab,
            [
                "exec", prefix, "rv", cvpeer, "rendezvous", "--listen", Self.rendezvous, "--allow", allow, "--open",
                "--max-rooms", "\(Self.maxRooms)",
            ], name: "rendezvous")
        defer { rendezvous.stop() }
        #expect(
            rendezvous.line("rendezvous info: room creation is open to anyone within the per-network limits (--open)", timeout: 20)
                != nil, "\(rendezvous.output)")

        // The flood: every address in turn, until the table is full; then it presses on.
        let flooder = try ChildProcess(
            inLab,
            [
                "exec", prefix, "fl", flooderBinary, "flood", "--rendezvous", Self.rendezvous, "--net", "10.201",
                "--subnets", "\(Self.subnets)", "--hosts", "\(Self.hostsPerSubnet)", "--first-host", "10",
                "--max-rounds", "900",
            ], name: "flooder")
        defer { flooder.stop() }
        let filled = try #require(flooder.line("filled ", timeout: 120), "\(flooder.output)")
        print("flood: \(filled)")
        #expect(Self.field("created", filled) == Self.maxRooms, "the flood should fill the whole open part")
        #expect(Self.field("tries", filled) == Self.subnets * Self.hostsPerSubnet * 80)

        // A listed owner through the project's RendezvousClient, from a filled /24, while the flood presses.
        let probe = try ChildProcess(
            inLab,
            [
                "exec", prefix, "fl", flooderBinary, "owner", "--rendezvous", Self.rendezvous, "--from", Self.probeAddress,
                "--identity", folder + "/probe/identity.key",
            ], name: "owner")
        defer { probe.stop() }
        let registered = try #require(probe.line("owner registered", timeout: 30), "\(probe.output)")
        print("allowed owner (RendezvousClient): \(registered)")
        // At once: the register without a cookie, one challenge, the signed register, registered.
        #expect(Self.field("registers", registered) == 2)
        #expect(Self.field("challenges", registered) == 1)
        #expect(Self.field("registrations", registered) == 1)
        #expect(Self.field("refusals", registered) == 0)
        #expect(flooder.isRunning, "the flood must still be running while the owner registers")

        // The outsider read the owner's register off the wire: tag, key and peer id, not the secret.
        let tag = try #require(Self.text("tag", registered))
        let peer = try #require(Self.text("peer", registered))
        flooder.send("target \(tag) \(try #require(Self.text("key", registered))) \(peer)")
        #expect(flooder.line("target set", timeout: 20) != nil)

        // A real agent's node, on the list, from the same filled /24.
        let started = Date()
        let host = try ChildProcess(
            inLab,
            [
                "exec", prefix, "fl", cvpeer, "host", "--data", folder + "/ana", "--name", "Ana", "--listen",
                "\(Self.hostAddress):0", "--rendezvous", Self.rendezvous,
            ], name: "host Ana")
        defer { host.stop() }
        let hostRegistered = { (line: String) in line.contains(" registered in room ") && line.contains("from \(Self.hostAddress):") }
        var hostLine: String?
        for _ in 0..<300 where hostLine == nil {
            hostLine = rendezvous.output.first(where: hostRegistered)
            if hostLine == nil { usleep(100_000) }
        }
        let hostSeconds = Date().timeIntervalSince(started)
        #expect(hostLine != nil, "the listed agent's node did not register:\n\(host.output.suffix(20).joined(separator: "\n"))")
        print("allowed owner (cvpeer host): registered \(String(format: "%.2f", hostSeconds)) s after its start: \(hostLine ?? "-")")
        #expect(flooder.isRunning, "the flood must still be running while the host registers")

        // Let the outsider have 30 more rounds (a dozen tries each) at the owner's room.
        let firstRound = flooder.output.last { $0.hasPrefix("pressing ") }.flatMap { Self.field("round", $0) } ?? 0
        var round = firstRound
        for _ in 0..<300 where round < firstRound + 30 {
            usleep(100_000)
            round = flooder.output.last { $0.hasPrefix("pressing ") }.flatMap { Self.field("round", $0) } ?? round
        }
        #expect(round >= firstRound + 30, "the flood stopped pressing")
        // The owner's registration is intact: a refresh is accepted, nobody was introduced, nothing relayed.
        probe.send("refresh")
        let refreshed = try #require(probe.line("owner refreshed", timeout: 20), "\(probe.output)")
        #expect((Self.field("registrations", refreshed) ?? 0) >= 2)
        #expect(Self.field("introductions", refreshed) == 0)
        #expect(Self.field("relayed", refreshed) == 0)

        flooder.send("stop")
        let done = try #require(flooder.line("done ", timeout: 60), "\(flooder.output.suffix(5))")
        print("flood: \(done)")
        let counters = Self.run([lab, "counters", prefix]).output
        #expect(!host.output.contains { $0.contains("does not let this agent") })
        #expect(rendezvous.stop() == 0)
        let log = rendezvous.output
        let totals = try #require(log.first { $0.hasPrefix("rendezvous info: totals: ") }, "\(log.suffix(5))")
        print("rendezvous \(totals.dropFirst("rendezvous info: ".count))")

        // The table is full, the flood held by the room limit and the per-prefix limits.
        #expect(totals.contains("totals: \(Self.maxRooms) rooms"))
        #expect(Self.count("room limit reached", totals) > 0)
        #expect(Self.count("source prefix holds too many rooms", totals) > 0)
        #expect(totals.contains(" 2 rooms evicted"), "one flood room made way for each listed owner")
        #expect(log.filter { $0.contains(" evicted (") }.count == 2)
        // The outsider: each kind of try refused and counted, nothing moved, left, retired or relayed.
        for reason in [
            "room tag not bound to the registration key", "registration signature does not verify", "unregister not proven",
            "relay from an unregistered address", "relay to a peer not in the sender's rooms", "malformed",
        ] {
            #expect(Self.count(reason, totals) > 0, "no '\(reason)' drops counted")
        }
        #expect(totals.contains(" 0 datagrams relayed"))
        #expect(!log.contains { $0.contains(" moved from ") || $0.contains(" unregistered from ") || $0.contains(" retired ") })
        let probeShort = String(peer.prefix(10))
        #expect(log.filter { $0.contains("peer \(probeShort) registered") }.count == 1)

        // Amplification: bytes to the flood's addresses over bytes from them, as the wire carried them.
        let numbers = { (name: String) -> (packets: Int, bytes: Int) in
            let line = counters.split(separator: "\n").first { $0.hasPrefix(name + " ") } ?? ""
            let words = line.split(separator: " ")
            return (Int(words.dropFirst(2).first ?? "") ?? 0, Int(words.dropFirst(4).first ?? "") ?? 0)
        }
        let received = numbers("fromflood")
        let sent = numbers("toflood")
        try #require(received.bytes > 0, "no counters: \(counters)")
        let ratio = Double(sent.bytes) / Double(received.bytes)
        // UDP payload: the IP and UDP headers (28 bytes) off every datagram.
        let payloadRatio = Double(sent.bytes - 28 * sent.packets) / Double(received.bytes - 28 * received.packets)
        print(
            "rendezvous amplification over the whole hostile run: sent \(sent.bytes) bytes in \(sent.packets) datagrams to "
                + "the flood's addresses, received \(received.bytes) bytes in \(received.packets) from them: "
                + "\(String(format: "%.3f", ratio)) (UDP payload \(String(format: "%.3f", payloadRatio)))")
        #expect(ratio <= 1.0)
        #expect(payloadRatio <= 1.0)
    }
}
