import CVPeerTestSupport
import Testing
import Transport

/// The frame codec: exact round trips, one encoding per value, and total decoding.
@Suite struct ReliabilityFrameTests {
    static let examples: [LinkFrame] = [
        .padding(length: 1),
        .padding(length: 40),
        .ping,
        .ack(AckFrame(ranges: [7...7], ackDelayMicros: 0)),
        .ack(AckFrame(ranges: [90...100, 50...60, 0...0], ackDelayMicros: 25_000)),
        .ack(AckFrame(ranges: [(UInt64.max - 3)...UInt64.max, 0...(UInt64.max - 5)], ackDelayMicros: .max)),
        .message(MessageFragment(messageID: 0, totalLength: 0, offset: 0, bytes: [])),
        .message(MessageFragment(messageID: 1 << 40, totalLength: Wire.maxMessageSize, offset: Wire.maxMessageSize - 3, bytes: [1, 2, 3])),
        .unreliable([]),
        .unreliable([UInt8](repeating: 0xEE, count: Wire.maxUnreliableSize)),
        .close(reason: 0),
        .close(reason: .max),
        .maxData(maxData: Wire.linkReceiveWindow, maxMessageID: .max),
    ]

    @Test(arguments: examples)
    func everyFrameRoundTrips(frame: LinkFrame) throws {
        let bytes = LinkFrame.encode([frame])
        #expect(try LinkFrame.decode(bytes) == [frame])
        // Fed in two pieces, the first piece alone never decodes into something else.
        for cut in 1..<min(bytes.count, 64) {
            if let partial = try? LinkFrame.decode(Array(bytes[..<cut])) {
                #expect(LinkFrame.encode(partial) == Array(bytes[..<cut]))
            }
        }
    }

    @Test func typeBytesMatchTheProtocolDocument() {
        #expect(Wire.LinkFrameType.allCases.map(\.rawValue) == [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06])
        #expect(Wire.maxFramesSize == 1156)
        #expect(Wire.maxLinkDatagramSize == Wire.maxDatagramSize - 12)
    }

    @Test func randomPacketsRoundTrip() throws {
        let seed = SeededRandom.seedFromEnvironment(default: 1_156)
        var random = SeededRandom(seed: seed)
        for _ in 0..<3_000 {
            var frames: [LinkFrame] = []
            var size = 0
            while true {
                var frame = randomLinkFrame(&random)
                // Adjacent padding merges on decode; keep it apart so the round trip is exact.
                if case .padding = frame, case .padding? = frames.last { frame = .ping }
                let frameSize = LinkFrame.encode([frame]).count
                guard size + frameSize <= Wire.maxFramesSize else { break }
                frames.append(frame)
                size += frameSize
                if random.next() % 6 == 0 { break }
            }
            let bytes = LinkFrame.encode(frames)
            #expect(try LinkFrame.decode(bytes) == frames, "seed \(seed)")
        }
    }

