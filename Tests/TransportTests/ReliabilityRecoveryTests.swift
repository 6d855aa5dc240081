import CVPeerTestSupport
import Testing
import Transport

/// RTT estimation, congestion control, pacing and the probe timeout.
@Suite struct ReliabilityRecoveryTests {
    static let millisecond: UInt64 = 1_000_000

    @Test func rttEstimateConvergesToTheSimulatedDelay() throws {
        let seed = SeededRandom.seedFromEnvironment(default: 60)
        var pair = SimulatedLinkPair(path: LinkPairPath(delay: 30 * Self.millisecond), seed: seed)
        try pair.links[0].enqueue(message: [UInt8](repeating: 1, count: 2_000_000))
        #expect(try pair.runUntilIdle(maxSteps: 200_000), "seed \(seed)")
        var stats = pair.links[0].stats
        #expect(stats.minRTT == 60 * Self.millisecond, "seed \(seed): \(stats.minRTT)")
        #expect(stats.smoothedRTT.distance(to: 60 * Self.millisecond).magnitude < Self.millisecond, "seed \(seed): \(stats.smoothedRTT)")
        #expect(stats.rttVariance < 2 * Self.millisecond, "seed \(seed): \(stats.rttVariance)")

        // The path gets slower: the estimate follows, and the minimum stays.
        pair.path.delay = 50 * Self.millisecond
        try pair.links[0].enqueue(message: [UInt8](repeating: 2, count: 2_000_000))
        #expect(try pair.runUntilIdle(maxSteps: 200_000), "seed \(seed)")
        stats = pair.links[0].stats
        #expect(stats.smoothedRTT.distance(to: 100 * Self.millisecond).magnitude < Self.millisecond, "seed \(seed): \(stats.smoothedRTT)")
        #expect(stats.minRTT == 60 * Self.millisecond)
        #expect(pair.messages(at: 1).count == 2)
    }

    @Test func theAckDelayIsTakenOffTheSample() throws {
        var pair = SimulatedLinkPair(path: LinkPairPath(delay: 20 * Self.millisecond), seed: 1)
        // A bulk transfer first, acked at once every second packet: the minimum RTT is the path's.
        try pair.links[0].enqueue(message: [UInt8](repeating: 0, count: 100_000))
        #expect(try pair.runUntilIdle(maxSteps: 10_000))
        #expect(pair.links[0].stats.minRTT == 40 * Self.millisecond)
        // Then one small message at a time: each is acked only after the receiver's max ack
        // delay, which the sample must not count.
        for round in 0..<40 {
            try pair.links[0].enqueue(message: [UInt8(round)])
            #expect(try pair.runUntilIdle(maxSteps: 10_000))
        }
        let stats = pair.links[0].stats
        #expect(stats.latestRTT == 40 * Self.millisecond + Reliability.maxAckDelay)
        #expect(stats.smoothedRTT.distance(to: 40 * Self.millisecond).magnitude < Self.millisecond, "\(stats.smoothedRTT)")
    }

    @Test func theWindowGrowsInSlowStartAndHalvesOnLoss() throws {
        var sender = ReliableLink()
        var receiver = ReliableLink()
        try sender.enqueue(message: [UInt8](repeating: 9, count: 1_000_000))
        var now: UInt64 = 1_000_000_000
        var senderNumber: UInt64 = 0
        var receiverNumber: UInt64 = 0
        let unit = Reliability.maxDatagramSize

        /// Sends until the window is full, following pacing on a simulated clock.
        func sendFlight() -> [(UInt64, [UInt8])] {
            var flight: [(UInt64, [UInt8])] = []
            for _ in 0..<10_000 {
                if let packet = sender.nextPacket(packetNumber: senderNumber, now: now) {
                    flight.append((senderNumber, packet))
                    senderNumber += 1
                } else if let next = sender.nextSendTime, next > now {
                    now = next
                } else {
                    break
                }
            }
            return flight
        }
        /// Delivers `flight` but for the dropped numbers, then returns the receiver's one ACK to the sender.
        func deliver(_ flight: [(UInt64, [UInt8])], dropping dropped: Set<UInt64>) throws -> Int {
            now += 25 * Self.millisecond
            var ackedBytes = 0
            for (number, packet) in flight where !dropped.contains(number) {
                _ = try receiver.received(packetNumber: number, plaintext: packet, now: now)
                ackedBytes += packet.count + Wire.dataHeaderSize + Wire.aeadTagSize
            }
            let built = receiver.nextPacket(packetNumber: receiverNumber, now: now)
            let ack = try #require(built)
            receiverNumber += 1
            now += 25 * Self.millisecond
            _ = try sender.received(packetNumber: receiverNumber - 1, plaintext: ack, now: now)
            // Past the time threshold, so a loss too recent for the packet threshold is found
            // too; the next flight then starts after the recovery period began.
            now += 60 * Self.millisecond
            sender.timerFired(now: now)
            now += Self.millisecond
            return ackedBytes
        }

        #expect(sender.stats.congestionWindow == Reliability.initialWindowPackets * unit)
        let first = sendFlight()
        #expect(first.count == Reliability.initialWindowPackets)
        #expect(sender.stats.bytesInFlight == Reliability.initialWindowPackets * unit)
        let firstAcked = try deliver(first, dropping: [])
        #expect(sender.stats.congestionWindow == Reliability.initialWindowPackets * unit + firstAcked)
        #expect(sender.stats.bytesInFlight == 0)

        // Slow start again: the window doubles with each flight.
        let second = sendFlight()
        #expect(second.count == 2 * Reliability.initialWindowPackets)
        let secondAcked = try deliver(second, dropping: [])
        let grown = Reliability.initialWindowPackets * unit + firstAcked + secondAcked
        #expect(sender.stats.congestionWindow == grown)

        // Two losses in one flight are one congestion event: the window halves once.
        let third = sendFlight()
        let lost: Set<UInt64> = [third[3].0, third[7].0]
        let thirdAcked = try deliver(third, dropping: lost)
        var stats = sender.stats
        #expect(stats.packetsLost == 2)
        #expect(stats.congestionEvents == 1)
        #expect(stats.congestionWindow == (grown + thirdAcked) / 2)
        #expect(stats.slowStartThreshold == stats.congestionWindow)
        #expect(stats.bytesInFlight == 0)

        // A later loss halves again; the window never goes below two datagrams.
        var previous = stats.congestionWindow
        for round in 0..<12 {
            let flight = sendFlight()
            _ = try deliver(flight, dropping: [flight[0].0])
            stats = sender.stats
            #expect(stats.congestionEvents == 2 + round)
            #expect(stats.congestionWindow <= max(previous / 2 + 3 * unit, CongestionController.minimumWindow))
            #expect(stats.congestionWindow >= CongestionController.minimumWindow)
            previous = stats.congestionWindow
        }
        #expect(stats.congestionWindow == CongestionController.minimumWindow)
    }

