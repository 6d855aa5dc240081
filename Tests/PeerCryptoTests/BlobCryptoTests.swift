import CVPeerTestSupport
import PeerCrypto
import Testing

@Suite struct BlobCryptoTests {
    private let room = RoomKeys.generate(owner: testRoomOwner)
    private var contentKey: SecretBytes { room.contentKey(epoch: 0) }

    private func blob(_ size: Int, seed: UInt64 = 1) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        return random.bytes(size)
    }

    /// Seals every chunk of `plaintext` as a sender would.
    private func sealAll(_ plaintext: [UInt8], key: SecretBytes) -> (BlobID, [[UInt8]]) {
        let id = BlobSealer.blobID(for: plaintext, contentKey: key)
        let count = BlobSealer.chunkCount(forSize: plaintext.count)
        let chunks = (0..<count).map { index in
            let start = index * BlobSealer.chunkSize
            let chunk = Array(plaintext[start..<min(plaintext.count, start + BlobSealer.chunkSize)])
            return BlobSealer.sealChunk(index: index, of: count, blobID: id, plaintext: chunk, contentKey: key)
        }
        return (id, chunks)
    }

    @Test(arguments: [(0, 1), (1, 1), (65535, 1), (65536, 1), (65537, 2), (3 * 65536, 3), (3 * 65536 + 1, 4)])
    func chunkCountCoversTheBlob(size: Int, count: Int) {
        #expect(BlobSealer.chunkCount(forSize: size) == count)
        let total = (0..<count).reduce(0) { $0 + BlobSealer.chunkLength(index: $1, forSize: size) }
        #expect(total == size)
        #expect(BlobSealer.chunkSize == 65536)
    }

    @Test(arguments: [0, 1, 1000, 65536, 65537, 200_000])
    func roundTripReassemblesTheBlobAndMatchesItsID(size: Int) throws {
        let plaintext = blob(size, seed: UInt64(size))
        let key = contentKey
        let (id, chunks) = sealAll(plaintext, key: key)
        var reassembled: [UInt8] = []
        for (index, sealed) in chunks.enumerated() {
            #expect(sealed.count == BlobSealer.chunkLength(index: index, forSize: size) + BlobSealer.overhead)
            reassembled += try BlobSealer.openChunk(index: index, of: chunks.count, blobID: id, sealed: sealed, contentKey: key)
        }
        #expect(reassembled == plaintext)
        #expect(BlobSealer.blobID(for: reassembled, contentKey: key) == id)
    }

    @Test func flippingAnyByteOfASealedChunkIsRejected() {
        let key = contentKey
        let (id, chunks) = sealAll(blob(300), key: key)
        let sealed = chunks[0]
        for position in sealed.indices {
            for bit in [0x01, 0x80] as [UInt8] {
                var tampered = sealed
                tampered[position] ^= bit
                expectCryptoError("flip bit \(bit) of byte \(position)") {
                    _ = try BlobSealer.openChunk(index: 0, of: 1, blobID: id, sealed: tampered, contentKey: key)
                }
            }
        }
    }

    @Test func flippingBytesOfAFullChunkIsRejected() {
        let key = contentKey
        let (id, chunks) = sealAll(blob(2 * BlobSealer.chunkSize), key: key)
        var random = SeededRandom(seed: SeededRandom.seedFromEnvironment(default: 7))
        for _ in 0..<200 {
            var tampered = chunks[0]
            tampered[Int.random(in: tampered.indices, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
            let error = expectCryptoError("seed \(random.seed)") {
                _ = try BlobSealer.openChunk(index: 0, of: 2, blobID: id, sealed: tampered, contentKey: key)
            }
            #expect(error == .authenticationFailed)
        }
    }

    @Test func aChunkOpensOnlyAtItsOwnIndexCountBlobAndRoom() throws {
        let key = contentKey
        let (id, chunks) = sealAll(blob(3 * BlobSealer.chunkSize, seed: 2), key: key)
        let (otherID, otherChunks) = sealAll(blob(3 * BlobSealer.chunkSize, seed: 3), key: key)
        // Swapped positions within the blob.
        #expect(throws: CryptoError.authenticationFailed) {
            try BlobSealer.openChunk(index: 1, of: 3, blobID: id, sealed: chunks[0], contentKey: key)
        }
        // A chunk of another blob at the same position, claimed for this blob.
        #expect(throws: CryptoError.authenticationFailed) {
            try BlobSealer.openChunk(index: 0, of: 3, blobID: id, sealed: otherChunks[0], contentKey: key)
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try BlobSealer.openChunk(index: 0, of: 3, blobID: otherID, sealed: chunks[0], contentKey: key)
        }
        // Truncation: the blob claimed to end after two chunks; chunk 1 was sealed as one of three.
        #expect(throws: CryptoError.authenticationFailed) {
            try BlobSealer.openChunk(index: 1, of: 2, blobID: id, sealed: chunks[1], contentKey: key)
        }
        // Another room, and another epoch of this room.
        let otherRoom = RoomKeys.generate(owner: testRoomOwner).contentKey(epoch: 0)
        #expect(throws: CryptoError.authenticationFailed) {
            try BlobSealer.openChunk(index: 0, of: 3, blobID: id, sealed: chunks[0], contentKey: otherRoom)
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try BlobSealer.openChunk(index: 0, of: 3, blobID: id, sealed: chunks[0], contentKey: room.contentKey(epoch: 1))
        }
        // The genuine chunk still opens.
        _ = try BlobSealer.openChunk(index: 2, of: 3, blobID: id, sealed: chunks[2], contentKey: key)
    }

    @Test func wrongLengthsAreRejectedBeforeDecryption() {
        let key = contentKey
        let (id, chunks) = sealAll(blob(BlobSealer.chunkSize + 10), key: key)
        // A shortened first chunk can never be a non-last chunk.
        let shortened = Array(chunks[0].dropLast())
        let error = expectCryptoError("shortened") {
            _ = try BlobSealer.openChunk(index: 0, of: 2, blobID: id, sealed: shortened, contentKey: key)
        }
        #expect(error == .invalidLength(what: "sealed blob chunk", expected: BlobSealer.chunkSize + 40, got: shortened.count))
        for length in [0, 39, 40] {
            expectCryptoError("\(length) bytes as the last of two chunks") {
                _ = try BlobSealer.openChunk(
                    index: 1, of: 2, blobID: id, sealed: Array(chunks[1].prefix(length)), contentKey: key)
            }
        }
        // A last chunk cut short by one byte is a valid length but fails authentication.
        #expect(throws: CryptoError.authenticationFailed) {
            try BlobSealer.openChunk(index: 1, of: 2, blobID: id, sealed: Array(chunks[1].dropLast()), contentKey: key)
        }
        let oversized = chunks[0] + [0]
        expectCryptoError("one byte past a full chunk") {
            _ = try BlobSealer.openChunk(index: 1, of: 2, blobID: id, sealed: oversized, contentKey: key)
        }
    }

    @Test func equalFilesGetEqualIDsInOneRoomAndUnrelatedIDsAcrossRooms() {
        let file = blob(10_000, seed: 4)
        let here = BlobSealer.blobID(for: file, contentKey: contentKey)
        #expect(BlobSealer.blobID(for: file, contentKey: room.contentKey(epoch: 0)) == here)
        let elsewhere = BlobSealer.blobID(for: file, contentKey: RoomKeys.generate(owner: testRoomOwner).contentKey(epoch: 0))
        #expect(elsewhere != here)
        // Nor is the id the plain hash, which anyone holding the file could compute.
        #expect(here.bytes != Blake2b.hash(file))
        #expect(here.description.count == 52)
        #expect(BlobID(bytes: here.bytes) == here)
        #expect(BlobID(bytes: [1, 2, 3]) == nil)
    }

    @Test func resealingGivesFreshCiphertextThatStillOpens() throws {
        let key = contentKey
        let plaintext = blob(100, seed: 5)
        let id = BlobSealer.blobID(for: plaintext, contentKey: key)
        let first = BlobSealer.sealChunk(index: 0, of: 1, blobID: id, plaintext: plaintext, contentKey: key)
        let second = BlobSealer.sealChunk(index: 0, of: 1, blobID: id, plaintext: plaintext, contentKey: key)
        #expect(first != second)
        #expect(try BlobSealer.openChunk(index: 0, of: 1, blobID: id, sealed: second, contentKey: key) == plaintext)
    }

    @Test func streamingIDOfAFiveMegabyteBlobEqualsTheOneShotID() {
        let key = contentKey
        let plaintext = blob(5 * 1_000_000, seed: 6)
        let oneShot = BlobSealer.blobID(for: plaintext, contentKey: key)
        var random = SeededRandom(seed: SeededRandom.seedFromEnvironment(default: 8))
        let hasher = BlobHasher(contentKey: key)
        var offset = 0
        plaintext.withUnsafeBytes { all in
            while offset < all.count {
                let piece = min(all.count - offset, Int.random(in: 0...150_000, using: &random))
                hasher.update(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + piece)]))
                offset += piece
            }
        }
        #expect(hasher.finalize() == oneShot, "seed \(random.seed)")
        // Chunk-sized pieces, as a sender reading a file would feed them.
        let chunked = BlobHasher(contentKey: key)
        stride(from: 0, to: plaintext.count, by: BlobSealer.chunkSize).forEach {
            chunked.update(Array(plaintext[$0..<min(plaintext.count, $0 + BlobSealer.chunkSize)]))
        }
        #expect(chunked.finalize() == oneShot)
    }
}
