import CSodium

/// Sealed operation batches: signed by their author, then encrypted under the room's content key.
///
/// Wire layout (all integers big-endian):
///
///     offset  size  field
///          0     4  magic "cvb1" (names the format; an incompatible change gets a new magic)
///          4    32  author's Ed25519 public key
///         36     8  sequence number (1, 2, 3… per author)
///         44     4  content-key epoch
///         48    24  XChaCha20-Poly1305 nonce, random
///         72     n  ciphertext of payload ‖ signature(64)
///       72+n    16  Poly1305 tag
///
/// The signature covers bytes 0..<72 followed by the payload, so author, sequence, epoch and
/// nonce are all signed; bytes 0..<48 are the AEAD's associated data, so changing the author,
/// sequence or epoch breaks decryption too. Signing first means any member may store and forward
/// anybody's batch, yet nobody can forge another member's. Because the signed bytes precede the
/// signature in the layout, sealing needs no copy: sign in place, then encrypt in place.
public enum BatchSealer {
    /// The format's magic bytes.
    public static let magic: [UInt8] = Array("cvb1".utf8)
    /// Bytes before the ciphertext.
    public static let headerLength = 72
    /// Bytes bound as associated data (magic, author, sequence, epoch).
    static let associatedDataLength = 48
    /// Fixed cost per batch on the wire: header, signature and tag.
    public static let overhead = headerLength + PublicKey.signatureLength + aeadTagLength
    /// The largest payload accepted: 4 MiB bounds what one hostile batch can make a node allocate.
    public static let maxPayloadLength = 4 << 20

    /// Seals `payload` as batch `sequence` of `identity` under the content key of `epoch`.
    ///
    /// - Precondition: `payload.count <= maxPayloadLength`, `contentKey` is 32 bytes.
    public static func seal(
        payload: UnsafeRawBufferPointer, sequence: UInt64, epoch: UInt32, identity: Identity, contentKey: SecretBytes
    ) -> [UInt8] {
        precondition(payload.count <= maxPayloadLength, "batch payload too large")
        let n = payload.count + PublicKey.signatureLength
        var out = [UInt8](repeating: 0, count: headerLength + n + aeadTagLength)
        out.withUnsafeMutableBytes { o in
            let base = o.baseAddress!
            o.copyBytes(from: magic)
            UnsafeMutableRawBufferPointer(rebasing: o[4..<36]).copyBytes(from: identity.publicKey.bytes)
            base.storeBytes(of: sequence.bigEndian, toByteOffset: 36, as: UInt64.self)
            base.storeBytes(of: epoch.bigEndian, toByteOffset: 44, as: UInt32.self)
            randombytes_buf(base + 48, 24)
            if payload.count > 0 {
                (base + headerLength).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
            }
            let signedLength = headerLength + payload.count
            identity.sign(
                UnsafeRawBufferPointer(rebasing: o[0..<signedLength]),
                into: UnsafeMutableRawBufferPointer(rebasing: o[signedLength..<(signedLength + 64)]))
            // libsodium allows the ciphertext to overwrite the plaintext in place.
            contentKey.withUnsafeBytes { key in
                XChaCha20Poly1305.rawSeal(
                    out: (base + headerLength).assumingMemoryBound(to: UInt8.self),
                    plaintext: UnsafeRawBufferPointer(rebasing: o[headerLength..<(headerLength + n)]),
                    ad: UnsafeRawBufferPointer(rebasing: o[0..<associatedDataLength]),
                    nonce: UnsafeRawBufferPointer(rebasing: o[48..<72]), key: key)
            }
        }
        return out
    }

    /// Seals a byte-array payload.
    public static func seal(payload: [UInt8], sequence: UInt64, epoch: UInt32, identity: Identity, contentKey: SecretBytes)
        -> [UInt8]
    {
        payload.withUnsafeBytes {
            seal(payload: $0, sequence: sequence, epoch: epoch, identity: identity, contentKey: contentKey)
        }
    }

    /// Reads the header without decrypting: what the batch claims to be, not yet verified.
    ///
    /// - Throws: `CryptoError.malformedBatch` if the bytes cannot be a sealed batch.
    public static func peekHeader(_ sealed: [UInt8]) throws -> SealedBatchHeader {
        try sealed.withUnsafeBytes { try peekHeader($0) }
    }

