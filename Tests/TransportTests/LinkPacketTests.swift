import CVPeerTestSupport
import PeerCrypto
import Testing
@testable import Transport

@Suite struct LinkPacketTests {
    static let macKey = LinkFixtures.room(1).macKey

    static var samples: [LinkPacket] {
        [
            .initiation(.init(senderIndex: 0x0102_0304, timestamp: 0x1122_3344_5566_7788, message: [UInt8](repeating: 1, count: 48))),
            .response(.init(senderIndex: 5, receiverIndex: 0xFFFF_FFFF, message: [UInt8](repeating: 2, count: Wire.handshakeResponseMessageSize))),
            .finish(.init(receiverIndex: 9, message: [UInt8](repeating: 3, count: Wire.handshakeFinishMessageSize))),
            .data(.init(receiverIndex: 7, counter: 0x0102_0304_0506_0708, ciphertext: [UInt8](repeating: 4, count: 16))),
            .data(.init(receiverIndex: 7, counter: 1, ciphertext: [UInt8](repeating: 4, count: Wire.maxFramesSize + 16))),
            .punch(.init(random: [1, 2, 3, 4, 5, 6, 7, 8])),
            .cookieReply(.init(receiverIndex: 0x0A0B_0C0D, nonce: [UInt8](repeating: 5, count: 24), sealedCookie: [UInt8](repeating: 6, count: 32))),
        ]
    }

    @Test func sizesMatchThePacketTable() {
        #expect(Wire.handshakeInitiationSize == 176)
        #expect(Wire.cookieReplySize == 64)
        // Nothing a responder sends in answer to an initiation is larger than the initiation.
        #expect(Wire.handshakeInitiationSize >= Wire.handshakeResponseSize)
        #expect(Wire.handshakeInitiationSize >= Wire.cookieReplySize)
        #expect(Wire.handshakeResponseSize == 164)
        #expect(Wire.handshakeFinishSize == 128)
        #expect(Wire.minDataPacketSize == 32)
        #expect(Wire.punchSize == 12)
        #expect(Wire.maxLinkDatagramSize == 1188)
        #expect(Wire.handshakeInitiationMessageSize == CvpeerHandshake.message1Length)
        #expect(Wire.handshakeResponseMessageSize == CvpeerHandshake.message2MinimumLength + Wire.linkIncarnationSize)
        #expect(Wire.handshakeFinishMessageSize == CvpeerHandshake.message3MinimumLength + Wire.linkIncarnationSize)
    }

    @Test(arguments: samples) func roundTripsAndMacVerifies(_ packet: LinkPacket) throws {
        let bytes = packet.encoded(macKey: Self.macKey)
        let decoded = try LinkPacket.decode(bytes)
        switch (packet, decoded) {
        case (.initiation(let a), .initiation(let b)):
            #expect(a.senderIndex == b.senderIndex && a.timestamp == b.timestamp && a.message == b.message)
            #expect(LinkMac.isValid(bytes, key: Self.macKey))
            #expect(!LinkMac.isValid(bytes, key: LinkFixtures.room(2).macKey))
            #expect(b.mac2 == [UInt8](repeating: 0, count: 16))
        case (.response(let a), .response(let b)):
            #expect(a.senderIndex == b.senderIndex && a.receiverIndex == b.receiverIndex && a.message == b.message)
            #expect(LinkMac.isValid(bytes, key: Self.macKey))
        case (.finish(let a), .finish(let b)):
            #expect(a.receiverIndex == b.receiverIndex && a.message == b.message)
            #expect(LinkMac.isValid(bytes, key: Self.macKey))
        case (.data(let a), .data(let b)):
            #expect(a == b)
            #expect(Array(bytes.prefix(16)) == a.header)
        case (.punch(let a), .punch(let b)):
            #expect(a == b)
        case (.cookieReply(let a), .cookieReply(let b)):
            #expect(a == b)
        case (.initiation, _), (.response, _), (.finish, _), (.data, _), (.punch, _), (.cookieReply, _):
            Issue.record("decoded to another type: \(decoded)")
        }
    }

