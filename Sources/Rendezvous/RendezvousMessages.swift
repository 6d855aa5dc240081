import PeerCrypto
import Primitives

/// The rendezvous datagrams, shared by the server and the node-side client.
///
/// Decoding is total: any byte string gives a message or a `RendezvousError`, never a trap or an
/// unbounded allocation. The order of checks is the cheap-first order of wireguard-go's receive
/// path: overall length, type, reserved bytes, the type's size bounds, then fields, with every
/// count checked before anything is allocated. Encoding is canonical: a decoded message encodes
/// back to exactly the bytes it came from.
package enum RendezvousMessage: Hashable, Sendable {
    /// 0x20, node → rendezvous.
    case register(Register)
    /// 0x21, rendezvous → node.
    case cookieChallenge(CookieChallenge)
    /// 0x22, rendezvous → node.
    case registered(Registered)
    /// 0x23, rendezvous → node.
    case introduce(Introduce)
    /// 0x24, node → rendezvous.
    case relay(Relay)
    /// 0x25, rendezvous → node.
    case relayed(Relayed)
    /// 0x26, node → rendezvous.
    case unregister(Unregister)
    /// 0x27, host → rendezvous.
    case codeOpen(CodeOpen)
    /// 0x28, rendezvous → host.
    case codeOpened(CodeOpened)
    /// 0x29, joiner → rendezvous.
    case codeLookup(CodeLookup)
    /// 0x2A, rendezvous → joiner.
    case codeOffer(CodeOffer)
    /// 0x2B, joiner → rendezvous.
    case codeKnock(CodeKnock)
    /// 0x2C, rendezvous → host.
    case codeKnocked(CodeKnocked)
    /// 0x2D, host → rendezvous.
    case codeAnswer(CodeAnswer)
    /// 0x2E, rendezvous → joiner.
    case codeAnswered(CodeAnswered)
    /// 0x2F, host → rendezvous.
    case codeBurn(CodeBurn)
    /// 0x30, host → rendezvous.
    case codeClose(CodeClose)
    /// 0x31, rendezvous → host.
    case codeAck(CodeAck)
    /// 0x32, rendezvous → node.
    case codeError(CodeError)
    /// 0x33, node → rendezvous.
    case retire(Retire)
    /// Rendezvous → node: the room this register would create was refused.
    case registerRefused(RegisterRefused)

    /// Join a room, or refresh the registration before it expires; signed with the room's
    /// registration key.
    public struct Register: Hashable, Sendable {
        /// The room to join: `RoomTag(registrationKey:)` of the key, or the rendezvous drops it.
        public var roomTag: RoomTag
        /// The node's random id in this room, the same on every refresh.
        public var peerID: RendezvousPeerID
        /// Echoed in the cookie challenge and bound into the cookie.
        package var clientNonce: UInt64
        /// The cookie from the last challenge, or `.none`.
        public var cookie: RendezvousCookie
        /// The room's registration key in the tag's epoch.
        public var registrationKey: PublicKey
        /// The node's local addresses, at most `RendezvousWire.maxCandidates`.
        public var candidates: [UDPEndpoint]
        /// The room owner's proof, present only when the node is the room's owner: what a
        /// rendezvous run with `--allow` needs before it creates the room.
        public var owner: OwnerProof?
        /// Ed25519 over `registerSignatureLabel` ‖ every byte before it (the owner part included);
        /// zeros until `signed(by:)`.
        public var signature: [UInt8]

        /// Creates a register; more than `RendezvousWire.maxCandidates` candidates or a signature
        /// of another length is a programmer error.
        public init(
            roomTag: RoomTag,
            peerID: RendezvousPeerID,
            clientNonce: UInt64,
            cookie: RendezvousCookie = .none,
            registrationKey: PublicKey,
            candidates: [UDPEndpoint],
            owner: OwnerProof? = nil,
            signature: [UInt8] = RendezvousMessage.unsigned
        ) {
            precondition(candidates.count <= RendezvousWire.maxCandidates, "at most maxCandidates candidates")
            precondition(signature.count == RendezvousWire.signatureSize, "a signature is signatureSize bytes")
            self.roomTag = roomTag
            self.peerID = peerID
            self.clientNonce = clientNonce
            self.cookie = cookie
            self.registrationKey = registrationKey
            self.candidates = candidates
            self.owner = owner
            self.signature = signature
        }

        /// This register signed by `key` (the room's registration key, or anyone's in tests); the
        /// owner part, if any, is kept as it is.
        public func signed(by key: Identity) -> Register {
            var copy = self
            copy.signature = RendezvousMessage.signature(of: RendezvousMessage.register(self).encoded(), by: key)
            return copy
        }

        /// This register with `owner`'s proof (its key, and its signature under
        /// `registerOwnerSignatureLabel` of every byte up to the end of the candidates, the owner
        /// flag set), then signed by the room's registration key `key`.
        public func signed(by key: Identity, owner: Identity) -> Register {
            var copy = self
            copy.owner = OwnerProof(key: owner.publicKey)
            let encoded = RendezvousMessage.register(copy).encoded()
            let body = encoded.prefix(encoded.count - RendezvousWire.signatureSize - RendezvousWire.registerOwnerPartSize)
            copy.owner = OwnerProof(
                key: owner.publicKey, signature: owner.sign(RendezvousWire.registerOwnerSignatureLabel + body))
            return copy.signed(by: key)
        }
    }

    /// A register's optional owner part: the room owner's key and its signature.
    package struct OwnerProof: Hashable, Sendable {
        /// The owner's Ed25519 identity key (the room's `RoomKeys.owner`).
        public var key: PublicKey
        /// Ed25519 over `registerOwnerSignatureLabel` ‖ the register's bytes up to the end of its
        /// candidates (the flag byte included); zeros until signed.
        public var signature: [UInt8]

        /// Creates an owner part; a signature of another length is a programmer error.
        public init(key: PublicKey, signature: [UInt8] = RendezvousMessage.unsigned) {
            precondition(signature.count == RendezvousWire.signatureSize, "a signature is signatureSize bytes")
            self.key = key
            self.signature = signature
        }
    }

    /// The rendezvous refused to create the room a register asked for; bound to that register's nonce.
    package struct RegisterRefused: Hashable, Sendable {
        /// The client nonce of the register refused: the node takes only its own.
        package var clientNonce: UInt64
        /// Why.
        public var reason: RendezvousWire.RegisterRefusalReason

        /// Creates a registerRefused.
        public init(clientNonce: UInt64, reason: RendezvousWire.RegisterRefusalReason) {
            self.clientNonce = clientNonce
            self.reason = reason
        }
    }

    /// The rendezvous's answer to a register without a valid cookie: send it again with this one.
    package struct CookieChallenge: Hashable, Sendable {
        /// The nonce of the register this answers.
        package var clientNonce: UInt64
        /// The cookie to put in the next register (valid for 120 to 240 seconds).
        public var cookie: RendezvousCookie

        /// Creates a challenge.
        public init(clientNonce: UInt64, cookie: RendezvousCookie) {
            self.clientNonce = clientNonce
            self.cookie = cookie
        }
    }

    /// Registration accepted.
    package struct Registered: Hashable, Sendable {
        /// The client nonce of the register accepted: the node takes only its own.
        package var clientNonce: UInt64
        /// The registered peer id.
        public var peerID: RendezvousPeerID
        /// The node's address as the rendezvous sees it (its public, server-reflexive address).
        public var reflexive: UDPEndpoint
        /// Register again within this many seconds to stay registered.
        package var refreshIntervalSeconds: UInt16

        /// Creates a registered reply.
        public init(clientNonce: UInt64, peerID: RendezvousPeerID, reflexive: UDPEndpoint, refreshIntervalSeconds: UInt16) {
            self.clientNonce = clientNonce
            self.peerID = peerID
            self.reflexive = reflexive
            self.refreshIntervalSeconds = refreshIntervalSeconds
        }
    }

    /// Another member of the room, with every address worth trying to reach it.
    package struct Introduce: Hashable, Sendable {
        /// The client nonce of the recipient's last register in this room: the node takes only its own.
        package var clientNonce: UInt64
        /// The room both nodes registered in.
        public var roomTag: RoomTag
        /// The other node's peer id (the target of relays to it).
        public var peerID: RendezvousPeerID
        /// The other node's address as the rendezvous sees it.
        public var reflexive: UDPEndpoint
        /// The other node's own local addresses, at most `RendezvousWire.maxCandidates`.
        public var candidates: [UDPEndpoint]

        /// Creates an introduce; more than `RendezvousWire.maxCandidates` candidates is a programmer error.
        public init(
            clientNonce: UInt64, roomTag: RoomTag, peerID: RendezvousPeerID, reflexive: UDPEndpoint,
            candidates: [UDPEndpoint]
        ) {
            precondition(candidates.count <= RendezvousWire.maxCandidates, "at most maxCandidates candidates")
            self.clientNonce = clientNonce
            self.roomTag = roomTag
            self.peerID = peerID
            self.reflexive = reflexive
            self.candidates = candidates
        }
    }

    /// Ask the rendezvous to forward an opaque datagram to another member of the room.
    package struct Relay: Hashable, Sendable {
        /// The member to forward to.
        public var target: RendezvousPeerID
        /// The node's own datagram, at most `RendezvousWire.maxRelayedDatagramSize` bytes.
        public var datagram: [UInt8]

        /// Creates a relay; an oversized inner datagram is a programmer error.
        public init(target: RendezvousPeerID, datagram: [UInt8]) {
            precondition(datagram.count <= RendezvousWire.maxRelayedDatagramSize, "inner datagram too large")
            self.target = target
            self.datagram = datagram
        }
    }

    /// A datagram forwarded by the rendezvous from another member of the room.
    package struct Relayed: Hashable, Sendable {
        /// The member that sent it.
        public var source: RendezvousPeerID
        /// The sender's datagram, unchanged.
        public var datagram: [UInt8]

        /// Creates a relayed datagram; an oversized inner datagram is a programmer error.
        public init(source: RendezvousPeerID, datagram: [UInt8]) {
            precondition(datagram.count <= RendezvousWire.maxRelayedDatagramSize, "inner datagram too large")
            self.source = source
            self.datagram = datagram
        }
    }

    /// Leave a room now instead of letting the registration expire; signed with the room's
    /// registration key.
    package struct Unregister: Hashable, Sendable {
        /// The room to leave.
        public var roomTag: RoomTag
        /// The node's peer id in that room.
        public var peerID: RendezvousPeerID
        /// The nonce the cookie was issued for.
        package var clientNonce: UInt64
        /// A valid cookie for the sending address: proves the request comes from the registered node's address.
        public var cookie: RendezvousCookie
        /// The room's registration key in the tag's epoch.
        public var registrationKey: PublicKey
        /// Ed25519 over `unregisterSignatureLabel` ‖ every byte before it; zeros until `signed(by:)`.
        public var signature: [UInt8]

        /// Creates an unregister; a signature of another length is a programmer error.
        public init(
            roomTag: RoomTag, peerID: RendezvousPeerID, clientNonce: UInt64, cookie: RendezvousCookie,
            registrationKey: PublicKey, signature: [UInt8] = RendezvousMessage.unsigned
        ) {
            precondition(signature.count == RendezvousWire.signatureSize, "a signature is signatureSize bytes")
            self.roomTag = roomTag
            self.peerID = peerID
            self.clientNonce = clientNonce
            self.cookie = cookie
            self.registrationKey = registrationKey
            self.signature = signature
        }

        /// This unregister signed by `key`.
        public func signed(by key: Identity) -> Unregister {
            var copy = self
            copy.signature = RendezvousMessage.signature(of: RendezvousMessage.unregister(self).encoded(), by: key)
            return copy
        }
    }

    /// Retire a room's tag: the rendezvous removes the room's registrations and refuses new ones
    /// under the tag for `retiredRoomLifetime`. A node sends it for the previous epoch's tag once
    /// the overlap after an epoch change ends. Signed with that epoch's registration key; nothing
    /// answers it (but a cookie challenge when the cookie is not valid).
    package struct Retire: Hashable, Sendable {
        /// The tag to retire.
        public var roomTag: RoomTag
        /// The registration key the tag is bound to.
        public var registrationKey: PublicKey
        /// The nonce the cookie was issued for.
        package var clientNonce: UInt64
        /// A valid cookie for the sending address, or `.none` to ask for one.
        public var cookie: RendezvousCookie
        /// Ed25519 over `retireSignatureLabel` ‖ every byte before it; zeros until `signed(by:)`.
        public var signature: [UInt8]

        /// Creates a retire; a signature of another length is a programmer error.
        public init(
            roomTag: RoomTag, registrationKey: PublicKey, clientNonce: UInt64, cookie: RendezvousCookie = .none,
            signature: [UInt8] = RendezvousMessage.unsigned
        ) {
            precondition(signature.count == RendezvousWire.signatureSize, "a signature is signatureSize bytes")
            self.roomTag = roomTag
            self.registrationKey = registrationKey
            self.clientNonce = clientNonce
            self.cookie = cookie
            self.signature = signature
        }

        /// This retire signed by `key`.
        public func signed(by key: Identity) -> Retire {
            var copy = self
            copy.signature = RendezvousMessage.signature(of: RendezvousMessage.retire(self).encoded(), by: key)
            return copy
        }
    }

    /// The all-zero signature of a message not signed yet.
    package static let unsigned = [UInt8](repeating: 0, count: RendezvousWire.signatureSize)

    /// The label signed before the bytes of a message of `type`, or nil for an unsigned type.
    package static func signatureLabel(of type: RendezvousWire.MessageType) -> [UInt8]? {
        switch type {
        case .register: RendezvousWire.registerSignatureLabel
        case .unregister: RendezvousWire.unregisterSignatureLabel
        case .retire: RendezvousWire.retireSignatureLabel
        case .registerRefused, .cookieChallenge, .registered, .introduce, .relay, .relayed, .codeOpen, .codeOpened, .codeLookup,
            .codeOffer, .codeKnock, .codeKnocked, .codeAnswer, .codeAnswered, .codeBurn, .codeClose, .codeAck,
            .codeError:
            nil
        }
    }

    /// The signature `key` makes for `datagram`, an encoded register, unregister or retire whose
    /// last `signatureSize` bytes are the signature's place (their content is ignored).
    public static func signature(of datagram: [UInt8], by key: Identity) -> [UInt8] {
        guard let type = datagram.first.flatMap(RendezvousWire.MessageType.init(rawValue:)),
            let label = signatureLabel(of: type), datagram.count > RendezvousWire.signatureSize
        else { preconditionFailure("only an encoded register, unregister or retire is signed") }
        return key.sign(label + datagram.dropLast(RendezvousWire.signatureSize))
    }

    /// True if `datagram`, a register carrying an owner part, holds a valid owner signature by
    /// that part's key; false for anything else.
    package static func hasValidOwnerSignature(_ datagram: [UInt8], by key: PublicKey) -> Bool {
        guard datagram.first == RendezvousWire.MessageType.register.rawValue,
            datagram.count >= RendezvousWire.registerWithOwnerMinSize,
            datagram[RendezvousWire.registerFlagsOffset] & RendezvousWire.registerOwnerFlag != 0
        else { return false }
        let signatureEnd = datagram.count - RendezvousWire.signatureSize
        let signatureStart = signatureEnd - RendezvousWire.signatureSize
        let bodyEnd = signatureStart - RendezvousWire.ownerKeySize
        return key.isValidSignature(
            Array(datagram[signatureStart..<signatureEnd]),
            for: RendezvousWire.registerOwnerSignatureLabel + datagram[..<bodyEnd])
    }

    /// True if the last `signatureSize` bytes of `datagram` are `key`'s signature of the label of
    /// its type and every byte before them; false for an unsigned type or a short datagram.
    package static func hasValidSignature(_ datagram: [UInt8], by key: PublicKey) -> Bool {
        guard let type = datagram.first.flatMap(RendezvousWire.MessageType.init(rawValue:)),
            let label = signatureLabel(of: type), datagram.count > RendezvousWire.signatureSize
        else { return false }
        let split = datagram.count - RendezvousWire.signatureSize
        // The label and the body side by side in one temporary buffer (on the stack at register
        // sizes) rather than two new arrays: every signed datagram that passes the cookie and the
        // tag comes through here.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: label.count + split) { message in
            _ = message.initialize(from: label)
            _ = UnsafeMutableBufferPointer(rebasing: message[label.count...]).initialize(from: datagram[..<split])
            return datagram.withUnsafeBytes { bytes in
                key.isValidSignature(UnsafeRawBufferPointer(rebasing: bytes[split...]), for: UnsafeRawBufferPointer(message))
            }
        }
    }

    /// The message's type byte.
    public var type: RendezvousWire.MessageType {
        switch self {
        case .register: .register
        case .cookieChallenge: .cookieChallenge
        case .registered: .registered
        case .introduce: .introduce
        case .relay: .relay
        case .relayed: .relayed
        case .unregister: .unregister
        case .codeOpen: .codeOpen
        case .codeOpened: .codeOpened
        case .codeLookup: .codeLookup
        case .codeOffer: .codeOffer
        case .codeKnock: .codeKnock
        case .codeKnocked: .codeKnocked
        case .codeAnswer: .codeAnswer
        case .codeAnswered: .codeAnswered
        case .codeBurn: .codeBurn
        case .codeClose: .codeClose
        case .codeAck: .codeAck
        case .codeError: .codeError
        case .retire: .retire
        case .registerRefused: .registerRefused
        }
    }

    // MARK: Encoding

    /// The datagram bytes of this message.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter.message(type)
        switch self {
        case .register(let m):
            writer.tag(m.roomTag)
            writer.uint64(m.peerID.rawValue)
            writer.uint64(m.clientNonce)
            writer.cookie(m.cookie)
            writer.bytes.append(contentsOf: m.registrationKey.bytes)
            writer.candidateList(m.candidates)
            if let owner = m.owner {
                writer.bytes[RendezvousWire.registerFlagsOffset] = RendezvousWire.registerOwnerFlag
                writer.bytes.append(contentsOf: owner.key.bytes)
                writer.bytes.append(contentsOf: owner.signature)
            }
            writer.bytes.append(contentsOf: m.signature)
        case .registerRefused(let m):
            writer.uint64(m.clientNonce)
            writer.bytes.append(m.reason.rawValue)
        case .cookieChallenge(let m):
            writer.uint64(m.clientNonce)
            writer.cookie(m.cookie)
        case .registered(let m):
            writer.uint64(m.clientNonce)
            writer.uint64(m.peerID.rawValue)
            writer.candidate(m.reflexive)
            writer.uint16(m.refreshIntervalSeconds)
        case .introduce(let m):
            writer.uint64(m.clientNonce)
            writer.tag(m.roomTag)
            writer.uint64(m.peerID.rawValue)
            writer.candidate(m.reflexive)
            writer.candidateList(m.candidates)
        case .relay(let m):
            writer.uint64(m.target.rawValue)
            writer.bytes.append(contentsOf: m.datagram)
        case .relayed(let m):
            writer.uint64(m.source.rawValue)
            writer.bytes.append(contentsOf: m.datagram)
        case .unregister(let m):
            writer.tag(m.roomTag)
            writer.uint64(m.peerID.rawValue)
            writer.uint64(m.clientNonce)
            writer.cookie(m.cookie)
            writer.bytes.append(contentsOf: m.registrationKey.bytes)
            writer.bytes.append(contentsOf: m.signature)
        case .retire(let m):
            writer.tag(m.roomTag)
            writer.bytes.append(contentsOf: m.registrationKey.bytes)
            writer.uint64(m.clientNonce)
            writer.cookie(m.cookie)
            writer.bytes.append(contentsOf: m.signature)
        case .codeOpen(let m):
            writer.uint64(m.clientNonce)
            writer.cookie(m.cookie)
            writer.uint16(m.requestedLifetimeSeconds)
            writer.uint16(m.nameplate?.rawValue ?? 0)
            writer.bytes.append(contentsOf: m.pakeMessage)
        case .codeOpened(let m):
            writer.uint64(m.clientNonce)
            writer.uint16(m.nameplate.rawValue)
            writer.uint16(m.lifetimeSeconds)
        case .codeLookup(let m):
            writer.uint64(m.clientNonce)
            writer.cookie(m.cookie)
            writer.uint16(m.nameplate.rawValue)
            writer.pad(to: RendezvousWire.codeLookupSize)
        case .codeOffer(let m):
            writer.uint64(m.clientNonce)
            writer.uint16(m.nameplate.rawValue)
            writer.bytes.append(contentsOf: m.pakeMessage)
        case .codeKnock(let m):
            writer.uint64(m.clientNonce)
            writer.cookie(m.cookie)
            writer.uint16(m.nameplate.rawValue)
            writer.bytes.append(contentsOf: m.tag)
            writer.bytes.append(UInt8(m.pakeMessage.count))
            writer.bytes.append(contentsOf: m.pakeMessage)
            writer.pad(to: RendezvousWire.codeKnockSize)
        case .codeKnocked(let m):
            writer.uint64(m.clientNonce)
            writer.uint16(m.nameplate.rawValue)
            writer.uint64(m.knockID)
            writer.bytes.append(contentsOf: m.tag)
            writer.bytes.append(contentsOf: m.pakeMessage)
        case .codeAnswer(let m):
            writer.uint64(m.clientNonce)
            writer.cookie(m.cookie)
            writer.uint16(m.nameplate.rawValue)
            writer.uint64(m.knockID)
            writer.bytes.append(contentsOf: m.payload)
        case .codeAnswered(let m):
            writer.uint64(m.clientNonce)
            writer.uint16(m.nameplate.rawValue)
            writer.bytes.append(contentsOf: m.payload)
        case .codeBurn(let m):
            writer.uint64(m.clientNonce)
            writer.cookie(m.cookie)
            writer.uint16(m.nameplate.rawValue)
            writer.uint64(m.knockID)
        case .codeClose(let m):
            writer.uint64(m.clientNonce)
            writer.cookie(m.cookie)
            writer.uint16(m.nameplate.rawValue)
        case .codeAck(let m):
            writer.uint64(m.clientNonce)
            writer.uint16(m.nameplate.rawValue)
        case .codeError(let m):
            writer.uint64(m.clientNonce)
            writer.uint16(m.nameplate?.rawValue ?? 0)
            writer.bytes.append(m.reason.rawValue)
        }
        return writer.bytes
    }

    // MARK: Decoding

    /// Checks the header and the type's size bounds without decoding fields: the cheap first
    /// filter the server applies before spending anything else on a datagram.
    ///
    /// - Throws: `RendezvousError` for a short, oversized, unknown-type, non-zero-reserved or
    ///   wrongly sized datagram.
    package static func checkHeader(_ datagram: [UInt8]) throws(RendezvousError) -> RendezvousWire.MessageType {
        guard datagram.count >= RendezvousWire.headerSize else { throw .truncatedHeader(size: datagram.count) }
        guard datagram.count <= RendezvousWire.maxDatagramSize else { throw .datagramTooLarge(size: datagram.count) }
        guard let type = RendezvousWire.MessageType(rawValue: datagram[0]) else { throw .unknownType(datagram[0]) }
        let reserved = RendezvousWire.reservedOffset..<(RendezvousWire.reservedOffset + RendezvousWire.reservedSize)
        // A register's first reserved byte carries its flags; every other bit stays zero.
        let flags: UInt8 = type == .register ? RendezvousWire.registerOwnerFlag : 0
        guard datagram[reserved.lowerBound] & ~flags == 0, datagram[reserved.dropFirst()].allSatisfy({ $0 == 0 }) else {
            throw .reservedNotZero
        }
        let allowed = RendezvousWire.sizeRange(of: type)
        guard allowed.contains(datagram.count) else { throw .wrongSize(type, allowed: allowed, got: datagram.count) }
        return type
    }

    /// Decodes one datagram.
    ///
    /// - Throws: `RendezvousError` describing the first problem found; never traps.
    public static func decode(_ datagram: [UInt8]) throws(RendezvousError) -> RendezvousMessage {
        let type = try checkHeader(datagram)
        var reader = MessageReader(datagram, type: type)
        let message: RendezvousMessage
        switch type {
        case .register:
            let tag = try reader.tag()
            let peer = RendezvousPeerID(rawValue: try reader.uint64())
            let nonce = try reader.uint64()
            let cookie = try reader.cookie()
            let key = try reader.publicKey()
            let candidates = try reader.candidateList()
            var owner: OwnerProof?
            if datagram[RendezvousWire.registerFlagsOffset] & RendezvousWire.registerOwnerFlag != 0 {
                let ownerKey = try reader.publicKey()
                owner = OwnerProof(key: ownerKey, signature: try reader.bytes(RendezvousWire.signatureSize))
            }
            let signature = try reader.bytes(RendezvousWire.signatureSize)
            message = .register(
                Register(
                    roomTag: tag, peerID: peer, clientNonce: nonce, cookie: cookie, registrationKey: key,
                    candidates: candidates, owner: owner, signature: signature)
            )
        case .registerRefused:
            let nonce = try reader.uint64()
            let reasonByte = try reader.uint8()
            guard let reason = RendezvousWire.RegisterRefusalReason(rawValue: reasonByte) else {
                throw .unknownRefusalReason(reasonByte)
            }
            message = .registerRefused(RegisterRefused(clientNonce: nonce, reason: reason))
        case .cookieChallenge:
            let nonce = try reader.uint64()
            message = .cookieChallenge(CookieChallenge(clientNonce: nonce, cookie: try reader.cookie()))
        case .registered:
            let nonce = try reader.uint64()
            let peer = RendezvousPeerID(rawValue: try reader.uint64())
            let reflexive = try reader.candidate()
            let interval = try reader.uint16()
            message = .registered(
                Registered(clientNonce: nonce, peerID: peer, reflexive: reflexive, refreshIntervalSeconds: interval))
        case .introduce:
            let nonce = try reader.uint64()
            let tag = try reader.tag()
            let peer = RendezvousPeerID(rawValue: try reader.uint64())
            let reflexive = try reader.candidate()
            let candidates = try reader.candidateList()
            message = .introduce(
                Introduce(clientNonce: nonce, roomTag: tag, peerID: peer, reflexive: reflexive, candidates: candidates))
        case .relay:
            // checkHeader bounded the size, so the inner datagram fits maxRelayedDatagramSize.
            let target = RendezvousPeerID(rawValue: try reader.uint64())
            message = .relay(Relay(target: target, datagram: reader.rest()))
        case .relayed:
            let source = RendezvousPeerID(rawValue: try reader.uint64())
            message = .relayed(Relayed(source: source, datagram: reader.rest()))
        case .unregister:
            let tag = try reader.tag()
            let peer = RendezvousPeerID(rawValue: try reader.uint64())
            let nonce = try reader.uint64()
            let cookie = try reader.cookie()
            let key = try reader.publicKey()
            let signature = try reader.bytes(RendezvousWire.signatureSize)
            message = .unregister(
                Unregister(
                    roomTag: tag, peerID: peer, clientNonce: nonce, cookie: cookie, registrationKey: key,
                    signature: signature)
            )
        case .retire:
            let tag = try reader.tag()
            let key = try reader.publicKey()
            let nonce = try reader.uint64()
            let cookie = try reader.cookie()
            let signature = try reader.bytes(RendezvousWire.signatureSize)
            message = .retire(
                Retire(roomTag: tag, registrationKey: key, clientNonce: nonce, cookie: cookie, signature: signature))
        case .codeOpen:
            let nonce = try reader.uint64()
            let cookie = try reader.cookie()
            let lifetime = try reader.uint16()
            let nameplate = try reader.optionalNameplate()
            let pake = try reader.pakeMessage(count: reader.remaining)
            message = .codeOpen(
                CodeOpen(
                    clientNonce: nonce,
                    cookie: cookie,
                    requestedLifetimeSeconds: lifetime,
                    nameplate: nameplate,
                    pakeMessage: pake
                )
            )
        case .codeOpened:
            let nonce = try reader.uint64()
            let nameplate = try reader.nameplate()
            message = .codeOpened(
                CodeOpened(clientNonce: nonce, nameplate: nameplate, lifetimeSeconds: try reader.uint16())
            )
        case .codeLookup:
            let nonce = try reader.uint64()
            let cookie = try reader.cookie()
            let nameplate = try reader.nameplate()
            try reader.zeroPadding()
            message = .codeLookup(CodeLookup(clientNonce: nonce, cookie: cookie, nameplate: nameplate))
        case .codeOffer:
            let nonce = try reader.uint64()
            let nameplate = try reader.nameplate()
            let pake = try reader.pakeMessage(count: reader.remaining)
            message = .codeOffer(CodeOffer(clientNonce: nonce, nameplate: nameplate, pakeMessage: pake))
        case .codeKnock:
            let nonce = try reader.uint64()
            let cookie = try reader.cookie()
            let nameplate = try reader.nameplate()
            let tag = try reader.bytes(RendezvousWire.codeTagSize)
            let pake = try reader.pakeMessage(count: Int(try reader.uint8()))
            try reader.zeroPadding()
            message = .codeKnock(
                CodeKnock(clientNonce: nonce, cookie: cookie, nameplate: nameplate, pakeMessage: pake, tag: tag)
            )
        case .codeKnocked:
            let nonce = try reader.uint64()
            let nameplate = try reader.nameplate()
            let knockID = try reader.uint64()
            let tag = try reader.bytes(RendezvousWire.codeTagSize)
            let pake = try reader.pakeMessage(count: reader.remaining)
            message = .codeKnocked(
                CodeKnocked(clientNonce: nonce, nameplate: nameplate, knockID: knockID, tag: tag, pakeMessage: pake)
            )
        case .codeAnswer:
            let nonce = try reader.uint64()
            let cookie = try reader.cookie()
            let nameplate = try reader.nameplate()
            let knockID = try reader.uint64()
            let payload = try reader.payload()
            message = .codeAnswer(
                CodeAnswer(clientNonce: nonce, cookie: cookie, nameplate: nameplate, knockID: knockID, payload: payload)
            )
        case .codeAnswered:
            let nonce = try reader.uint64()
            let nameplate = try reader.nameplate()
            message = .codeAnswered(
                CodeAnswered(clientNonce: nonce, nameplate: nameplate, payload: try reader.payload())
            )
        case .codeBurn:
            let nonce = try reader.uint64()
            let cookie = try reader.cookie()
            let nameplate = try reader.nameplate()
            message = .codeBurn(
                CodeBurn(clientNonce: nonce, cookie: cookie, nameplate: nameplate, knockID: try reader.uint64())
            )
        case .codeClose:
            let nonce = try reader.uint64()
            let cookie = try reader.cookie()
            message = .codeClose(CodeClose(clientNonce: nonce, cookie: cookie, nameplate: try reader.nameplate()))
        case .codeAck:
            let nonce = try reader.uint64()
            message = .codeAck(CodeAck(clientNonce: nonce, nameplate: try reader.nameplate()))
        case .codeError:
            let nonce = try reader.uint64()
            let nameplate = try reader.optionalNameplate()
            let reasonByte = try reader.uint8()
            guard let reason = RendezvousWire.CodeErrorReason(rawValue: reasonByte) else {
                throw .unknownCodeErrorReason(reasonByte)
            }
            message = .codeError(CodeError(clientNonce: nonce, nameplate: nameplate, reason: reason))
        }
        try reader.finish()
        return message
    }

    /// The peer id field of a relay or relayed datagram, read in place so the server can forward
    /// without copying the inner datagram out and back; nil if the datagram is too short.
    ///
    /// Checks only the length: call `checkHeader` first to know it is a relay at all.
    package static func relayPeerID(in datagram: [UInt8]) -> RendezvousPeerID? {
        let start = RendezvousWire.relayPeerIDOffset
        let end = start + RendezvousWire.peerIDSize
        guard datagram.count >= end else { return nil }
        return RendezvousPeerID(rawValue: datagram[start..<end].reduce(0) { $0 << 8 | UInt64($1) })
    }
}

