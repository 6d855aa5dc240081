import CSodium
import Primitives

/// Blob (photo, video) encryption: 64 KiB chunks, each sealed on its own so a transfer can resume,
/// come from several peers, and be checked chunk by chunk.
///
/// Keys (all BLAKE2b keyed hashes under the room's content key of one epoch):
///
///     id key     = BLAKE2b-256(key: contentKey, "cvpeer/1 blob id key")
///     blob id    = BLAKE2b-256(key: id key, plaintext of the whole blob)
///     chunk key  = BLAKE2b-256(key: contentKey, "cvpeer/1 blob chunk key" ‖ blob id)
///
/// The id is keyed so that equal files in different rooms (or epochs) get unrelated ids, and a
/// relay or an outsider cannot test whether a room holds a known file.
///
/// Sealed chunk layout:
///
///     offset  size  field
///          0    24  XChaCha20-Poly1305 nonce, random
///         24     n  ciphertext of the chunk (n = 65536, except the last chunk: 1…65536, or 0 for an empty blob)
///       24+n    16  Poly1305 tag
///
/// Associated data: "cvpeer/1 blob chunk" ‖ blob id ‖ index (u32 BE) ‖ chunk count (u32 BE). With
/// the per-blob key this makes a chunk open only as the chunk it was sealed as: moving it to
/// another index, another blob, another room, or a blob with fewer chunks (a truncation) fails.
/// The index is bound as associated data rather than used as the nonce because a random nonce
/// stays safe even if a caller seals different bytes under one blob id (say, a photo edited after
/// its id was computed); a counter nonce would then repeat under the same key.
///
/// A chunk that opens proves it was sealed by a room member for this id and position; that the
/// whole blob matches its id is proved by hashing the opened plaintext with `BlobHasher` and
/// comparing, which the receiver does once all chunks are in. Stateless and thread-safe.
public enum BlobSealer {
    /// Plaintext bytes per chunk: large enough that the 40-byte overhead is 0.06 %, small enough
    /// that a lost chunk costs little to fetch again and fits one reliable-transport message.
    public static let chunkSize = 65536
    /// Bytes a sealed chunk adds to its plaintext: the nonce and the tag.
    public static let overhead = nonceLength + aeadTagLength
    /// The most chunks one blob may have: the index and count are 32-bit in the associated data.
    public static let maxChunkCount = Int(UInt32.max)

    static let nonceLength = XChaCha20Poly1305.nonceLength

    /// Labels of the derived keys and the associated data; changing one is an incompatible change.
    enum Label {
        static let idKey = Array("cvpeer/1 blob id key".utf8)
        static let chunkKey = Array("cvpeer/1 blob chunk key".utf8)
        static let chunkAD = Array("cvpeer/1 blob chunk".utf8)
    }

    /// The number of chunks a blob of `size` bytes is split into; an empty blob has one, empty, chunk.
    ///
    /// - Precondition: `size >= 0`.
    public static func chunkCount(forSize size: Int) -> Int {
        precondition(size >= 0, "negative blob size")
        return size == 0 ? 1 : (size - 1) / chunkSize + 1
    }

    /// The plaintext length of chunk `index` of a blob of `size` bytes.
    ///
    /// - Precondition: `index < chunkCount(forSize: size)`.
    package static func chunkLength(index: Int, forSize size: Int) -> Int {
        precondition(index >= 0 && index < chunkCount(forSize: size), "chunk index out of range")
        return min(chunkSize, size - index * chunkSize)
    }

    /// The id of a blob whose whole plaintext is in memory.
    public static func blobID(for plaintext: UnsafeRawBufferPointer, contentKey: SecretBytes) -> BlobID {
        let hasher = BlobHasher(contentKey: contentKey)
        hasher.update(plaintext)
        return hasher.finalize()
    }

    /// The id of a blob held in a byte array.
    public static func blobID(for plaintext: [UInt8], contentKey: SecretBytes) -> BlobID {
        plaintext.withUnsafeBytes { blobID(for: $0, contentKey: contentKey) }
    }

    /// Seals chunk `index` of a blob of `count` chunks.
    ///
    /// - Parameters:
    ///   - index: the chunk's position, 0 ..< count.
    ///   - count: the blob's number of chunks, `chunkCount(forSize:)` of its size.
    ///   - blobID: the id of the whole blob.
    ///   - plaintext: exactly `chunkSize` bytes, except for the last chunk (1…chunkSize, or 0 if count is 1).
    ///   - contentKey: the room's content key of the epoch the blob is shared in.
    /// - Returns: nonce ‖ ciphertext ‖ tag, `plaintext.count + overhead` bytes.
    /// - Precondition: the index, count and length rules above; a 32-byte content key.
    public static func sealChunk(
        index: Int, of count: Int, blobID: BlobID, plaintext: UnsafeRawBufferPointer, contentKey: SecretBytes
    ) -> [UInt8] {
        precondition(lengthIsValid(plaintext.count, index: index, count: count), "blob chunk length or index out of range")
        precondition(contentKey.count == aeadKeyLength, "content key must be 32 bytes")
        let key = chunkKey(blobID: blobID, contentKey: contentKey)
        let ad = associatedData(index: index, count: count, blobID: blobID)
        var out = [UInt8](repeating: 0, count: plaintext.count + overhead)
        out.withUnsafeMutableBytes { o in
            let nonce = UnsafeMutableRawBufferPointer(rebasing: o[0..<nonceLength])
            randombytes_buf(nonce.baseAddress!, nonceLength)
            ad.withUnsafeBytes { a in
                XChaCha20Poly1305.seal(
                    into: UnsafeMutableRawBufferPointer(rebasing: o[nonceLength...]), plaintext: plaintext, ad: a,
                    nonce: UnsafeRawBufferPointer(nonce), key: key)
            }
        }
        return out
    }

