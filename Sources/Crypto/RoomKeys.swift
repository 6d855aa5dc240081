/// The keys of one room, all derived from its 32-byte room secret.
///
/// Each key is a BLAKE2b keyed hash of its own label under the room secret, so learning one
/// (the public room tag, say) reveals nothing of the others. Immutable and thread-safe.
public struct RoomKeys: Sendable {
    /// Length of a room secret.
    public static let secretLength = 32
    /// Length of the public room tag: enough to make collisions between rooms negligible.
    public static let tagLength = 16

    /// Labels, one per derived key; changing one is an incompatible protocol change.
    enum Label {
        static let tag = Array("cvpeer/1 room tag".utf8)
        static let psk = Array("cvpeer/1 handshake psk".utf8)
        static let mac = Array("cvpeer/1 handshake mac".utf8)
        static let content = Array("cvpeer/1 content key".utf8)
    }

    /// The room secret itself.
    public let secret: SecretBytes
    /// The public room identifier, the only one the rendezvous sees.
    public let tag: [UInt8]
    /// The Noise pre-shared key (psk3) that only members hold.
    public let handshakePSK: SecretBytes
    /// Keys the cheap mac on handshake packets, so non-members' packets are dropped before any DH.
    public let macKey: SecretBytes

    /// Derives the room's keys from its secret.
    ///
    /// - Throws: `CryptoError.invalidLength` if the secret is not 32 bytes.
    public init(secret: SecretBytes) throws {
        guard secret.count == Self.secretLength else {
            throw CryptoError.invalidLength(what: "room secret", expected: Self.secretLength, got: secret.count)
        }
        self.secret = secret
        tag = Blake2b.derive(key: secret, label: Label.tag, outputLength: Self.tagLength).unsafeCopy()
        handshakePSK = Blake2b.derive(key: secret, label: Label.psk)
        macKey = Blake2b.derive(key: secret, label: Label.mac)
    }

    /// Creates a new room with a fresh random secret.
    public static func generate() -> RoomKeys {
        try! RoomKeys(secret: SecretBytes(randomCount: secretLength))
    }

    /// The content key of `epoch`, which seals batches and blob chunks.
    public func contentKey(epoch: UInt32) -> SecretBytes {
        Blake2b.derive(key: secret, label: Label.content + epoch.bigEndianBytes)
    }
}

extension FixedWidthInteger {
    /// The value's bytes, most significant first.
    @inlinable
    public var bigEndianBytes: [UInt8] {
        withUnsafeBytes(of: self.bigEndian) { Array($0) }
    }
}