    @Test func fieldsSitAtTheirOffsets() {
        let bytes = LinkPacket.data(.init(receiverIndex: 0xA1B2_C3D4, counter: 0x1122_3344_5566_7788, ciphertext: [UInt8](repeating: 0, count: 16)))
            .encoded(macKey: Self.macKey)
        #expect(Array(bytes[0..<4]) == [0x04, 0, 0, 0])
        #expect(Array(bytes[Wire.linkReceiverIndexOffset..<Wire.linkReceiverIndexOffset + 4]) == [0xA1, 0xB2, 0xC3, 0xD4])
        #expect(Array(bytes[Wire.dataCounterOffset..<Wire.dataCounterOffset + 8]) == [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88])
        let response = LinkPacket.response(.init(senderIndex: 1, receiverIndex: 2, message: [UInt8](repeating: 9, count: Wire.handshakeResponseMessageSize)))
            .encoded(macKey: Self.macKey)
        #expect(Array(response[4..<12]) == [0, 0, 0, 1, 0, 0, 0, 2])
        #expect(response[Wire.handshakeResponseMessageOffset] == 9)
        let initiation = LinkPacket.initiation(
            .init(senderIndex: 0x0A0B_0C0D, timestamp: 0x0102_0304_0506_0708, message: [UInt8](repeating: 6, count: 48))
        ).encoded(macKey: Self.macKey)
        #expect(Array(initiation[0..<4]) == [0x01, 0, 0, 0])
        #expect(Array(initiation[Wire.linkSenderIndexOffset..<Wire.linkSenderIndexOffset + 4]) == [0x0A, 0x0B, 0x0C, 0x0D])
        let t = Wire.handshakeInitiationTimestampOffset
        #expect(Array(initiation[t..<t + Wire.handshakeInitiationTimestampSize]) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(Wire.handshakeInitiationMessageOffset == t + Wire.handshakeInitiationTimestampSize)
        #expect(Array(initiation[Wire.handshakeInitiationMessageOffset..<Wire.handshakeInitiationMessageOffset + 48])
            == [UInt8](repeating: 6, count: 48))
        // The timestamp is under the mac: changing it breaks the mac.
        var later = initiation
        later[t + 7] ^= 1
        #expect(!LinkMac.isValid(later, key: Self.macKey))
        // The padding is zero and under mac1; mac2 is zero without a cookie and outside mac1.
        #expect(initiation[Wire.handshakeInitiationPaddingOffset..<Wire.handshakeInitiationMac1Offset].allSatisfy { $0 == 0 })
        #expect(initiation[Wire.handshakeInitiationMac2Offset...].allSatisfy { $0 == 0 })
        var padded = initiation
        padded[Wire.handshakeInitiationPaddingOffset] = 1
        #expect(throws: LinkPacketError.nonZeroReserved) { try LinkPacket.decode(padded) }
        let cookie = [UInt8](repeating: 7, count: 16)
        let withCookie = LinkCookie.withMac2(initiation, cookie: cookie)
        #expect(LinkMac.isValid(withCookie, key: Self.macKey))
        #expect(LinkCookie.hasValidMac2(withCookie, cookie: cookie))
        #expect(!LinkCookie.hasValidMac2(withCookie, cookie: [UInt8](repeating: 8, count: 16)))
        #expect(!LinkCookie.hasValidMac2(initiation, cookie: cookie))
    }

    @Test func everyPrefixAndExtensionIsRefusedWithoutTrapping() {
        for packet in Self.samples {
            let bytes = packet.encoded(macKey: Self.macKey)
            for length in 0..<bytes.count {
                let prefix = Array(bytes.prefix(length))
                // Data packets are variable: a long enough prefix of one is still a data packet.
                if case .data = packet, length >= Wire.minDataPacketSize { continue }
                #expect(throws: LinkPacketError.self) { try LinkPacket.decode(prefix) }
            }
            if case .data = packet, bytes.count < Wire.maxLinkDatagramSize { continue }
            #expect(throws: LinkPacketError.self) { try LinkPacket.decode(bytes + [0]) }
        }
    }

    @Test func reservedBytesMustBeZeroAndUnknownTypesAreRefused() {
        for packet in Self.samples {
            var bytes = packet.encoded(macKey: Self.macKey)
            bytes[2] = 1
            #expect(throws: LinkPacketError.nonZeroReserved) { try LinkPacket.decode(bytes) }
        }
        #expect(throws: LinkPacketError.empty) { try LinkPacket.decode([]) }
        for type in [0x00, 0x07, 0x20, 0x24, 0xFF] as [UInt8] {
            #expect(throws: LinkPacketError.unknownType(type)) { try LinkPacket.decode([type] + [UInt8](repeating: 0, count: 71)) }
        }
    }

    @Test func closeNoticeIsNotAReliabilityPacket() {
        #expect(throws: ReliabilityError.self) { try LinkFrame.decode([Wire.linkCloseNotice]) }
    }
}
