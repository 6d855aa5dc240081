import Foundation
import CVPeerTestSupport
import Testing

@testable import PeerCrypto

// The cvpeer link handshake under attack: every message altered, cut short, replayed, sent from
// another room or with a lying identity, and replaced by garbage. The only acceptable outcome for
// hostile input is a thrown error, after which the attempt is dead.




private func isHandshakeError(_ error: CryptoError?) -> Bool {
    if case .handshake = error { return true }
    return false
}

/// A whole handshake between two fresh identities, with each party's state kept just before each read.
private struct CvpeerTranscript {
    let room: RoomKeys
    let initiatorIdentity: Identity
    let responderIdentity: Identity
    /// The responder before reading message 1.
    let responderBeforeMessage1: CvpeerHandshake
    /// The initiator before reading message 2.
    let initiatorBeforeMessage2: CvpeerHandshake
    /// The responder before reading message 3.
    let responderBeforeMessage3: CvpeerHandshake
    let message1: [UInt8]
    let message2: [UInt8]
    let message3: [UInt8]
    /// Both parties after the last message.
    var initiator: CvpeerHandshake
    var responder: CvpeerHandshake
    /// The application payloads each side received in messages 2 and 3.
    let initiatorReceived: [UInt8]
    let responderReceived: [UInt8]

    init(room: RoomKeys = .generate(owner: testRoomOwner), payload2: [UInt8] = [], payload3: [UInt8] = []) throws {
        self.room = room
        initiatorIdentity = .generate()
        responderIdentity = .generate()
        var initiator = CvpeerHandshake(role: .initiator, identity: initiatorIdentity, room: room)
        var responder = CvpeerHandshake(role: .responder, identity: responderIdentity, room: room)
        responderBeforeMessage1 = responder
        message1 = try initiator.writeMessage()
        _ = try responder.readMessage(message1)
        initiatorBeforeMessage2 = initiator
        message2 = try responder.writeMessage(payload: payload2)
        initiatorReceived = try initiator.readMessage(message2)
        responderBeforeMessage3 = responder
        message3 = try initiator.writeMessage(payload: payload3)
        responderReceived = try responder.readMessage(message3)
        self.initiator = initiator
        self.responder = responder
    }

    /// Each handshake message with the state of the party that reads it.
    var reads: [(name: String, receiver: CvpeerHandshake, message: [UInt8])] {
        [
            ("message 1", responderBeforeMessage1, message1),
            ("message 2", initiatorBeforeMessage2, message2),
            ("message 3", responderBeforeMessage3, message3),
        ]
    }
}

@Suite struct NoiseTamperTests {
    @Test func completedHandshakeGivesMatchingKeysAndEachSideTheOthersIdentity() throws {
        let payload2 = Array("hello from the responder".utf8)
        let payload3 = Array("hello from the initiator".utf8)
        var transcript = try CvpeerTranscript(payload2: payload2, payload3: payload3)
        #expect(transcript.message1.count == CvpeerHandshake.message1Length)
        #expect(transcript.message1.count == 48)
        #expect(transcript.message2.count == CvpeerHandshake.message2MinimumLength + payload2.count)
        #expect(transcript.message3.count == CvpeerHandshake.message3MinimumLength + payload3.count)
        #expect(transcript.initiatorReceived == payload2)
        #expect(transcript.responderReceived == payload3)
        #expect(transcript.initiator.status == .complete && transcript.responder.status == .complete)
        #expect(transcript.initiator.peer == transcript.responderIdentity.publicKey)
        #expect(transcript.responder.peer == transcript.initiatorIdentity.publicKey)

        var initiatorLink = try transcript.initiator.finish()
        var responderLink = try transcript.responder.finish()
        #expect(initiatorLink.peer == transcript.responderIdentity.publicKey)
        #expect(responderLink.peer == transcript.initiatorIdentity.publicKey)
        #expect(initiatorLink.handshakeHash == responderLink.handshakeHash)
        #expect(initiatorLink.handshakeHash.count == 64)
        for round in 0..<5 {
            let outbound = Array("ping \(round)".utf8)
            let inbound = Array("pong \(round)".utf8)
            let sealedOut = try initiatorLink.send.encrypt(outbound)
            let openedOut = try responderLink.receive.decrypt(sealedOut)
            let sealedIn = try responderLink.send.encrypt(inbound)
            let openedIn = try initiatorLink.receive.decrypt(sealedIn)
            #expect(openedOut == outbound && openedIn == inbound)
            // Each direction has its own key: a packet cannot be reflected back to its sender.
            var reflected = initiatorLink.receive
            reflected.setNonce(UInt64(round))
            expectCryptoError("reflected packet") { _ = try reflected.decrypt(sealedOut) }
        }
        expectCryptoError("second finish") { _ = try transcript.initiator.finish() }
    }

