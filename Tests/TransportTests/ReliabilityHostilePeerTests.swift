import CVPeerTestSupport
import Testing
import Transport

/// A peer that ignores flow control or sends garbage cannot make a receiver hold unbounded
/// memory, crash it, or corrupt what a well-behaved peer sends afterwards.
@Suite struct ReliabilityHostilePeerTests {
    /// Feeds `frames` as one packet; true if the packet was acknowledged (not refused).
    private static func feed(
        _ link: inout ReliableLink, _ number: inout UInt64, _ frames: [LinkFrame]
    ) throws -> (accepted: Bool, deliveries: [ReliableLink.Delivery]) {
        let refusedBefore = link.stats.refusedPackets
        let deliveries = try link.received(packetNumber: number, plaintext: LinkFrame.encode(frames), now: 1_000 + number)
        number += 1
        return (link.stats.refusedPackets == refusedBefore, deliveries)
    }

    private static func expectBounded(_ link: ReliableLink, _ context: String = "") {
        let stats = link.stats
        #expect(stats.reassemblyBytes <= Int(Wire.linkReceiveWindow), "\(context)")
        #expect(stats.reassemblyMessages <= Int(Wire.linkMessageWindow), "\(context)")
        #expect(stats.reassemblyRanges <= Reliability.maxReassemblyRanges, "\(context)")
    }

    @Test func fragmentsOfHugeMessagesReserveAtMostTheWindow() throws {
        var link = ReliableLink()
        var number: UInt64 = 0
        var accepted = 0
        for id in UInt64(1)...10 {
            let fragment = MessageFragment(messageID: id, totalLength: Wire.maxMessageSize, offset: 5, bytes: [1])
            if try Self.feed(&link, &number, [.message(fragment)]).accepted { accepted += 1 }
        }
        #expect(accepted == Int(Wire.linkReceiveWindow) / Wire.maxMessageSize)
        #expect(link.stats.reassemblyBytes == Int(Wire.linkReceiveWindow))
        #expect(link.stats.refusedPackets == 10 - accepted)
        Self.expectBounded(link)
        // A refused packet is not acknowledged, so a sender would send its data again.
        let built = link.nextPacket(packetNumber: 0, now: 2_000_000_000)
        let ack = try #require(built)
        guard case .ack(let frame)? = try LinkFrame.decode(ack).first else {
            Issue.record("expected an ACK")
            return
        }
        #expect(frame.ranges == [0...UInt64(accepted - 1)])
    }

    @Test func messageIDsFarAheadAreRefused() throws {
        var link = ReliableLink()
        var number: UInt64 = 0
        for id in [Wire.linkMessageWindow, Wire.linkMessageWindow + 1, 1 << 40, .max] {
            let fragment = MessageFragment(messageID: id, totalLength: 1, offset: 0, bytes: [])
            #expect(try !Self.feed(&link, &number, [.message(fragment)]).accepted, "id \(id)")
        }
        // Many tiny messages inside the window are each held, up to the window.
        var frames: [LinkFrame] = []
        for id in UInt64(1)..<Wire.linkMessageWindow {
            frames.append(.message(MessageFragment(messageID: id, totalLength: 1, offset: 0, bytes: [])))
            if frames.count == 150 {
                #expect(try Self.feed(&link, &number, frames).accepted)
                frames = []
            }
        }
        #expect(try Self.feed(&link, &number, frames).accepted)
        #expect(link.stats.reassemblyMessages == Int(Wire.linkMessageWindow) - 1)
        Self.expectBounded(link)
        // Completing message 0 delivers only message 0: the rest are still incomplete.
        let result = try Self.feed(&link, &number, [.message(MessageFragment(messageID: 0, totalLength: 0, offset: 0, bytes: []))])
        #expect(result.deliveries == [.message([])])
    }

