import CVPeerTestSupport
import PeerCrypto
import Testing

@Suite struct BlobCommitmentTests {
    private let room = RoomKeys.generate(owner: Identity.generate().publicKey)

    private func hashes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        return random.bytes(count * BlobCommitment.hashLength)
    }

    @Test(arguments: [(1, 1), (2048, 1), (2049, 2), (4096, 2), (262_144, 128)])
    func pagesHold2048Hashes(chunks: Int, pages: Int) {
        #expect(BlobCommitment.pageCount(chunkCount: chunks) == pages)
        let ranges = (0..<pages).map { BlobCommitment.chunkRange(page: $0, chunkCount: chunks) }
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == chunks)
        #expect(ranges.allSatisfy { $0.count <= BlobCommitment.hashesPerPage && !$0.isEmpty })
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
    }

    @Test func theCommitmentIsTheDocumentedHash() {
        let list = hashes(3)
        let expected = Blake2b.hash(Array("cvpeer/1 blob commitment".utf8) + [0, 0, 0, 3] + list)
        #expect(BlobCommitment.commitment(hashes: list, chunkCount: 3) == expected)
        #expect(BlobCommitment.verify(hashes: list, chunkCount: 3, commitment: expected))
    }

    @Test func anyChangedHashCountOrLengthFailsVerification() {
        let list = hashes(5)
        let commitment = BlobCommitment.commitment(hashes: list, chunkCount: 5)
        for index in stride(from: 0, to: list.count, by: 7) {
            var changed = list
            changed[index] ^= 0x01
            #expect(!BlobCommitment.verify(hashes: changed, chunkCount: 5, commitment: commitment))
        }
        #expect(!BlobCommitment.verify(hashes: Array(list.dropLast(32)), chunkCount: 4, commitment: commitment))
        #expect(!BlobCommitment.verify(hashes: Array(list.dropLast(1)), chunkCount: 5, commitment: commitment))
        #expect(!BlobCommitment.verify(hashes: list, chunkCount: 5, commitment: Array(commitment.dropLast())))
        #expect(!BlobCommitment.verify(hashes: [], chunkCount: 0, commitment: commitment))
    }

    @Test func chunkHashesAreKeyedByRoomAndIndependentOfSealing() throws {
        let chunk = Array(repeating: UInt8(7), count: 1000)
        let hasher = BlobChunkHasher(contentKey: room.contentKey(epoch: 0))
        let other = BlobChunkHasher(contentKey: RoomKeys.generate(owner: Identity.generate().publicKey).contentKey(epoch: 0))
        #expect(hasher.hash(chunk) != other.hash(chunk), "equal files in two rooms get unrelated lists")
        #expect(hasher.hash(chunk) != Blake2b.hash(chunk), "keyed, not a plain hash")
        // Two sealings of one chunk (random nonces) open to bytes with the same hash.
        let key = room.contentKey(epoch: 0)
        let id = BlobSealer.blobID(for: chunk, contentKey: key)
        let first = BlobSealer.sealChunk(index: 0, of: 1, blobID: id, plaintext: chunk, contentKey: key)
        let second = BlobSealer.sealChunk(index: 0, of: 1, blobID: id, plaintext: chunk, contentKey: key)
        #expect(first != second)
        let list = hasher.hash(chunk)
        #expect(hasher.matches(try BlobSealer.openChunk(index: 0, of: 1, blobID: id, sealed: first, contentKey: key), index: 0, hashes: list))
        #expect(hasher.matches(try BlobSealer.openChunk(index: 0, of: 1, blobID: id, sealed: second, contentKey: key), index: 0, hashes: list))
        #expect(!hasher.matches(chunk, index: 1, hashes: list), "an index past the list matches nothing")
        #expect(!hasher.matches(chunk, index: -1, hashes: list))
    }
}
