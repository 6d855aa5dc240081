import CVPeerTestSupport
import Rendezvous
import Testing

/// Random bytes, or a valid message mutated the ways damage and attackers mutate them.
func fuzzInput(using random: inout SeededRandom) -> [UInt8] {
    if Bool.random(using: &random) {
        // Mostly short, sometimes past the size limit.
        let length = Int.random(in: 0...(Int.random(in: 0..<8, using: &random) == 0 ? 1_400 : 220), using: &random)
        var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
        // Often a rendezvous type with clean reserved bytes, so the input gets past the header.
        if length >= 4, Bool.random(using: &random) {
            bytes[0] = RendezvousWire.MessageType.allCases.randomElement(using: &random)!.rawValue
            bytes[1] = 0
            bytes[2] = 0
            bytes[3] = 0
        }
        return bytes
    }
    var bytes = sampleMessages.randomElement(using: &random)!.encoded()
    for _ in 0..<Int.random(in: 1...4, using: &random) {
        switch Int.random(in: 0..<10, using: &random) {
        case 0 where !bytes.isEmpty:
            bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
        case 1 where !bytes.isEmpty:
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &random))
        case 2:
            bytes += (0..<Int.random(in: 1...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        case 3 where bytes.count > RendezvousWire.registerCandidateCountOffset:
            // Candidate counts and family bytes are where a careless decoder over-allocates or over-reads.
            bytes[RendezvousWire.registerCandidateCountOffset] = UInt8.random(in: 0...12, using: &random)
        case 4 where bytes.count > RendezvousWire.registerCandidatesOffset:
            bytes[RendezvousWire.registerCandidatesOffset] = [4, 6, 0, 255].randomElement(using: &random)!
        case 5 where !bytes.isEmpty:
            bytes[0] = RendezvousWire.MessageType.allCases.randomElement(using: &random)!.rawValue
        case 6 where bytes.count > RendezvousWire.codeRequestNameplateOffset + 1:
            // Nameplates: 0, the edges of 1…999, and past them, in a request or a reply position.
            let offset =
                Bool.random(using: &random)
                ? RendezvousWire.codeRequestNameplateOffset : RendezvousWire.headerSize + RendezvousWire.clientNonceSize
            let value = [0, 1, 999, 1_000, 0xFFFF].randomElement(using: &random)!
            bytes[offset] = UInt8(value >> 8)
            bytes[offset + 1] = UInt8(value & 0xFF)
        case 7 where bytes.count > RendezvousWire.codeKnockPakeMessageLengthOffset:
            // A knock's PAKE length byte is the one count in the short-code messages.
            bytes[RendezvousWire.codeKnockPakeMessageLengthOffset] = [0, 1, 96, 97, 255].randomElement(using: &random)!
        case 8 where !bytes.isEmpty:
            // The last byte: a codeError's reason, or a lookup's or knock's padding.
            bytes[bytes.count - 1] = [0, 1, 6, 7, 255].randomElement(using: &random)!
        default:
            bytes.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...bytes.count, using: &random))
        }
    }
    return bytes
}

@Suite struct RendezvousFuzzTests {
    @Test func decodingAnyBytesGivesAMessageOrAnError() {
        let seed = SeededRandom.seedFromEnvironment(default: 0xF0221)
        var random = SeededRandom(seed: seed)
        var decoded = 0
        var rejected = 0
        var notCanonical: [UInt8]?
        for _ in 0..<100_000 {
            let input = fuzzInput(using: &random)
            do {
                let message = try RendezvousMessage.decode(input)
                decoded += 1
                // One encoding per message: whatever decodes must encode back to the same bytes.
                if message.encoded() != input, notCanonical == nil { notCanonical = input }
            } catch {
                rejected += 1
            }
        }
        #expect(notCanonical == nil, "seed \(seed): decoded input re-encodes differently: \(notCanonical ?? [])")
        #expect(decoded + rejected == 100_000)
        // The mix must exercise both outcomes, or it tests little.
        #expect(decoded > 1_000, "seed \(seed)")
        #expect(rejected > 1_000, "seed \(seed)")
    }

    @Test func decodingEveryPrefixOfEveryMessageIsTotal() {
        for message in sampleMessages {
            let bytes = message.encoded()
            for end in 0...bytes.count {
                let prefix = Array(bytes[0..<end])
                if end == bytes.count {
                    #expect((try? RendezvousMessage.decode(prefix)) == message)
                } else if let decoded = try? RendezvousMessage.decode(prefix) {
                    // Only a message ending in opaque bytes of variable length may be shortened and still decode.
                    let variableTail: Set<RendezvousWire.MessageType> = [
                        .relay, .relayed, .codeOpen, .codeOffer, .codeKnocked, .codeAnswer, .codeAnswered,
                    ]
                    #expect(variableTail.contains(decoded.type))
                }
            }
        }
    }
}
