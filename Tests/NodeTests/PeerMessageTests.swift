import CVPeerTestSupport
import PeerCrypto
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
    }

    @Test("every truncation of every message and 50,000 random inputs decode or are refused without trapping")
    func fuzz() {
        let samples: [PeerMessage] = [
            .chunkRequest(Self.key, indices: [0, 5, 99]), .chunk(Self.key, index: 42, sealed: Array(repeating: 9, count: 100)),
            .chunkMissing(Self.key, indices: [3]), .pointer(Self.signed(.init(counter: 12, replica: Array(repeating: 1, count: 32), x: 5, y: 6))),
            .pointer(Self.signed(nil)),
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
            if !bytes.isEmpty { bytes[0] = [1, 2, 3, 4, 16, 17, 18].randomElement(using: &random)! }
            _ = PeerMessage.decode(bytes)
        }
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
}
