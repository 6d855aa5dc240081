import Dispatch
import Foundation
import Primitives
import Testing

@testable import PeerCrypto

/// A secret nobody could mistake for anything else: DE AD BE EF, eight times.
private let recognisableSecret: [UInt8] = Array([[0xDE, 0xAD, 0xBE, 0xEF]].repeated(8).joined())

extension Array {
    fileprivate func repeated(_ times: Int) -> [Element] { (0..<times).flatMap { _ in self } }
}

/// Forms in which the recognisable secret's bytes could leak into text as hex or base64.
private let leakForms = [
    "deadbeef", "DEADBEEF", "DeAdBeEf", "de ad be ef", "DE AD BE EF", "de:ad:be:ef", "0xde", "0xDE", "\\xde",
    "\\u{de}", "3q2+7",  // base64 of de ad be ef
]

/// The decimal numbers in `text`, in order: an array printed or dumped shows its bytes this way.
private func decimalNumbers(in text: String) -> [Int] {
    text.split(whereSeparator: { !$0.isASCII || !$0.isNumber }).compactMap { Int($0) }
}

/// The leaked form found in `text`, if any.
private func leak(in text: String) -> String? {
    if let form = leakForms.first(where: { text.contains($0) }) { return form }
    // 222 173 190 239 in a row, whatever separates them (", " in arrays, "\n    - " in dumps).
    let numbers = decimalNumbers(in: text)
    if numbers.indices.contains(where: { Array(numbers[$0...].prefix(4)) == [222, 173, 190, 239] }) {
        return "222 173 190 239"
    }
    return nil
}

private func expectNoLeak(_ text: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let found = leak(in: text)
    #expect(found == nil, "\(what) contains the secret as \(found ?? ""): \(text)", sourceLocation: sourceLocation)
}

private func dumped<T>(_ value: T) -> String {
    var out = ""
    dump(value, to: &out)
    return out
}

@Suite struct SecretBytesTests {
    @Test func textualFormsNeverContainTheBytes() {
        let secret = SecretBytes(copying: recognisableSecret)
        #expect(secret.count == 32)
        #expect(secret.unsafeCopy() == recognisableSecret, "the test's secret really is the pattern")
        let forms: [(String, String)] = [
            ("description", secret.description),
            ("debugDescription", secret.debugDescription),
            ("String(describing:)", String(describing: secret)),
            ("String(reflecting:)", String(reflecting: secret)),
            ("interpolation", "\(secret)"),
            ("dump", dumped(secret)),
            ("dump of an array", dumped([secret, secret])),
            ("dump of an optional", dumped(Optional(secret))),
            ("String(reflecting:) of an array", String(reflecting: [secret])),
        ]
        for (what, text) in forms {
            expectNoLeak(text, what)
        }
        #expect(secret.description.contains("32 bytes"))
        #expect(secret.description.contains("redacted"))
        let children = Mirror(reflecting: secret).children.map { $0.label }
        #expect(children == ["count"])
    }

    @Test func theLeakDetectorFindsTheBytesInTheUsualForms() {
        #expect(leak(in: "\(recognisableSecret)") != nil)
        #expect(leak(in: dumped(recognisableSecret)) != nil)
        #expect(leak(in: recognisableSecret.map { String(format: "%02x", $0) }.joined()) != nil)
        #expect(leak(in: recognisableSecret.map { String(format: "%02X ", $0) }.joined()) != nil)
        #expect(leak(in: Data(recognisableSecret).base64EncodedString()) != nil)
        #expect(leak(in: "\(Data(recognisableSecret) as NSData)") != nil)
        #expect(leak(in: "SecretBytes(32 bytes, redacted)") == nil)
    }

    @Test func keysHeldInsideOtherValuesDoNotLeakThroughThem() throws {
        let identity = try Identity(seed: SecretBytes(copying: recognisableSecret))
        for (what, text) in [
            ("Identity description", identity.description), ("Identity reflection", String(reflecting: identity)),
            ("Identity dump", dumped(identity)),
        ] {
            expectNoLeak(text, what)
        }
        let room = try RoomKeys(secret: SecretBytes(copying: recognisableSecret), owner: testRoomOwner)
        expectNoLeak(dumped(room), "RoomKeys dump")
        expectNoLeak(String(reflecting: room), "RoomKeys reflection")
        let pair = X25519.KeyPair(secretKey: SecretBytes(copying: recognisableSecret))
        expectNoLeak(dumped(pair), "X25519.KeyPair dump")
        expectNoLeak(String(reflecting: pair), "X25519.KeyPair reflection")
    }