    @Test func scatteredBytesAreBoundedAndTheMessageStillCompletes() throws {
        var link = ReliableLink()
        var number: UInt64 = 0
        let total = 60_000
        let content = (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        func fragment(_ offset: Int, _ length: Int) -> LinkFrame {
            .message(MessageFragment(messageID: 0, totalLength: total, offset: offset, bytes: Array(content[offset..<(offset + length)])))
        }
        // Every other byte: each is a new range until the bound, then packets are refused.
        var refused = 0
        for start in stride(from: 0, to: total, by: 200) {
            let frames = stride(from: start, to: min(start + 200, total), by: 2).map { fragment($0, 1) }
            if try !Self.feed(&link, &number, frames).accepted { refused += 1 }
            Self.expectBounded(link)
        }
        #expect(link.stats.reassemblyRanges == Reliability.maxReassemblyRanges)
        #expect(refused > 0)
        // Filling the gaps merges ranges, so a peer that behaves again finishes the message.
        var delivered: [ReliableLink.Delivery] = []
        for start in stride(from: 0, to: total, by: 1_000) {
            delivered += try Self.feed(&link, &number, [fragment(start, min(1_000, total - start))]).deliveries
        }
        #expect(delivered == [.message(content)])
        #expect(link.stats.reassemblyRanges == 0 && link.stats.reassemblyBytes == 0)
    }

    @Test func aFragmentDisagreeingOnTheLengthIsRefused() throws {
        var link = ReliableLink()
        var number: UInt64 = 0
        #expect(try Self.feed(&link, &number, [.message(MessageFragment(messageID: 0, totalLength: 10, offset: 0, bytes: [1]))]).accepted)
        let conflicting = try Self.feed(
            &link, &number, [.message(MessageFragment(messageID: 0, totalLength: 20, offset: 1, bytes: [2])), .unreliable([9])])
        #expect(!conflicting.accepted)
        #expect(conflicting.deliveries.isEmpty, "a refused packet's datagrams are not delivered")
        #expect(link.stats.reassemblyBytes == 10)
    }

    @Test func acksForPacketsNeverSentAreIgnored() throws {
        var link = ReliableLink()
        try link.enqueue(message: [1, 2, 3])
        let built = link.nextPacket(packetNumber: 5, now: 0)
        _ = try #require(built)
        var number: UInt64 = 0
        _ = try Self.feed(&link, &number, [.ack(AckFrame(ranges: [6...1_000, 0...3], ackDelayMicros: .max))])
        #expect(link.stats.invalidAcks == 1)
        #expect(link.stats.bytesInFlight > 0)
        _ = try Self.feed(&link, &number, [.ack(AckFrame(ranges: [5...5], ackDelayMicros: .max))])
        #expect(link.stats.bytesInFlight == 0)
        #expect(link.stats.latestRTT == 1_001, "the absurd ack delay is capped, not subtracted")
    }

    /// 100,000 random and mutated packets into `received`, with random packet numbers and the
    /// link's own traffic in between: never a crash, and the bounds hold throughout.
    @Test func fuzzedPacketsNeverCrashTheLink() {
        let seed = SeededRandom.seedFromEnvironment(default: 4_096)
        var random = SeededRandom(seed: seed)
        var link = ReliableLink()
        var now: UInt64 = 1_000_000_000
        var sentNumber: UInt64 = 0
        var accepted = 0
        var reopened = 0
        for round in 0..<100_000 {
            now += random.next() % 2_000_000
            var frames = (0..<(1 + Int(random.next() % 4))).map { _ in randomLinkFrame(&random) }
            // Mostly small message ids and acks near what was sent, so the fuzzer reaches deep.
            frames = frames.map { frame in
                switch frame {
                case .message(let fragment) where random.next() % 2 == 0:
                    return .message(MessageFragment(
                        messageID: random.next() % 8, totalLength: fragment.totalLength, offset: fragment.offset,
                        bytes: fragment.bytes))
                case .ack where sentNumber > 0 && random.next() % 2 == 0:
                    let high = random.next() % sentNumber
                    return .ack(AckFrame(ranges: [(high - random.next() % (high + 1))...high], ackDelayMicros: random.next() % 50_000))
                case .close:
                    return .ping
                case .padding, .ping, .ack, .message, .unreliable, .maxData:
                    return frame
                }
            }
            var bytes = LinkFrame.encode(frames)
            if round % 3 == 0 {
                bytes = (0..<Int(random.next() % 80)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            } else if round % 3 == 1 && !bytes.isEmpty {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            }
            let number = random.next() % 4 == 0 ? random.next() : random.next() % 200_000
            if (try? link.received(packetNumber: number, plaintext: bytes, now: now)) != nil { accepted += 1 }
            if link.isClosed {
                // A mutated byte can make a CLOSE frame; carry on with a fresh link.
                link = ReliableLink()
                sentNumber = 0
                reopened += 1
            }
            if round % 10 == 0 { _ = try? link.enqueue(message: [UInt8](repeating: 1, count: Int(random.next() % 3_000))) }
            if let timer = link.nextTimer, timer <= now { link.timerFired(now: now) }
            while let packet = link.nextPacket(packetNumber: sentNumber, now: now) {
                sentNumber += 1
                #expect(packet.count <= Wire.maxFramesSize, "seed \(seed)")
                #expect((try? LinkFrame.decode(packet)) != nil, "seed \(seed): the link built a bad packet")
            }
            if round % 1_000 == 0 { Self.expectBounded(link, "seed \(seed), round \(round)") }
        }
        Self.expectBounded(link, "seed \(seed)")
        #expect(accepted > 10_000, "seed \(seed)")
        #expect(reopened < 1_000, "seed \(seed): most rounds should reach an open link")
    }
}
