import CSodium

/// Sealed operation batches: signed by their author, bound to their room and to the author's
/// previous batch, then encrypted under the room's content key.
///
/// Wire layout (all integers big-endian):
///
///     offset  size  field
///          0     4  magic "cvb2" (names the format; an incompatible change gets a new magic)
///          4    32  author's Ed25519 public key
///         36     8  sequence number (1, 2, 3… per author)
///         44     4  content-key epoch
///         48    32  previous: the digest of the author's batch sequence − 1 (zeros for sequence 1)
///         80    24  XChaCha20-Poly1305 nonce, random
///        104     n  ciphertext of payload ‖ signature(64)
///      104+n    16  Poly1305 tag
///
/// The batch's **digest** is BLAKE2b-256 of `"cvpeer/2 batch"` ‖ room id (32) ‖ bytes 4..<80 ‖
/// payload, and the signature is Ed25519 over the digest. So the room, author, sequence, epoch,
/// previous digest and payload are all signed — a batch copied into another room does not verify
/// there — while the nonce is not: the same batch sealed twice has one digest, and two different
/// digests under one author and sequence prove that the author signed two versions
/// (equivocation). Each batch names its predecessor's digest, so an author's batches form a hash
/// chain. Bytes 0..<80 are the AEAD's associated data, so changing any header field breaks
/// decryption too. Signing first means any member may store and forward anybody's batch, yet
/// nobody can forge another member's.
public enum BatchSealer {
    /// The format's magic bytes.
    package static let magic: [UInt8] = Array("cvb2".utf8)
    /// Bytes before the ciphertext.
    package static let headerLength = 104
    /// Bytes bound as associated data (magic, author, sequence, epoch, previous).
    static let associatedDataLength = 80
    /// Length of a batch digest and of a room id.
    public static let digestLength = 32
    /// The digest of "no previous batch", carried by every author's first batch.
    public static let noPrevious = [UInt8](repeating: 0, count: digestLength)
    /// Fixed cost per batch on the wire: header, signature and tag.
    public static let overhead = headerLength + PublicKey.signatureLength + aeadTagLength
    /// The largest payload accepted: 4 MiB bounds what one hostile batch can make a node allocate.
    public static let maxPayloadLength = 4 << 20
    /// The digest's domain label: a digest of anything else never collides with a batch's.
    static let digestLabel = Array("cvpeer/2 batch".utf8)

