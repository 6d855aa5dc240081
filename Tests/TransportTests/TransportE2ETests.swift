import CVPeerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// End-to-end tests of the transport with real processes and real UDP sockets on 127.0.0.1:
/// two `TransportProbe` nodes, the `cvpeer rendezvous`, and in-test proxies. One at a time, since
/// they measure real transfers on a small machine.
@Suite(.serialized) struct TransportE2ETests {
    /// Sends a 10 MB message and then `small` 100-byte messages from A to B and checks B got all
    /// of them, intact and in order (the chained hashes match).
    static func transfer(
        _ group: ProcessGroup, to target: (UInt16) -> [String], big: Int, small: Int, room: UInt8 = 1,
        extraA: [String] = [], extraB: [String] = [], timeout: Double = 90
    ) throws -> (a: ChildProcess, b: ChildProcess) {
        let total = big + small * 100
        let b = try group.probe(
            "B",
            ProbeArguments.node(room: room, seed: 2)
                + ["--expect-count", String(small + 1), "--expect-bytes", String(total), "--exit-when-done"] + extraB)
        let port = try readyPort(b)
        let a = try group.probe(
            "A",
            ProbeArguments.node(room: room, seed: 1) + target(port)
                + ["--send-count", "1", "--send-bytes", String(big)] + extraA)
        a.send("send \(small) 100")
        let queued = a.line("queued send", timeout: timeout)
        let received = b.line("received-all", timeout: timeout)
        #expect(received != nil, "B did not receive everything:\n\(group.transcript)")
        #expect(field(received, "count") == String(small + 1))
        #expect(field(received, "bytes") == String(total))
        #expect(field(received, "hash") != nil && field(received, "hash") == field(queued, "sent_hash"))
        #expect(
            a.line("acked-all count=\(small + 1) ", timeout: 30) != nil,
            "A never saw everything acknowledged:\n\(group.transcript)")
        return (a, b)
    }

    @Test func twoNodesOnLoopbackDeliverTenMegabytesAndTenThousandMessagesInOrder() throws {
        let group = ProcessGroup()
        defer { group.stopAll() }
        let (a, b) = try Self.transfer(group, to: { ["--connect", "127.0.0.1:\($0)"] }, big: 10_000_000, small: 10_000)
        #expect(a.line("link-up", timeout: 1)?.contains(" direct ") == true)
        #expect(b.line("link-up", timeout: 1)?.contains(" direct ") == true)
        // B stops by itself once everything arrived and closes the link cleanly; A sees that.
        #expect(b.waitForExit(timeout: 20) == 0)
        #expect(a.line("link-down", timeout: 10)?.hasSuffix("closedByPeer") == true)
        #expect(a.stop() == 0)
        #expect(a.output.last == "exit reason=signal")
    }

    @Test(arguments: [(0.10, 2_000_000, 2_000), (0.30, 300_000, 300)])
    func lossDuplicationAndReorderingStillDeliverEverythingIntact(loss: Double, big: Int, small: Int) throws {
        let group = ProcessGroup()
        defer { group.stopAll() }
        // The proxy sits in front of B; A connects to the proxy.
        var proxy: UDPProxy?
        defer { proxy?.stop() }
        let impairment = UDPProxy.Impairment(loss: loss, duplicate: 0.03, reorder: 0.05)
        let (a, _) = try Self.transfer(
            group,
            to: { port in
                proxy = try? UDPProxy(target: port, impairment: impairment, seed: 0xB055 + UInt64(loss * 100))
                return ["--connect", "127.0.0.1:\(proxy?.port ?? 0)"]
            }, big: big, small: small, timeout: 120)
        let counts = try #require(proxy?.counts)
        #expect(counts.dropped > 0 && counts.duplicated > 0 && counts.reordered > 0)
        let status = a.status()
        #expect((jsonNumber(status, "packets_lost") ?? 0) > 0, "\(status ?? "no status")")
        #expect((jsonNumber(status, "retransmitted_bytes") ?? 0) > 0)
    }

    @Test func relayOnlyNodesCarryEverythingThroughTheRendezvous() throws {
        let group = ProcessGroup()
        defer { group.stopAll() }
        let (rendezvous, port) = try group.rendezvous()
        let target: (UInt16) -> [String] = { _ in ["--rendezvous", "127.0.0.1:\(port)", "--relay-only"] }
        let extra = ["--rendezvous", "127.0.0.1:\(port)", "--relay-only"]
        let b = try group.probe(
            "B", ProbeArguments.node(room: 3, seed: 2) + extra + ["--expect-count", "201", "--expect-bytes", "320000"])
        _ = try readyPort(b)
        let a = try group.probe(
            "A", ProbeArguments.node(room: 3, seed: 1) + target(0) + ["--send-count", "1", "--send-bytes", "300000"])
        a.send("send 200 100")
        #expect(a.line("registered", timeout: 20) != nil)
        #expect(b.line("introduced", timeout: 20) != nil)
        let linkUp = a.line("link-up", timeout: 20)
        #expect(linkUp?.contains(" relayed ") == true, "\(group.transcript)")
        let received = b.line("received-all", timeout: 60)
        let queued = a.line("queued send", timeout: 5)
        #expect(field(received, "hash") != nil && field(received, "hash") == field(queued, "sent_hash"), "\(group.transcript)")
        let status = b.status()
        #expect(status?.contains("\"path\":\"relayed\"") == true, "\(status ?? "no status")")
        #expect(jsonNumber(status, "direct_disabled_drops") == 0)
        #expect(!a.output.contains { $0.hasPrefix("path ") })
        // The rendezvous saw both register; nothing else needs its logs.
        #expect(rendezvous.output.filter { $0.contains("registered in room") }.count == 2)
    }

    @Test func nodesIntroducedByTheRendezvousEndUpOnADirectPath() throws {
        let group = ProcessGroup()
        defer { group.stopAll() }
        let (_, port) = try group.rendezvous()
        let extra = ["--rendezvous", "127.0.0.1:\(port)"]
        let b = try group.probe("B", ProbeArguments.node(room: 4, seed: 2) + extra + ["--expect-count", "50"])
        _ = try readyPort(b)
        let a = try group.probe("A", ProbeArguments.node(room: 4, seed: 1) + extra + ["--send-count", "50", "--send-bytes", "2000"])
        #expect(a.line("registered", timeout: 20) != nil)
        #expect(a.line("introduced", timeout: 20) != nil)
        #expect(a.line("link-up", timeout: 20) != nil, "\(group.transcript)")
        #expect(b.line("received-all", timeout: 30) != nil)
        // Direct from the start, or moved there from the relay.
        let deadline = Date().addingTimeInterval(15)
        var status = b.status()
        while status?.contains("\"path\":\"direct\"") != true, Date() < deadline {
            usleep(200_000)
            status = b.status()
        }
        #expect(status?.contains("\"path\":\"direct\"") == true, "\(status ?? "no status")\n\(group.transcript)")
        let aStatus = a.status()
        #expect(aStatus?.contains("\"path\":\"direct\"") == true)
        #expect(aStatus?.contains("\"registered\":true") == true)
    }

    @Test func aRelayedLinkSurvivesARendezvousRestartAndADirectOneDoesNotNeedIt() throws {
        let group = ProcessGroup()
        defer { group.stopAll() }
        let (first, port) = try group.rendezvous()
        let relayed = ["--rendezvous", "127.0.0.1:\(port)", "--relay-only"]
        let direct = ["--rendezvous", "127.0.0.1:\(port)"]
        let b = try group.probe("B", ProbeArguments.node(room: 11, seed: 2) + relayed + ["--expect-count", "70"])
        let a = try group.probe("A", ProbeArguments.node(room: 11, seed: 1) + relayed + ["--send-count", "20", "--send-bytes", "500"])
        let d = try group.probe("D", ProbeArguments.node(room: 12, seed: 4) + direct + ["--expect-count", "40"])
        let c = try group.probe("C", ProbeArguments.node(room: 12, seed: 3) + direct + ["--send-count", "20", "--send-bytes", "500"])
        #expect(a.line("acked-all count=20 ", timeout: 20) != nil, "\(group.transcript)")
        #expect(c.line("acked-all count=20 ", timeout: 20) != nil, "\(group.transcript)")
        #expect(a.line("link-up", timeout: 1)?.contains(" relayed ") == true)
        #expect(c.line("link-up", timeout: 1)?.contains(" direct ") == true)

        // The rendezvous goes away: the direct link does not notice.
        #expect(first.stop() == 0)
        c.send("send 20 500")
        #expect(d.line("received-all count=40 ", timeout: 20) != nil, "\(group.transcript)")

        // A new rendezvous on the same port knows nobody; the next refresh meets a cookie
        // challenge, the nodes register again, and the relay carries the link on.
        let second = try ChildProcess(
            BuiltBinary.url("cvpeer"), ["rendezvous", "--listen", "127.0.0.1:\(port)"], name: "rendezvous 2")
        defer { second.stop() }
        #expect(second.line("rendezvous info: listening on", timeout: 10) != nil)
        let deadline = Date().addingTimeInterval(Double(30))
        var reRegistered = false
        while !reRegistered, Date() < deadline {
            usleep(500_000)
            reRegistered = [a, b].allSatisfy { (jsonNumber($0.status(), "challenges") ?? 0) >= 2 }
        }
        #expect(reRegistered, "\(group.transcript)")
        a.send("send 50 500")
        let received = b.line("received-all count=70 ", timeout: 30)
        let queued = a.line("queued send", timeout: 1)
        #expect(field(received, "hash") != nil && field(received, "hash") == field(queued, "sent_hash"), "\(group.transcript)")
        #expect(!b.output.contains { $0.hasPrefix("link-down") })
        #expect(second.output.filter { $0.contains("registered in room") }.count == 4)
    }
}