    @Test func equalityIsByContent() {
        let a = SecretBytes(copying: recognisableSecret)
        let b = SecretBytes(copying: recognisableSecret)
        #expect(a !== b)
        #expect(a == b)
        var different = recognisableSecret
        different[31] ^= 1
        #expect(a != SecretBytes(copying: different))
        different = recognisableSecret
        different[0] ^= 0x80
        #expect(a != SecretBytes(copying: different))
        #expect(a != SecretBytes(copying: recognisableSecret.dropLast()))
        #expect(SecretBytes(copying: []) == SecretBytes(count: 0) { _ in })
        #expect(SecretBytes(copying: []) != SecretBytes(copying: [0]))
    }

    @Test func constructionFillsExactlyTheRequestedBytes() throws {
        let random = SecretBytes(randomCount: 32)
        #expect(random.count == 32)
        #expect(random != SecretBytes(randomCount: 32))
        #expect(SecretBytes(randomCount: 0).count == 0)
        let filled = SecretBytes(count: 5) { buffer in
            for i in buffer.indices { buffer[i] = UInt8(i + 1) }
        }
        #expect(filled.unsafeCopy() == [1, 2, 3, 4, 5])
        struct Refused: Error {}
        #expect(throws: Refused.self) { try SecretBytes(count: 8) { _ in throw Refused() } }
        #expect(SecretBytes(copying: recognisableSecret[4..<8]).unsafeCopy() == [0xDE, 0xAD, 0xBE, 0xEF])
    }

    @Test func sodiumZeroClearsArrays() {
        var bytes = recognisableSecret
        Sodium.zero(&bytes)
        #expect(bytes == [UInt8](repeating: 0, count: 32))
        var empty: [UInt8] = []
        Sodium.zero(&empty)
        #expect(empty.isEmpty)
    }

    @Test func sodiumIsUsableFromManyConcurrentTasks() async {
        let results = await withTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<32 {
                group.addTask {
                    #expect(Sodium.ready)
                    return Sodium.randomBytes(32)
                }
            }
            var all: [[UInt8]] = []
            for await bytes in group { all.append(bytes) }
            return all
        }
        #expect(results.count == 32)
        #expect(results.allSatisfy { $0.count == 32 })
        #expect(Set(results).count == 32, "32 draws of 32 random bytes were not all different")
    }

    /// In a fresh process nothing has touched libsodium yet, so 32 threads released together race to
    /// be the first to initialise it.
    @Test func sodiumFirstUseFromManyThreadsAtOnceIsSafe() async {
        await #expect(processExitsWith: .success) {
            let start = DispatchSemaphore(value: 0)
            let done = DispatchGroup()
            let lock = NSLock()
            nonisolated(unsafe) var draws: [[UInt8]] = []
            for _ in 0..<32 {
                done.enter()
                Thread.detachNewThread {
                    start.wait()
                    let bytes = Sodium.randomBytes(32)
                    lock.lock()
                    draws.append(bytes)
                    lock.unlock()
                    done.leave()
                }
            }
            for _ in 0..<32 { start.signal() }
            done.wait()
            precondition(draws.count == 32 && Set(draws).count == 32, "concurrent first use of libsodium failed")
        }
    }
}

// MARK: - RoomKeys