    /// The digest that the author signs: see the type's documentation.
    static func digest(room: [UInt8], header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> [UInt8] {
        let hasher = Blake2b.Hasher(outputLength: digestLength)
        hasher.update(digestLabel)
        hasher.update(room)
        hasher.update(UnsafeRawBufferPointer(rebasing: header[4..<associatedDataLength]))
        hasher.update(payload)
        return hasher.finalize()
    }

    /// Seals `payload` as batch `sequence` of `identity` in `room`, under the content key of `epoch`.
    ///
    /// - Parameters:
    ///   - room: the room's 32-byte id (`RoomKeys.roomID`), bound into the signature.
    ///   - previous: the digest of the author's previous batch, or `noPrevious` for sequence 1.
    /// - Returns: the sealed bytes and the batch's digest.
    /// - Precondition: `payload.count <= maxPayloadLength`, `contentKey` is 32 bytes, `room` and
    ///   `previous` are 32 bytes.
    public static func seal(
        payload: UnsafeRawBufferPointer, sequence: UInt64, epoch: UInt32, previous: [UInt8], room: [UInt8],
        identity: Identity, contentKey: SecretBytes
    ) -> (sealed: [UInt8], digest: [UInt8]) {
        precondition(payload.count <= maxPayloadLength, "batch payload too large")
        precondition(previous.count == digestLength && room.count == digestLength, "room id and previous digest are 32 bytes")
        let n = payload.count + PublicKey.signatureLength
        var out = [UInt8](repeating: 0, count: headerLength + n + aeadTagLength)
        var digest: [UInt8] = []
        out.withUnsafeMutableBytes { o in
            let base = o.baseAddress!
            o.copyBytes(from: magic)
            UnsafeMutableRawBufferPointer(rebasing: o[4..<36]).copyBytes(from: identity.publicKey.bytes)
            base.storeBytes(of: sequence.bigEndian, toByteOffset: 36, as: UInt64.self)
            base.storeBytes(of: epoch.bigEndian, toByteOffset: 44, as: UInt32.self)
            UnsafeMutableRawBufferPointer(rebasing: o[48..<80]).copyBytes(from: previous)
            randombytes_buf(base + 80, 24)
            if payload.count > 0 {
                (base + headerLength).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
            }
            digest = Self.digest(room: room, header: UnsafeRawBufferPointer(o), payload: payload)
            let signatureStart = headerLength + payload.count
            digest.withUnsafeBytes { d in
                identity.sign(d, into: UnsafeMutableRawBufferPointer(rebasing: o[signatureStart..<(signatureStart + 64)]))
            }
            // libsodium allows the ciphertext to overwrite the plaintext in place.
            contentKey.withUnsafeBytes { key in
                XChaCha20Poly1305.rawSeal(
                    out: (base + headerLength).assumingMemoryBound(to: UInt8.self),
                    plaintext: UnsafeRawBufferPointer(rebasing: o[headerLength..<(headerLength + n)]),
                    ad: UnsafeRawBufferPointer(rebasing: o[0..<associatedDataLength]),
                    nonce: UnsafeRawBufferPointer(rebasing: o[80..<104]), key: key)
            }
        }
        return (out, digest)
    }

    /// Seals a byte-array payload.
    public static func seal(
        payload: [UInt8], sequence: UInt64, epoch: UInt32, previous: [UInt8], room: [UInt8], identity: Identity,
        contentKey: SecretBytes
    ) -> (sealed: [UInt8], digest: [UInt8]) {
        payload.withUnsafeBytes {
            seal(
                payload: $0, sequence: sequence, epoch: epoch, previous: previous, room: room, identity: identity,
                contentKey: contentKey)
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
            throw CryptoError.malformedBatch("not a cvpeer batch of this version")
        }
        let author = try PublicKey(bytes: Array(s[4..<36]))
        let sequence = UInt64(bigEndian: s.loadUnaligned(fromByteOffset: 36, as: UInt64.self))
        let epoch = UInt32(bigEndian: s.loadUnaligned(fromByteOffset: 44, as: UInt32.self))
        return SealedBatchHeader(author: author, sequence: sequence, epoch: epoch, previous: Array(s[48..<80]))
    }

    /// Decrypts and verifies a sealed batch of `room`.
    ///
    /// - Parameters:
    ///   - sealed: the bytes as received.
    ///   - room: the 32-byte id of the room it must belong to.
    ///   - contentKey: the content key for an epoch, or nil if the epoch is unknown.
    /// - Returns: the batch with its authenticated author, sequence, epoch, previous digest,
    ///   digest and payload.
    /// - Throws: `malformedBatch`, `unknownEpoch`, `authenticationFailed` or `badSignature` (also
    ///   for an authentic batch of another room).
    public static func open(_ sealed: [UInt8], room: [UInt8], contentKey: (UInt32) -> SecretBytes?) throws -> OpenedBatch {
        try sealed.withUnsafeBytes { s in
            let header = try peekHeader(s)
            guard room.count == digestLength else {
                throw CryptoError.invalidLength(what: "room id", expected: digestLength, got: room.count)
            }
            guard let key = contentKey(header.epoch) else { throw CryptoError.unknownEpoch(header.epoch) }
            guard key.count == aeadKeyLength else {
                throw CryptoError.invalidLength(what: "content key", expected: aeadKeyLength, got: key.count)
            }
            let n = s.count - headerLength - aeadTagLength
            var plain = [UInt8](repeating: 0, count: n)
            let ok = plain.withUnsafeMutableBytes { b -> Bool in
                key.withUnsafeBytes { k in
                    XChaCha20Poly1305.rawOpen(
                        out: b.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        ciphertext: UnsafeRawBufferPointer(rebasing: s[headerLength...]),
                        ad: UnsafeRawBufferPointer(rebasing: s[0..<associatedDataLength]),
                        nonce: UnsafeRawBufferPointer(rebasing: s[80..<104]), key: k)
                }
            }
            guard ok else { throw CryptoError.authenticationFailed }
            let payloadLength = n - PublicKey.signatureLength
            let (digest, valid) = plain.withUnsafeBytes { b -> ([UInt8], Bool) in
                let digest = Self.digest(
                    room: room, header: s, payload: UnsafeRawBufferPointer(rebasing: b[0..<payloadLength]))
                let valid = digest.withUnsafeBytes {
                    header.author.isValidSignature(UnsafeRawBufferPointer(rebasing: b[payloadLength...]), for: $0)
                }
                return (digest, valid)
            }
            guard valid else { throw CryptoError.badSignature }
            plain.removeLast(PublicKey.signatureLength)
            return OpenedBatch(
                author: header.author, sequence: header.sequence, epoch: header.epoch, previous: header.previous,
                digest: digest, payload: plain)
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
    /// The claimed digest of the author's previous batch.
    public let previous: [UInt8]
}

/// A batch whose signature and encryption both verified.
public struct OpenedBatch: Hashable, Sendable {
    /// The author, authenticated by the signature.
    public let author: PublicKey
    /// The author's sequence number for this batch.
    public let sequence: UInt64
    /// The content-key epoch it was sealed under.
    public let epoch: UInt32
    /// The digest of the author's previous batch, as the author signed it.
    public let previous: [UInt8]
    /// This batch's digest: what the author signed, and what its next batch names as `previous`.
    public let digest: [UInt8]
    /// The plaintext payload.
    public let payload: [UInt8]
}
