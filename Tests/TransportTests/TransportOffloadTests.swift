import Foundation
import PeerCrypto
import Primitives
import Sockets
import Testing
import Transport

#if canImport(Glibc)
    import Glibc
#endif

extension TransportE2ETests.InProcess {
    /// A node's coalesced receive path under a hostile sender: a segmented run is split into its
    /// datagrams and each goes through the link layer like any other; segments above the largest
    /// datagram are counted drops; the real link meanwhile moves its data.
    @Test func coalescedRunsFromAStrangerAreSplitAndOversizedSegmentsCountedWhileALinkWorks() throws {
        let (a, aEvents) = Self.node(11)
        let (b, bEvents) = Self.node(12)
        defer {
            a.close()
            b.close()
        }
        try a.start()
        let bAddress = try b.start()
        a.connect(to: [bAddress])
        #expect(aEvents.wait(Self.linkUp) && bEvents.wait(Self.linkUp))
        #expect(b.status.receiveOffload)

        let attacker = try NodeSocket.open(listen: Self.loopback, bufferSize: 1 << 20)
        defer { attacker.close() }
        let target = UDPEndpoint.ipv4(127, 0, 0, 1, port: bAddress.port)
        let before = b.status
        // 8 data-type segments of garbage (unknown session), then 6 segments one byte too long.
        var garbage = [UInt8](repeating: 0, count: 8 * 200)
        for index in stride(from: 0, to: garbage.count, by: 200) {
            garbage[index] = 4
            garbage[index + 4] = 0xEE
        }
        let oversized = [UInt8](repeating: 4, count: 6 * (Wire.maxDatagramSize + 1))
        #expect(garbage.withUnsafeBytes { attacker.sendSegments($0, segmentSize: 200, to: target) }.sent == 8)
        #expect(
            oversized.withUnsafeBytes { attacker.sendSegments($0, segmentSize: Wire.maxDatagramSize + 1, to: target) }
                .sent == 6)
        let counted = bEvents.wait { _ in
            let status = b.status
            return status.counters.oversizedDrops - before.counters.oversizedDrops == 6
                && status.link.dropped(.unknownIndex) - before.link.dropped(.unknownIndex) == 8
        }
        #expect(counted, "\(b.status.counters) \(b.status.link)")
        #expect(b.status.counters.datagramsReceived - before.counters.datagramsReceived >= 14)

        // The link still carries messages both ways, over runs the sender segments.
        let messages = (0..<20).map { i in [UInt8](repeating: UInt8(i), count: 50_000 + i) }
        for message in messages { try a.send(message: message, to: b.localKey) }
        #expect(bEvents.wait { _ in bEvents.messages.count == 20 })
        #expect(bEvents.messages == messages)
        #expect(a.status.sendOffload)
    }
}
