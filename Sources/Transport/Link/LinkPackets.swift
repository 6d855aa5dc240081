import PeerCrypto
import Primitives

// The link layer's datagrams on one screen (docs/PROTOCOL.md, "Links"):
//
//   0x01 initiation  type 0x01 | reserved 0 0 0 | sender (4) | timestamp (8) | message 1 (48) | zero (80)
//                    | mac1 (16) | mac2 (16)                                                           176 bytes
//   0x02 response    type 0x02 | reserved 0 0 0 | sender (4) | receiver (4) | message 2 (136) | mac (16) 164 bytes
//   0x03 finish      type 0x03 | reserved 0 0 0 | receiver (4) | message 3 (104) | mac (16)              128 bytes
//   0x04 data        type 0x04 | reserved 0 0 0 | receiver (4) | counter (8) | ciphertext + tag (≥16)  32…1188 bytes
//   0x05 punch       type 0x05 | reserved 0 0 0 | random (8)                                            12 bytes
//   0x06 cookie      type 0x06 | reserved 0 0 0 | receiver (4) | nonce (24) | sealed cookie (16 + 16)     64 bytes
//
// Integers are big-endian. The initiation's timestamp is the sender's wall clock in milliseconds
// since 1970 (UTC), under the mac so only a room member sets it. mac (mac1 in an initiation) =
// BLAKE2b-128 keyed with the room's mac key over every byte before it; an initiation's mac2 is
// BLAKE2b-128 keyed with a cookie over every byte before it (zero without a cookie). A data
// packet's 16-byte header is the AEAD's associated data and its counter the nonce. Decoding checks
// only lengths, the type, the reserved bytes and an initiation's zero padding; the macs and the
// AEAD are checked by the endpoint, in that order, before any Diffie-Hellman.

/// Why bytes are not a link packet; every case is dropped and counted as malformed.
package enum LinkPacketError: Error, Equatable, Sendable {
    /// Not even a type byte.
    case empty
    /// A first byte the link layer does not define (rendezvous types go elsewhere).
    case unknownType(UInt8)
    /// A length this type never has.
    case wrongLength(Wire.LinkPacketType, Int)
    /// Reserved bytes (or an initiation's padding) that are not zero.
    case nonZeroReserved
}