/// Rendezvous fields on Primitives' writer: big-endian integers, tags, cookies, candidates.
extension ByteWriter {
    /// A writer holding the common header of a message of `type`.
    fileprivate static func message(_ type: RendezvousWire.MessageType) -> ByteWriter {
        var writer = ByteWriter()
        writer.bytes.reserveCapacity(RendezvousWire.maxDatagramSize)
        writer.byte(type.rawValue)
        writer.raw(Array(repeating: 0, count: RendezvousWire.reservedSize))
        return writer
    }

    fileprivate mutating func uint16(_ value: UInt16) { raw(value.bigEndianBytes) }
    fileprivate mutating func uint64(_ value: UInt64) { raw(value.bigEndianBytes) }
    fileprivate mutating func tag(_ tag: RoomTag) {
        uint64(tag.high)
        uint64(tag.low)
    }
    fileprivate mutating func cookie(_ cookie: RendezvousCookie) {
        uint64(cookie.high)
        uint64(cookie.low)
    }

    fileprivate mutating func candidate(_ endpoint: UDPEndpoint) {
        byte(endpoint.family.rawValue)
        raw(endpoint.addressBytes)
        uint16(endpoint.port)
    }

    fileprivate mutating func candidateList(_ candidates: [UDPEndpoint]) {
        byte(UInt8(candidates.count))
        for candidate in candidates { self.candidate(candidate) }
    }

