import Foundation
import Primitives
import Testing

@testable import PeerCrypto

// Known answers for the Noise layer: the cacophony vectors for 25519_ChaChaPoly_BLAKE2b, plus
// the pieces (HMAC, HKDF, nonce layout, REKEY, limits, name parsing) checked on their own.

/// One cacophony vector, as stored in Fixtures/noise-25519-chachapoly-blake2b.json.
struct NoiseVectorFixture: Decodable, Sendable, CustomTestStringConvertible {
    struct Message: Decodable, Sendable {
        let payload: String
        let ciphertext: String
    }

    let protocolName: String
    let initPrologue: String
    let initPSKs: [String]?
    let initStatic: String?
    let initEphemeral: String
    let initRemoteStatic: String?
    let respPrologue: String
    let respPSKs: [String]?
    let respStatic: String?
    let respEphemeral: String?
    let respRemoteStatic: String?
    let handshakeHash: String
    let messages: [Message]

    enum CodingKeys: String, CodingKey {
        case protocolName = "protocol_name"
        case initPrologue = "init_prologue"
        case initPSKs = "init_psks"
        case initStatic = "init_static"
        case initEphemeral = "init_ephemeral"
        case initRemoteStatic = "init_remote_static"
        case respPrologue = "resp_prologue"
        case respPSKs = "resp_psks"
        case respStatic = "resp_static"
        case respEphemeral = "resp_ephemeral"
        case respRemoteStatic = "resp_remote_static"
        case handshakeHash = "handshake_hash"
        case messages
    }

    var testDescription: String { protocolName }
}

private struct NoiseVectorFile: Decodable {
    let source: String
    let vectors: [NoiseVectorFixture]
}

/// The vectors, or none if the fixture cannot be read (which `fixtureHoldsEveryVector` reports).
private let noiseVectors: [NoiseVectorFixture] = {
    guard
        let url = Bundle.module.url(
            forResource: "noise-25519-chachapoly-blake2b", withExtension: "json", subdirectory: "Fixtures"),
        let data = try? Data(contentsOf: url),
        let file = try? JSONDecoder().decode(NoiseVectorFile.self, from: data)
    else { return [] }
    return file.vectors
}()

/// The number of vectors cacophony has for this suite.
private let noiseExpectedVectorCount = 59
/// Each vector has six messages: the handshake, then transport messages.
private let noiseMessagesPerVector = 6

func noiseHex(_ text: String) -> [UInt8] {
    guard let bytes = Hex.bytes(text) else { preconditionFailure("bad hex in a fixture: \(text)") }
    return bytes
}

private func noiseKeyPair(_ secretHex: String) -> X25519.KeyPair {
    X25519.KeyPair(secretKey: SecretBytes(copying: noiseHex(secretHex)))
}