/// One datagram of the link layer, decoded but not yet verified.
package enum LinkPacket: Equatable, Sendable {
    /// Noise message 1.
    case initiation(Initiation)
    /// Noise message 2.
    case response(Response)
    /// Noise message 3.
    case finish(Finish)
    /// An encrypted data packet.
    case data(DataPacket)
    /// A NAT punch, meaningless on receipt.
    case punch(Punch)
    /// A responder's cookie for the initiator's address, sealed to the initiation it answers.
    case cookieReply(CookieReply)

    /// Message 1, the initiator's index, which the responder addresses its answer to, and when
    /// it was made, which the responder checks against its window and replay cache.
    package struct Initiation: Equatable, Sendable {
        /// The initiator's index for this attempt.
        public var senderIndex: UInt32
        /// The initiator's wall clock when the attempt started: milliseconds since 1970 (UTC).
        public var timestamp: UInt64
        /// Noise message 1 (exactly 48 bytes).
        public var message: [UInt8]
        /// The room mac (mac1) as received (recomputed by `encoded`).
        public var mac: [UInt8]
        /// The cookie mac (mac2) as received: zero unless the sender holds a cookie for the path
        /// (`encoded` writes zero; `LinkCookie.withMac2` fills it in per path).
        package var mac2: [UInt8]

        /// A packet to encode; the macs are filled in by `encoded(macKey:)`.
        public init(senderIndex: UInt32, timestamp: UInt64, message: [UInt8], mac: [UInt8] = [], mac2: [UInt8] = []) {
            self.senderIndex = senderIndex
            self.timestamp = timestamp
            self.message = message
            self.mac = mac
            self.mac2 = mac2
        }
    }

    /// Message 2, with the responder's index and the initiator's.
    public struct Response: Equatable, Sendable {
        /// The responder's index for this session.
        public var senderIndex: UInt32
        /// The initiator's index from message 1.
        package var receiverIndex: UInt32
        /// Noise message 2 (exactly 128 bytes).
        public var message: [UInt8]
        /// The room mac as received (recomputed by `encoded`).
        public var mac: [UInt8]

        /// A packet to encode; the mac is filled in by `encoded(macKey:)`.
        public init(senderIndex: UInt32, receiverIndex: UInt32, message: [UInt8], mac: [UInt8] = []) {
            self.senderIndex = senderIndex
            self.receiverIndex = receiverIndex
            self.message = message
            self.mac = mac
        }
    }

    /// Message 3, addressed to the responder's index.
    package struct Finish: Equatable, Sendable {
        /// The responder's index from message 2.
        package var receiverIndex: UInt32
        /// Noise message 3 (exactly 96 bytes).
        public var message: [UInt8]
        /// The room mac as received (recomputed by `encoded`).
        public var mac: [UInt8]

        /// A packet to encode; the mac is filled in by `encoded(macKey:)`.
        public init(receiverIndex: UInt32, message: [UInt8], mac: [UInt8] = []) {
            self.receiverIndex = receiverIndex
            self.message = message
            self.mac = mac
        }
    }

    /// A session's encrypted packet; the header is the associated data.
    package struct DataPacket: Equatable, Sendable {
        /// The receiving side's session index.
        package var receiverIndex: UInt32
        /// The packet number: the AEAD nonce, never reused under one key.
        public var counter: UInt64
        /// ChaCha20-Poly1305 output: plaintext length + 16.
        public var ciphertext: [UInt8]

        /// Wraps the fields.
        public init(receiverIndex: UInt32, counter: UInt64, ciphertext: [UInt8]) {
            self.receiverIndex = receiverIndex
            self.counter = counter
            self.ciphertext = ciphertext
        }

        /// The 16 cleartext bytes the AEAD authenticates.
        public var header: [UInt8] { Self.header(receiverIndex: receiverIndex, counter: counter) }

        /// The header for given fields, built before the ciphertext exists.
        public static func header(receiverIndex: UInt32, counter: UInt64) -> [UInt8] {
            var bytes: [UInt8] = [Wire.LinkPacketType.data.rawValue, 0, 0, 0]
            bytes.reserveCapacity(Wire.dataHeaderSize)
            bytes += receiverIndex.bigEndianBytes
            bytes += counter.bigEndianBytes
            return bytes
        }
    }

    /// Random filler sent towards a candidate address so NATs open a mapping.
    package struct Punch: Equatable, Sendable {
        /// `Wire.punchRandomSize` random bytes.
        public var random: [UInt8]

        /// Wraps the random bytes.
        public init(random: [UInt8]) {
            precondition(random.count == Wire.punchRandomSize, "a punch carries 8 random bytes")
            self.random = random
        }
    }

    /// A cookie for the address an initiation came from, sealed so only the initiator can read it.
    package struct CookieReply: Equatable, Sendable {
        /// The initiator's index from the initiation it answers.
        package var receiverIndex: UInt32
        /// XChaCha20-Poly1305 nonce (24 random bytes).
        public var nonce: [UInt8]
        /// The cookie sealed under the room's cookie key with the initiation's mac1 as associated
        /// data (32 bytes: cookie and tag).
        package var sealedCookie: [UInt8]

        /// Wraps the fields.
        public init(receiverIndex: UInt32, nonce: [UInt8], sealedCookie: [UInt8]) {
            self.receiverIndex = receiverIndex
            self.nonce = nonce
            self.sealedCookie = sealedCookie
        }
    }

    /// Parses `bytes`, checking only lengths, the type and the reserved bytes (never throws on
    /// anything else, never traps).
    ///
    /// - Throws: `LinkPacketError` for anything that is not a well-formed link packet.
    public static func decode(_ bytes: [UInt8]) throws(LinkPacketError) -> LinkPacket {
        guard let first = bytes.first else { throw .empty }
        guard let type = Wire.LinkPacketType(rawValue: first) else { throw .unknownType(first) }
        switch type {
        case .handshakeInitiation:
            guard bytes.count == Wire.handshakeInitiationSize else { throw .wrongLength(type, bytes.count) }
        case .handshakeResponse:
            guard bytes.count == Wire.handshakeResponseSize else { throw .wrongLength(type, bytes.count) }
        case .handshakeFinish:
            guard bytes.count == Wire.handshakeFinishSize else { throw .wrongLength(type, bytes.count) }
        case .data:
            guard bytes.count >= Wire.minDataPacketSize, bytes.count <= Wire.maxLinkDatagramSize else {
                throw .wrongLength(type, bytes.count)
            }
        case .punch:
            guard bytes.count == Wire.punchSize else { throw .wrongLength(type, bytes.count) }
        case .cookieReply:
            guard bytes.count == Wire.cookieReplySize else { throw .wrongLength(type, bytes.count) }
        }
        guard bytes[1] == 0, bytes[2] == 0, bytes[3] == 0 else { throw .nonZeroReserved }
        let macStart = bytes.count - Wire.linkMacSize
        switch type {
        case .handshakeInitiation:
            let m = Wire.handshakeInitiationMessageOffset
            let padding = Wire.handshakeInitiationPaddingOffset..<Wire.handshakeInitiationMac1Offset
            guard bytes[padding].allSatisfy({ $0 == 0 }) else { throw .nonZeroReserved }
            return .initiation(
                Initiation(
                    senderIndex: readUInt32(bytes, at: Wire.linkSenderIndexOffset),
                    timestamp: readUInt64(bytes, at: Wire.handshakeInitiationTimestampOffset),
                    message: Array(bytes[m..<padding.lowerBound]),
                    mac: Array(bytes[Wire.handshakeInitiationMac1Offset..<Wire.handshakeInitiationMac2Offset]),
                    mac2: Array(bytes[Wire.handshakeInitiationMac2Offset...])))
        case .handshakeResponse:
            let m = Wire.handshakeResponseMessageOffset
            return .response(
                Response(
                    senderIndex: readUInt32(bytes, at: Wire.linkSenderIndexOffset),
                    receiverIndex: readUInt32(bytes, at: Wire.handshakeResponseReceiverIndexOffset),
                    message: Array(bytes[m..<macStart]), mac: Array(bytes[macStart...])))
        case .handshakeFinish:
            let m = Wire.handshakeFinishMessageOffset
            return .finish(
                Finish(
                    receiverIndex: readUInt32(bytes, at: Wire.linkReceiverIndexOffset),
                    message: Array(bytes[m..<macStart]), mac: Array(bytes[macStart...])))
        case .data:
            return .data(
                DataPacket(
                    receiverIndex: readUInt32(bytes, at: Wire.linkReceiverIndexOffset),
                    counter: readUInt64(bytes, at: Wire.dataCounterOffset),
                    ciphertext: Array(bytes[Wire.dataHeaderSize...])))
        case .punch:
            return .punch(Punch(random: Array(bytes[Wire.linkPacketPrefixSize...])))
        case .cookieReply:
            return .cookieReply(
                CookieReply(
                    receiverIndex: readUInt32(bytes, at: Wire.cookieReplyReceiverIndexOffset),
                    nonce: Array(bytes[Wire.cookieReplyNonceOffset..<Wire.cookieReplyCookieOffset]),
                    sealedCookie: Array(bytes[Wire.cookieReplyCookieOffset...])))
        }
    }

    /// The packet's bytes; handshake packets get a fresh mac under `macKey` (an initiation: mac1,
    /// and a zero mac2).
    ///
    /// - Precondition: handshake messages have their fixed sizes, and data packets fit
    ///   `Wire.maxLinkDatagramSize`.
    public func encoded(macKey: SecretBytes) -> [UInt8] {
        var bytes: [UInt8]
        switch self {
        case .initiation(let p):
            precondition(p.message.count == Wire.handshakeInitiationMessageSize, "message 1 is 48 bytes")
            bytes = [Wire.LinkPacketType.handshakeInitiation.rawValue, 0, 0, 0] + p.senderIndex.bigEndianBytes
                + p.timestamp.bigEndianBytes + p.message
                + [UInt8](repeating: 0, count: Wire.handshakeInitiationPaddingSize)
            bytes += LinkMac.compute(over: bytes[...], key: macKey)
            return bytes + [UInt8](repeating: 0, count: Wire.linkMacSize)
        case .response(let p):
            precondition(p.message.count == Wire.handshakeResponseMessageSize, "message 2 is 136 bytes")
            bytes = [Wire.LinkPacketType.handshakeResponse.rawValue, 0, 0, 0] + p.senderIndex.bigEndianBytes
                + p.receiverIndex.bigEndianBytes + p.message
        case .finish(let p):
            precondition(p.message.count == Wire.handshakeFinishMessageSize, "message 3 is 104 bytes")
            bytes = [Wire.LinkPacketType.handshakeFinish.rawValue, 0, 0, 0] + p.receiverIndex.bigEndianBytes + p.message
        case .data(let p):
            let out = p.header + p.ciphertext
            precondition(out.count <= Wire.maxLinkDatagramSize, "data packets fit maxLinkDatagramSize")
            return out
        case .punch(let p):
            return [Wire.LinkPacketType.punch.rawValue, 0, 0, 0] + p.random
        case .cookieReply(let p):
            precondition(
                p.nonce.count == Wire.cookieReplyNonceSize && p.sealedCookie.count == Wire.linkCookieSize + Wire.aeadTagSize,
                "a cookie reply is 64 bytes")
            return [Wire.LinkPacketType.cookieReply.rawValue, 0, 0, 0] + p.receiverIndex.bigEndianBytes + p.nonce
                + p.sealedCookie
        }
        bytes += LinkMac.compute(over: bytes[...], key: macKey)
        return bytes
    }

    private static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        bytes[offset..<offset + Wire.linkIndexSize].reduce(0) { ($0 << 8) | UInt32($1) }
    }

    private static func readUInt64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        bytes[offset..<offset + Wire.dataCounterSize].reduce(0) { ($0 << 8) | UInt64($1) }
    }
}

