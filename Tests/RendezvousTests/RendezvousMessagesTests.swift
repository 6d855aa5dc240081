import PeerCrypto
import Primitives
import Rendezvous
import Testing

/// Samples covering every message type, both families, and empty and full lists.
let sampleMessages: [RendezvousMessage] = {
    let v4 = UDPEndpoint.ipv4(127, 0, 0, 1, port: 7700)
    let v6 = UDPEndpoint(address: .v6(high: 0x2001_0db8_0000_0000, low: 1), port: 65_535)
    let eight = (0..<8).map { i in
        i % 2 == 0 ? loopback(i, port: UInt16(i)) : UDPEndpoint(address: .v6(high: UInt64(i), low: ~0), port: 1)
    }
    let eightV6 = (0..<8).map { UDPEndpoint(address: .v6(high: ~0, low: UInt64($0)), port: UInt16($0)) }
    var messages: [RendezvousMessage] = [
        .register(.init(roomTag: tag(1), peerID: peer(1), clientNonce: 0, cookie: .none, candidates: [])),
        .register(
            .init(
                roomTag: tag(2),
                peerID: peer(2),
                clientNonce: .max,
                cookie: RendezvousCookie(high: 1, low: 2),
                candidates: [v4, v6]
            )
        ),
        .register(.init(roomTag: tag(3), peerID: peer(3), clientNonce: 42, cookie: .none, candidates: eightV6)),
        .cookieChallenge(.init(clientNonce: 7, cookie: RendezvousCookie(high: .max, low: 0))),
    ]
    messages += [
        .registered(.init(clientNonce: 4, peerID: peer(4), reflexive: v4, refreshIntervalSeconds: 15)),
        .registered(.init(clientNonce: .max, peerID: peer(5), reflexive: v6, refreshIntervalSeconds: .max)),
        .introduce(.init(clientNonce: 6, roomTag: tag(6), peerID: peer(6), reflexive: v4, candidates: [])),
        .introduce(.init(clientNonce: 0, roomTag: tag(7), peerID: peer(7), reflexive: v6, candidates: eight)),
        .introduce(.init(clientNonce: .max, roomTag: tag(7), peerID: peer(7), reflexive: v6, candidates: eightV6)),
    ]
    messages += [
        .relay(.init(target: peer(8), datagram: [])),
        .relay(.init(target: peer(9), datagram: Array(repeating: 0xAB, count: RendezvousWire.maxRelayedDatagramSize))),
        .relayed(.init(source: peer(10), datagram: [1, 2, 3])),
        .relayed(.init(source: peer(11), datagram: Array(repeating: 0, count: RendezvousWire.maxRelayedDatagramSize))),
        .unregister(
            .init(roomTag: tag(12), peerID: peer(12), clientNonce: 12, cookie: RendezvousCookie(high: 3, low: 4))
        ),
        .retire(.init(roomTag: tag(13), clientNonce: 13, cookie: .none)),
        .retire(.init(roomTag: tag(14), clientNonce: .max, cookie: RendezvousCookie(high: 5, low: 6))),
        // The largest register: eight IPv6 candidates and the owner part.
        .register(
            RendezvousMessage.Register(
                roomTag: tag(15), peerID: peer(15), clientNonce: 15, cookie: RendezvousCookie(high: 7, low: 8),
                registrationKey: roomKey(15).publicKey, candidates: eightV6
            ).signed(
                by: roomKey(15), owner: try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0x0E, count: 32))))
        ),
        .registerRefused(.init(clientNonce: 16, reason: .ownerNotAllowed)),
    ]
    return messages + sampleCodeMessages
}()

/// A nameplate the tests know is valid.
func plate(_ value: UInt16) -> CodeNameplate { CodeNameplate(rawValue: value)! }