    /// Seals a chunk held in a byte array; see `sealChunk(index:of:blobID:plaintext:contentKey:)`.
    public static func sealChunk(index: Int, of count: Int, blobID: BlobID, plaintext: [UInt8], contentKey: SecretBytes)
        -> [UInt8]
    {
        plaintext.withUnsafeBytes {
            sealChunk(index: index, of: count, blobID: blobID, plaintext: $0, contentKey: contentKey)
        }
    }

    /// Opens chunk `index` of a blob of `count` chunks, as received from any peer.
    ///
    /// - Returns: the chunk's plaintext.
    /// - Throws: `CryptoError.invalidLength` if `sealed` cannot be a chunk at this position
    ///   (a non-last chunk must be full); `CryptoError.authenticationFailed` if it was altered, or
    ///   sealed for another index, count, blob, room or epoch.
    /// - Precondition: `0 <= index < count <= maxChunkCount`; a 32-byte content key.
    public static func openChunk(
        index: Int, of count: Int, blobID: BlobID, sealed: UnsafeRawBufferPointer, contentKey: SecretBytes
    ) throws -> [UInt8] {
        precondition(count >= 1 && count <= maxChunkCount && index >= 0 && index < count, "blob chunk index out of range")
        precondition(contentKey.count == aeadKeyLength, "content key must be 32 bytes")
        guard sealed.count >= overhead, lengthIsValid(sealed.count - overhead, index: index, count: count) else {
            let shortest = overhead + (count == 1 ? 0 : 1)
            let expected = index == count - 1 && sealed.count < shortest ? shortest : chunkSize + overhead
            throw CryptoError.invalidLength(what: "sealed blob chunk", expected: expected, got: sealed.count)
        }
        let key = chunkKey(blobID: blobID, contentKey: contentKey)
        let ad = associatedData(index: index, count: count, blobID: blobID)
        var out = [UInt8](repeating: 0, count: sealed.count - overhead)
        try out.withUnsafeMutableBytes { o in
            try ad.withUnsafeBytes { a in
                try XChaCha20Poly1305.open(
                    into: o, ciphertext: UnsafeRawBufferPointer(rebasing: sealed[nonceLength...]), ad: a,
                    nonce: UnsafeRawBufferPointer(rebasing: sealed[0..<nonceLength]), key: key)
            }
        }
        return out
    }

    /// Opens a chunk held in a byte array; see `openChunk(index:of:blobID:sealed:contentKey:)`.
    public static func openChunk(index: Int, of count: Int, blobID: BlobID, sealed: [UInt8], contentKey: SecretBytes)
        throws -> [UInt8]
    {
        try sealed.withUnsafeBytes {
            try openChunk(index: index, of: count, blobID: blobID, sealed: $0, contentKey: contentKey)
        }
    }

    /// Full chunks everywhere but the end; the last holds 1…chunkSize bytes, or 0 only in a one-chunk blob.
    private static func lengthIsValid(_ length: Int, index: Int, count: Int) -> Bool {
        guard count >= 1, count <= maxChunkCount, index >= 0, index < count else { return false }
        if index < count - 1 { return length == chunkSize }
        return (count == 1 ? 0 : 1) <= length && length <= chunkSize
    }

    static func idKey(contentKey: SecretBytes) -> SecretBytes {
        Blake2b.derive(key: contentKey, label: Label.idKey)
    }

    static func chunkKey(blobID: BlobID, contentKey: SecretBytes) -> SecretBytes {
        Blake2b.derive(key: contentKey, label: Label.chunkKey + blobID.bytes)
    }

    static func associatedData(index: Int, count: Int, blobID: BlobID) -> [UInt8] {
        Label.chunkAD + blobID.bytes + UInt32(index).bigEndianBytes + UInt32(count).bigEndianBytes
    }
}

/// A blob's identifier: a keyed BLAKE2b-256 of its plaintext, meaningful only within one room and epoch.
///
/// Not secret (peers exchange it to request chunks) but unlinkable across rooms.
public struct BlobID: Hashable, Sendable, CustomStringConvertible {
    /// The id's length in bytes.
    public static let length = 32
    /// The 32 bytes of the id.
    public let bytes: [UInt8]

    /// Wraps 32 bytes received from a peer or the store; nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.length else { return nil }
        self.bytes = bytes
    }

    /// Lowercase base32, 52 characters: usable in file names and URLs.
    public var description: String { Base32.encode(bytes) }
}

/// Computes a blob's id from its plaintext in pieces, for files too large to hold in memory.
///
/// Not thread-safe; owned by one caller at a time. Feeding the same bytes in any split gives
/// the same id as `BlobSealer.blobID(for:contentKey:)`.
public final class BlobHasher {
    private let hasher: Blake2b.Hasher

    /// Starts the id of a blob shared under `contentKey`.
    public init(contentKey: SecretBytes) {
        let key = BlobSealer.idKey(contentKey: contentKey)
        hasher = key.withUnsafeBytes { Blake2b.Hasher(outputLength: BlobID.length, key: $0) }
    }

    /// Adds the next bytes of the blob.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bytes)
    }

    /// Adds the next bytes of the blob from a byte array.
    public func update(_ bytes: [UInt8]) {
        hasher.update(bytes)
    }

    /// Finishes and returns the id; the hasher cannot be used afterwards.
    public func finalize() -> BlobID {
        BlobID(bytes: hasher.finalize())!
    }
}
