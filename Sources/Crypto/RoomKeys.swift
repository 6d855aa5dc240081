/// The keys of one room, all derived from its 32-byte room secret and its owner's public key.
///
/// Each key is a BLAKE2b keyed hash, under the room secret, of its own label followed by the
/// owner's Ed25519 public key: learning one (the public room tag, say) reveals nothing of the
/// others, and the same secret with another owner is another room (another tag, PSK and content
/// key), so a joiner told a wrong owner never reaches the real room. Immutable and thread-safe.
public struct RoomKeys: Sendable {
    /// Length of a room secret.
    public static let secretLength = 32
    /// Length of the public room tag: enough to make collisions between rooms negligible.
    public static let tagLength = 16

    /// Labels, one per derived key; changing one is an incompatible protocol change.
    enum Label {
        static let tag = Array("cvpeer/2 room tag".utf8)
        static let psk = Array("cvpeer/2 handshake psk".utf8)
        static let mac = Array("cvpeer/2 handshake mac".utf8)
        static let content = Array("cvpeer/2 content key".utf8)
        static let roomID = Array("cvpeer/2 room id".utf8)
    }

    /// The room secret itself.
    public let secret: SecretBytes
    /// The owner: the host's identity key, whose signed operations admit members and grant roles.
    public let owner: PublicKey
    /// The room's 32-byte identity, bound into every batch's signature so that a batch copied
    /// into another room does not verify there. Not secret, but never needed outside members.
    public let roomID: [UInt8]
    /// The public room identifier, the only one the rendezvous sees.
    public let tag: [UInt8]
    /// The Noise pre-shared key (psk3) that only members hold.
    public let handshakePSK: SecretBytes
    /// Keys the cheap mac on handshake packets, so non-members' packets are dropped before any DH.
    public let macKey: SecretBytes

    /// Derives the keys of the room with this secret and owner.
    ///
    /// - Throws: `CryptoError.invalidLength` if the secret is not 32 bytes.
    public init(secret: SecretBytes, owner: PublicKey) throws {
        guard secret.count == Self.secretLength else {
            throw CryptoError.invalidLength(what: "room secret", expected: Self.secretLength, got: secret.count)
        }
        self.secret = secret
        self.owner = owner
        let bound = owner.bytes
        tag = Blake2b.derive(key: secret, label: Label.tag + bound, outputLength: Self.tagLength).unsafeCopy()
        handshakePSK = Blake2b.derive(key: secret, label: Label.psk + bound)
        macKey = Blake2b.derive(key: secret, label: Label.mac + bound)
        roomID = Blake2b.derive(key: secret, label: Label.roomID + bound).unsafeCopy()
    }

    /// Creates a new room owned by `owner`, with a fresh random secret.
    public static func generate(owner: PublicKey) -> RoomKeys {
        try! RoomKeys(secret: SecretBytes(randomCount: secretLength), owner: owner)
    }

    /// The content key of `epoch`, which seals batches and blob chunks.
    public func contentKey(epoch: UInt32) -> SecretBytes {
        Blake2b.derive(key: secret, label: Label.content + owner.bytes + epoch.bigEndianBytes)
    }
}

extension FixedWidthInteger {
    /// The value's bytes, most significant first.
    @inlinable
    public var bigEndianBytes: [UInt8] {
        withUnsafeBytes(of: self.bigEndian) { Array($0) }
    }
}