/// Short-code samples: both ends of every variable field, every optional nameplate and reason.
let sampleCodeMessages: [RendezvousMessage] = {
    let cookie = RendezvousCookie(high: 0xC0C0, low: 0xFFFF)
    let tag32 = Array(UInt8(0x40)..<0x60)
    let ya = Array(repeating: UInt8(0xA1), count: 32)
    let biggest = Array(repeating: UInt8(0xB2), count: RendezvousWire.maxPakeMessageSize)
    let payload = Array(repeating: UInt8(0x5A), count: RendezvousWire.maxCodePayloadSize)
    return [
        .codeOpen(.init(clientNonce: 1, pakeMessage: ya)),
        .codeOpen(
            .init(
                clientNonce: .max,
                cookie: cookie,
                requestedLifetimeSeconds: .max,
                nameplate: plate(999),
                pakeMessage: biggest
            )
        ),
        .codeOpen(
            .init(clientNonce: 2, cookie: cookie, requestedLifetimeSeconds: 60, nameplate: plate(1), pakeMessage: [7])
        ),
        .codeOpened(.init(clientNonce: 3, nameplate: plate(7), lifetimeSeconds: 600)),
        .codeLookup(.init(clientNonce: 4, nameplate: plate(7))),
        .codeLookup(.init(clientNonce: 5, cookie: cookie, nameplate: plate(999))),
        .codeOffer(.init(clientNonce: 6, nameplate: plate(7), pakeMessage: [1])),
        .codeOffer(.init(clientNonce: 6, nameplate: plate(7), pakeMessage: biggest)),
        .codeKnock(.init(clientNonce: 8, cookie: cookie, nameplate: plate(7), pakeMessage: [9], tag: tag32)),
        .codeKnock(.init(clientNonce: 8, cookie: .none, nameplate: plate(998), pakeMessage: biggest, tag: tag32)),
        .codeKnocked(.init(clientNonce: 9, nameplate: plate(7), knockID: .max, tag: tag32, pakeMessage: ya)),
        .codeKnocked(.init(clientNonce: 9, nameplate: plate(7), knockID: 0, tag: tag32, pakeMessage: [0])),
        .codeAnswer(.init(clientNonce: 10, cookie: cookie, nameplate: plate(7), knockID: 11, payload: [1])),
        .codeAnswer(.init(clientNonce: 10, cookie: cookie, nameplate: plate(7), knockID: 11, payload: payload)),
        .codeAnswered(.init(clientNonce: 12, nameplate: plate(7), payload: [2])),
        .codeAnswered(.init(clientNonce: 12, nameplate: plate(7), payload: payload)),
        .codeBurn(.init(clientNonce: 13, cookie: cookie, nameplate: plate(7), knockID: 14)),
        .codeClose(.init(clientNonce: 15, cookie: cookie, nameplate: plate(500))),
        .codeAck(.init(clientNonce: 16, nameplate: plate(7))),
        .codeError(.init(clientNonce: 17, nameplate: nil, reason: .unavailable)),
    ]
        + RendezvousWire.CodeErrorReason.allCases.map {
            .codeError(.init(clientNonce: 18, nameplate: plate(3), reason: $0))
        }
}()

@Suite struct RendezvousMessagesTests {
    @Test(arguments: sampleMessages)
    func everyMessageRoundTrips(message: RendezvousMessage) throws {
        let bytes = message.encoded()
        #expect(bytes[0] == message.type.rawValue)
        // Reserved bytes are zero, except a register's owner flag when it carries the owner part.
        var ownerFlag: UInt8 = 0
        if case .register(let register) = message, register.owner != nil { ownerFlag = RendezvousWire.registerOwnerFlag }
        #expect(bytes[1] == ownerFlag && bytes[2..<4].allSatisfy { $0 == 0 })
        #expect(RendezvousWire.sizeRange(of: message.type).contains(bytes.count))
        #expect(try RendezvousMessage.decode(bytes) == message)
    }

    @Test func everyTypeIsCoveredBySamples() {
        #expect(Set(sampleMessages.map(\.type)) == Set(RendezvousWire.MessageType.allCases))
    }

