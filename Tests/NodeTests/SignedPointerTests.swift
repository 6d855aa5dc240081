import CVPeerTestSupport
import Foundation
import PeerCrypto
import Testing

@testable import Node

/// Signed pointers: the codec, the signature and the replay rule, without a network.
@Suite("Signed pointers")
struct SignedPointerTests {
    static let author = Identity.generate()
    static let roomTag = Array(repeating: UInt8(9), count: 16)
    static let onItem = PeerMessage.Pointer(counter: 7, replica: Array(repeating: 4, count: 32), x: 250_000, y: 1_000_000)

    static func signed(_ position: PeerMessage.Pointer?, stamp: UInt64, by identity: Identity = author) -> SignedPointer {
        SignedPointer.make(identity: identity, roomTag: roomTag, stamp: stamp, position: position)
    }

    @Test("both shapes survive encoding, verify, and fit a datagram")
    func roundTrip() {
        for position in [nil, Self.onItem] {
            let pointer = Self.signed(position, stamp: 1_733_300_000_000_000)
            let bytes = pointer.encoded
            #expect(bytes.count == (position == nil ? SignedPointer.minLength : SignedPointer.maxLength))
            #expect(SignedPointer.decode(bytes) == pointer)
            #expect(SignedPointer.decode(bytes)?.isAuthentic(roomTag: Self.roomTag) == true)
            #expect(PeerMessage.decode(PeerMessage.pointer(pointer).encoded) == .pointer(pointer))
            #expect(PeerMessage.pointer(pointer).encoded.count <= 1200)
        }
    }