    @Test func flippingAnyByteOfAnyHandshakeMessageIsRejected() throws {
        let transcript = try CvpeerTranscript(payload2: [1, 2, 3], payload3: [4, 5, 6])
        for (name, receiver, message) in transcript.reads {
            for position in message.indices {
                var tampered = message
                tampered[position] ^= 0x01
                var attempt = receiver
                expectCryptoError("\(name) with byte \(position) flipped") { _ = try attempt.readMessage(tampered) }
                #expect(attempt.status == .failed, "\(name) byte \(position)")
                // The attempt is dead: not even the genuine message revives it.
                expectCryptoError("\(name) after a failure") { _ = try attempt.readMessage(message) }
                expectCryptoError("finish after a failure") { _ = try attempt.finish() }
            }
            // The untouched message is accepted by an unharmed copy.
            var genuine = receiver
            _ = try genuine.readMessage(message)
        }
    }

    @Test func aResponderWithAnotherRoomsPSKRejectsMessage3() throws {
        let room = RoomKeys.generate(owner: testRoomOwner)
        let other = RoomKeys.generate(owner: testRoomOwner)
        var initiator = CvpeerHandshake(role: .initiator, identity: .generate(), room: room)
        var responder = CvpeerHandshake(
            role: .responder, identity: .generate(), roomTag: room.tag, psk: other.handshakePSK)
        _ = try responder.readMessage(initiator.writeMessage())
        // XXpsk3 mixes the psk in only at message 3, so the first two messages go through.
        _ = try initiator.readMessage(responder.writeMessage())
        let message3 = try initiator.writeMessage()
        let error = expectCryptoError("message 3 under another psk") { _ = try responder.readMessage(message3) }
        #expect(error == .authenticationFailed)
        #expect(responder.status == .failed)
        expectCryptoError("finish after a psk mismatch") { _ = try responder.finish() }
    }

    @Test func aResponderWithAnotherRoomTagRejectsMessage1() throws {
        let room = RoomKeys.generate(owner: testRoomOwner)
        var wrongTag = room.tag
        wrongTag[0] ^= 0x80
        var initiator = CvpeerHandshake(role: .initiator, identity: .generate(), room: room)
        var responder = CvpeerHandshake(
            role: .responder, identity: .generate(), roomTag: wrongTag, psk: room.handshakePSK)
        let message1 = try initiator.writeMessage()
        let error = expectCryptoError("message 1 with another prologue") { _ = try responder.readMessage(message1) }
        #expect(error == .authenticationFailed)
        #expect(responder.status == .failed)
    }

    @Test func aResponderInAnotherRoomRejectsMessage1() throws {
        var initiator = CvpeerHandshake(role: .initiator, identity: .generate(), room: .generate(owner: testRoomOwner))
        var responder = CvpeerHandshake(role: .responder, identity: .generate(), room: .generate(owner: testRoomOwner))
        let message1 = try initiator.writeMessage()
        expectCryptoError("message 1 from another room") { _ = try responder.readMessage(message1) }
    }

    @Test func aTransportMessageWithAnyFlippedByteIsRejected() throws {
        var transcript = try CvpeerTranscript()
        var sender = try transcript.initiator.finish()
        var receiver = try transcript.responder.finish()
        let plaintext = Array("a data packet".utf8)
        let sealed = try sender.send.encrypt(plaintext)
        for position in sealed.indices {
            var tampered = sealed
            tampered[position] ^= 0x01
            var attempt = receiver.receive
            expectCryptoError("transport byte \(position) flipped") { _ = try attempt.decrypt(tampered) }
            #expect(attempt.nonce == 0)
        }
        for length in 0..<sealed.count {
            var attempt = receiver.receive
            expectCryptoError("transport truncated to \(length)") { _ = try attempt.decrypt(Array(sealed[..<length])) }
        }
        let opened = try receiver.receive.decrypt(sealed)
        #expect(opened == plaintext)
        expectCryptoError("transport replay") { _ = try receiver.receive.decrypt(sealed) }
    }

