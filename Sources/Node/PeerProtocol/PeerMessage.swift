import PeerCrypto
import Primitives

/// What nodes say to each other inside a link, after the transport has authenticated the peer.
///
/// Reliable messages carry sync exchanges and blob chunks; unreliable datagrams carry presence.
/// Every field has a fixed size except the trailing payloads, whose sizes are bounded, so a
/// decoder never allocates more than the (already bounded) message it was given.
///
///     tag 1  sync          SyncMessageCodec bytes
///     tag 2  chunkRequest  blob id (32) ‖ count (u32) ‖ n (u16) ‖ n × index (u32)
///     tag 3  chunk         blob id (32) ‖ count (u32) ‖ index (u32) ‖ sealed chunk
///     tag 4  chunkMissing  blob id (32) ‖ count (u32) ‖ n (u16) ‖ n × index (u32)
///     tag 5  hashListRequest  blob id (32) ‖ count (u32) ‖ commitment (32) ‖ page (u32)
///     tag 6  hashList      blob id (32) ‖ count (u32) ‖ commitment (32) ‖ page (u32) ‖ the page's hashes (m × 32)
///     tag 7  hashListMissing  blob id (32) ‖ count (u32) ‖ commitment (32) ‖ page (u32)
///     tag 18 pointer       SignedPointer bytes: origin (32) ‖ stamp (u64) ‖ flags (u8: 1 = on an item)
///                          [‖ item counter (u64) ‖ item replica (32) ‖ x (u32) ‖ y (u32)] ‖ signature (64)
///
/// Tags 16 and 17 (wave 1's unsigned pointer and relayed pointer) are retired: they no longer decode.
///
/// Integers are big-endian. `count` is the blob's chunk count, which a chunk is sealed under.
/// A hash-list page holds exactly the hashes of chunks `page × 2048 ..< min((page + 1) × 2048, count)`
/// (`BlobCommitment`), so its length is fixed by the header and at most 64 KiB.
enum PeerMessage: Equatable, Sendable {
    /// A sync exchange (version vector and batches).
    case sync([UInt8])
    /// Please send these chunks of this blob.
    case chunkRequest(BlobKey, indices: [UInt32])
    /// One sealed chunk, exactly as stored.
    case chunk(BlobKey, index: UInt32, sealed: [UInt8])
    /// I do not have these chunks (yet): ask someone else.
    case chunkMissing(BlobKey, indices: [UInt32])
    /// Please send page `page` of the chunk-hash list that hashes to `commitment`.
    case hashListRequest(BlobKey, commitment: [UInt8], page: UInt32)
    /// One page of a chunk-hash list, exactly `BlobCommitment.chunkRange(page:chunkCount:)` hashes.
    case hashList(BlobKey, commitment: [UInt8], page: UInt32, hashes: [UInt8])
    /// I do not hold that list (yet): ask someone else.
    case hashListMissing(BlobKey, commitment: [UInt8], page: UInt32)
    /// Where a participant's pointer is, signed by that participant: the sender's own, or one it
    /// passes on unchanged for peers that have no link of their own to its author.
    case pointer(SignedPointer)

    /// The most indices one request or refusal names: 64 chunks are 4 MiB in flight.
    static let maxIndices = 64
    /// The largest sealed chunk a message may carry.
    static let maxSealedChunk = 65536 + 40

    /// A pointer position on an item.
    struct Pointer: Equatable, Sendable {
        /// The item's id counter and author.
        var counter: UInt64
        var replica: [UInt8]
        /// Millionths of the item's width and height.
        var x: UInt32
        var y: UInt32
    }

    enum Tag: UInt8 {
        case sync = 1, chunkRequest = 2, chunk = 3, chunkMissing = 4, hashListRequest = 5, hashList = 6, hashListMissing = 7
        case pointer = 18
    }

    /// The wire bytes.
    var encoded: [UInt8] {
        var out: [UInt8] = []
        switch self {
        case let .sync(bytes):
            out.reserveCapacity(bytes.count + 1)
            out.append(Tag.sync.rawValue)
            out += bytes
        case let .chunkRequest(key, indices), let .chunkMissing(key, indices):
            if case .chunkRequest = self { out.append(Tag.chunkRequest.rawValue) } else { out.append(Tag.chunkMissing.rawValue) }
            out += key.id
            out += key.count.bigEndianBytes
            out += UInt16(indices.count).bigEndianBytes
            for index in indices { out += index.bigEndianBytes }
        case let .chunk(key, index, sealed):
            out.reserveCapacity(41 + sealed.count)
            out.append(Tag.chunk.rawValue)
            out += key.id
            out += key.count.bigEndianBytes
            out += index.bigEndianBytes
            out += sealed
        case let .hashListRequest(key, commitment, page), let .hashListMissing(key, commitment, page):
            if case .hashListRequest = self { out.append(Tag.hashListRequest.rawValue) } else { out.append(Tag.hashListMissing.rawValue) }
            Self.encodeListHeader(key, commitment: commitment, page: page, into: &out)
        case let .hashList(key, commitment, page, hashes):
            out.reserveCapacity(73 + hashes.count)
            out.append(Tag.hashList.rawValue)
            Self.encodeListHeader(key, commitment: commitment, page: page, into: &out)
            out += hashes
        case let .pointer(pointer):
            out.reserveCapacity(1 + SignedPointer.maxLength)
            out.append(Tag.pointer.rawValue)
            out += pointer.encoded
        }
        return out
    }