    @Test func ackRangesWithManyGapsRoundTrip() throws {
        let seed = SeededRandom.seedFromEnvironment(default: 256)
        var random = SeededRandom(seed: seed)
        for trial in 0..<200 {
            var ranges: [ClosedRange<UInt64>] = []
            var high = trial.isMultiple(of: 2) ? UInt64.max - random.next() % 1_000 : 1_000_000 + random.next() % 1_000_000
            while ranges.count < Wire.maxAckRanges {
                let length = random.next() % (trial.isMultiple(of: 3) ? 1 : 50)
                guard high >= length else { break }
                ranges.append((high - length)...high)
                let gap = 1 + random.next() % (trial.isMultiple(of: 5) ? 1 : 300)
                guard high - length >= gap + 1 else { break }
                high = high - length - gap - 1
            }
            let frame = LinkFrame.ack(AckFrame(ranges: ranges, ackDelayMicros: random.next() % 30_000))
            let bytes = LinkFrame.encode([frame])
            guard bytes.count <= Wire.maxFramesSize else { continue }
            #expect(try LinkFrame.decode(bytes) == [frame], "seed \(seed), trial \(trial)")
        }
        // One range more than the bound is refused rather than allocated.
        let tooMany = (0..<UInt64(Wire.maxAckRanges + 1)).reversed().map { ($0 * 2)...($0 * 2) }
        #expect(throws: ReliabilityError.limitExceeded("ack range count")) {
            try LinkFrame.decode(LinkFrame.encode([.ack(AckFrame(ranges: tooMany, ackDelayMicros: 0))]))
        }
    }

    @Test func aReceiverAcksEveryOtherPacketWithOneRangeEach() throws {
        var link = ReliableLink()
        let ping = LinkFrame.encode([.ping])
        for number in stride(from: UInt64(0), to: 400, by: 2) {
            _ = try link.received(packetNumber: number, plaintext: ping, now: 1_000)
        }
        let built = link.nextPacket(packetNumber: 0, now: 1_000)
        let packet = try #require(built)
        let frames = try LinkFrame.decode(packet)
        guard case .ack(let ack)? = frames.first, frames.count == 1 else {
            Issue.record("expected an ACK-only packet, got \(frames)")
            return
        }
        let expected = stride(from: UInt64(398), through: 0, by: -2).prefix(Reliability.maxAckRangesSent).map { $0...$0 }
        #expect(ack.ranges == Array(expected))
        #expect(link.nextPacket(packetNumber: 1, now: 1_000) == nil, "an ACK-only packet is not acked or repeated")
    }

    @Test func malformedFramesAreErrors() {
        let cases: [([UInt8], ReliabilityError)] = [
            ([0x07], .unknownFrameType(0x07)),
            ([0xFF], .unknownFrameType(0xFF)),
            ([0x02, 0x05], .truncated("ack delay")),
            ([0x05, 0x80, 0x00], .invalidField("close reason")),
            ([0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02], .invalidField("close reason")),
            ([0x02, 0x05, 0x00, 0x00, 0x06], .invalidField("ack first range")),
            ([0x02, 0x05, 0x00, 0x01, 0x00, 0x04, 0x00], .invalidField("ack gap")),
            ([0x02, 0x05, 0x00, 0x01, 0x00, 0x01, 0x03], .invalidField("ack range length")),
            ([0x03, 0x00, 0x02, 0x01, 0x02, 0xAA, 0xBB], .limitExceeded("message data length")),
            ([0x03, 0x00, 0x02, 0x03], .limitExceeded("message offset")),
            ([0x03, 0x00, 0x80, 0x80, 0x80, 0x10], .limitExceeded("message total length")),
            ([0x03, 0x00, 0x04, 0x00, 0x04, 0xAA], .truncated("message data")),
            ([0x04, 0x85, 0x09], .limitExceeded("unreliable length")),
            ([0x01, 0x06, 0x01], .truncated("max message id")),
            ([UInt8](repeating: 0, count: Wire.maxFramesSize + 1), .packetTooLarge(Wire.maxFramesSize + 1)),
        ]
        for (bytes, error) in cases {
            #expect(throws: error, "\(bytes)") { try LinkFrame.decode(bytes) }
        }
    }

    /// 100,000 random and mutated plaintexts: each decodes or throws, and what decodes
    /// re-encodes to the same bytes (one encoding per value).
    @Test func fuzzedInputsDecodeOrThrowAndAreCanonical() {
        let seed = SeededRandom.seedFromEnvironment(default: 100_000)
        var random = SeededRandom(seed: seed)
        var decoded = 0
        for round in 0..<100_000 {
            var bytes: [UInt8]
            if round.isMultiple(of: 2) {
                bytes = (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                if !bytes.isEmpty { bytes[0] = UInt8(random.next() % 8) }
            } else {
                bytes = LinkFrame.encode((0..<(1 + Int(random.next() % 4))).map { _ in randomLinkFrame(&random) })
                for _ in 0..<(1 + random.next() % 3) where !bytes.isEmpty {
                    let index = Int(random.next() % UInt64(bytes.count))
                    switch random.next() % 4 {
                    case 0: bytes[index] = UInt8(truncatingIfNeeded: random.next())
                    case 1: bytes.remove(at: index)
                    case 2: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: index)
                    default: bytes.removeSubrange(index...)
                    }
                }
            }
            if let frames = try? LinkFrame.decode(bytes) {
                decoded += 1
                #expect(LinkFrame.encode(frames) == bytes, "seed \(seed), round \(round)")
            }
        }
        #expect(decoded > 1_000, "seed \(seed): the fuzzer should reach past the first field")
    }
}

/// A random frame of any type, small enough that a few fit one packet.
func randomLinkFrame(_ random: inout SeededRandom) -> LinkFrame {
    func number(_ random: inout SeededRandom) -> UInt64 {
        switch random.next() % 3 {
        case 0: random.next() % 64
        case 1: random.next() % 100_000
        default: random.next()
        }
    }
    switch Wire.LinkFrameType.allCases[Int(random.next() % UInt64(Wire.LinkFrameType.allCases.count))] {
    case .padding:
        return .padding(length: 1 + Int(random.next() % 20))
    case .ping:
        return .ping
    case .ack:
        var high = number(&random) | 1_000
        var ranges: [ClosedRange<UInt64>] = []
        for _ in 0..<(1 + random.next() % 10) {
            let length = random.next() % 5
            let gap = 1 + random.next() % 50
            guard high >= length + gap + 1 else { break }
            ranges.append((high - length)...high)
            high -= length + gap + 1
        }
        if ranges.isEmpty { ranges = [high...high] }
        return .ack(AckFrame(ranges: ranges, ackDelayMicros: number(&random)))
    case .message:
        let total = Int(random.next() % 300)
        let offset = total == 0 ? 0 : Int(random.next() % UInt64(total))
        let length = Int(random.next() % UInt64(total - offset + 1))
        return .message(MessageFragment(
            messageID: number(&random), totalLength: total, offset: offset,
            bytes: (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }))
    case .unreliable:
        return .unreliable((0..<Int(random.next() % 100)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
    case .close:
        return .close(reason: number(&random))
    case .maxData:
        return .maxData(maxData: number(&random), maxMessageID: number(&random))
    }
}