    @Test func replayedHandshakeMessagesAreRejected() throws {
        var transcript = try CvpeerTranscript()
        for message in [transcript.message1, transcript.message2, transcript.message3] {
            #expect(isHandshakeError(expectCryptoError("replay to a finished responder") {
                _ = try transcript.responder.readMessage(message)
            }))
            #expect(isHandshakeError(expectCryptoError("replay to a finished initiator") {
                _ = try transcript.initiator.readMessage(message)
            }))
        }
        // A replay cannot tear down a link that was already established.
        _ = try transcript.initiator.finish()
        _ = try transcript.responder.finish()

        // Mid-handshake, a duplicate of message 1 reaches a responder that already has it.
        // The duplicate is refused but, being out of turn, does not kill the attempt (UDP duplicates).
        var responder = transcript.responderBeforeMessage1
        _ = try responder.readMessage(transcript.message1)
        expectCryptoError("duplicate message 1") { _ = try responder.readMessage(transcript.message1) }
        #expect(responder.status == .awaitingWrite)
        _ = try responder.writeMessage()
        // And an old message 2 from an earlier handshake is refused by a new initiator.
        let earlier = try CvpeerTranscript(room: transcript.room)
        var initiator = transcript.initiatorBeforeMessage2
        expectCryptoError("message 2 of another handshake") { _ = try initiator.readMessage(earlier.message2) }
    }

    @Test func anIdentityThatDoesNotMatchTheStaticKeyIsRejected() throws {
        let room = RoomKeys.generate(owner: testRoomOwner)
        let prologue = CvpeerHandshake.prologue(roomTag: room.tag)
        let honest = Identity.generate()
        let impersonated = Identity.generate()

        // A member's static key, claiming somebody else's Ed25519 identity in message 3.
        var rogueInitiator = try NoiseHandshakeState(
            protocolName: CvpeerHandshake.protocolName, initiator: true, prologue: prologue,
            staticKeyPair: honest.x25519KeyPair(), psks: [room.handshakePSK])
        var responder = CvpeerHandshake(role: .responder, identity: .generate(), room: room)
        _ = try responder.readMessage(rogueInitiator.writeMessage())
        _ = try rogueInitiator.readMessage(responder.writeMessage())
        let message3 = try rogueInitiator.writeMessage(payload: impersonated.publicKey.bytes)
        #expect(isHandshakeError(expectCryptoError("message 3 with a foreign identity") {
            _ = try responder.readMessage(message3)
        }))
        #expect(responder.status == .failed)
        #expect(responder.peer == nil)
        expectCryptoError("finish after an identity mismatch") { _ = try responder.finish() }

        // The same in message 2, and with payloads too short to hold a key or holding no valid key.
        let lies: [[UInt8]] = [
            impersonated.publicKey.bytes, impersonated.publicKey.bytes + [1, 2, 3], [], Array(honest.publicKey.bytes[..<31]),
            [UInt8](repeating: 0xff, count: 32),
        ]
        for lie in lies {
            var initiator = CvpeerHandshake(role: .initiator, identity: .generate(), room: room)
            var rogueResponder = try NoiseHandshakeState(
                protocolName: CvpeerHandshake.protocolName, initiator: false, prologue: prologue,
                staticKeyPair: honest.x25519KeyPair(), psks: [room.handshakePSK])
            _ = try rogueResponder.readMessage(initiator.writeMessage())
            let message2 = try rogueResponder.writeMessage(payload: lie)
            expectCryptoError("message 2 claiming \(lie.count) bytes of identity") {
                _ = try initiator.readMessage(message2)
            }
            #expect(initiator.status == .failed)
            expectCryptoError("writing after an identity mismatch") { _ = try initiator.writeMessage() }
        }

        // A static key that belongs to no identity, claiming an honest one.
        var strangerInitiator = try NoiseHandshakeState(
            protocolName: CvpeerHandshake.protocolName, initiator: true, prologue: prologue,
            staticKeyPair: .generate(), psks: [room.handshakePSK])
        var victim = CvpeerHandshake(role: .responder, identity: .generate(), room: room)
        _ = try victim.readMessage(strangerInitiator.writeMessage())
        _ = try strangerInitiator.readMessage(victim.writeMessage())
        let forged = try strangerInitiator.writeMessage(payload: honest.publicKey.bytes)
        expectCryptoError("a stranger's static claiming an identity") { _ = try victim.readMessage(forged) }
    }

    @Test func aHandshakeReflectedBackToItsOwnNodeIsRejected() throws {
        let room = RoomKeys.generate(owner: testRoomOwner)
        let identity = Identity.generate()
        var initiator = CvpeerHandshake(role: .initiator, identity: identity, room: room)
        var ownResponder = CvpeerHandshake(role: .responder, identity: identity, room: room)
        _ = try ownResponder.readMessage(initiator.writeMessage())
        let message2 = try ownResponder.writeMessage()
        #expect(isHandshakeError(expectCryptoError("own identity") { _ = try initiator.readMessage(message2) }))
    }

    @Test func everyTruncationOfEveryHandshakeMessageIsRejected() throws {
        let transcript = try CvpeerTranscript(payload2: [7], payload3: [8, 9])
        for (name, receiver, message) in transcript.reads {
            for length in 0..<message.count {
                var attempt = receiver
                expectCryptoError("\(name) cut to \(length) bytes") { _ = try attempt.readMessage(Array(message[..<length])) }
                #expect(attempt.status == .failed)
            }
            var extended = receiver
            expectCryptoError("\(name) with a byte appended") { _ = try extended.readMessage(message + [0]) }
        }
    }

    @Test func oversizedMessagesAreRejected() throws {
        let transcript = try CvpeerTranscript()
        let huge = [UInt8](repeating: 0x41, count: NoiseCipherState.maxMessageLength + 1)
        for (name, receiver, _) in transcript.reads {
            var attempt = receiver
            expectCryptoError("\(name) over 65535 bytes") { _ = try attempt.readMessage(huge) }
        }
        var initiator = transcript.initiatorBeforeMessage2
        _ = try initiator.readMessage(transcript.message2)
        let tooBig = [UInt8](repeating: 0, count: NoiseCipherState.maxMessageLength)
        expectCryptoError("writing a message over 65535 bytes") { _ = try initiator.writeMessage(payload: tooBig) }
    }

    @Test func callsOutOfTurnAreRejected() throws {
        let room = RoomKeys.generate(owner: testRoomOwner)
        var responder = CvpeerHandshake(role: .responder, identity: .generate(), room: room)
        #expect(responder.status == .awaitingRead)
        expectCryptoError("responder writing first") { _ = try responder.writeMessage() }
        var initiator = CvpeerHandshake(role: .initiator, identity: .generate(), room: room)
        #expect(initiator.status == .awaitingWrite)
        expectCryptoError("initiator reading first") { _ = try initiator.readMessage([UInt8](repeating: 0, count: 48)) }
        // Calls out of turn change nothing: the handshake still completes.
        _ = try responder.readMessage(initiator.writeMessage())
        _ = try initiator.readMessage(responder.writeMessage())
        _ = try responder.readMessage(initiator.writeMessage())
        _ = try initiator.finish()
        _ = try responder.finish()
        var early = CvpeerHandshake(role: .initiator, identity: .generate(), room: room)
        expectCryptoError("finish before the handshake") { _ = try early.finish() }
        #expect(early.status == .awaitingWrite)
    }

    @Test func randomGarbageNeverCrashesAReader() throws {
        let seed = SeededRandom.seedFromEnvironmentOrRandom()
        var rng = SeededRandom(seed: seed)
        let transcript = try CvpeerTranscript()
        for round in 0..<1500 {
            let (name, receiver, message) = transcript.reads[round % 3]
            let length: Int
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: length = Int.random(in: 0...70_000, using: &rng)
            case 1: length = message.count
            default: length = Int.random(in: 0...300, using: &rng)
            }
            var garbage = rng.bytes(length)
            if round % 7 == 0, length >= 32 {
                // Start from the genuine message so the reader gets further before it fails.
                garbage.replaceSubrange(0..<min(length, message.count), with: message.prefix(length))
                garbage[Int.random(in: 0..<length, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
            var attempt = receiver
            expectCryptoError("garbage of \(length) bytes as \(name), seed \(seed) round \(round)") {
                _ = try attempt.readMessage(garbage)
            }
        }

        // Plain Noise readers of every pattern: some first messages carry no tag, so acceptance is
        // allowed here; only a crash would fail.
        let bases = [
            "N", "K", "X", "NN", "NK", "NX", "KN", "KK", "KX", "XN", "IN", "XK", "IK", "XX", "IX", "XXpsk3", "NK1",
            "NX1", "X1N", "X1K", "XK1", "X1K1", "X1X", "XX1", "X1X1", "K1N", "K1K", "KK1", "K1K1", "K1X", "KX1", "K1X1",
            "I1N", "I1K", "IK1", "I1K1", "I1X", "IX1", "I1X1",
        ]
        let initiatorStatic = X25519.KeyPair.generate()
        for base in bases {
            let name = try NoiseProtocolName("Noise_\(base)_25519_ChaChaPoly_BLAKE2b")
            let responder = try NoiseHandshakeState(
                protocolName: name, initiator: false, staticKeyPair: .generate(),
                remoteStaticKey: name.pattern.initiatorPreMessage.isEmpty ? nil : initiatorStatic.publicKey,
                psks: (0..<name.pattern.pskCount).map { _ in SecretBytes(randomCount: 32) })
            for _ in 0..<40 {
                var attempt = responder
                let garbage = rng.bytes(Int.random(in: 0...200, using: &rng))
                if (try? attempt.readMessage(garbage)) == nil {
                    #expect(attempt.status == .failed, "\(name), seed \(seed)")
                }
            }
        }
    }
}
