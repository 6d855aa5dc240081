import CVPeerTestSupport
import PeerCrypto
import Primitives
import Testing

@testable import Node

@Suite("Peer messages")
struct PeerMessageTests {
    static let key = BlobKey(id: Array(repeating: 7, count: 32), count: 100)
    static let signer = Identity.generate()
    static let roomTag = Array(repeating: UInt8(3), count: 16)

    static func signed(_ position: PeerMessage.Pointer?, stamp: UInt64 = 1) -> SignedPointer {
        SignedPointer.make(identity: signer, roomTag: roomTag, stamp: stamp, position: position)
    }

    @Test("every message survives encoding and decoding", arguments: [
        PeerMessage.sync([1, 2, 3]),
        .chunkRequest(key, indices: [0, 5, 99]),
        .chunk(key, index: 42, sealed: Array(repeating: 9, count: 1000)),
        .chunkMissing(key, indices: [3]),
        .hashListRequest(key, commitment: Array(repeating: 4, count: 32), page: 0),
        .hashList(key, commitment: Array(repeating: 4, count: 32), page: 0, hashes: Array(repeating: 6, count: 100 * 32)),
        .hashList(
            BlobKey(id: key.id, count: 2049), commitment: Array(repeating: 4, count: 32), page: 1, hashes: Array(repeating: 6, count: 32)),
        .hashListMissing(key, commitment: Array(repeating: 4, count: 32), page: 0),
        .pointer(signed(nil)),
        .pointer(signed(.init(counter: 12, replica: Array(repeating: 1, count: 32), x: 500_000, y: 1_000_000), stamp: .max)),
        .pointer(signed(.init(counter: 3, replica: Array(repeating: 2, count: 32), x: 0, y: 7))),
    ])
    func roundTrip(message: PeerMessage) {
        #expect(PeerMessage.decode(message.encoded) == message)
    }

    @Test("out-of-range indices, oversized lists and coordinates are refused")
    func hostileFields() {
        #expect(PeerMessage.decode(PeerMessage.chunkRequest(Self.key, indices: [100]).encoded) == nil)
        #expect(PeerMessage.decode(PeerMessage.chunkRequest(Self.key, indices: Array(0..<65)).encoded) == nil)
        #expect(PeerMessage.decode(PeerMessage.chunk(Self.key, index: 100, sealed: Array(repeating: 0, count: 64)).encoded) == nil)
        #expect(PeerMessage.decode(PeerMessage.chunk(Self.key, index: 1, sealed: Array(repeating: 0, count: 39)).encoded) == nil)
        #expect(
            PeerMessage.decode(PeerMessage.pointer(Self.signed(.init(counter: 1, replica: Array(repeating: 1, count: 32), x: 1_000_001, y: 0))).encoded)
                == nil)
        // Wave 1's unsigned pointer and relayed pointer are retired.
        #expect(PeerMessage.decode([16, 1] + Array(repeating: 0, count: 48)) == nil)
        #expect(PeerMessage.decode([17] + Array(repeating: 5, count: 32) + [0]) == nil)
        #expect(PeerMessage.decode([]) == nil)
        #expect(PeerMessage.decode([99]) == nil)
        // Hash lists: a page past the list, a page one hash short or long, a count of zero.
        let commitment = [UInt8](repeating: 4, count: 32)
        #expect(PeerMessage.decode(PeerMessage.hashListRequest(Self.key, commitment: commitment, page: 1).encoded) == nil)
        #expect(PeerMessage.decode(PeerMessage.hashListMissing(Self.key, commitment: commitment, page: 1).encoded) == nil)
        let page = PeerMessage.hashList(Self.key, commitment: commitment, page: 0, hashes: Array(repeating: 6, count: 100 * 32)).encoded
        #expect(PeerMessage.decode(Array(page.dropLast(32))) == nil)
        #expect(PeerMessage.decode(page + Array(repeating: 6, count: 32)) == nil)
        #expect(PeerMessage.decode(page + [0]) == nil)
        var zeroCount = page
        zeroCount.replaceSubrange(33..<37, with: [0, 0, 0, 0])
        #expect(PeerMessage.decode(zeroCount) == nil)
        // The largest page of the largest list is exactly 64 KiB of hashes, whatever the count says.
        let huge = BlobKey(id: Self.key.id, count: UInt32.max)
        let full = PeerMessage.hashList(huge, commitment: commitment, page: 5, hashes: Array(repeating: 1, count: 65536))
        #expect(PeerMessage.decode(full.encoded) == full)
        #expect(PeerMessage.decode(full.encoded + Array(repeating: 1, count: 32)) == nil)
        #expect(PeerMessage.decode(PeerMessage.hashListRequest(huge, commitment: commitment, page: UInt32.max).encoded) == nil)
    }

    @Test("every truncation of every message and 50,000 random inputs decode or are refused without trapping")
    func fuzz() {
        let samples: [PeerMessage] = [
            .chunkRequest(Self.key, indices: [0, 5, 99]), .chunk(Self.key, index: 42, sealed: Array(repeating: 9, count: 100)),
            .chunkMissing(Self.key, indices: [3]), .pointer(Self.signed(.init(counter: 12, replica: Array(repeating: 1, count: 32), x: 5, y: 6))),
            .pointer(Self.signed(nil)),
            .hashListRequest(Self.key, commitment: Array(repeating: 4, count: 32), page: 0),
            .hashList(BlobKey(id: Self.key.id, count: 3), commitment: Array(repeating: 4, count: 32), page: 0, hashes: Array(repeating: 6, count: 96)),
            .hashListMissing(Self.key, commitment: Array(repeating: 4, count: 32), page: 0),
        ]
        for sample in samples {
            let bytes = sample.encoded
            for length in 0..<bytes.count {
                let decoded = PeerMessage.decode(Array(bytes.prefix(length)))
                #expect(decoded != sample)
            }
        }
        let seed = SeededRandom.seedFromEnvironmentOrRandom()
        print("peer message fuzz seed \(seed) (CVPEER_TEST_SEED replays it)")
        var random = SeededRandom(seed: seed)
        for _ in 0..<50_000 {
            var bytes = random.bytes(Int.random(in: 0...160, using: &random))
            if !bytes.isEmpty { bytes[0] = [1, 2, 3, 4, 5, 6, 7, 16, 17, 18].randomElement(using: &random)! }
            _ = PeerMessage.decode(bytes)
        }
        // Hash-list pages with random headers and lengths up to past the largest page: never a
        // trap, and whatever decodes has exactly the page's hashes.
        // One random filler, sliced: generating 64 KiB of random bytes per input would keep a
        // cooperative thread busy for long in a debug build and starve the other suites.
        let filler = random.bytes(70_000)
        for _ in 0..<2_000 {
            var bytes = [UInt8]([[5, 6, 7].randomElement(using: &random)!]) + random.bytes(73)
            if Bool.random(using: &random) {
                // A plausible header half the time, so the length rules are reached, not just the page check.
                bytes.replaceSubrange(33..<37, with: UInt32.random(in: 1...5000, using: &random).bigEndianBytes)
                bytes.replaceSubrange(69..<73, with: UInt32.random(in: 0...3, using: &random).bigEndianBytes)
            }
            bytes += filler.prefix([0, 1, 31, 32, 96, 65536, 65537, 70_000].randomElement(using: &random)!)
            if case let .hashList(key, _, page, hashes)? = PeerMessage.decode(bytes) {
                #expect(hashes.count == BlobCommitment.chunkRange(page: Int(page), chunkCount: Int(key.count)).count * 32)
            }
        }
    }
}