    /// Zeros up to `size` bytes in all.
    fileprivate mutating func pad(to size: Int) {
        raw(Array(repeating: 0, count: size - bytes.count))
    }
}

/// A `ByteReader` fault inside a rendezvous message; `MessageReader` names the message type when
/// it turns the fault into a `RendezvousError`.
private struct MessageFault: ByteReadError {
    let fault: ByteReadFault
    init(_ fault: ByteReadFault) { self.fault = fault }
}

/// Reads fields after the common header on Primitives' reader; every read checks the remaining
/// length first.
private struct MessageReader {
    private var reader: ByteReader<MessageFault>
    private let type: RendezvousWire.MessageType

    /// A reader after the header, which the caller has checked is there.
    init(_ bytes: [UInt8], type: RendezvousWire.MessageType) {
        reader = ByteReader(bytes)
        _ = try? reader.raw(RendezvousWire.headerSize, "header")
        self.type = type
    }

    /// Runs one read, a fault reported as this message's error.
    private mutating func read<T>(_ body: (inout ByteReader<MessageFault>) throws(MessageFault) -> T) throws(RendezvousError) -> T {
        do {
            return try body(&reader)
        } catch {
            if case .trailingBytes(let count) = error.fault { throw .trailingBytes(type, count: count) }
            throw .truncatedField(type)
        }
    }