@Suite struct RoomKeysTests {
    @Test func derivedKeysHaveTheRightLengthsAndAreAllDifferent() throws {
        for _ in 0..<20 {
            let room = RoomKeys.generate(owner: testRoomOwner)
            #expect(room.tag.count == 16)
            #expect(room.secret.count == 32)
            let keys: [(String, [UInt8])] = [
                ("secret", room.secret.unsafeCopy()), ("psk", room.handshakePSK.unsafeCopy()),
                ("mac", room.macKey.unsafeCopy()), ("content 0", room.contentKey(epoch: 0).unsafeCopy()),
            ]
            for (name, key) in keys { #expect(key.count == 32, "\(name)") }
            for i in keys.indices {
                for j in keys.indices where i < j {
                    #expect(keys[i].1 != keys[j].1, "\(keys[i].0) == \(keys[j].0)")
                }
                // The tag is not a prefix of any key either.
                #expect(Array(keys[i].1.prefix(16)) != room.tag, "tag is a prefix of \(keys[i].0)")
            }
        }
    }

    @Test func derivationIsDeterministic() throws {
        let secret = SecretBytes(randomCount: 32)
        let a = try RoomKeys(secret: secret, owner: testRoomOwner)
        let b = try RoomKeys(secret: SecretBytes(copying: secret.unsafeCopy()), owner: testRoomOwner)
        #expect(a.tag == b.tag)
        #expect(a.handshakePSK == b.handshakePSK)
        #expect(a.macKey == b.macKey)
        for epoch: UInt32 in [0, 1, 2, 1000, .max] {
            #expect(a.contentKey(epoch: epoch) == b.contentKey(epoch: epoch))
        }
    }

    @Test func differentEpochsGiveDifferentContentKeys() {
        let room = RoomKeys.generate(owner: testRoomOwner)
        let epochs: [UInt32] = Array(0..<100) + [255, 256, 65_536, 1 << 24, .max]
        let keys = epochs.map { room.contentKey(epoch: $0).unsafeCopy() }
        #expect(Set(keys).count == keys.count)
    }

    @Test func differentRoomsShareNothing() {
        let a = RoomKeys.generate(owner: testRoomOwner)
        let b = RoomKeys.generate(owner: testRoomOwner)
        #expect(a.secret != b.secret)
        #expect(a.tag != b.tag)
        #expect(a.handshakePSK != b.handshakePSK)
        #expect(a.contentKey(epoch: 0) != b.contentKey(epoch: 0))
    }

    /// Regression pins: BLAKE2b keyed with the room secret 00 01 … 1f over each label followed by the
    /// owner's public key (the Ed25519 key of seed 0e × 32, 0beef5a9…) and, for content keys, the
    /// big-endian epoch; computed outside this code base with Python's hashlib and `cryptography`
    /// from the construction in RoomKeys' documentation. Not published vectors: they catch an
    /// accidental change.
    @Test func derivationMatchesKeyedBlake2bOfTheLabels() throws {
        let room = try RoomKeys(secret: SecretBytes(copying: (0..<32).map { UInt8($0) }), owner: testRoomOwner)
        #expect(Hex.string(room.tag) == "ee7f1821a3af9a33b703498c98264d90")
        #expect(
            Hex.string(room.handshakePSK.unsafeCopy()) == "99f67f56a4549e0da5c2d4a91b5fc9c99b1c79e0d41c4249b647d7b9e1f7d028")
        #expect(Hex.string(room.macKey.unsafeCopy()) == "d2148270fda1f06f55f32c1870689a1436b3f571a13b76478ffa5059fd8daa68")
        #expect(
            Hex.string(room.contentKey(epoch: 0).unsafeCopy())
                == "949e423a8cd29fba9e898381302cef038697312ae7d1681efaffb158b83ade04")
        // A later epoch: keyed with its secret (20 21 … 3f) over the label, the owner's key, the
        // room id and the big-endian epoch (same Python check).
        let one = try room.inEpoch(1, secret: SecretBytes(copying: (0x20..<0x40).map { UInt8($0) }))
        #expect(Hex.string(one.tag) == "a8673b7f90bfdc17a95e6b4ea8fc0520")
        #expect(Hex.string(one.handshakePSK.unsafeCopy()) == "af81ba717ee9d88b82b34f74a979d9a9f3669efa9658a0a7f82282efeae5671a")
        #expect(Hex.string(one.macKey.unsafeCopy()) == "44b39059b7be5fb74251df4d5e643dba7507f1d85e69cf665d1f85f57a8cbf9e")
        #expect(Hex.string(one.contentKey(epoch: 1).unsafeCopy()) == "4cd80352ff256f979fec075c59503ab4dce7ede79566f961c735d15412f4d7a2")
        #expect(Hex.string(room.roomID) == "f54edec90076bce4ec1642164211397dd6fc78e1481c4d7c377544a129f71346")
        #expect(Hex.string(room.owner.bytes) == "0beef5a9e679e6a3e134fe27837bff32c7cb5f5d44ea09bcb0e542bad6a4c0cc")
    }

    /// The invite binds the owner: the same secret with another owner is another room.
    @Test func anotherOwnerMakesAnotherRoom() throws {
        let secret = SecretBytes(randomCount: 32)
        let a = try RoomKeys(secret: secret, owner: testRoomOwner)
        let b = try RoomKeys(secret: secret, owner: Identity.generate().publicKey)
        #expect(a.tag != b.tag)
        #expect(a.roomID != b.roomID)
        #expect(a.handshakePSK != b.handshakePSK)
        #expect(a.macKey != b.macKey)
        #expect(a.contentKey(epoch: 0) != b.contentKey(epoch: 0))
    }

    @Test(arguments: [0, 1, 16, 31, 33, 64])
    func aRoomSecretOfTheWrongLengthIsRefused(length: Int) {
        #expect(throws: CryptoError.invalidLength(what: "room secret", expected: 32, got: length)) {
            try RoomKeys(secret: SecretBytes(randomCount: length), owner: testRoomOwner)
        }
    }
}