extension BlobTransfers {
    /// `want` with the chunk-hash list already verified, as the chunk bookkeeping tests assume.
    mutating func want(_ key: BlobKey, size: UInt64, held: [Int]) {
        want(key, size: size, commitment: Array(repeating: 0, count: 32), hashes: Array(repeating: 0, count: Int(key.count) * 32), held: held)
    }
}

@Suite("Blob transfer bookkeeping")
struct BlobTransfersTests {
    static let key = BlobKey(id: Array(repeating: 3, count: 32), count: 100)
    static let peers = (0..<3).map { _ in Identity.generate().publicKey }

    @Test("chunks are spread over the peers within each peer's window, and each is asked once")
    func spreadsOverPeers() {
        var transfers = BlobTransfers()
        transfers.windowPerPeer = 10
        transfers.want(Self.key, size: 100 * 65536, held: [0, 1])
        let requests = transfers.requests(peers: Self.peers, now: 0)
        let asked = requests.flatMap(\.indices)
        #expect(asked.count == 30)
        #expect(Set(asked).count == 30)
        #expect(!asked.contains(0) && !asked.contains(1))
        for peer in Self.peers {
            #expect(requests.filter { $0.peer == peer }.flatMap(\.indices).count == 10)
        }
        #expect(transfers.requests(peers: Self.peers, now: 0).isEmpty)
    }

    @Test("a refused chunk goes to another peer; one every peer lacks waits for the refresh")
    func refusals() {
        var transfers = BlobTransfers()
        transfers.windowPerPeer = 1
        let key = BlobKey(id: Self.key.id, count: 1)
        transfers.want(key, size: 10, held: [])
        let first = transfers.requests(peers: Array(Self.peers.prefix(2)), now: 0)
        #expect(first.count == 1)
        transfers.refused(key, indices: [0], by: first[0].peer)
        let second = transfers.requests(peers: Array(Self.peers.prefix(2)), now: 0)
        #expect(second.count == 1 && second[0].peer != first[0].peer)
        transfers.refused(key, indices: [0], by: second[0].peer)
        #expect(transfers.requests(peers: Array(Self.peers.prefix(2)), now: 0).isEmpty)
        transfers.refresh(now: 1)
        #expect(transfers.requests(peers: Array(Self.peers.prefix(2)), now: 1).flatMap(\.indices) == [0])
    }