/// Plays a vector through an initiator and a responder, checking every byte; returns how many messages matched,
/// or 0 if the handshake hash did not.
private func runNoiseVector(_ vector: NoiseVectorFixture) throws -> Int {
    let name = try NoiseProtocolName(vector.protocolName)
    var initiator = try NoiseHandshakeState(
        protocolName: name, initiator: true, prologue: noiseHex(vector.initPrologue),
        staticKeyPair: vector.initStatic.map(noiseKeyPair), remoteStaticKey: vector.initRemoteStatic.map(noiseHex),
        psks: (vector.initPSKs ?? []).map { SecretBytes(copying: noiseHex($0)) })
    initiator._setEphemeralKeyPair(noiseKeyPair(vector.initEphemeral))
    var responder = try NoiseHandshakeState(
        protocolName: name, initiator: false, prologue: noiseHex(vector.respPrologue),
        staticKeyPair: vector.respStatic.map(noiseKeyPair), remoteStaticKey: vector.respRemoteStatic.map(noiseHex),
        psks: (vector.respPSKs ?? []).map { SecretBytes(copying: noiseHex($0)) })
    if let ephemeral = vector.respEphemeral { responder._setEphemeralKeyPair(noiseKeyPair(ephemeral)) }

    let handshakeLength = name.pattern.messages.count
    var initiatorTransport: NoiseTransportPair?
    var responderTransport: NoiseTransportPair?
    var matched = 0
    var hashesMatch = false
    for (index, message) in vector.messages.enumerated() {
        let payload = noiseHex(message.payload)
        let expected = noiseHex(message.ciphertext)
        let fromInitiator = name.pattern.isOneWay || index.isMultiple(of: 2)
        let sent: [UInt8]
        let received: [UInt8]
        if index < handshakeLength {
            #expect(initiator.status == (fromInitiator ? .awaitingWrite : .awaitingRead))
            #expect(responder.status == (fromInitiator ? .awaitingRead : .awaitingWrite))
            if fromInitiator {
                sent = try initiator.writeMessage(payload: payload)
                received = try responder.readMessage(sent)
            } else {
                sent = try responder.writeMessage(payload: payload)
                received = try initiator.readMessage(sent)
            }
            if index == handshakeLength - 1 {
                #expect(initiator.status == .complete && responder.status == .complete)
                let expectedHash = noiseHex(vector.handshakeHash)
                #expect(initiator.handshakeHash == expectedHash, "initiator's handshake hash")
                #expect(responder.handshakeHash == expectedHash, "responder's handshake hash")
                hashesMatch = initiator.handshakeHash == expectedHash && responder.handshakeHash == expectedHash
                initiatorTransport = try initiator.takeTransport()
                responderTransport = try responder.takeTransport()
            }
        } else {
            guard var ini = initiatorTransport, var res = responderTransport else {
                Issue.record("transport messages before the handshake finished")
                return 0
            }
            if fromInitiator {
                sent = try ini.send.encrypt(payload)
                received = try res.receive.decrypt(sent)
            } else {
                sent = try res.send.encrypt(payload)
                received = try ini.receive.decrypt(sent)
            }
            initiatorTransport = ini
            responderTransport = res
        }
        #expect(sent == expected, "ciphertext of message \(index)")
        #expect(received == payload, "payload of message \(index)")
        if sent == expected, received == payload { matched += 1 }
    }
    return hashesMatch ? matched : 0
}

@Suite struct NoiseVectorTests {
    @Test(arguments: noiseVectors)
    func vectorReproducesEveryMessageAndTheHandshakeHash(_ vector: NoiseVectorFixture) throws {
        #expect(try runNoiseVector(vector) == noiseMessagesPerVector)
    }

    @Test func fixtureHoldsEveryVectorAndAllOfThemRun() throws {
        #expect(noiseVectors.count == noiseExpectedVectorCount)
        let names = Set(noiseVectors.map(\.protocolName))
        #expect(names.count == noiseVectors.count, "no vector is listed twice")
        #expect(names.contains("Noise_XX_25519_ChaChaPoly_BLAKE2b"))
        #expect(names.contains("Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b"))
        var ran = 0
        for vector in noiseVectors {
            if try runNoiseVector(vector) == noiseMessagesPerVector { ran += 1 }
        }
        #expect(ran == noiseExpectedVectorCount)
    }
}