    mutating func uint8() throws(RendezvousError) -> UInt8 {
        try read { (reader) throws(MessageFault) in try reader.byte("field") }
    }

    mutating func uint16() throws(RendezvousError) -> UInt16 {
        try read { (reader) throws(MessageFault) in try reader.bigEndian(UInt16.self, "field") }
    }

    mutating func uint64() throws(RendezvousError) -> UInt64 {
        try read { (reader) throws(MessageFault) in try reader.bigEndian(UInt64.self, "field") }
    }

    mutating func tag() throws(RendezvousError) -> RoomTag {
        RoomTag(high: try uint64(), low: try uint64())
    }

    mutating func cookie() throws(RendezvousError) -> RendezvousCookie {
        RendezvousCookie(high: try uint64(), low: try uint64())
    }

    /// A registration key: any 32 bytes decode (whether they are a valid point is the signature
    /// check's business).
    mutating func publicKey() throws(RendezvousError) -> PublicKey {
        let bytes = try bytes(RendezvousWire.registrationKeySize)
        guard let key = try? PublicKey(bytes: bytes) else { throw .truncatedField(type) }
        return key
    }

    mutating func candidate() throws(RendezvousError) -> UDPEndpoint {
        let familyByte = try uint8()
        guard let family = RendezvousWire.Family(rawValue: familyByte) else { throw .unknownAddressFamily(familyByte) }
        let address: UDPEndpoint.Address
        switch family {
        case .ipv4: address = .v4(try read { (reader) throws(MessageFault) in try reader.bigEndian(UInt32.self, "address") })
        case .ipv6: address = .v6(high: try uint64(), low: try uint64())
        }
        return UDPEndpoint(address: address, port: try uint16())
    }

