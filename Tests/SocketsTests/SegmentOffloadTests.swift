import Primitives
import Testing

@testable import Sockets

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Segmented sends (UDP GSO) and coalesced receives (UDP GRO) on real sockets on 127.0.0.1:
/// a run sent in one call arrives through the coalescing path as the datagrams that were sent;
/// truncated reads and oversized segments are counted drops; a socket whose kernel refuses
/// segmentation falls back to one datagram per call and remembers it.
@Suite struct SegmentOffloadTests {
    static let loopback = HostPort(host: "127.0.0.1", port: 0)

    /// A sender and a receiver with coalescing on, closed by `close()`.
    struct Pair {
        let sender: NodeSocket
        let receiver: NodeSocket
        let target: UDPEndpoint

        init() throws {
            sender = try NodeSocket.open(listen: SegmentOffloadTests.loopback, bufferSize: 1 << 20)
            receiver = try NodeSocket.open(listen: SegmentOffloadTests.loopback, bufferSize: 1 << 20)
            target = .ipv4(127, 0, 0, 1, port: try receiver.socket.localEndpoint().port)
        }

        func close() {
            sender.close()
            receiver.close()
        }

        /// Reads until `wanted` datagrams or drops have been seen or 200 waits of up to 10 ms
        /// found nothing; returns each read's datagrams.
        func receive(
            wanted: Int, bufferSize: Int = 65_536, maxDatagram: Int = 65_536, drops: inout NodeSocket.SegmentDrops
        ) -> [[[UInt8]]] {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 8)
            defer { buffer.deallocate() }
            var reads: [[[UInt8]]] = []
            var idle = 0
            while reads.joined().count + drops.truncated + drops.oversized < wanted, idle < 200 {
                guard receiver.wait(wake: -1, nanoseconds: 10_000_000).socket else {
                    idle += 1
                    continue
                }
                var read: [[UInt8]] = []
                let outcome = receiver.receiveSegments(into: buffer, maxDatagram: maxDatagram, drops: &drops) { bytes, _ in
                    read.append(Array(bytes))
                }
                if !read.isEmpty { reads.append(read) }
                if outcome == .empty { idle += 1 }
            }
            return reads
        }
    }

    /// `count` datagrams of `size` bytes, each filled with its own index, the last `lastSize` long.
    static func run(count: Int, size: Int, lastSize: Int? = nil) -> [[UInt8]] {
        (0..<count).map { index in
            [UInt8](repeating: UInt8(truncatingIfNeeded: index + 1), count: index == count - 1 ? lastSize ?? size : size)
        }
    }

    static func send(_ datagrams: [[UInt8]], from socket: NodeSocket, to target: UDPEndpoint) -> (sent: Int, failed: Int) {
        let bytes = datagrams.flatMap { $0 }
        return bytes.withUnsafeBytes { socket.sendSegments($0, segmentSize: datagrams[0].count, to: target) }
    }

    @Test func aSegmentedRunArrivesCoalescedAndIsSplitIntoTheDatagramsSent() throws {
        let pair = try Pair()
        defer { pair.close() }
        #expect(pair.receiver.enableCoalescing())
        let datagrams = Self.run(count: 20, size: 1_000, lastSize: 300)
        let result = Self.send(datagrams, from: pair.sender, to: pair.target)
        #expect(result.sent == 20 && result.failed == 0)
        #expect(pair.sender.sendOffload)
        var drops = NodeSocket.SegmentDrops()
        let reads = pair.receive(wanted: 20, drops: &drops)
        #expect(Array(reads.joined()) == datagrams)
        #expect(drops == NodeSocket.SegmentDrops())
        // One send, one receive: the kernel kept the run together and the socket split it.
        #expect(reads.count == 1)
    }

    @Test func oversizedSegmentsOfACoalescedRunAreCountedDrops() throws {
        let pair = try Pair()
        defer { pair.close() }
        #expect(pair.receiver.enableCoalescing())
        // 1,400-byte segments where at most 1,200 are allowed: each one is dropped and counted.
        _ = Self.send(Self.run(count: 5, size: 1_400), from: pair.sender, to: pair.target)
        var drops = NodeSocket.SegmentDrops()
        let oversizedReads = pair.receive(wanted: 5, maxDatagram: 1_200, drops: &drops)
        #expect(oversizedReads.isEmpty)
        #expect(drops.oversized == 5 && drops.truncated == 0)
        // A short last segment of a run is allowed, a long one is not possible: the kernel
        // requires the others to be full; the short one passes on its own.
        let mixed = Self.run(count: 4, size: 1_400, lastSize: 700)
        _ = Self.send(mixed, from: pair.sender, to: pair.target)
        drops = NodeSocket.SegmentDrops()
        let reads = pair.receive(wanted: 4, maxDatagram: 1_200, drops: &drops)
        #expect(Array(reads.joined()) == [mixed[3]])
        #expect(drops.oversized == 3)
    }

    @Test func aReadLongerThanTheBufferIsDroppedWholeAndCounted() throws {
        let pair = try Pair()
        defer { pair.close() }
        #expect(pair.receiver.enableCoalescing())
        // A coalesced run of 5,000 bytes and a single 3,000-byte datagram into a 2,000-byte
        // buffer: neither reaches the caller in part.
        _ = Self.send(Self.run(count: 5, size: 1_000), from: pair.sender, to: pair.target)
        _ = Self.send([[UInt8](repeating: 9, count: 3_000)], from: pair.sender, to: pair.target)
        var drops = NodeSocket.SegmentDrops()
        let reads = pair.receive(wanted: 2, bufferSize: 2_000, drops: &drops)
        #expect(reads.isEmpty)
        #expect(drops.truncated == 2)
    }

    @Test func aSocketThatCannotSegmentFallsBackToOneDatagramPerCallAndRemembers() throws {
        let pair = try Pair()
        defer { pair.close() }
        #expect(pair.receiver.enableCoalescing())
        // Linux refuses segmentation (EINVAL) on a socket that sends without UDP checksums.
        var on: Int32 = 1
        let noCheck: Int32 = 11  // SO_NO_CHECK
        #expect(setsockopt(pair.sender.descriptor, SOL_SOCKET, noCheck, &on, socklen_t(MemoryLayout<Int32>.size)) == 0)
        let first = Self.run(count: 10, size: 1_000, lastSize: 10)
        let result = Self.send(first, from: pair.sender, to: pair.target)
        #expect(result.sent == 10 && result.failed == 0)
        #expect(!pair.sender.sendOffload)
        var drops = NodeSocket.SegmentDrops()
        var reads = pair.receive(wanted: 10, drops: &drops)
        #expect(Array(reads.joined()) == first)

        // With checksums back on a segmented send would work again; the socket no longer tries
        // one, so the next run arrives as separate datagrams (loopback coalesces only segmented sends).
        on = 0
        #expect(setsockopt(pair.sender.descriptor, SOL_SOCKET, noCheck, &on, socklen_t(MemoryLayout<Int32>.size)) == 0)
        let second = Self.run(count: 6, size: 800)
        let again = Self.send(second, from: pair.sender, to: pair.target)
        #expect(again.sent == 6 && again.failed == 0)
        reads = pair.receive(wanted: 6, drops: &drops)
        #expect(Array(reads.joined()) == second)
        #expect(reads.allSatisfy { $0.count == 1 })
        #expect(drops == NodeSocket.SegmentDrops())
    }
}