    @Test("a vanished peer's and a timed-out request's chunks are asked again; completion is reported once")
    func recovery() {
        var transfers = BlobTransfers()
        transfers.windowPerPeer = 4
        let key = BlobKey(id: Self.key.id, count: 4)
        transfers.want(key, size: 4 * 65536, held: [])
        let asked = transfers.requests(peers: [Self.peers[0]], now: 0).flatMap(\.indices)
        #expect(asked.count == 4)
        transfers.peerGone(Self.peers[0])
        #expect(transfers.requests(peers: [Self.peers[1]], now: 1).flatMap(\.indices).sorted() == [0, 1, 2, 3])
        transfers.refresh(now: 5)
        #expect(transfers.requests(peers: [Self.peers[1]], now: 5).isEmpty)
        transfers.refresh(now: 12)
        #expect(transfers.requests(peers: [Self.peers[2]], now: 12).flatMap(\.indices).count == 4)
        #expect(transfers.received(key, index: 0) == false)
        #expect(transfers.received(key, index: 0) == false)
        #expect(transfers.received(key, index: 1) == false)
        #expect(transfers.received(key, index: 2) == false)
        #expect(transfers.received(key, index: 3) == true)
        #expect(!transfers.wants(key, index: 3))
    }

    @Test("the list is asked of one peer before any chunk; a list that does not hash to the commitment distrusts that peer")
    func hashLists() throws {
        var transfers = BlobTransfers()
        let key = BlobKey(id: Self.key.id, count: 3)
        let hashes = (0..<3).flatMap { Blake2b.hash([UInt8($0)]) }
        let commitment = BlobCommitment.commitment(hashes: hashes, chunkCount: 3)
        transfers.want(key, size: 3 * 65536, commitment: commitment, hashes: nil, held: [])
        #expect(transfers.requests(peers: Self.peers, now: 0).isEmpty, "no chunk before the list")
        let first = transfers.listRequests(peers: Self.peers, now: 0)
        try #require(first.count == 1)
        #expect(first[0].pages == 1 && first[0].commitment == commitment)
        #expect(transfers.listRequests(peers: Self.peers, now: 1).isEmpty, "one list fetch at a time")
        // Another peer's page, or a page for another commitment, is not taken.
        let other = Self.peers.first { $0 != first[0].peer }!
        #expect(!transfers.wantsListPage(key, commitment: commitment, page: 0, from: other))
        #expect(!transfers.wantsListPage(key, commitment: Array(repeating: 1, count: 32), page: 0, from: first[0].peer))
        var bad = hashes
        bad[40] ^= 1
        #expect(transfers.receivedListPage(key, page: 0, hashes: bad, from: first[0].peer, now: 1) == .bad)
        #expect(transfers.transfers[key]?.hashes == nil)
        let second = transfers.listRequests(peers: Self.peers, now: 1)
        try #require(second.count == 1)
        #expect(second[0].peer != first[0].peer, "asked of another peer")
        #expect(transfers.receivedListPage(key, page: 0, hashes: hashes, from: second[0].peer, now: 2) == .verified(hashes))
        let chunks = transfers.requests(peers: Self.peers, now: 2)
        #expect(chunks.flatMap(\.indices).sorted() == [0, 1, 2])
        #expect(!chunks.contains { $0.peer == first[0].peer }, "the peer that sent a bad list is not asked")
    }

    @Test("a poisoned chunk is asked of another peer, and its sender not again for this blob until the distrust expires")
    func poisoned() throws {
        var transfers = BlobTransfers()
        transfers.windowPerPeer = 1
        let key = BlobKey(id: Self.key.id, count: 2)
        transfers.want(key, size: 2 * 65536, held: [])
        let peers = Array(Self.peers.prefix(2))
        let first = transfers.requests(peers: peers, now: 0)
        try #require(first.count == 2)
        let (bad, index) = (first[0].peer, first[0].indices[0])
        transfers.poisoned(key, index: index, by: bad, now: 0)
        #expect(transfers.wants(key, index: index))
        _ = transfers.received(key, index: first[1].indices[0])
        let again = transfers.requests(peers: peers, now: 1)
        #expect(again.count == 1 && again[0].peer != bad && again[0].indices == [index])
        // Timed out there, it still is not asked of the distrusted peer, only after the distrust ends.
        transfers.refresh(now: 20)
        #expect(!transfers.requests(peers: peers, now: 20).contains { $0.peer == bad })
        transfers.refresh(now: 20 + transfers.distrustTime)
        #expect(transfers.requests(peers: [bad], now: 20 + transfers.distrustTime).flatMap(\.indices) == [index])
    }

    @Test("chunks found bad in the store are wanted again")
    func lost() {
        var transfers = BlobTransfers()
        let key = BlobKey(id: Self.key.id, count: 3)
        transfers.want(key, size: 3 * 65536, held: [0, 1, 2])
        #expect(transfers.transfers[key]?.isComplete == true)
        transfers.lost(key, indices: [1, 1, 7])
        #expect(transfers.transfers[key]?.haveCount == 2)
        #expect(transfers.requests(peers: Self.peers, now: 0).flatMap(\.indices) == [1])
    }
}
