import CSodium
import Primitives

/// A room epoch's secret sealed to one member: libsodium's sealed box (an ephemeral X25519 key
/// and XSalsa20-Poly1305) to the X25519 form of the member's Ed25519 identity key.
///
/// A sealed box says nothing about its sender; that is given by where it travels, inside the
/// owner's signed epoch-change operation. What the box adds is that only the member's own
/// identity key opens it. Its plaintext binds the room id and the epoch number to the secret,
/// so a box lifted into another room's or another epoch's change does not open as that one.
public enum EpochSecretBox {
    /// Length of an epoch secret.
    public static let secretLength = 32
    /// What is sealed: room id (32) ‖ epoch (u32, big-endian) ‖ secret (32).
    static let plaintextLength = 32 + 4 + secretLength
    /// Length of a sealed box.
    public static let sealedLength = plaintextLength + Int(crypto_box_sealbytes())

    /// Seals `secret`, for epoch `epoch` of the room `roomID`, to `member`.
    ///
    /// - Throws: `CryptoError` if the member's key has no X25519 form or a length is wrong.
    public static func seal(_ secret: SecretBytes, epoch: UInt32, roomID: [UInt8], to member: PublicKey) throws -> [UInt8] {
        guard secret.count == secretLength else {
            throw CryptoError.invalidLength(what: "epoch secret", expected: secretLength, got: secret.count)
        }
        guard roomID.count == 32 else { throw CryptoError.invalidLength(what: "room id", expected: 32, got: roomID.count) }
        let recipient = try member.x25519PublicKey()
        var plaintext = roomID + epoch.bigEndianBytes + secret.unsafeCopy()
        defer { sodium_memzero(&plaintext, plaintext.count) }
        var box = [UInt8](repeating: 0, count: sealedLength)
        let rc = box.withUnsafeMutableBufferPointer { out in
            plaintext.withUnsafeBufferPointer { message in
                recipient.withUnsafeBufferPointer { key in
                    crypto_box_seal(out.baseAddress!, message.baseAddress!, UInt64(message.count), key.baseAddress!)
                }
            }
        }
        guard rc == 0 else { throw CryptoError.weakPublicKey }
        return box
    }

    /// Opens a box sealed to `identity` for epoch `epoch` of the room `roomID`.
    ///
    /// - Throws: `CryptoError.authenticationFailed` if it is not such a box for this identity
    ///   (another member's, tampered with, or for another room or epoch).
    public static func open(_ box: [UInt8], epoch: UInt32, roomID: [UInt8], identity: Identity) throws -> SecretBytes {
        guard box.count == sealedLength else {
            throw CryptoError.invalidLength(what: "sealed epoch secret", expected: sealedLength, got: box.count)
        }
        let keys = identity.x25519KeyPair()
        let plaintext = try SecretBytes(count: plaintextLength) { out in
            let rc = box.withUnsafeBufferPointer { sealed in
                keys.publicKey.withUnsafeBufferPointer { pk in
                    keys.secretKey.withUnsafeBytes { sk in
                        crypto_box_seal_open(
                            out.baseAddress!.assumingMemoryBound(to: UInt8.self), sealed.baseAddress!, UInt64(sealed.count),
                            pk.baseAddress!, sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
            if rc != 0 { throw CryptoError.authenticationFailed }
        }
        let bound = plaintext.withUnsafeBytes { Array($0.prefix(36)) }
        guard bound == roomID + epoch.bigEndianBytes else { throw CryptoError.authenticationFailed }
        return plaintext.withUnsafeBytes { SecretBytes(copying: $0.suffix(secretLength)) }
    }
}
