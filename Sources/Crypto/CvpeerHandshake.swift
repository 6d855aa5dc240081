/// The cvpeer link handshake: `Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b` bound to one room.
///
/// Flow (initiator ↔ responder), with sizes for empty application payloads:
///
///     1  -> e                                   48 bytes  (ephemeral, tag)
///     2  <- e, ee, s, es  + Ed25519 key (+ app) 128 bytes + app
///     3  -> s, se, psk    + Ed25519 key (+ app)  96 bytes + app
///
/// The prologue is "cvpeer/3" followed by the room tag and the psk is the room's handshake PSK, so
/// only members of the same room complete it. Noise statics are X25519 but identities are Ed25519,
/// so messages 2 and 3 carry the sender's Ed25519 key, which must convert to the Noise static just
/// authenticated. A pure value: no I/O, no clock. Not thread-safe; owned by one link attempt.
public struct CvpeerHandshake: Sendable {
    /// The Noise protocol every cvpeer link runs; changing it is an incompatible protocol change.
    package static let protocolName = "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b"
    /// Names the cvpeer protocol version in the transcript, so other versions cannot complete.
    /// The name parsed once: parsing it took a noticeable share of each handshake's time.
    static let parsedProtocolName = try! NoiseProtocolName(protocolName)
    package static let prologueLabel = Array("cvpeer/3".utf8)
    /// Message 1 is fixed: an ephemeral key and the tag of an empty payload.
    package static let message1Length = X25519.keyLength + aeadTagLength
    /// Message 2 with no application payload: ephemeral, sealed static, sealed Ed25519 key.
    package static let message2MinimumLength = X25519.keyLength + (X25519.keyLength + aeadTagLength)
        + (PublicKey.length + aeadTagLength)
    /// Message 3 with no application payload: sealed static, sealed Ed25519 key.
    package static let message3MinimumLength = (X25519.keyLength + aeadTagLength) + (PublicKey.length + aeadTagLength)

    /// Which side of the link this party plays.
    public enum Role: Sendable, Equatable {
        /// Sends messages 1 and 3.
        case initiator
        /// Sends message 2.
        case responder
    }

    /// What a completed handshake yields: one cipher per direction and who is at the other end.
    ///
    /// The initiator finishes on sending message 3, before the responder has checked the psk in it;
    /// treat the link as confirmed only once a packet from the responder decrypts.
    public struct EstablishedLink: Sendable {
        /// Encrypts this party's outgoing packets.
        public var send: NoiseCipherState
        /// Decrypts the peer's packets.
        public var receive: NoiseCipherState
        /// The peer's identity, proven by the handshake.
        public let peer: PublicKey
        /// The transcript hash, equal on both ends: a channel binding for later signatures.
        package let handshakeHash: [UInt8]
    }

    /// The role this party plays.
    public let role: Role
    private var noise: NoiseHandshakeState
    private let localIdentity: PublicKey
    /// The peer's identity once its message 2 or 3 has been verified; nil before.
    public private(set) var peer: PublicKey?

    /// Prepares one handshake attempt of `identity` in `room`.
    public init(role: Role, identity: Identity, room: RoomKeys) {
        self.init(role: role, identity: identity, roomTag: room.tag, psk: room.handshakePSK)
    }

    /// The same from the parts, so tests can vary the tag and psk independently.
    /// A handshake that uses keys prepared ahead: `staticKeyPair` must be `identity.x25519KeyPair()`
    /// (the same every time, so a long-lived endpoint derives it once), and `ephemeral`, if given,
    /// a fresh `X25519.KeyPair.generate()` used for this handshake only; generating it while idle
    /// takes a scalar multiplication off the handshake's path.
    package init(
        role: Role, identity: Identity, staticKeyPair: X25519.KeyPair, ephemeral: X25519.KeyPair?, room: RoomKeys
    ) {
        self.init(
            role: role, localIdentity: identity.publicKey, staticKeyPair: staticKeyPair, roomTag: room.tag,
            psk: room.handshakePSK)
        if let ephemeral { noise._setEphemeralKeyPair(ephemeral) }
    }