    private static func encodeListHeader(_ key: BlobKey, commitment: [UInt8], page: UInt32, into out: inout [UInt8]) {
        out += key.id
        out += key.count.bigEndianBytes
        out += commitment
        out += page.bigEndianBytes
    }

    /// Decodes a message, or nil for anything malformed (the caller drops it).
    static func decode(_ bytes: [UInt8]) -> PeerMessage? {
        try? read(bytes)
    }

    private static func read(_ bytes: [UInt8]) throws(MalformedPeerMessage) -> PeerMessage {
        var reader = PeerMessageReader(bytes)
        guard let tag = Tag(rawValue: try reader.byte("tag")) else { throw MalformedPeerMessage() }
        switch tag {
        case .sync:
            return .sync(reader.rest())
        case .chunkRequest, .chunkMissing:
            let key = try reader.blobKey()
            let n = try reader.bigEndian(UInt16.self, "index count")
            guard n <= maxIndices, reader.remaining == Int(n) * 4 else { throw MalformedPeerMessage() }
            var indices: [UInt32] = []
            indices.reserveCapacity(Int(n))
            for _ in 0..<n {
                let index = try reader.uint32("chunk index")
                guard index < key.count else { throw MalformedPeerMessage() }
                indices.append(index)
            }
            return tag == .chunkRequest ? .chunkRequest(key, indices: indices) : .chunkMissing(key, indices: indices)
        case .chunk:
            let key = try reader.blobKey()
            let index = try reader.uint32("chunk index")
            guard index < key.count, (40...maxSealedChunk).contains(reader.remaining) else { throw MalformedPeerMessage() }
            return .chunk(key, index: index, sealed: reader.rest())
        case .hashListRequest, .hashListMissing:
            let (key, commitment, page) = try readListHeader(&reader)
            guard reader.remaining == 0 else { throw MalformedPeerMessage() }
            return tag == .hashListRequest
                ? .hashListRequest(key, commitment: commitment, page: page) : .hashListMissing(key, commitment: commitment, page: page)
        case .hashList:
            let (key, commitment, page) = try readListHeader(&reader)
            guard reader.remaining == BlobCommitment.chunkRange(page: Int(page), chunkCount: Int(key.count)).count * BlobCommitment.hashLength
            else { throw MalformedPeerMessage() }
            return .hashList(key, commitment: commitment, page: page, hashes: reader.rest())
        case .pointer:
            guard let pointer = SignedPointer.decode(reader.rest()) else { throw MalformedPeerMessage() }
            return .pointer(pointer)
        }
    }

    /// The blob, commitment and page of a hash-list message; throws unless the page exists for the count.
    private static func readListHeader(
        _ reader: inout PeerMessageReader
    ) throws(MalformedPeerMessage) -> (BlobKey, [UInt8], UInt32) {
        let key = try reader.blobKey()
        let commitment = try reader.bytes(BlobCommitment.length, "commitment")
        let page = try reader.uint32("page")
        guard page < BlobCommitment.pageCount(chunkCount: Int(key.count)) else { throw MalformedPeerMessage() }
        return (key, commitment, page)
    }
}

/// A blob as transfers know it: its id and its number of chunks.
struct BlobKey: Hashable, Sendable {
    /// The 32-byte blob id.
    var id: [UInt8]
    /// The number of chunks it is sealed in.
    var count: UInt32
}

/// Why a peer message or pointer was dropped: the engine only counts drops, so the fault is not kept.
struct MalformedPeerMessage: ByteReadError {
    init(_ fault: ByteReadFault) {}
    init() {}
}

/// The reader of node-to-node messages.
typealias PeerMessageReader = ByteReader<MalformedPeerMessage>

extension ByteReader where Failure == MalformedPeerMessage {
    /// A blob id and its chunk count, which is at least 1.
    mutating func blobKey() throws(MalformedPeerMessage) -> BlobKey {
        let id = try bytes(32, "blob id")
        let count = try uint32("chunk count")
        guard count >= 1 else { throw MalformedPeerMessage() }
        return BlobKey(id: id, count: count)
    }
}
