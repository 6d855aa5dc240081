import CVPeerTestSupport
import Testing
import Transport

/// Reliable messages arrive whole, in order, exactly once over a bad path; datagrams at most once.
@Suite struct ReliabilityDeliveryTests {
    static let paths = [
        LinkPairPath(loss: 0, duplicate: 0.02, reorder: 0.05),
        LinkPairPath(loss: 0.10, duplicate: 0.02, reorder: 0.05),
        LinkPairPath(loss: 0.30, duplicate: 0.02, reorder: 0.05),
    ]

    @Test(arguments: paths)
    func aTenMegabyteMessageArrivesIntact(path: LinkPairPath) throws {
        let seed = SeededRandom.seedFromEnvironment(default: 10_000_000)
        var pair = SimulatedLinkPair(path: path, seed: seed)
        var content = SeededRandom(seed: seed ^ 0xA5A5)
        let message = (0..<10_000_000).map { _ in UInt8(truncatingIfNeeded: content.next()) }
        try pair.links[0].enqueue(message: message)
        let finished = try pair.runUntilIdle(maxSteps: 2_000_000)
        #expect(finished, "seed \(seed), \(path): not idle after \(pair.steps) steps")
        let received = pair.messages(at: 1)
        #expect(received.count == 1, "seed \(seed), \(path)")
        #expect(received.first == message, "seed \(seed), \(path): message differs")
        let stats = pair.links[0].stats
        if path.loss > 0 {
            #expect(stats.packetsLost > 0 && stats.retransmittedBytes > 0, "seed \(seed), \(path)")
        }
        #expect(stats.bytesInFlight == 0 && stats.queuedMessages == 0, "seed \(seed), \(path)")
        #expect(pair.links[1].stats.reassemblyBytes == 0, "seed \(seed), \(path)")
    }

    @Test(arguments: paths)
    func tenThousandSmallMessagesArriveInOrderBothWays(path: LinkPairPath) throws {
        let seed = SeededRandom.seedFromEnvironment(default: 10_000)
        var pair = SimulatedLinkPair(path: path, seed: seed)
        var content = SeededRandom(seed: seed ^ 0x5A5A)
        var expected: [[[UInt8]]] = [[], []]
        for side in 0..<2 {
            let count = side == 0 ? 10_000 : 500
            for index in 0..<count {
                // Sizes from empty to a few packets; the index makes every message unique.
                let size = Int(content.next() % (content.next() % 8 == 0 ? 3_000 : 200))
                var message = Array("\(side):\(index):".utf8)
                message += (0..<size).map { _ in UInt8(truncatingIfNeeded: content.next()) }
                if index % 97 == 0 { message = [] }
                try pair.links[side].enqueue(message: message)
                expected[side].append(message)
            }
        }
        let finished = try pair.runUntilIdle(maxSteps: 2_000_000)
        #expect(finished, "seed \(seed), \(path): not idle after \(pair.steps) steps")
        for side in 0..<2 {
            let received = pair.messages(at: 1 - side)
            #expect(received.count == expected[side].count, "seed \(seed), \(path), from side \(side)")
            if let mismatch = zip(received, expected[side]).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
                Issue.record("seed \(seed), \(path): message \(mismatch.offset) from side \(side) differs")
            }
        }
    }

    @Test func presenceDatagramsAreNeverRetransmitted() throws {
        let seed = SeededRandom.seedFromEnvironment(default: 1_188)
        let path = LinkPairPath(loss: 0.30, duplicate: 0.10, reorder: 0.10)
        var pair = SimulatedLinkPair(path: path, seed: seed)
        pair.recordSent = true
        // Reliable traffic alongside, so there are losses and retransmissions to get wrong.
        try pair.links[0].enqueue(message: [UInt8](repeating: 7, count: 300_000))
        try pair.links[1].enqueue(message: [UInt8](repeating: 8, count: 300_000))
        var enqueued = 0
        var overlapping = 0
        // Pointer updates every 20 ms from both sides, while the messages are under way.
        for round in 0..<500 {
            for side in 0..<2 { try pair.links[side].enqueueUnreliable(Array("\(side) pointer \(round)".utf8)) }
            enqueued += 1
            if pair.links[0].stats.queuedMessages > 0 { overlapping += 1 }
            try pair.run(until: pair.now + 20_000_000, maxSteps: 100_000)
        }
        #expect(overlapping > 100, "seed \(seed): the datagrams should overlap the transfer")
        #expect(try pair.runUntilIdle(maxSteps: 1_000_000), "seed \(seed)")

        var sentCounts: [[UInt8]: Int] = [:]
        for plaintext in pair.sent[0] {
            for frame in try LinkFrame.decode(plaintext) {
                if case .unreliable(let datagram) = frame { sentCounts[datagram, default: 0] += 1 }
            }
        }
        let stats = pair.links[0].stats
        #expect(sentCounts.values.allSatisfy { $0 == 1 }, "seed \(seed): a datagram was sent twice")
        #expect(sentCounts.count + stats.unreliableDropped == enqueued, "seed \(seed)")
        #expect(stats.unreliableSent == sentCounts.count, "seed \(seed)")
        #expect(stats.packetsLost > 0, "seed \(seed): the path should have lost packets")
        let received = pair.datagrams(at: 1)
        #expect(Set(received).count == received.count, "seed \(seed): a datagram was delivered twice")
        #expect(received.count < sentCounts.count && received.count > sentCounts.count / 2, "seed \(seed)")
        #expect(pair.messages(at: 1).count == 1 && pair.messages(at: 0).count == 1, "seed \(seed)")
    }

    @Test func closeReachesThePeerAndStopsTheLink() throws {
        var pair = SimulatedLinkPair(path: LinkPairPath(), seed: 1)
        try pair.links[0].enqueue(message: [1, 2, 3])
        #expect(try pair.runUntilIdle(maxSteps: 1_000))
        pair.links[0].close(reason: 42, now: pair.now)
        #expect(try pair.run(maxSteps: 1_000) { $0.links[1].isClosed })
        #expect(pair.deliveries[1].last == .closed(reason: 42))
        #expect(pair.links[0].isClosed && pair.links[0].nextTimer == nil)
        #expect(throws: ReliabilityError.linkClosed) { try pair.links[1].enqueue(message: []) }
    }

    @Test func refusesMessagesAndDatagramsAboveTheirBounds() {
        var link = ReliableLink()
        #expect(throws: ReliabilityError.messageTooLarge(Wire.maxMessageSize + 1)) {
            try link.enqueue(message: [UInt8](repeating: 0, count: Wire.maxMessageSize + 1))
        }
        #expect(throws: ReliabilityError.datagramTooLarge(Wire.maxUnreliableSize + 1)) {
            try link.enqueueUnreliable([UInt8](repeating: 0, count: Wire.maxUnreliableSize + 1))
        }
        #expect(throws: Never.self) { try link.enqueueUnreliable([UInt8](repeating: 0, count: Wire.maxUnreliableSize)) }
        let packet = link.nextPacket(packetNumber: 0, now: 0)
        #expect(packet?.count == Wire.maxFramesSize, "a maximal datagram fills the packet exactly")
    }
}
