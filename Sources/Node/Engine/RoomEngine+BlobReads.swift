import LocalAPI
import PeerCrypto
import Primitives
import Replication
import Store
import Synchronization

/// What reading a blob needs, taken from the engine's actor in one cheap step, so the chunks are
/// read, opened and checked off the actor (sync and presence do not wait for a viewer's video).
package struct BlobReadPlan: Sendable {
    /// The room's tag in the store.
    let room: [UInt8]
    let id: BlobID
    /// The blob's size in bytes.
    package let size: Int
    /// Its chunk count.
    package let count: Int
    /// Its media type (one of `BlobRef.mediaTypes`).
    package let mime: String
    let commitment: [UInt8]
    /// Content keys to open its chunks with, the epoch of the batch that brought it first.
    let keys: [SecretBytes]
    let hasher: BlobChunkHasher
    /// True once the blob is held whole and was checked against its id.
    package let whole: Bool
    /// While arriving: which chunks are stored (verified against the list when they came, and
    /// checked again on read); nil when whole.
    let have: [Bool]?
    /// While arriving: how many chunks are here.
    package let haveCount: Int
    /// The verified chunk-hash list if the engine holds it in memory (a transfer's).
    let hashes: [UInt8]?

    /// The chunks covering bytes `range` of the blob.
    package func chunks(covering range: ClosedRange<Int>) -> ClosedRange<Int> {
        (range.lowerBound / BlobSealer.chunkSize)...(range.upperBound / BlobSealer.chunkSize)
    }

    /// True if every chunk in `chunks` is stored (always, for a blob held whole).
    package func holds(_ chunks: ClosedRange<Int>) -> Bool {
        guard let have else { return true }
        return chunks.allSatisfy { $0 >= 0 && $0 < have.count && have[$0] }
    }
}

/// Why a chunk could not be read.
package enum BlobReadError: Error, Equatable {
    /// Not stored (yet).
    case missing(index: Int)
    /// Stored but it does not open or does not match the author's list: damaged.
    case damaged(index: Int)
    /// No verified chunk-hash list is held for the blob, so no chunk can be checked.
    case noList
}

/// Reads blobs' chunks through a second store connection, checking each against the author's
/// verified chunk-hash list. Thread-safe; owned by one engine.
package final class BlobReads: Sendable {
    private let storePath: String
    private let reader = Mutex<ChunkReader?>(nil)
    /// Verified lists by commitment, so a seek does not read and hash a 200 MB video's list again.
    private let lists = Mutex<[[UInt8]: [UInt8]]>([:])
    /// Lists kept: a few videos being watched at once.
    static let listCacheSize = 8

    init(storePath: String) {
        self.storePath = storePath
    }

    private func connection() throws -> ChunkReader {
        try reader.withLock { reader in
            if let reader { return reader }
            let opened = try ChunkReader(path: storePath)
            reader = opened
            return opened
        }
    }

    /// The plan's verified chunk-hash list: the engine's copy, a cached one, or the store's,
    /// checked against the commitment before use.
    func hashes(for plan: BlobReadPlan) throws -> [UInt8] {
        if let hashes = plan.hashes { return hashes }
        if let cached = lists.withLock({ $0[plan.commitment] }) { return cached }
        guard let stored = try connection().chunkHashes(room: plan.room, blob: plan.id.bytes, commitment: plan.commitment),
            BlobCommitment.verify(hashes: stored, chunkCount: plan.count, commitment: plan.commitment)
        else { throw BlobReadError.noList }
        lists.withLock { lists in
            if lists.count >= Self.listCacheSize { lists.removeAll() }
            lists[plan.commitment] = stored
        }
        return stored
    }

    /// Chunk `index`'s plaintext, read, opened and checked against `hashes`.
    package func chunk(_ index: Int, of plan: BlobReadPlan, hashes: [UInt8]) throws -> [UInt8] {
        guard index >= 0, index < plan.count else { throw BlobReadError.missing(index: index) }
        guard let sealed = try connection().chunk(room: plan.room, blob: plan.id.bytes, index: index) else {
            throw BlobReadError.missing(index: index)
        }
        for key in plan.keys {
            guard let opened = try? BlobSealer.openChunk(index: index, of: plan.count, blobID: plan.id, sealed: sealed, contentKey: key)
            else { continue }
            guard plan.hasher.matches(opened, index: index, hashes: hashes) else { break }
            return opened
        }
        throw BlobReadError.damaged(index: index)
    }

    /// Bytes `range` of the blob, from the chunks covering it.
    package func bytes(_ range: ClosedRange<Int>, of plan: BlobReadPlan) throws -> [UInt8] {
        let hashes = try hashes(for: plan)
        var result: [UInt8] = []
        result.reserveCapacity(range.count)
        for index in plan.chunks(covering: range) {
            result += Self.slice(try chunk(index, of: plan, hashes: hashes), index: index, range: range)
        }
        return result
    }

    /// The part of chunk `index`'s plaintext that falls within bytes `range` of the blob.
    static func slice(_ chunk: [UInt8], index: Int, range: ClosedRange<Int>) -> ArraySlice<UInt8> {
        let start = index * BlobSealer.chunkSize
        let lower = max(range.lowerBound - start, 0)
        let upper = min(range.upperBound - start + 1, chunk.count)
        return lower < upper ? chunk[lower..<upper] : []
    }
}