    mutating func candidateList() throws(RendezvousError) -> [UDPEndpoint] {
        let count = Int(try uint8())
        // The count is checked before anything is allocated for it.
        guard count <= RendezvousWire.maxCandidates else { throw .tooManyCandidates(count) }
        guard reader.remaining >= count * RendezvousWire.ipv4CandidateSize else { throw .truncatedField(type) }
        var candidates: [UDPEndpoint] = []
        candidates.reserveCapacity(count)
        for _ in 0..<count { candidates.append(try candidate()) }
        return candidates
    }

    mutating func rest() -> [UInt8] {
        reader.rest()
    }

    /// Bytes left after the fields read so far.
    var remaining: Int { reader.remaining }

    mutating func bytes(_ count: Int) throws(RendezvousError) -> [UInt8] {
        try read { (reader) throws(MessageFault) in try reader.bytes(count, "field") }
    }

    mutating func nameplate() throws(RendezvousError) -> CodeNameplate {
        let value = try uint16()
        guard let nameplate = CodeNameplate(rawValue: value) else { throw .invalidNameplate(value) }
        return nameplate
    }

    /// A nameplate field where 0 means none.
    mutating func optionalNameplate() throws(RendezvousError) -> CodeNameplate? {
        let value = try uint16()
        guard value != 0 else { return nil }
        guard let nameplate = CodeNameplate(rawValue: value) else { throw .invalidNameplate(value) }
        return nameplate
    }

    /// A PAKE message of `count` bytes; the length is checked before anything is copied.
    mutating func pakeMessage(count: Int) throws(RendezvousError) -> [UInt8] {
        guard isPakeMessageSize(count) else { throw .pakeMessageSize(count) }
        return try bytes(count)
    }

    /// The rest as a sealed payload; the size range already bounds it, checked again so that no
    /// change of sizes can make a message initialiser trap on network input.
    mutating func payload() throws(RendezvousError) -> [UInt8] {
        guard isCodePayloadSize(remaining) else { throw .truncatedField(type) }
        return rest()
    }

    /// The rest must be zeros; consumes it.
    mutating func zeroPadding() throws(RendezvousError) {
        guard reader.rest().allSatisfy({ $0 == 0 }) else { throw .paddingNotZero(type) }
    }

    mutating func finish() throws(RendezvousError) {
        try read { (reader) throws(MessageFault) in try reader.finish() }
    }
}
