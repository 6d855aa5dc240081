import CVPeerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension TransportE2ETests {
    /// Two nodes exchange messages carrying a known marker while a proxy records every datagram
    /// on the wire: on the direct path, and on the relay path (a recording proxy in front of the
    /// rendezvous). The receiver gets the marker; no datagram ever contains it.
    @Suite struct Confidentiality {
        static func marker() -> String {
            var rng = SystemRandomNumberGenerator()
            return "cvpeer-marker-" + (0..<8).map { _ in String(UInt8.random(in: 0...255, using: &rng), radix: 16) }.joined()
        }

        /// 300 messages of 700 bytes (the marker at the start of each) and one of 200,000 bytes
        /// (the marker every 64 KiB: 4 times).
        static let smallCount = 300
        static let expectedMarkers = smallCount + 4

        static func check(_ recorder: UDPProxy, marker: String, receiver: ChildProcess, transcript: String) {
            let received = receiver.line("received-all", timeout: 60)
            // A moment for the last acknowledgements to pass the recorder too.
            usleep(200_000)
            let recorded = recorder.recorded
            #expect(received != nil, "\(transcript)")
            #expect(field(received, "markers") == String(expectedMarkers), "the receiver got every marker")
            let needle = Array(marker.utf8)
            #expect(contains(Array(("xx" + marker + "yy").utf8), needle), "the search itself finds a marker")
            let leaks = recorded.filter { contains($0, needle) }.count
            #expect(leaks == 0, "\(leaks) of \(recorded.count) captured datagrams contain the marker")
            let bytes = recorded.reduce(0) { $0 + $1.count }
            #expect(bytes > smallCount * 700 + 200_000, "the traffic really went through the recorder")
        }

        @Test func theMarkerNeverAppearsOnTheDirectPath() throws {
            let group = ProcessGroup()
            defer { group.stopAll() }
            let marker = Self.marker()
            let b = try group.probe(
                "B",
                ProbeArguments.node(room: 9, seed: 2) + ["--marker", marker, "--expect-count", String(Self.smallCount + 1)])
            let bPort = try readyPort(b)
            let proxy = try UDPProxy(
                target: bPort, impairment: .init(loss: 0.05, duplicate: 0.02, reorder: 0.02), seed: 9, record: true)
            defer { proxy.stop() }
            let a = try group.probe(
                "A",
                ProbeArguments.node(room: 9, seed: 1)
                    + ["--connect", "127.0.0.1:\(proxy.port)", "--marker", marker, "--send-count", String(Self.smallCount),
                        "--send-bytes", "700"])
            a.send("send 1 200000")
            Self.check(proxy, marker: marker, receiver: b, transcript: group.transcript)
            #expect(a.line("link-up", timeout: 1)?.contains(" direct ") == true)
        }

        @Test func theMarkerNeverAppearsOnTheRelayPath() throws {
            let group = ProcessGroup()
            defer { group.stopAll() }
            let marker = Self.marker()
            let (_, rendezvousPort) = try group.rendezvous()
            let recorder = try UDPProxy(target: rendezvousPort, seed: 10, record: true)
            defer { recorder.stop() }
            let relay = ["--rendezvous", "127.0.0.1:\(recorder.port)", "--relay-only", "--marker", marker]
            let b = try group.probe(
                "B", ProbeArguments.node(room: 10, seed: 2) + relay + ["--expect-count", String(Self.smallCount + 1)])
            _ = try readyPort(b)
            let a = try group.probe(
                "A",
                ProbeArguments.node(room: 10, seed: 1) + relay + ["--send-count", String(Self.smallCount), "--send-bytes", "700"])
            a.send("send 1 200000")
            #expect(a.line("link-up", timeout: 20)?.contains(" relayed ") == true, "\(group.transcript)")
            Self.check(recorder, marker: marker, receiver: b, transcript: group.transcript)
            let relayed = recorder.recorded.filter { $0.first == 0x24 || $0.first == 0x25 }
            #expect(relayed.count > Self.smallCount / 2, "the messages went through the relay")
        }
    }
}