/// The room mac on handshake packets: one keyed hash that keeps non-members away from any
/// Diffie-Hellman.
package enum LinkMac {
    /// BLAKE2b-128 of `bytes` keyed with the room's mac key.
    package static func compute(over bytes: ArraySlice<UInt8>, key: SecretBytes) -> [UInt8] {
        bytes.withUnsafeBytes { data in
            key.withUnsafeBytes { k in Blake2b.hash(data, key: k, outputLength: Wire.linkMacSize) }
        }
    }

    /// True if a handshake packet's room mac (its last 16 bytes; an initiation's mac1, 16 bytes
    /// before its end) is the mac of every byte before it, compared in constant time so a
    /// non-member cannot forge a mac byte by byte.
    package static func isValid(_ packet: [UInt8], key: SecretBytes) -> Bool {
        guard packet.count >= Wire.linkMacSize else { return false }
        let macStart =
            packet.first == Wire.LinkPacketType.handshakeInitiation.rawValue && packet.count == Wire.handshakeInitiationSize
            ? Wire.handshakeInitiationMac1Offset : packet.count - Wire.linkMacSize
        return matches(packet[macStart..<macStart + Wire.linkMacSize], compute(over: packet[..<macStart], key: key))
    }

    /// Constant-time comparison of two 16-byte macs.
    static func matches(_ received: ArraySlice<UInt8>, _ expected: [UInt8]) -> Bool {
        guard received.count == Wire.linkMacSize, expected.count == Wire.linkMacSize else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(received, expected) { difference |= a ^ b }
        return difference == 0
    }
}
