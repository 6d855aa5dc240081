import Primitives

/// The keys of one room in one epoch, derived from its 32-byte room secret, its owner's public
/// key and, from epoch 1 on, the epoch's secret.
///
/// Each key is a BLAKE2b keyed hash, under the room secret, of its own label followed by the
/// owner's Ed25519 public key: learning one (the public room tag, say) reveals nothing of the
/// others, and the same secret with another owner is another room (another tag, PSK and content
/// key), so a joiner told a wrong owner never reaches the real room. A later epoch (after a
/// removal or a rotation) keys its tag, PSK, mac key and content key with the epoch's secret
/// instead, which only its members received: the room secret of the invite opens nothing of it.
/// The owner and the room id stay the room's for every epoch.
///
/// Each epoch also has a registration key, an Ed25519 key pair whose seed is derived the same
/// way: members sign what they send to the rendezvous with it, and the rendezvous tag is a hash
/// of its public half, so the rendezvous can check that a register comes from a holder of the
/// epoch's secret without learning anything else. Immutable and thread-safe.
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
        static let registrationKey = Array("cvpeer/2 registration key".utf8)
        static let rendezvousTag = Array("cvpeer/2 rendezvous tag".utf8)
    }

    /// The room secret itself (the invite's).
    public let secret: SecretBytes
    /// The epoch these keys belong to: 0 for the invite's, then one more per change.
    public let epoch: UInt32
    /// The epoch's secret (the room secret in epoch 0).
    public let epochSecret: SecretBytes
    /// The owner: the host's identity key, whose signed operations admit members and grant roles.
    public let owner: PublicKey
    /// The room's 32-byte identity, bound into every batch's signature so that a batch copied
    /// into another room does not verify there. Not secret, but never needed outside members.
    public let roomID: [UInt8]
    /// The room's own tag: the store's key, bound into the handshake prologue and the safety
    /// numbers. The rendezvous sees `rendezvousTag` instead.
    public let tag: [UInt8]
    /// The epoch's registration key: signs this room's registers, unregisters and retires at the
    /// rendezvous, which checks them against `rendezvousTag`.
    public let registrationKey: Identity
    /// The room identifier the rendezvous sees: `rendezvousTag(for: registrationKey.publicKey)`.
    public let rendezvousTag: [UInt8]
    /// The Noise pre-shared key (psk3) that only members hold.
    package let handshakePSK: SecretBytes
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
        epoch = 0
        epochSecret = secret
        let bound = owner.bytes
        tag = Blake2b.derive(key: secret, label: Label.tag + bound, outputLength: Self.tagLength).unsafeCopy()
        handshakePSK = Blake2b.derive(key: secret, label: Label.psk + bound)
        macKey = Blake2b.derive(key: secret, label: Label.mac + bound)
        roomID = Blake2b.derive(key: secret, label: Label.roomID + bound).unsafeCopy()
        registrationKey = Self.registrationKey(epochSecret: secret, owner: owner, roomID: roomID, epoch: 0)
        rendezvousTag = Self.rendezvousTag(for: registrationKey.publicKey)
    }

    private init(root: RoomKeys, epoch: UInt32, epochSecret: SecretBytes) {
        secret = root.secret
        owner = root.owner
        roomID = root.roomID
        self.epoch = epoch
        self.epochSecret = epochSecret
        // The room id and the epoch number are bound in too: one epoch secret is one room's one epoch.
        let bound = root.owner.bytes + root.roomID + epoch.bigEndianBytes
        tag = Blake2b.derive(key: epochSecret, label: Label.tag + bound, outputLength: Self.tagLength).unsafeCopy()
        handshakePSK = Blake2b.derive(key: epochSecret, label: Label.psk + bound)
        macKey = Blake2b.derive(key: epochSecret, label: Label.mac + bound)
        registrationKey = Self.registrationKey(epochSecret: epochSecret, owner: root.owner, roomID: root.roomID, epoch: epoch)
        rendezvousTag = Self.rendezvousTag(for: registrationKey.publicKey)
    }

    /// The Ed25519 key pair whose seed is BLAKE2b-256 keyed by the epoch's secret (the room secret
    /// in epoch 0) over the label, the owner, the room id and the epoch number: one key per room
    /// and epoch, held only by those who hold the epoch's secret.
    private static func registrationKey(epochSecret: SecretBytes, owner: PublicKey, roomID: [UInt8], epoch: UInt32)
        -> Identity
    {
        let seed = Blake2b.derive(
            key: epochSecret, label: Label.registrationKey + owner.bytes + roomID + epoch.bigEndianBytes,
            outputLength: Identity.seedLength)
        // The seed is Identity.seedLength bytes by construction.
        return try! Identity(seed: seed)
    }

    /// The rendezvous tag of a registration key: the first `tagLength` bytes of
    /// BLAKE2b-256(`"cvpeer/2 rendezvous tag"` ‖ key). Anyone can compute it from the public key,
    /// which is how the rendezvous checks that a register's key is the room's.
    public static func rendezvousTag(for registrationKey: PublicKey) -> [UInt8] {
        Array(Blake2b.hash(Label.rendezvousTag + registrationKey.bytes, outputLength: 32).prefix(tagLength))
    }

    /// The keys of the same room in a later epoch, whose secret the owner sealed to each member.
    ///
    /// - Throws: `CryptoError.invalidLength` if the secret is not 32 bytes, `.unknownEpoch` for epoch 0.
    public func inEpoch(_ epoch: UInt32, secret epochSecret: SecretBytes) throws -> RoomKeys {
        guard epochSecret.count == Self.secretLength else {
            throw CryptoError.invalidLength(what: "epoch secret", expected: Self.secretLength, got: epochSecret.count)
        }
        guard epoch > 0 else { throw CryptoError.unknownEpoch(epoch) }
        return RoomKeys(root: self, epoch: epoch, epochSecret: epochSecret)
    }

    /// Creates a new room owned by `owner`, with a fresh random secret.
    public static func generate(owner: PublicKey) -> RoomKeys {
        try! RoomKeys(secret: SecretBytes(randomCount: secretLength), owner: owner)
    }

    /// The content key of `epoch`, which seals batches and blob chunks: epoch 0's from the room
    /// secret, this epoch's from its secret. Any other epoch's key needs that epoch's `RoomKeys`:
    /// asked here, the answer is a key that opens nothing (never a trap, whatever a header says).
    public func contentKey(epoch: UInt32) -> SecretBytes {
        if epoch == 0 { return Blake2b.derive(key: secret, label: Label.content + owner.bytes + epoch.bigEndianBytes) }
        return Blake2b.derive(key: epochSecret, label: Label.content + owner.bytes + roomID + epoch.bigEndianBytes)
    }
}