extension RoomEngine {
    /// What reading a visible item's blob needs (`BlobReadPlan`); buffered chunks are written
    /// first, so every chunk this node holds is readable from the store.
    ///
    /// - Throws: `NodeError.notFound` if no visible item shows the blob; `.blobCorrupt` if its
    ///   chunks were all checked and do not make up its id.
    package func blobReadPlan(hex: String) throws -> BlobReadPlan {
        guard let id = Hex.bytes(hex), let blobID = BlobID(bytes: id),
            let reference = mediaReferences.first(where: { $0.blob.id == id })?.blob,
            reference.size <= UInt64(Self.maxBlobSize)
        else { throw NodeError.notFound("blob") }
        guard !corruptBlobs.contains(id) else { throw NodeError.blobCorrupt }
        let count = BlobSealer.chunkCount(forSize: Int(reference.size))
        let hint = blobEpochs[id]
        let epochs = (hint.map { [$0] } ?? []) + contentKeys.keys.filter { $0 != hint }.sorted(by: >)
        let whole = completeBlobs.contains(id)
        var have: [Bool]?
        var haveCount = count
        var hashes: [UInt8]?
        if !whole {
            flushChunks()
            let key = BlobKey(id: id, count: UInt32(count))
            if let transfer = transfers.transfers[key] {
                have = transfer.have
                haveCount = transfer.haveCount
                hashes = transfer.hashes
            } else {
                // Not being fetched (a bad commitment, say): only what the store holds.
                var held = Array(repeating: false, count: count)
                for index in (try? store.chunkIndices(room: room.tag, blob: id)) ?? [] where index < count { held[index] = true }
                have = held
                haveCount = held.count(where: { $0 })
            }
        }
        return BlobReadPlan(
            room: room.tag, id: blobID, size: Int(reference.size), count: count, mime: reference.mime,
            commitment: reference.commitment, keys: epochs.compactMap { contentKeys[$0] }, hasher: chunkHasher, whole: whole,
            have: have, haveCount: haveCount, hashes: hashes)
    }

    /// A chunk of a blob held whole failed its check on read (the store was altered since): the
    /// blob is no longer whole, so the scan checks every chunk and fetches the bad ones again.
    package func blobDamaged(_ id: [UInt8]) {
        guard completeBlobs.remove(id) != nil else { return }
        try? store.removeSetting(Self.verifiedPrefix + Hex.string(id))
        scanBlobs()
        pushStatus()
    }

    /// Every visible item's blob, once each, and how much of it is here (status and live feed).
    var blobList: [NodeStatus.Blob] {
        var seen: Set<[UInt8]> = []
        var list: [NodeStatus.Blob] = []
        for (item, blob) in mediaReferences where seen.insert(blob.id).inserted {
            let total = BlobSealer.chunkCount(forSize: Int(blob.size))
            let hex = Hex.string(blob.id)
            if completeBlobs.contains(blob.id) {
                list.append(NodeStatus.Blob(blob: hex, item: item.canonicalString, state: "complete", have: total, total: total, bytes: blob.size, size: blob.size))
                continue
            }
            let failed = corruptBlobs.contains(blob.id) || blobChecks.badCommitments.contains(blob.commitment) || blob.size > UInt64(Self.maxBlobSize)
            let transfer = transfers.transfers[BlobKey(id: blob.id, count: UInt32(total))]
            let have = transfer?.haveCount ?? 0
            list.append(
                NodeStatus.Blob(
                    blob: hex, item: item.canonicalString, state: failed ? "failed" : "arriving", have: have, total: total,
                    bytes: min(UInt64(have) * UInt64(BlobSealer.chunkSize), blob.size), size: blob.size))
        }
        return list
    }

    /// Moves chunks of a blob being received to the front of its fetch (a player asked for them).
    package func prioritize(blobHex: String, chunks: ClosedRange<Int>) {
        guard let id = Hex.bytes(blobHex), let key = transfers.transfers.keys.first(where: { $0.id == id }) else { return }
        transfers.prioritize(key, indices: Array(chunks.prefix(256)))
        pumpTransfers()
    }

    /// Walks a video's top-level box headers as the chunks holding them arrive, asking for each
    /// next header's chunk first, then for the `moov` box's chunks: a player needs the index
    /// before any frame, and files often keep it at the end.
    func locateVideoIndex(_ key: BlobKey, arrived: (index: Int, plaintext: [UInt8])? = nil) {
        guard var locator = videoIndexes[key], let id = BlobID(bytes: key.id) else { return }
        for _ in 0..<VideoIndexLocator.maxBoxes {
            guard case .needHeader(_, let chunks) = locator.step else { break }
            var bytes: [UInt8] = []
            for index in chunks {
                if let arrived, arrived.index == index {
                    bytes += arrived.plaintext
                } else if transfers.transfers[key]?.have[index] == true,
                    let sealed = chunkBuffer.last(where: { $0.key == key && $0.index == UInt32(index) })?.sealed
                        ?? (try? store.chunk(room: room.tag, blob: key.id, index: index)),
                    let opened = openChunk(index: index, of: Int(key.count), blobID: id, sealed: sealed)
                {
                    bytes += opened
                } else {
                    // Not here yet: asked for first, read when it comes.
                    videoIndexes[key] = locator
                    transfers.prioritize(key, indices: Array(chunks))
                    return
                }
            }
            locator.read(bytes[...], at: chunks.lowerBound * BlobSealer.chunkSize)
        }
        if case .found(let chunks) = locator.step { transfers.prioritize(key, indices: Array(chunks)) }
        videoIndexes[key] = nil
    }
}