    @Test func registerHasTheDocumentedByteLayout() throws {
        let message = RendezvousMessage.register(
            .init(
                roomTag: try #require(RoomTag(bytes: Array(0x00...0x0F))),
                peerID: RendezvousPeerID(rawValue: 0x1112_1314_1516_1718),
                clientNonce: 0x2122_2324_2526_2728,
                cookie: try #require(RendezvousCookie(bytes: Array(0x30...0x3F))),
                registrationKey: try PublicKey(bytes: Array(0x40...0x5F)),
                candidates: [
                    .ipv4(127, 0, 0, 1, port: 7700),
                    UDPEndpoint(address: .v6(high: 0, low: 1), port: 7701),
                ],
                signature: Array(0x80...0xBF)
            )
        )
        let golden: [UInt8] =
            [0x20, 0, 0, 0]  // type, reserved
            + Array(0x00...0x0F)  // room tag, offset 4
            + [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]  // peer id, offset 20
            + [0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]  // client nonce, offset 28
            + Array(0x30...0x3F)  // cookie, offset 36
            + Array(0x40...0x5F)  // registration key, offset 52
            + [2]  // candidate count, offset 84
            + [4, 127, 0, 0, 1, 0x1E, 0x14]  // 127.0.0.1:7700
            + [6] + Array(repeating: 0, count: 15) + [1, 0x1E, 0x15]  // [::1]:7701
            + Array(0x80...0xBF)  // signature, the last 64 bytes
        #expect(message.encoded() == golden)
        #expect(
            golden.count == RendezvousWire.registerMinSize + RendezvousWire.ipv4CandidateSize
                + RendezvousWire.ipv6CandidateSize
        )
        #expect(try RendezvousMessage.decode(golden) == message)
        #expect(RendezvousWire.registerCandidateCountOffset == 84)
        #expect(RendezvousWire.registerKeyOffset == 52)
        #expect(RendezvousWire.registerCookieOffset == 36)
    }

    @Test func unregisterAndRetireHaveTheDocumentedByteLayout() throws {
        let key = try PublicKey(bytes: Array(0x40...0x5F))
        let unregister = RendezvousMessage.unregister(
            .init(
                roomTag: try #require(RoomTag(bytes: Array(0x00...0x0F))),
                peerID: RendezvousPeerID(rawValue: 0x1112_1314_1516_1718),
                clientNonce: 0x2122_2324_2526_2728,
                cookie: try #require(RendezvousCookie(bytes: Array(0x30...0x3F))),
                registrationKey: key,
                signature: Array(0x80...0xBF)
            )
        )
        let golden: [UInt8] =
            [0x26, 0, 0, 0] + Array(0x00...0x0F) + [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
            + [0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28] + Array(0x30...0x3F) + Array(0x40...0x5F)
            + Array(0x80...0xBF)
        #expect(unregister.encoded() == golden)
        #expect(golden.count == RendezvousWire.unregisterSize)
        #expect(RendezvousWire.unregisterKeyOffset == 52 && RendezvousWire.unregisterSignatureOffset == 84)
        #expect(try RendezvousMessage.decode(golden) == unregister)

        let retire = RendezvousMessage.retire(
            .init(
                roomTag: try #require(RoomTag(bytes: Array(0x00...0x0F))),
                registrationKey: key,
                clientNonce: 0x2122_2324_2526_2728,
                cookie: try #require(RendezvousCookie(bytes: Array(0x30...0x3F))),
                signature: Array(0x80...0xBF)
            )
        )
        let retireGolden: [UInt8] =
            [0x33, 0, 0, 0]  // type, reserved
            + Array(0x00...0x0F)  // room tag, offset 4
            + Array(0x40...0x5F)  // registration key, offset 20
            + [0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]  // client nonce, offset 52
            + Array(0x30...0x3F)  // cookie, offset 60
            + Array(0x80...0xBF)  // signature, offset 76
        #expect(retire.encoded() == retireGolden)
        #expect(retireGolden.count == RendezvousWire.retireSize)
        #expect(RendezvousWire.retireKeyOffset == 20 && RendezvousWire.retireClientNonceOffset == 52)
        #expect(RendezvousWire.retireCookieOffset == 60 && RendezvousWire.retireSignatureOffset == 76)
        #expect(try RendezvousMessage.decode(retireGolden) == retire)
    }

    @Test func signaturesCoverEveryByteBeforeThemUnderTheTypesLabel() throws {
        let key = roomKey(1)
        let register = RendezvousMessage.register(
            .init(roomTag: tag(1), peerID: peer(1), clientNonce: 5, cookie: .none, candidates: [loopback(1)])
        ).encoded()
        #expect(RendezvousMessage.hasValidSignature(register, by: key.publicKey))
        #expect(!RendezvousMessage.hasValidSignature(register, by: roomKey(2).publicKey))
        let body = Array(register.dropLast(RendezvousWire.signatureSize))
        #expect(key.publicKey.isValidSignature(Array(register.suffix(64)), for: Array("cvpeer/2 register".utf8) + body))
        // Every byte before the signature is covered: flip any one and it no longer verifies.
        for index in 0..<body.count {
            var flipped = register
            flipped[index] ^= 0x01
            #expect(!RendezvousMessage.hasValidSignature(flipped, by: key.publicKey), "byte \(index) not covered")
        }
        // The label binds the type: the same bytes signed as an unregister do not verify as a register.
        let asUnregister = key.sign(Array("cvpeer/2 unregister".utf8) + body)
        #expect(!RendezvousMessage.hasValidSignature(body + asUnregister, by: key.publicKey))
        let unregister = RendezvousMessage.unregister(
            .init(roomTag: tag(1), peerID: peer(1), clientNonce: 5, cookie: .none)
        ).encoded()
        #expect(RendezvousMessage.hasValidSignature(unregister, by: key.publicKey))
        let retire = RendezvousMessage.retire(.init(roomTag: tag(1), clientNonce: 5, cookie: .none)).encoded()
        #expect(RendezvousMessage.hasValidSignature(retire, by: key.publicKey))
        #expect(!RendezvousMessage.hasValidSignature(RendezvousMessage.relay(.init(target: peer(1), datagram: [])).encoded(), by: key.publicKey))
    }

    @Test func relayAndRelayedHaveTheDocumentedByteLayout() throws {
        let inner: [UInt8] = [0xAA, 0xBB, 0xCC]
        let relay = RendezvousMessage.relay(
            .init(target: RendezvousPeerID(rawValue: 0x0102_0304_0506_0708), datagram: inner)
        )
        let golden: [UInt8] = [0x24, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0xAA, 0xBB, 0xCC]
        #expect(relay.encoded() == golden)
        #expect(RendezvousMessage.relayPeerID(in: golden) == RendezvousPeerID(rawValue: 0x0102_0304_0506_0708))
        #expect(RendezvousMessage.relayPeerID(in: Array(golden.prefix(11))) == nil)
        let relayed = RendezvousMessage.relayed(
            .init(source: RendezvousPeerID(rawValue: 0x0102_0304_0506_0708), datagram: inner)
        )
        #expect(relayed.encoded() == [0x25] + golden.dropFirst())
        #expect(RendezvousWire.relayHeaderSize == 12)
        #expect(RendezvousWire.relayPayloadOffset == 12)
    }

    @Test func cookieChallengeAndUnregisterHaveTheDocumentedByteLayout() {
        let challenge = RendezvousMessage.cookieChallenge(
            .init(
                clientNonce: 0x0102_0304_0506_0708,
                cookie: RendezvousCookie(high: 0x1111_1111_1111_1111, low: 0x2222_2222_2222_2222)
            )
        )
        #expect(
            challenge.encoded() == [0x21, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8] + Array(repeating: 0x11, count: 8)
                + Array(repeating: 0x22, count: 8)
        )
        let registered = RendezvousMessage.registered(
            .init(
                clientNonce: 0x0102_0304_0506_0708,
                peerID: RendezvousPeerID(rawValue: 9),
                reflexive: .ipv4(127, 0, 0, 1, port: 1),
                refreshIntervalSeconds: 15
            )
        )
        #expect(
            registered.encoded() == [0x22, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 9, 4, 127, 0, 0, 1, 0, 1, 0, 15]
        )
        #expect(RendezvousWire.registeredPeerIDOffset == 12 && RendezvousWire.registeredReflexiveOffset == 20)
        let introduce = RendezvousMessage.introduce(
            .init(
                clientNonce: 0x0102_0304_0506_0708, roomTag: RoomTag(high: 0x1111_1111_1111_1111, low: 0x2222_2222_2222_2222),
                peerID: RendezvousPeerID(rawValue: 9), reflexive: .ipv4(127, 0, 0, 1, port: 1), candidates: []
            )
        )
        #expect(
            introduce.encoded() == [0x23, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8] + Array(repeating: 0x11, count: 8)
                + Array(repeating: 0x22, count: 8) + [0, 0, 0, 0, 0, 0, 0, 9, 4, 127, 0, 0, 1, 0, 1, 0]
        )
        #expect(RendezvousWire.introduceRoomTagOffset == 12 && RendezvousWire.introducePeerIDOffset == 28)
    }

    @Test func sizesKeepTheRendezvousFromAmplifying() {
        // The only reply to an unverified source must be smaller than the smallest request that triggers it.
        #expect(RendezvousWire.cookieChallengeSize < RendezvousWire.registerMinSize)
        #expect(RendezvousWire.cookieChallengeSize < RendezvousWire.retireSize)
        #expect(RendezvousWire.cookieChallengeSize == 28)
        #expect(RendezvousWire.registerMinSize == 149)
        // 8 IPv6 candidates (301 bytes) plus the optional owner part (96).
        #expect(RendezvousWire.registerMaxSize == 397)
        #expect(RendezvousWire.registerWithOwnerMinSize == 245)
        #expect(RendezvousWire.registerRefusedSize == 13 && RendezvousWire.registerRefusedSize < RendezvousWire.registerMinSize)
        #expect(RendezvousWire.registeredMinSize == 29 && RendezvousWire.registeredMaxSize == 41)
        #expect(RendezvousWire.registeredMaxSize < RendezvousWire.registerMinSize)
        #expect(RendezvousWire.introduceMinSize == 44 && RendezvousWire.introduceMaxSize == 208)
        #expect(RendezvousWire.unregisterSize == 148)
        #expect(RendezvousWire.retireSize == 140)
        #expect(RendezvousWire.maxRelayedDatagramSize == 1188)
        #expect(RendezvousWire.sizeRange(of: .relay) == RendezvousWire.sizeRange(of: .relayed))
        for type in RendezvousWire.MessageType.allCases {
            #expect(RendezvousWire.sizeRange(of: type).upperBound <= RendezvousWire.maxDatagramSize)
        }
    }

    @Test(arguments: [
        ([UInt8](), RendezvousError.truncatedHeader(size: 0)),
        ([0x20, 0, 0], .truncatedHeader(size: 3)),
        ([0x01, 0, 0, 0], .unknownType(0x01)),
        ([0x1F, 0, 0, 0], .unknownType(0x1F)),
        ([0x35, 0, 0, 0], .unknownType(0x35)),
        ([0x33, 0, 0, 0], .wrongSize(.retire, allowed: 140...140, got: 4)),
        ([0x24, 0, 1, 0] + Array(repeating: 0, count: 8), .reservedNotZero),
        ([0x24, 0, 0, 0, 1, 2, 3], .wrongSize(.relay, allowed: 12...1200, got: 7)),
        ([0x21, 0, 0, 0] + Array(repeating: 0, count: 25), .wrongSize(.cookieChallenge, allowed: 28...28, got: 29)),
    ])
    func malformedHeadersAreRejected(bytes: [UInt8], error: RendezvousError) {
        #expect(throws: error) { try RendezvousMessage.decode(bytes) }
    }

    @Test func codeMessagesHaveTheDocumentedByteLayout() throws {
        let cookie = try #require(RendezvousCookie(bytes: Array(0x30...0x3F)))
        let nonce: UInt64 = 0x2122_2324_2526_2728
        let nonceBytes: [UInt8] = [0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]
        let open = RendezvousMessage.codeOpen(
            .init(
                clientNonce: nonce,
                cookie: cookie,
                requestedLifetimeSeconds: 300,
                nameplate: nil,
                pakeMessage: [0xAA, 0xBB]
            )
        )
        #expect(open.encoded() == [0x27, 0, 0, 0] + nonceBytes + Array(0x30...0x3F) + [0x01, 0x2C, 0, 0, 0xAA, 0xBB])
        #expect(RendezvousWire.codeOpenLifetimeOffset == 28 && RendezvousWire.codeOpenNameplateOffset == 30)

        let lookup = RendezvousMessage.codeLookup(.init(clientNonce: nonce, cookie: cookie, nameplate: plate(7)))
        let lookupBytes = lookup.encoded()
        #expect(lookupBytes.count == RendezvousWire.codeLookupSize)
        #expect(Array(lookupBytes[0..<30]) == [0x29, 0, 0, 0] + nonceBytes + Array(0x30...0x3F) + [0, 7])
        #expect(lookupBytes[30...].allSatisfy { $0 == 0 })

        let tag32 = Array(UInt8(0x40)..<0x60)
        let knock = RendezvousMessage.codeKnock(
            .init(
                clientNonce: nonce,
                cookie: cookie,
                nameplate: plate(0x123),
                pakeMessage: [0xCC, 0xDD, 0xEE],
                tag: tag32
            )
        )
        let knockBytes = knock.encoded()
        #expect(knockBytes.count == RendezvousWire.codeKnockSize)
        #expect(
            Array(knockBytes[0..<66])
                == [0x2B, 0, 0, 0] + nonceBytes + Array(0x30...0x3F) + [0x01, 0x23] + tag32 + [3, 0xCC, 0xDD, 0xEE]
        )
        #expect(knockBytes[66...].allSatisfy { $0 == 0 })
        #expect(RendezvousWire.codeKnockTagOffset == 30)
        #expect(RendezvousWire.codeKnockPakeMessageLengthOffset == 62)
        #expect(RendezvousWire.codeKnockPakeMessageOffset == 63)

        let knocked = RendezvousMessage.codeKnocked(
            .init(
                clientNonce: nonce,
                nameplate: plate(7),
                knockID: 0x0102_0304_0506_0708,
                tag: tag32,
                pakeMessage: [0xCC]
            )
        )
        #expect(knocked.encoded() == [0x2C, 0, 0, 0] + nonceBytes + [0, 7, 1, 2, 3, 4, 5, 6, 7, 8] + tag32 + [0xCC])

        let answer = RendezvousMessage.codeAnswer(
            .init(clientNonce: nonce, cookie: cookie, nameplate: plate(7), knockID: 9, payload: [0xF0, 0xF1])
        )
        #expect(
            answer.encoded() == [0x2D, 0, 0, 0] + nonceBytes + Array(0x30...0x3F) + [
                0, 7, 0, 0, 0, 0, 0, 0, 0, 9, 0xF0, 0xF1,
            ]
        )
        let answered = RendezvousMessage.codeAnswered(
            .init(clientNonce: nonce, nameplate: plate(7), payload: [0xF0, 0xF1])
        )
        #expect(answered.encoded() == [0x2E, 0, 0, 0] + nonceBytes + [0, 7, 0xF0, 0xF1])
        let error = RendezvousMessage.codeError(.init(clientNonce: nonce, nameplate: nil, reason: .unavailable))
        #expect(error.encoded() == [0x32, 0, 0, 0] + nonceBytes + [0, 0, 6])
        let ack = RendezvousMessage.codeAck(.init(clientNonce: nonce, nameplate: plate(999)))
        #expect(ack.encoded() == [0x31, 0, 0, 0] + nonceBytes + [0x03, 0xE7])
    }

    @Test func codeSizesNeverLetAReplyOutgrowItsRequest() {
        typealias W = RendezvousWire
        // Every node → rendezvous code request is larger than the cookie challenge it may get.
        for smallest in [
            W.codeOpenMinSize, W.codeLookupSize, W.codeKnockSize, W.codeAnswerMinSize, W.codeBurnSize, W.codeCloseSize,
        ] {
            #expect(W.cookieChallengeSize <= smallest)
            #expect(W.codeErrorSize <= smallest)
            #expect(W.codeAckSize <= smallest)
        }
        #expect(W.codeOpenedSize <= W.codeOpenMinSize)
        // The offer to a lookup, the forwarded knock, and an answer sent again to a repeated knock.
        #expect(W.codeOfferMaxSize <= W.codeLookupSize)
        #expect(W.codeKnockedMaxSize <= W.codeKnockSize)
        #expect(W.codeAnsweredMaxSize <= W.codeKnockSize)
        // Forwarding an answer changes its header only, and shrinks it.
        #expect(W.codeAnsweredPayloadOffset < W.codeAnswerPayloadOffset)
        #expect(W.codeKnockSize == 1_038 && W.codeLookupSize == 110 && W.codeErrorSize == 15)
        for type in W.MessageType.allCases {
            #expect(W.sizeRange(of: type).upperBound <= W.maxDatagramSize)
        }
    }

    @Test func malformedCodeFieldsAreRejected() throws {
        let tag32 = [UInt8](repeating: 1, count: 32)
        let knock = RendezvousMessage.codeKnock(
            .init(clientNonce: 1, cookie: .none, nameplate: plate(7), pakeMessage: [1, 2], tag: tag32)
        ).encoded()
        var zeroNameplate = knock
        zeroNameplate[RendezvousWire.codeRequestNameplateOffset + 1] = 0
        #expect(throws: RendezvousError.invalidNameplate(0)) { try RendezvousMessage.decode(zeroNameplate) }
        var bigNameplate = knock
        bigNameplate[RendezvousWire.codeRequestNameplateOffset] = 0x03
        bigNameplate[RendezvousWire.codeRequestNameplateOffset + 1] = 0xE8
        #expect(throws: RendezvousError.invalidNameplate(1_000)) { try RendezvousMessage.decode(bigNameplate) }
        var emptyPake = knock
        emptyPake[RendezvousWire.codeKnockPakeMessageLengthOffset] = 0
        #expect(throws: RendezvousError.pakeMessageSize(0)) { try RendezvousMessage.decode(emptyPake) }
        var longPake = knock
        longPake[RendezvousWire.codeKnockPakeMessageLengthOffset] = 97
        #expect(throws: RendezvousError.pakeMessageSize(97)) { try RendezvousMessage.decode(longPake) }
        var hugePake = knock
        hugePake[RendezvousWire.codeKnockPakeMessageLengthOffset] = 255
        #expect(throws: RendezvousError.pakeMessageSize(255)) { try RendezvousMessage.decode(hugePake) }
        var dirtyPadding = knock
        dirtyPadding[RendezvousWire.codeKnockSize - 1] = 1
        #expect(throws: RendezvousError.paddingNotZero(.codeKnock)) { try RendezvousMessage.decode(dirtyPadding) }
        var dirtyLookup = RendezvousMessage.codeLookup(.init(clientNonce: 1, nameplate: plate(1))).encoded()
        dirtyLookup[RendezvousWire.codeLookupPaddingOffset] = 0x80
        #expect(throws: RendezvousError.paddingNotZero(.codeLookup)) { try RendezvousMessage.decode(dirtyLookup) }
        var badReason = RendezvousMessage.codeError(.init(clientNonce: 1, nameplate: nil, reason: .used)).encoded()
        badReason[RendezvousWire.codeErrorSize - 1] = 0
        #expect(throws: RendezvousError.unknownCodeErrorReason(0)) { try RendezvousMessage.decode(badReason) }
        var noneOpened = RendezvousMessage.codeOpened(.init(clientNonce: 1, nameplate: plate(1), lifetimeSeconds: 1))
            .encoded()
        noneOpened[RendezvousWire.headerSize + RendezvousWire.clientNonceSize + 1] = 0
        #expect(throws: RendezvousError.invalidNameplate(0)) { try RendezvousMessage.decode(noneOpened) }
        let emptyAnswer = [UInt8](
            RendezvousMessage.codeBurn(
                .init(clientNonce: 1, cookie: .none, nameplate: plate(1), knockID: 1)
            ).encoded()
        )
        // A burn's bytes under the answer's type: an answer with no payload is too short.
        #expect(throws: RendezvousError.wrongSize(.codeAnswer, allowed: 39...1_062, got: 38)) {
            try RendezvousMessage.decode([0x2D] + emptyAnswer.dropFirst())
        }
    }

    @Test func nameplatesParseAsPeopleTypeThem() {
        #expect(CodeNameplate("7") == plate(7))
        #expect(CodeNameplate("007") == plate(7))
        #expect(CodeNameplate("999") == plate(999))
        #expect(CodeNameplate("0") == nil)
        #expect(CodeNameplate("1000") == nil)
        #expect(CodeNameplate("") == nil)
        #expect(CodeNameplate("7a") == nil)
        #expect(CodeNameplate("-7") == nil)
        #expect(CodeNameplate(rawValue: 0) == nil)
        #expect(plate(42).description == "42")
    }

    @Test func oversizedDatagramsAreRejectedBeforeTheirType() {
        let oversized = [UInt8](repeating: 0, count: RendezvousWire.maxDatagramSize + 1)
        #expect(throws: RendezvousError.datagramTooLarge(size: 1_201)) { try RendezvousMessage.decode(oversized) }
    }

    @Test func malformedFieldsAreRejected() throws {
        let base = RendezvousMessage.register(
            .init(roomTag: tag(1), peerID: peer(1), clientNonce: 1, candidates: [.ipv4(127, 0, 0, 1, port: 1)])
        ).encoded()
        var badFamily = base
        badFamily[RendezvousWire.registerCandidatesOffset] = 5
        #expect(throws: RendezvousError.unknownAddressFamily(5)) { try RendezvousMessage.decode(badFamily) }
        var tooMany = base + Array(repeating: 0, count: 60)
        tooMany[RendezvousWire.registerCandidateCountOffset] = 9
        #expect(throws: RendezvousError.tooManyCandidates(9)) { try RendezvousMessage.decode(tooMany) }
        var hugeCount = base
        hugeCount[RendezvousWire.registerCandidateCountOffset] = 255
        #expect(throws: RendezvousError.tooManyCandidates(255)) { try RendezvousMessage.decode(hugeCount) }
        #expect(throws: RendezvousError.trailingBytes(.register, count: 1)) { try RendezvousMessage.decode(base + [0]) }
        var truncated = base
        truncated[RendezvousWire.registerCandidateCountOffset] = 2
        // The second "candidate" is read from the signature, which is then too short.
        truncated[RendezvousWire.registerCandidatesOffset + RendezvousWire.ipv4CandidateSize] = 4
        #expect(throws: RendezvousError.truncatedField(.register)) { try RendezvousMessage.decode(truncated) }
        // A signature one byte short.
        #expect(throws: RendezvousError.truncatedField(.register)) { try RendezvousMessage.decode(base.dropLast()) }
        // An IPv6 family byte in an IPv4-sized slot runs past the end.
        var shortV6 = base
        shortV6[RendezvousWire.registerCandidatesOffset] = 6
        #expect(throws: RendezvousError.truncatedField(.register)) { try RendezvousMessage.decode(shortV6) }
    }

    @Test(arguments: [
        (UDPEndpoint.ipv4(127, 0, 0, 1, port: 7700), "127.0.0.1:7700"),
        (UDPEndpoint(address: .v6(high: 0, low: 1), port: 7700), "[::1]:7700"),
        (UDPEndpoint(address: .v6(high: 0, low: 0), port: 0), "[::]:0"),
        (
            UDPEndpoint(address: .v6(high: 0x2001_0db8_0000_0000, low: 0x0000_0000_0000_0001), port: 1),
            "[2001:db8::1]:1"
        ),
        (
            UDPEndpoint(address: .v6(high: 0x2001_0db8_0000_0001, low: 0x0000_0001_0000_0001), port: 1),
            "[2001:db8:0:1:0:1:0:1]:1"
        ),
        (
            UDPEndpoint(address: .v6(high: 0x2001_0db8_0000_0000, low: 0x0001_0000_0000_0001), port: 1),
            "[2001:db8::1:0:0:1]:1"
        ),
        (
            UDPEndpoint(address: .v6(high: 0x2001_0000_0000_0001, low: 0x0000_0000_0000_0001), port: 1),
            "[2001:0:0:1::1]:1"
        ),
        (
            UDPEndpoint(address: .v6(high: 0x2001_0db8_0001_0001, low: 0x0001_0001_0001_0001), port: 2),
            "[2001:db8:1:1:1:1:1:1]:2"
        ),
    ])
    func endpointsPrintAsPeopleWriteThem(endpoint: UDPEndpoint, text: String) {
        #expect(endpoint.description == text)
    }

    @Test func ipv4MappedAddressesAreUnmapped() {
        let mapped = UDPEndpoint(address: .v6(high: 0, low: 0xFFFF_7F00_0001), port: 9)
        #expect(mapped.unmapped == .ipv4(127, 0, 0, 1, port: 9))
        let plain = UDPEndpoint(address: .v6(high: 0, low: 1), port: 9)
        #expect(plain.unmapped == plain)
        #expect(UDPEndpoint(addressBytes: [127, 0, 0, 1], port: 9) == .ipv4(127, 0, 0, 1, port: 9))
        #expect(UDPEndpoint(addressBytes: [1, 2, 3], port: 9) == nil)
    }

    @Test func identifiersRoundTripTheirBytes() throws {
        let bytes = Array(UInt8(0xA0)...0xAF)
        let room = try #require(RoomTag(bytes: bytes))
        #expect(room.bytes == bytes)
        #expect(room.shortDescription == "a0a1a2a3a4")
        #expect(RoomTag(bytes: Array(bytes.dropLast())) == nil)
        #expect(RendezvousPeerID(rawValue: 0x0102_0304_0506_0708).shortDescription == "0102030405")
        #expect(RendezvousPeerID.random() != RendezvousPeerID.random())
        #expect(!"\(RendezvousCookie(high: 0xDEAD_BEEF_0000_0000, low: 0x1234)))".contains("1234"))
    }
}