    init(role: Role, identity: Identity, roomTag: [UInt8], psk: SecretBytes) {
        self.init(
            role: role, localIdentity: identity.publicKey, staticKeyPair: identity.x25519KeyPair(), roomTag: roomTag,
            psk: psk)
    }

    private init(role: Role, localIdentity: PublicKey, staticKeyPair: X25519.KeyPair, roomTag: [UInt8], psk: SecretBytes) {
        self.role = role
        self.localIdentity = localIdentity
        peer = nil
        // Cannot throw: the name is supported, XX pre-shares nothing, and a room psk is 32 bytes.
        noise = try! NoiseHandshakeState(
            protocolName: Self.parsedProtocolName, initiator: role == .initiator,
            prologue: Self.prologue(roomTag: roomTag), staticKeyPair: staticKeyPair, psks: [psk])
    }

    /// The prologue for a room: the label then the tag, so a handshake cannot cross rooms or versions.
    package static func prologue(roomTag: [UInt8]) -> [UInt8] {
        prologueLabel + roomTag
    }

    /// What this party should do next.
    public var status: NoiseHandshakeState.Status { noise.status }

    /// Writes the next message; `payload` is application data for messages 2 and 3.
    ///
    /// Message 2 is sent before the psk is mixed in, so its payload (like the responder's identity)
    /// reaches any initiator that knows the room tag; keep secrets for message 3 or later.
    /// - Precondition: `payload` is empty for message 1, whose payload anyone could read.
    /// - Throws: `CryptoError.handshake` out of turn, after completion or failure, or if too long.
    public mutating func writeMessage(payload: [UInt8] = []) throws -> [UInt8] {
        if role == .initiator, noise.status == .awaitingWrite, peer == nil {
            precondition(payload.isEmpty, "message 1 is readable by anyone; send application data later")
            return try noise.writeMessage()
        }
        return try noise.writeMessage(payload: localIdentity.bytes + payload)
    }

    /// Reads the peer's next message and returns its application payload (empty for message 1).
    ///
    /// `message` is untrusted. A message out of turn (a duplicate, say) is refused and changes nothing;
    /// any other failure ends this attempt, and further calls throw.
    /// - Throws: `CryptoError.handshake` for a message out of turn, of a wrong size, or whose Ed25519
    ///   key does not match its Noise static; `CryptoError.authenticationFailed` for anything altered,
    ///   another room or a wrong psk; `CryptoError.weakPublicKey` for an invalid key.
    public mutating func readMessage(_ message: [UInt8]) throws -> [UInt8] {
        if role == .responder, noise.status == .awaitingRead, noise.remoteEphemeralKey == nil {
            guard message.count == Self.message1Length else {
                noise.abort()
                throw CryptoError.handshake("message 1 must be \(Self.message1Length) bytes")
            }
            return try noise.readMessage(message)
        }
        let payload = try noise.readMessage(message)
        do {
            guard payload.count >= PublicKey.length else { throw CryptoError.handshake("no identity in payload") }
            let claimed = try PublicKey(bytes: Array(payload[0..<PublicKey.length]))
            guard let remoteStatic = noise.remoteStaticKey, try claimed.x25519PublicKey() == remoteStatic else {
                throw CryptoError.handshake("identity does not match the handshake key")
            }
            guard claimed != localIdentity else { throw CryptoError.handshake("peer presented our own identity") }
            peer = claimed
            return Array(payload[PublicKey.length...])
        } catch {
            noise.abort()
            throw error
        }
    }

    /// Hands out the link's keys once the handshake is complete; a second call throws.
    ///
    /// - Throws: `CryptoError.handshake` before completion, after failure, or on a second call.
    public mutating func finish() throws -> EstablishedLink {
        guard let peer else { throw CryptoError.handshake("handshake not complete") }
        let pair = try noise.takeTransport()
        return EstablishedLink(send: pair.send, receive: pair.receive, peer: peer, handshakeHash: noise.handshakeHash)
    }
}