    static func peekHeader(_ s: UnsafeRawBufferPointer) throws -> SealedBatchHeader {
        guard s.count >= overhead else { throw CryptoError.malformedBatch("too short (\(s.count) bytes)") }
        guard s.count - overhead <= maxPayloadLength else { throw CryptoError.malformedBatch("too long") }
        guard s[0] == magic[0], s[1] == magic[1], s[2] == magic[2], s[3] == magic[3] else {
            throw CryptoError.malformedBatch("not a cvpeer batch")
        }
        let author = try PublicKey(bytes: Array(s[4..<36]))
        let sequence = UInt64(bigEndian: s.loadUnaligned(fromByteOffset: 36, as: UInt64.self))
        let epoch = UInt32(bigEndian: s.loadUnaligned(fromByteOffset: 44, as: UInt32.self))
        return SealedBatchHeader(author: author, sequence: sequence, epoch: epoch)
    }

    /// Decrypts and verifies a sealed batch.
    ///
    /// - Parameters:
    ///   - sealed: the bytes as received.
    ///   - contentKey: the content key for an epoch, or nil if the epoch is unknown.
    /// - Returns: the batch with its authenticated author, sequence, epoch and payload.
    /// - Throws: `malformedBatch`, `unknownEpoch`, `authenticationFailed` or `badSignature`.
    public static func open(_ sealed: [UInt8], contentKey: (UInt32) -> SecretBytes?) throws -> OpenedBatch {
        try sealed.withUnsafeBytes { s in
            let header = try peekHeader(s)
            guard let key = contentKey(header.epoch) else { throw CryptoError.unknownEpoch(header.epoch) }
            guard key.count == aeadKeyLength else {
                throw CryptoError.invalidLength(what: "content key", expected: aeadKeyLength, got: key.count)
            }
            let n = s.count - headerLength - aeadTagLength
            // Header ‖ plaintext in one buffer, so the signed bytes are contiguous for verification.
            var signed = [UInt8](repeating: 0, count: headerLength + n)
            let ok = signed.withUnsafeMutableBytes { b -> Bool in
                b.copyMemory(from: UnsafeRawBufferPointer(rebasing: s[0..<headerLength]))
                return key.withUnsafeBytes { k in
                    XChaCha20Poly1305.rawOpen(
                        out: (b.baseAddress! + headerLength).assumingMemoryBound(to: UInt8.self),
                        ciphertext: UnsafeRawBufferPointer(rebasing: s[headerLength...]),
                        ad: UnsafeRawBufferPointer(rebasing: s[0..<associatedDataLength]),
                        nonce: UnsafeRawBufferPointer(rebasing: s[48..<72]), key: k)
                }
            }
            guard ok else { throw CryptoError.authenticationFailed }
            let signedLength = signed.count - PublicKey.signatureLength
            let valid = signed.withUnsafeBytes { b in
                header.author.isValidSignature(
                    UnsafeRawBufferPointer(rebasing: b[signedLength...]),
                    for: UnsafeRawBufferPointer(rebasing: b[0..<signedLength]))
            }
            guard valid else { throw CryptoError.badSignature }
            return OpenedBatch(
                author: header.author, sequence: header.sequence, epoch: header.epoch,
                payload: Array(signed[headerLength..<signedLength]))
        }
    }
}

/// What a sealed batch's header claims, before decryption; not authenticated.
public struct SealedBatchHeader: Hashable, Sendable {
    /// The claimed author.
    public let author: PublicKey
    /// The claimed sequence number.
    public let sequence: UInt64
    /// The claimed content-key epoch.
    public let epoch: UInt32
}

/// A batch whose signature and encryption both verified.
public struct OpenedBatch: Hashable, Sendable {
    /// The author, authenticated by the signature.
    public let author: PublicKey
    /// The author's sequence number for this batch.
    public let sequence: UInt64
    /// The content-key epoch it was sealed under.
    public let epoch: UInt32
    /// The plaintext payload.
    public let payload: [UInt8]
}
