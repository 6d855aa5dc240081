import Primitives

/// The author's commitment to every chunk of a blob, carried in the item's signed operation so a
/// receiver can refuse a bad chunk the moment it arrives instead of finding a mismatch with the
/// blob id only once the whole file is in (and not knowing which chunk, or which peer, was bad).
///
///     hash key     = BLAKE2b-256(key: contentKey, "cvpeer/1 blob chunk hash key")
///     chunk hash   = BLAKE2b-256(key: hash key, plaintext of the chunk)
///     commitment   = BLAKE2b-256("cvpeer/1 blob commitment" ‖ chunk count (u32 BE) ‖ hash 0 ‖ … ‖ hash n-1)
///
/// The hashes are over the chunk's *plaintext*, not its sealed bytes: sealing uses a random nonce,
/// so two members who share the same file (or one who shares it again after holding part of it)
/// produce different sealed chunks with the same blob id, and chunks are stored by blob id. A
/// list over sealed bytes would make honest peers' chunks look poisoned; a list over plaintext is
/// a function of the file alone, so every honest sealing of it matches. Every node that stores
/// chunks holds the content key and opens each chunk on arrival anyway, so nothing is lost.
/// The hash is keyed (like the blob id) so that the list, which peers exchange, cannot be used to
/// test whether a room holds a known file.
///
/// The list travels in pages of `hashesPerPage` hashes (64 KiB, one reliable message); a receiver
/// accepts it only once every page is in and the whole hashes to the commitment. Stateless and
/// thread-safe.
public enum BlobCommitment {
    /// Bytes of a commitment.
    public static let length = 32
    /// Bytes of one chunk hash.
    public static let hashLength = 32
    /// Hashes per page of the list: 2,048 × 32 bytes = 64 KiB, the size of a chunk.
    package static let hashesPerPage = 2048

    /// Labels; changing one is an incompatible change.
    enum Label {
        static let hashKey = Array("cvpeer/1 blob chunk hash key".utf8)
        static let commitment = Array("cvpeer/1 blob commitment".utf8)
    }

    /// The number of pages the list of a blob of `chunkCount` chunks takes.
    ///
    /// - Precondition: `chunkCount >= 1`.
    public static func pageCount(chunkCount: Int) -> Int {
        precondition(chunkCount >= 1, "a blob has at least one chunk")
        return (chunkCount - 1) / hashesPerPage + 1
    }

    /// The chunk indices whose hashes page `page` holds.
    ///
    /// - Precondition: `0 <= page < pageCount(chunkCount:)`.
    public static func chunkRange(page: Int, chunkCount: Int) -> Range<Int> {
        precondition(page >= 0 && page < pageCount(chunkCount: chunkCount), "hash list page out of range")
        return page * hashesPerPage..<min((page + 1) * hashesPerPage, chunkCount)
    }

    /// The commitment to a list of chunk hashes.
    ///
    /// - Parameter hashes: the chunk hashes concatenated, `chunkCount × hashLength` bytes.
    /// - Precondition: that length, and `1 <= chunkCount <= BlobSealer.maxChunkCount`.
    public static func commitment(hashes: [UInt8], chunkCount: Int) -> [UInt8] {
        precondition(chunkCount >= 1 && chunkCount <= BlobSealer.maxChunkCount, "chunk count out of range")
        precondition(hashes.count == chunkCount * hashLength, "hash list length does not match the chunk count")
        let hasher = Blake2b.Hasher(outputLength: length)
        hasher.update(Label.commitment)
        hasher.update(UInt32(chunkCount).bigEndianBytes)
        hasher.update(hashes)
        return hasher.finalize()
    }

    /// True if `hashes` is a list of `chunkCount` hashes that hashes to `commitment`.
    public static func verify(hashes: [UInt8], chunkCount: Int, commitment: [UInt8]) -> Bool {
        guard chunkCount >= 1, chunkCount <= BlobSealer.maxChunkCount, hashes.count == chunkCount * hashLength,
            commitment.count == length
        else { return false }
        // Public values (the commitment is in the document): a plain comparison leaks nothing.
        return self.commitment(hashes: hashes, chunkCount: chunkCount) == commitment
    }
}

/// Hashes chunk plaintexts for a blob's commitment under one room epoch's content key.
///
/// Holds the derived hash key; thread-safe (it only reads the key).
public struct BlobChunkHasher: Sendable {
    private let key: SecretBytes

    /// A hasher for blobs shared under `contentKey`.
    public init(contentKey: SecretBytes) {
        key = Blake2b.derive(key: contentKey, label: BlobCommitment.Label.hashKey)
    }

    /// The hash of one chunk's plaintext.
    public func hash(_ plaintext: UnsafeRawBufferPointer) -> [UInt8] {
        key.withUnsafeBytes { Blake2b.hash(plaintext, key: $0, outputLength: BlobCommitment.hashLength) }
    }

    /// The hash of one chunk's plaintext held in a byte array.
    public func hash(_ plaintext: [UInt8]) -> [UInt8] {
        plaintext.withUnsafeBytes { hash($0) }
    }

    /// True if `plaintext` is chunk `index` of the list `hashes`.
    public func matches(_ plaintext: [UInt8], index: Int, hashes: [UInt8]) -> Bool {
        let start = index * BlobCommitment.hashLength
        guard index >= 0, start + BlobCommitment.hashLength <= hashes.count else { return false }
        return hash(plaintext)[...] == hashes[start..<start + BlobCommitment.hashLength]
    }
}