    @Test func pacingSpreadsAFlightOverTheRoundTrip() throws {
        var sender = ReliableLink()
        try sender.enqueue(message: [UInt8](repeating: 3, count: 1_000_000))
        var now: UInt64 = 1_000_000_000
        var number: UInt64 = 0
        var flight: [(UInt64, [UInt8])] = []
        while let packet = sender.nextPacket(packetNumber: number, now: now) {
            flight.append((number, packet))
            number += 1
        }
        now += 100 * Self.millisecond
        var receiver = ReliableLink()
        for (packetNumber, packet) in flight { _ = try receiver.received(packetNumber: packetNumber, plaintext: packet, now: now) }
        let built = receiver.nextPacket(packetNumber: 0, now: now)
        let ack = try #require(built)
        _ = try sender.received(packetNumber: 0, plaintext: ack, now: now)

        // A burst of `pacingBurstPackets`, then one packet per interval even though the window has room.
        var burst = 0
        while sender.nextPacket(packetNumber: number, now: now) != nil {
            number += 1
            burst += 1
        }
        #expect(burst == Reliability.pacingBurstPackets)
        let stats = sender.stats
        #expect(stats.bytesInFlight + Reliability.maxDatagramSize <= stats.congestionWindow)
        let ready = try #require(sender.nextSendTime)
        let interval = Double(Reliability.maxDatagramSize) * Double(stats.smoothedRTT)
            / (Double(stats.congestionWindow) * 5 / 4)
        #expect(abs(Double(ready - now) - interval) < interval * 0.01 + 2, "\(ready - now) vs \(interval)")
        #expect(sender.nextPacket(packetNumber: number, now: ready - 1) == nil)
        #expect(sender.nextPacket(packetNumber: number, now: ready) != nil)
    }

    @Test func theProbeTimeoutFiresBacksOffAndRecoversAWhollyLostFlight() throws {
        let seed = SeededRandom.seedFromEnvironment(default: 9002)
        var pair = SimulatedLinkPair(path: LinkPairPath(delay: 20 * Self.millisecond), seed: seed)
        let message = (0..<60_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try pair.links[0].enqueue(message: message)
        let start = pair.now
        pair.blackoutUntil = start + 5_000 * Self.millisecond
        var fired: [UInt64] = []
        let finished = try pair.run(maxSteps: 100_000) { pair in
            if pair.links[0].stats.probeTimeouts > fired.count { fired.append(pair.now - start) }
            return pair.messages(at: 1).count == 1 && pair.links[0].isIdle
        }
        #expect(finished, "seed \(seed)")
        #expect(pair.messages(at: 1) == [message], "seed \(seed)")
        // Before any sample: PTO = 333 + 4 × 166.5 + 25 ms, then doubled each time.
        let base = Reliability.initialRTT + 4 * (Reliability.initialRTT / 2) + Reliability.maxAckDelay
        #expect(fired.count >= 3, "seed \(seed): \(fired)")
        if fired.count >= 3 {
            #expect(fired[0] == base, "seed \(seed): \(fired)")
            #expect(fired[1] == base + 2 * base, "seed \(seed): \(fired)")
            #expect(fired[2] == base + 2 * base + 4 * base, "seed \(seed): \(fired)")
        }
        let stats = pair.links[0].stats
        #expect(stats.bytesInFlight == 0 && stats.smoothedRTT < 100 * Self.millisecond, "seed \(seed)")
    }

    @Test func aLostTailIsRecoveredByTheProbeNotByWaitingForever() throws {
        // Only the last packets of a transfer are lost: no later packet can reveal the loss,
        // so the probe timeout has to.
        let seed = SeededRandom.seedFromEnvironment(default: 77)
        var pair = SimulatedLinkPair(path: LinkPairPath(delay: 10 * Self.millisecond), seed: seed)
        try pair.links[0].enqueue(message: [UInt8](repeating: 5, count: 30_000))
        _ = try pair.run(maxSteps: 10_000) { $0.links[0].stats.packetsSent >= 20 }
        pair.blackoutUntil = pair.now + 15 * Self.millisecond
        #expect(try pair.runUntilIdle(maxSteps: 100_000), "seed \(seed)")
        #expect(pair.messages(at: 1).count == 1, "seed \(seed)")
        #expect(pair.links[0].stats.probeTimeouts >= 1, "seed \(seed)")
    }
}