    @Test("every truncation and every extension by a byte is refused")
    func truncations() {
        for position in [nil, Self.onItem] {
            let bytes = Self.signed(position, stamp: 5).encoded
            for length in 0..<bytes.count { #expect(SignedPointer.decode(Array(bytes.prefix(length))) == nil) }
            #expect(SignedPointer.decode(bytes + [0]) == nil)
            let message = PeerMessage.pointer(Self.signed(position, stamp: 5)).encoded
            for length in 0..<message.count { #expect(PeerMessage.decode(Array(message.prefix(length))) == nil) }
        }
    }

    @Test("changing any byte (or the room) makes it decode to nothing or fail its signature")
    func tampering() {
        for position in [nil, Self.onItem] {
            let bytes = Self.signed(position, stamp: 77).encoded
            for index in bytes.indices {
                for flip: UInt8 in [0x01, 0x80] {
                    var changed = bytes
                    changed[index] ^= flip
                    if let decoded = SignedPointer.decode(changed) {
                        #expect(!decoded.isAuthentic(roomTag: Self.roomTag), "byte \(index) changed and still verifies")
                    }
                }
            }
            let pointer = Self.signed(position, stamp: 77)
            #expect(!pointer.isAuthentic(roomTag: Array(repeating: 8, count: 16)), "verifies for another room")
            var claimed = pointer
            claimed.origin = Identity.generate().publicKey.bytes
            #expect(!claimed.isAuthentic(roomTag: Self.roomTag), "verifies under another origin")
        }
    }

    @Test("100,000 random inputs never trap, and none that decodes verifies")
    func randomBytes() {
        let seed = SeededRandom.seedFromEnvironmentOrRandom()
        print("signed pointer fuzz seed \(seed) (CVPEER_TEST_SEED replays it)")
        var random = SeededRandom(seed: seed)
        var decoded = 0
        for round in 0..<100_000 {
            // Half of them the exact lengths, with valid flags, to reach the signature check.
            let length = round % 2 == 0 ? [SignedPointer.minLength, SignedPointer.maxLength].randomElement(using: &random)! : Int.random(in: 0...200, using: &random)
            var bytes = random.bytes(length)
            if round % 2 == 0, bytes.count > 40 {
                bytes[40] = length == SignedPointer.minLength ? 0 : 1
                if length == SignedPointer.maxLength {
                    bytes.replaceSubrange(81..<89, with: [0, 0, 0, 0, 0, 0, 0, 0])
                }
            }
            guard let pointer = SignedPointer.decode(bytes) else { continue }
            decoded += 1
            #expect(!pointer.isAuthentic(roomTag: Self.roomTag))
        }
        #expect(decoded > 1000, "the random inputs should reach the signature check")
    }

    @Test("the replay rule: newer stamps are shown, older ones refused, copies and relays of linked peers ignored")
    func presenceBook() {
        let me = Identity.generate().publicKey
        let forwarder = Identity.generate().publicKey
        let honest = Self.author.publicKey
        var book = PresenceBook()
        func receive(_ pointer: SignedPointer, from link: PublicKey, linked: Set<PublicKey> = [], participants: Set<PublicKey> = [honest])
            -> PresenceBook.Verdict
        {
            book.receive(pointer, from: link, me: me, roomTag: Self.roomTag, isLinked: { linked.contains($0) }, isParticipant: { participants.contains($0) })
        }
        // Straight from its author: shown and to be relayed.
        #expect(receive(Self.signed(Self.onItem, stamp: 10), from: honest) == .accepted(relay: true))
        // Relayed by a forwarder: shown, not relayed again.
        #expect(receive(Self.signed(nil, stamp: 11), from: forwarder) == .accepted(relay: false))
        #expect(book.current[honest] == .some(nil))
        // The same stamp again (a second path): ignored, not counted.
        #expect(receive(Self.signed(nil, stamp: 11), from: forwarder) == .ignored)
        // An older genuine one: a replay.
        #expect(receive(Self.signed(Self.onItem, stamp: 10), from: forwarder) == .replayed)
        // A newer one claiming the author but signed by the forwarder's key: forged.
        let mallory = Identity.generate()
        var forged = Self.signed(Self.onItem, stamp: 12, by: mallory)
        forged.origin = honest.bytes
        #expect(receive(forged, from: forwarder) == .forged)
        // An older stamp with a bad signature is forged, not a replay.
        var stale = forged
        stale.stamp = 3
        #expect(receive(stale, from: forwarder) == .forged)
        // A relayed copy of someone we are linked to: ignored unread.
        #expect(receive(Self.signed(Self.onItem, stamp: 20), from: forwarder, linked: [honest]) == .ignored)
        // A stranger's (authentic, but neither linked nor in the document) relayed pointer.
        let stranger = Identity.generate()
        #expect(receive(Self.signed(Self.onItem, stamp: 1, by: stranger), from: forwarder) == .unknownAuthor)
        // Our own pointer echoed back.
        let own = Identity.generate()
        #expect(book.receive(Self.signed(nil, stamp: 1, by: own), from: forwarder, me: own.publicKey, roomTag: Self.roomTag, isLinked: { _ in false }, isParticipant: { _ in true }) == .ignored)
        #expect(book.current[honest] == .some(nil), "nothing refused changed what is shown")
        #expect(book.refusals == .init(forged: 2, replayed: 1, unknownAuthor: 1))
        // Own stamps rise even if the clock steps back.
        #expect(book.nextStamp(wallMicros: 1000) == 1000)
        #expect(book.nextStamp(wallMicros: 500) == 1001)
    }

    @Test("docs/PROTOCOL.md states the layout's sizes, the label, the bounds and the quotas the code uses")
    func documented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        let start = try #require(text.range(of: "## Node messages: presence and quotas"))
        let section = String(text[start.lowerBound...])
        #expect(section.contains("| `SignedPointer.minLength` | \(SignedPointer.minLength) |"))
        #expect(section.contains("| `SignedPointer.maxLength` | \(SignedPointer.maxLength) |"))
        #expect(section.contains("| `SignedPointer.signingLabel` | `\(String(decoding: SignedPointer.signingLabel, as: UTF8.self))` |"))
        #expect(section.contains("| `PresenceBook.maxAuthors` | \(PresenceBook.maxAuthors) |"))
        #expect(section.contains("u8   tag = \(PeerMessage.Tag.pointer.rawValue)"))
        for (name, limits) in [("local", AuthorQuota.Limits.local), ("remote", AuthorQuota.Limits.remote)] {
            let row = "| `AuthorQuota.Limits.\(name)` | \(Int(limits.operationsPerMinute)) / \(Int(limits.operationBurst)) | "
                + "\(Int(limits.bytesPerMinute) >> 20) MiB / \(Int(limits.byteBurst) >> 20) MiB |"
            #expect(section.contains(row), "PROTOCOL.md should read \(row)")
        }
        #expect(section.contains("`RoomEngine.maxBlobSize` (\(RoomEngine.maxBlobSize >> 30) GiB)"))
    }

    @Test("cost: signing and verifying a pointer (µs each, printed)")
    func cost() {
        let rounds = 2000
        var pointers: [SignedPointer] = []
        pointers.reserveCapacity(rounds)
        let start = DispatchTime.now().uptimeNanoseconds
        for stamp in 0..<rounds { pointers.append(Self.signed(Self.onItem, stamp: UInt64(stamp))) }
        let signed = DispatchTime.now().uptimeNanoseconds
        var valid = 0
        for pointer in pointers where SignedPointer.decode(pointer.encoded)?.isAuthentic(roomTag: Self.roomTag) == true { valid += 1 }
        let verified = DispatchTime.now().uptimeNanoseconds
        #expect(valid == rounds)
        // The same two libsodium calls on the same bytes, with nothing around them: the floor.
        let message = pointers[0].signedBytes(roomTag: Self.roomTag)
        let key = Self.author.publicKey
        let rawStart = DispatchTime.now().uptimeNanoseconds
        var signature: [UInt8] = []
        for _ in 0..<rounds { signature = Self.author.sign(message) }
        let rawSigned = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<rounds where !key.isValidSignature(signature, for: message) { valid -= 1 }
        let rawVerified = DispatchTime.now().uptimeNanoseconds
        #expect(valid == rounds)
        func micros(_ from: UInt64, _ to: UInt64) -> Double { Double(to - from) / Double(rounds) / 1000 }
        print(
            String(
                format: "pointer cost: sign %.1f µs, decode+verify %.1f µs per pointer; libsodium alone: sign %.1f µs, verify %.1f µs (%d rounds)",
                micros(start, signed), micros(signed, verified), micros(rawStart, rawSigned), micros(rawSigned, rawVerified), rounds))
    }
}