// MARK: - Base32

@Suite struct Base32Tests {
    /// Source: RFC 4648 section 10 "Test Vectors" (BASE32), padding removed and lower-cased as this
    /// encoding specifies; copied from the stored copy of Bitcoin Core's base32_tests, which carries them.
    static let rfc4648: [(String, String)] = [
        ("", ""), ("f", "my"), ("fo", "mzxq"), ("foo", "mzxw6"), ("foob", "mzxw6yq"), ("fooba", "mzxw6ytb"),
        ("foobar", "mzxw6ytboi"),
    ]

    @Test func rfc4648VectorsEncodeAndDecode() {
        for (plain, encoded) in Self.rfc4648 {
            #expect(Base32.encode(Array(plain.utf8)) == encoded)
            #expect(Base32.decode(encoded) == Array(plain.utf8))
            #expect(Base32.decode(encoded.uppercased()) == Array(plain.utf8))
        }
    }

    @Test(arguments: 0...40)
    func roundTrip(length: Int) {
        let samples: [[UInt8]] = [
            [UInt8](repeating: 0, count: length), [UInt8](repeating: 0xFF, count: length),
            (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }, Sodium.randomBytes(length),
        ]
        for bytes in samples {
            let text = Base32.encode(bytes)
            #expect(text.count == (bytes.count * 8 + 4) / 5)
            #expect(text.allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) }, "\(text)")
            #expect(Base32.decode(text) == bytes, "\(bytes)")
        }
    }

    @Test func invalidCharactersAreRejected() {
        let valid = "mzxw6ytboi"
        for bad in ["0", "1", "8", "9", "=", "-", "_", " ", ".", "!", "/", "+", "é", "\n", "\u{0}"] {
            for position in [0, 4, valid.count - 1] {
                var chars = Array(valid)
                chars[position] = Character(bad)
                #expect(Base32.decode(String(chars)) == nil, "\(bad.debugDescription) at \(position)")
            }
        }
        #expect(Base32.decode("my======") == nil, "padding is not accepted")
        #expect(Base32.decode("mzxw 6ytboi") == nil)
    }

    @Test func impossibleLengthsAndNonZeroLeftoverBitsAreRejected() {
        // 1, 3 and 6 characters (mod 8) leave 5 or more bits over: no byte string encodes to them.
        for text in ["a", "mya", "mzxw6y", "mzxw6ytboia", "mzxw6ytbo"] {
            #expect(Base32.decode(text) == nil, "\(text)")
        }
        // Every encoding whose length is not a multiple of 5 bytes ends in padding bits; setting one
        // of them gives a string that no byte string encodes to.
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        for length in 1...20 where length % 5 != 0 {
            let text = Array(Base32.encode(Sodium.randomBytes(length)))
            var bad = text
            let value = alphabet.firstIndex(of: text.last!)!
            bad[bad.count - 1] = alphabet[value ^ 1]
            #expect(Base32.decode(String(bad)) == nil, "length \(length): \(String(bad))")
        }
        #expect(Base32.decode("mz") == nil, "'mz' has the padding bits 01")
    }
}