@Suite struct NoisePrimitiveTests {
    @Test func hmacIsRFC2104OverPlainBlake2bNotKeyedBlake2b() {
        let message = Array("cvpeer noise hmac test".utf8)
        let key = (0..<64).map { UInt8($0) }
        let mac = key.withUnsafeBytes { k in
            message.withUnsafeBytes { NoiseSymmetricState.hmac(key: k, data: [$0]) }
        }
        #expect(mac.unsafeCopy() == noiseHex(
            "4af72c3c0df4cc77712cdd190dee8167eaf7d7c9035c4e68f3af519ce82f9c89"
                + "c9a74827a3863610c810305987c47a58281020618ac686831f14b96bed780cfb"))
        let keyed = message.withUnsafeBytes { m in key.withUnsafeBytes { Blake2b.hash(m, key: $0, outputLength: 64) } }
        #expect(mac.unsafeCopy() != keyed)

        // A key longer than BLAKE2b's 128-byte block is hashed first.
        let longKey = (0..<200).map { UInt8($0 % 256) }
        let longMac = longKey.withUnsafeBytes { k in
            message.withUnsafeBytes { NoiseSymmetricState.hmac(key: k, data: [$0]) }
        }
        #expect(longMac.unsafeCopy() == noiseHex(
            "13e8deaa07cbf0a84b820216990f0eeb4e2a83ac6211732e8941b2711b410d18"
                + "d75e57deb7f840232f511d150fbf99b1898b1d102144836d307df3a9f3546430"))
    }

    @Test func hkdfChainsOutputsAsTheNoiseSpecSays() {
        let chainingKey = SecretBytes(copying: (0..<64).map { UInt8($0) })
        let material = (100..<132).map { UInt8($0) }
        let outputs = material.withUnsafeBytes {
            NoiseSymmetricState.hkdf(chainingKey: chainingKey, inputKeyMaterial: $0, outputs: 3)
        }
        #expect(outputs.map { $0.unsafeCopy() } == [
            noiseHex(
                "2262ed5f40c3324574d00a1e0849a7cc67fb5b6a80211c3c59404bb8e47512b1"
                    + "cb95e73840718c5d68ca345f934f39a52f1f31e8f6d3ed521f0664f46feddae4"),
            noiseHex(
                "f6a6559fa2aaab64d3d2666b83fe3f4fed6fae1959537fedd6a39b6f8d411e61"
                    + "32593234cc2a750244335da5021c27bf7eacbb65cfa608457de6ecc144b90077"),
            noiseHex(
                "07c82c1301c70e885f4662f1f3f7b7bb9e04d81c94a6e1882f812c02ffb69580"
                    + "c93095bb599ad2fced3d3cf38c9c17df4fb3c0029f231247fca69b040e16449e"),
        ])
    }

    @Test func nonceIsFourZeroBytesThenTheCounterLittleEndian() throws {
        let key = SecretBytes(copying: (0..<32).map { UInt8($0) })
        var cipher = NoiseCipherState(key: key)
        cipher.setNonce(0x0102_0304_0506_0708)
        let sealed = try cipher.encrypt(Array("payload".utf8), ad: [9, 9])
        let expected = try ChaCha20Poly1305.seal(
            Array("payload".utf8), ad: [9, 9], nonce: [0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1], key: key)
        #expect(sealed == expected)
        #expect(cipher.nonce == 0x0102_0304_0506_0709)
    }

    @Test func theLastNonceIsReservedAndExhaustionThrows() throws {
        let key = SecretBytes(copying: [UInt8](repeating: 7, count: 32))
        var sender = NoiseCipherState(key: key)
        var receiver = NoiseCipherState(key: key)
        sender.setNonce(UInt64.max - 1)
        receiver.setNonce(UInt64.max - 1)
        let last = try sender.encrypt([1, 2, 3])
        let opened = try receiver.decrypt(last)
        #expect(opened == [1, 2, 3])
        #expect(throws: CryptoError.nonceExhausted) { try sender.encrypt([1]) }
        #expect(throws: CryptoError.nonceExhausted) { try receiver.decrypt(last) }
    }

    @Test func failedDecryptDoesNotAdvanceTheNonce() throws {
        let key = SecretBytes(copying: [UInt8](repeating: 3, count: 32))
        var sender = NoiseCipherState(key: key)
        var receiver = NoiseCipherState(key: key)
        var sealed = try sender.encrypt([1, 2, 3])
        sealed[0] ^= 1
        #expect(throws: CryptoError.authenticationFailed) { try receiver.decrypt(sealed) }
        #expect(receiver.nonce == 0)
        #expect(throws: CryptoError.authenticationFailed) { try receiver.decrypt([]) }
        #expect(throws: CryptoError.authenticationFailed) {
            try receiver.decrypt([UInt8](repeating: 0, count: NoiseCipherState.maxMessageLength + 1))
        }
        sealed[0] ^= 1
        let opened = try receiver.decrypt(sealed)
        #expect(opened == [1, 2, 3])
    }

    @Test func rekeyUsesTheReservedNonceAndKeepsTheCounter() throws {
        let key = SecretBytes(copying: (0..<32).map { UInt8(255 - $0) })
        var cipher = NoiseCipherState(key: key)
        cipher.setNonce(5)
        cipher.rekey()
        #expect(cipher.nonce == 5)
        let newKey = try ChaCha20Poly1305.seal(
            [UInt8](repeating: 0, count: 32), nonce: [0, 0, 0, 0] + [UInt8](repeating: 0xff, count: 8), key: key)
        var reference = NoiseCipherState(key: SecretBytes(copying: newKey.prefix(32)))
        reference.setNonce(5)
        let afterRekey = try cipher.encrypt([4, 2])
        let expected = try reference.encrypt([4, 2])
        #expect(afterRekey == expected)
    }

    @Test func withoutAKeyDataPassesInTheClear() throws {
        var cipher = NoiseCipherState()
        #expect(!cipher.hasKey)
        let sealed = try cipher.encrypt([1, 2], ad: [3])
        let opened = try cipher.decrypt([1, 2], ad: [3])
        #expect(sealed == [1, 2] && opened == [1, 2])
        #expect(cipher.nonce == 0)
    }

    @Test func protocolNameIsPaddedOrHashedToHashLength() {
        let short = NoiseSymmetricState(protocolName: Array("Noise_NN_25519_ChaChaPoly_BLAKE2b".utf8))
        let padded = Array("Noise_NN_25519_ChaChaPoly_BLAKE2b".utf8) + [UInt8](repeating: 0, count: 31)
        #expect(short.handshakeHash == padded)
        let longName = Array(String(repeating: "x", count: 65).utf8)
        #expect(NoiseSymmetricState(protocolName: longName).handshakeHash == Blake2b.hash(longName, outputLength: 64))
    }

    @Test(arguments: [
        "Noise_XX_25519_ChaChaPoly_SHA256", "Noise_XX_448_ChaChaPoly_BLAKE2b", "Noise_XX_25519_AESGCM_BLAKE2b",
        "Noise_XX_25519_ChaChaPoly_BLAKE2s", "Noise_YY_25519_ChaChaPoly_BLAKE2b",
        "Noise_XXfallback_25519_ChaChaPoly_BLAKE2b", "Noise_XXpsk4_25519_ChaChaPoly_BLAKE2b",
        "Noise_NNpsk3_25519_ChaChaPoly_BLAKE2b", "Noise_XXpsk01_25519_ChaChaPoly_BLAKE2b",
        "Noise_NNpsk2+psk0_25519_ChaChaPoly_BLAKE2b", "Noise_NNpsk0+psk0_25519_ChaChaPoly_BLAKE2b",
        "Noise_NNpsk0+_25519_ChaChaPoly_BLAKE2b", "Noise_NNpsk_25519_ChaChaPoly_BLAKE2b",
        "Noise_xx_25519_ChaChaPoly_BLAKE2b", "Noise_XX_25519_ChaChaPoly_BLAKE2b_", "Noise__25519_ChaChaPoly_BLAKE2b",
        "Noise_XX_25519_ChaChaPoly", "", "NoiseXX_25519_ChaChaPoly_BLAKE2b", "Noise_X1X1X_25519_ChaChaPoly_BLAKE2b",
        "Noise_XXpsk9999999999999999999_25519_ChaChaPoly_BLAKE2b", "Noise_XXpsk-1_25519_ChaChaPoly_BLAKE2b",
    ])
    func unsupportedProtocolNamesAreRefused(_ name: String) {
        #expect(throws: CryptoError.unsupportedProtocol(name)) { try NoiseProtocolName(name) }
    }

    @Test func pskModifiersLandWhereTheSpecSays() throws {
        let pattern = try NoiseHandshakePattern(name: "NNpsk0+psk2")
        #expect(pattern.messages == [[.psk, .e], [.e, .ee, .psk]])
        #expect(pattern.pskCount == 2)
        let xx = try NoiseHandshakePattern(name: "XXpsk3")
        #expect(xx.messages == [[.e], [.e, .ee, .s, .es], [.s, .se, .psk]])
        #expect(!xx.isOneWay)
        #expect(try NoiseHandshakePattern(name: "X").isOneWay)
    }

    @Test func everyPatternParsesAndRunsWithTwoPSKs() throws {
        // Patterns the vectors cover only without psk: run each with psk0 and a closing psk.
        let bases = [
            "N", "K", "X", "NN", "NK", "NX", "KN", "KK", "KX", "XN", "IN", "XK", "IK", "XX", "IX", "NK1", "NX1", "X1N",
            "X1K", "XK1", "X1K1", "X1X", "XX1", "X1X1", "K1N", "K1K", "KK1", "K1K1", "K1X", "KX1", "K1X1", "I1N", "I1K",
            "IK1", "I1K1", "I1X", "IX1", "I1X1",
        ]
        let initiatorStatic = X25519.KeyPair.generate()
        let responderStatic = X25519.KeyPair.generate()
        for base in bases {
            let count = try NoiseHandshakePattern(name: base).messages.count
            let name = try NoiseProtocolName("Noise_\(base)psk0+psk\(count)_25519_ChaChaPoly_BLAKE2b")
            let psks = [SecretBytes(randomCount: 32), SecretBytes(randomCount: 32)]
            let pattern = name.pattern
            var initiator = try NoiseHandshakeState(
                protocolName: name, initiator: true, prologue: [1], staticKeyPair: initiatorStatic,
                remoteStaticKey: pattern.responderPreMessage.isEmpty ? nil : responderStatic.publicKey, psks: psks)
            var responder = try NoiseHandshakeState(
                protocolName: name, initiator: false, prologue: [1], staticKeyPair: responderStatic,
                remoteStaticKey: pattern.initiatorPreMessage.isEmpty ? nil : initiatorStatic.publicKey, psks: psks)
            for index in pattern.messages.indices {
                let payload = [UInt8(index)]
                let received: [UInt8]
                if index.isMultiple(of: 2) {
                    received = try responder.readMessage(initiator.writeMessage(payload: payload))
                } else {
                    received = try initiator.readMessage(responder.writeMessage(payload: payload))
                }
                #expect(received == payload, "\(name)")
            }
            #expect(initiator.handshakeHash == responder.handshakeHash, "\(name)")
            #expect(initiator.remoteStaticKey == nil || initiator.remoteStaticKey == responderStatic.publicKey)
            #expect(responder.remoteStaticKey == nil || responder.remoteStaticKey == initiatorStatic.publicKey)
            var a = try initiator.takeTransport()
            var b = try responder.takeTransport()
            let opened = try b.receive.decrypt(a.send.encrypt([42]))
            #expect(opened == [42], "\(name)")
        }
    }

    @Test func missingOrSuperfluousKeysAreRefusedUpFront() throws {
        let key = X25519.KeyPair.generate()
        #expect(throws: CryptoError.self) {
            try NoiseHandshakeState(protocolName: "Noise_XX_25519_ChaChaPoly_BLAKE2b", initiator: true)
        }
        #expect(throws: CryptoError.self) {
            try NoiseHandshakeState(protocolName: "Noise_NK_25519_ChaChaPoly_BLAKE2b", initiator: true)
        }
        #expect(throws: CryptoError.self) {
            try NoiseHandshakeState(
                protocolName: "Noise_XX_25519_ChaChaPoly_BLAKE2b", initiator: true, staticKeyPair: key,
                remoteStaticKey: key.publicKey)
        }
        #expect(throws: CryptoError.self) {
            try NoiseHandshakeState(protocolName: "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b", initiator: true)
        }
        #expect(throws: CryptoError.self) {
            try NoiseHandshakeState(
                protocolName: "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b", initiator: true,
                psks: [SecretBytes(randomCount: 16)])
        }
        #expect(throws: CryptoError.self) {
            try NoiseHandshakeState(
                protocolName: "Noise_NK_25519_ChaChaPoly_BLAKE2b", initiator: true, remoteStaticKey: [1, 2, 3])
        }
    }
}
