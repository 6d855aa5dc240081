#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation
import LocalAPI
import PeerCrypto
import Primitives
import Replication
import Store
import Synchronization
import Transport

extension RoomEngine {
    /// The settings key prefix marking a blob as held whole and checked.
    static let verifiedPrefix = "blob-verified:"
    /// The settings key prefix marking a blob this node announced but has not stored whole yet.
    static let sharingPrefix = "blob-sharing:"
    /// Chunks written to the store in one transaction.
    static let chunkFlushCount = 32
    /// The largest blob a node shares or fetches, 2 GiB: sharing from memory holds the file
    /// there, and a bigger reference (a hostile member's, say) is not fetched, so one item
    /// cannot fill every member's disk. One constant for both, so what one node may share every
    /// other node fetches.
    public static let maxBlobSize = 2 << 30

    /// A blob being shared from this node: its reference, and how much of it is sealed and stored.
    package struct ShareResult: Sendable {
        /// The new item.
        public let item: OpID
        /// The blob as the item references it.
        public let blob: BlobRef
        /// The item's kind.
        public let kind: ItemKind
    }

    /// Shares `bytes` as a blob of this room: announces the item as soon as its commitment is
    /// known, then seals and stores every chunk durably while peers already fetch them.
    ///
    /// The hashing, sealing and writing run off the actor, so links and viewers are served meanwhile.
    /// - Parameters:
    ///   - title: the item's title (a product card's name), if any.
    ///   - price: makes the item a product card.
    /// - Returns: the new item and its blob, once every chunk is stored.
    package nonisolated func share(bytes: [UInt8], mime: String, title: String?, price: Price?) async throws -> ShareResult {
        try await share(size: bytes.count, id: nil, mime: mime, title: title, price: price) { range in Array(bytes[range]) }
    }

    /// The same for a file already on disk (a large video, streamed there by the local API):
    /// read, hashed, sealed and stored one chunk at a time, so memory stays at a few chunks whatever its size.
    ///
    /// - Parameter id: the blob's id (`BlobHasher` over the whole file) if already known (the
    ///   local API computes it while the upload is written); nil computes it here.
    package nonisolated func share(file path: String, size: Int, id: BlobID?, mime: String, title: String?, price: Price?) async throws
        -> ShareResult
    {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw NodeError.badRequest("cannot read the upload: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        return try await share(size: size, id: id, mime: mime, title: title, price: price) { range in
            // pread: the hashing tasks and the actor serving peers read the file at once.
            var buffer = [UInt8](repeating: 0, count: range.count)
            var got = 0
            while got < range.count {
                let n = buffer.withUnsafeMutableBytes {
                    pread(descriptor, $0.baseAddress! + got, range.count - got, off_t(range.lowerBound + got))
                }
                guard n > 0 else { throw NodeError.badRequest("the upload's file ended early") }
                got += n
            }
            return buffer
        }
    }

    /// The pipelined share. The format fixes what can overlap: each chunk is sealed under a key
    /// derived from the blob's id (a keyed hash of the whole file) and the commitment covers every
    /// chunk's hash, so one pass over the file must end before anything is sealed or announced.
    /// That pass runs on two tasks (the id's hash and the chunk hashes at once). Then the hash
    /// list and a "sharing" mark are stored, the item is committed (peers start fetching at once,
    /// chunks not stored yet are sealed from the source when asked), and the chunks are sealed
    /// and written in transactions of `chunkFlushCount`; the blob is marked held when all are in.
    ///
    /// A crash after the announcement leaves the mark: the next start checks what is stored and
    /// either marks the blob held (all chunks in and matching) or withdraws the item, so no
    /// receiver waits for chunks nobody will ever have (`resumeInterruptedShares`).
    private nonisolated func share(
        size: Int, id knownID: BlobID?, mime: String, title: String?, price: Price?,
        plaintext: @escaping @Sendable (Range<Int>) throws -> [UInt8]
    ) async throws -> ShareResult {
        let count = BlobSealer.chunkCount(forSize: size)
        guard count <= BlobSealer.maxChunkCount, size <= Self.maxBlobSize else { throw NodeError.badRequest("file too large") }
        let contentKey = contentKey
        let (id, hashes) = try await Self.hashBlob(size: size, count: count, id: knownID, contentKey: contentKey, plaintext: plaintext)
        let commitment = BlobCommitment.commitment(hashes: hashes, chunkCount: count)
        let (epoch, sealingKey) = await chunkSealing
        let source = PendingShare(id: id, count: count, size: size, sealingKey: sealingKey, plaintext: plaintext)
        let blob = BlobRef(id: id.bytes, size: UInt64(size), mime: mime, commitment: commitment)
        let result = try await announce(blob, hashes: hashes, source: source, sealedIn: epoch, title: title, price: price)
        await shareGate.pass()
        do {
            // On a thread of its own: the writes wait for fsync, and a cooperative thread held
            // that long would starve the links and the actor serving the peers already fetching.
            let result: Result<Void, any Error> = await withCheckedContinuation { continuation in
                Thread {
                    // Through a connection of its own: the engine's is behind one lock, which
                    // the long write transactions would hold from the actor (serving the list,
                    // syncing) nearly all the time; in WAL mode its reads never wait for these.
                    continuation.resume(returning: Result { try self.storeChunks(source, hashes: hashes, into: try Store(path: self.store.path)) })
                }.start()
            }
            try result.get()
        } catch {
            // Nothing more will be stored from this source: the item is withdrawn rather than left waiting.
            await withdrawShare(id.bytes)
            throw error
        }
        try await finishShare(id.bytes)
        return result
    }

    /// One pass over the blob: its id (unless known) and every chunk's hash, on two tasks at once.
    static func hashBlob(
        size: Int, count: Int, id knownID: BlobID?, contentKey: SecretBytes, plaintext: @escaping @Sendable (Range<Int>) throws -> [UInt8]
    ) async throws -> (BlobID, [UInt8]) {
        @Sendable func range(_ index: Int) -> Range<Int> {
            index * BlobSealer.chunkSize..<min((index + 1) * BlobSealer.chunkSize, size)
        }
        let hasher = BlobChunkHasher(contentKey: contentKey)
        @Sendable func chunkHashes(_ indices: Range<Int>) throws -> [UInt8] {
            var hashes: [UInt8] = []
            hashes.reserveCapacity(indices.count * BlobCommitment.hashLength)
            for index in indices { hashes += hasher.hash(try plaintext(range(index))) }
            return hashes
        }
        if let knownID {
            // Only the chunk hashes: the list split in two halves.
            let middle = count / 2
            async let first = chunkHashes(0..<middle)
            let second = try chunkHashes(middle..<count)
            return (knownID, try await first + second)
        }
        async let hashes = chunkHashes(0..<count)
        let blobHasher = BlobHasher(contentKey: contentKey)
        for index in 0..<count { blobHasher.update(try plaintext(range(index))) }
        return (blobHasher.finalize(), try await hashes)
    }

    /// Stores the list and the "sharing" mark, then commits the item: from here peers fetch.
    private func announce(
        _ blob: BlobRef, hashes: [UInt8], source: PendingShare, sealedIn epoch: UInt32, title: String?, price: Price?
    ) throws -> ShareResult {
        // The item's batch is sealed in the epoch its chunks are: receivers open the chunks with
        // the key of the epoch of the batch that brought the blob.
        guard sealingEpoch == epoch else {
            throw NodeError.badRequest("the room's keys changed while the file was being hashed: share it again")
        }
        try store.putChunkHashes(room: room.tag, blob: blob.id, commitment: blob.commitment, hashes: hashes)
        // Durable before the item is: a crash after the commit always finds the mark.
        try store.setSetting(Self.sharingPrefix + Hex.string(blob.id), [])
        if !completeBlobs.contains(blob.id) { pendingShares[blob.id] = source }
        let kind: ItemKind = price != nil ? .productCard : (blob.mime.hasPrefix("video/") ? .video : .image)
        var fields: [ItemField] = [.media(blob)]
        if let title, !title.isEmpty { fields.append(.title(title)) }
        if let price { fields.append(.price(price)) }
        let position = PanelPosition.between(replica.document.panel.last?.position, nil) ?? .middle
        let ids: [OpID]
        do {
            ids = try commit([.createItem(kind: kind, position: position, fields: fields)])
        } catch {
            pendingShares[blob.id] = nil
            try? store.removeSetting(Self.sharingPrefix + Hex.string(blob.id))
            throw error
        }
        return ShareResult(item: ids[0], blob: blob, kind: kind)
    }

    /// Seals every chunk not yet stored and writes them durably, `chunkFlushCount` per
    /// transaction, each checked against the hash list the item announced (a source that changed
    /// since it was hashed fails the share instead of storing other bytes).
    private nonisolated func storeChunks(_ source: PendingShare, hashes: [UInt8], into store: Store) throws {
        let hasher = BlobChunkHasher(contentKey: contentKey)
        var pending: [(index: Int, data: [UInt8])] = []
        pending.reserveCapacity(Self.chunkFlushCount)
        let held = Set(try store.chunkIndices(room: room.tag, blob: source.id.bytes))
        for index in 0..<source.count {
            let chunk = try source.plaintext(source.range(index))
            guard hasher.matches(chunk, index: index, hashes: hashes) else {
                throw NodeError.badRequest("the file changed while it was being shared")
            }
            if held.contains(index) {
                // Held from before (this file received or shared earlier): kept only if it is
                // this very chunk, so a poisoned one is replaced rather than committed to.
                if let sealed = try store.chunk(room: room.tag, blob: source.id.bytes, index: index),
                    let opened = try? BlobSealer.openChunk(
                        index: index, of: source.count, blobID: source.id, sealed: sealed, contentKey: source.sealingKey),
                    opened == chunk
                {
                    continue
                }
                try store.deleteChunks(room: room.tag, blob: source.id.bytes, indices: [index])
            }
            pending.append((index, source.seal(index, chunk)))
            if pending.count == Self.chunkFlushCount {
                try store.putChunks(room: room.tag, blob: source.id.bytes, chunks: pending)
                pending.removeAll(keepingCapacity: true)
            }
        }
        try store.putChunks(room: room.tag, blob: source.id.bytes, chunks: pending)
    }

    /// Every chunk is stored: the blob is held, and the "sharing" mark goes.
    private func finishShare(_ id: [UInt8]) throws {
        pendingShares[id] = nil
        try markVerified(id)
        try? store.removeSetting(Self.sharingPrefix + Hex.string(id))
        // The viewer learns from the status that the new item's blob is here.
        pushStatus()
    }

    /// A share that cannot finish: its items by this node are removed (peers stop fetching),
    /// its chunks deleted and its mark dropped.
    func withdrawShare(_ id: [UInt8]) {
        pendingShares[id] = nil
        let mine = replica.document.panel.filter { item in
            guard case .media(let blob)? = item.fields[.media] else { return false }
            return blob.id == id && item.id.replica == me
        }
        if !mine.isEmpty { _ = try? commit(mine.map { .removeItem($0.id) }) }
        if let indices = try? store.chunkIndices(room: room.tag, blob: id), !indices.isEmpty {
            try? store.deleteChunks(room: room.tag, blob: id, indices: indices)
        }
        try? store.removeSetting(Self.sharingPrefix + Hex.string(id))
        pushStatus()
    }

    /// At start: shares a crash interrupted after their announcement. A blob whose chunks are all
    /// stored and check against its id is marked held; any other is withdrawn (its source, the
    /// bytes or the upload, is gone with the process).
    func resumeInterruptedShares() {
        for key in (try? store.settingKeys(prefix: Self.sharingPrefix)) ?? [] {
            guard let hex = key.split(separator: ":").last, let id = Hex.bytes(hex) else {
                try? store.removeSetting(key)
                continue
            }
            if completeBlobs.contains(id) {
                try? store.removeSetting(key)
                continue
            }
            if let size = mediaReferences.first(where: { $0.blob.id == id })?.blob.size,
                (try? store.chunkIndices(room: room.tag, blob: id).count) == BlobSealer.chunkCount(forSize: Int(size)),
                (try? plaintext(of: id, size: size)) != nil, (try? markVerified(id)) != nil
            {
                try? store.removeSetting(key)
                continue
            }
            withdrawShare(id)
        }
    }

    private func markVerified(_ id: [UInt8]) throws {
        try store.setSetting(Self.verifiedPrefix + Hex.string(id), [1])
        completeBlobs.insert(id)
    }

    /// The blob references of the visible items.
    var mediaReferences: [(item: OpID, blob: BlobRef)] {
        replica.document.panel.compactMap { item in
            guard case .media(let blob)? = item.fields[.media] else { return nil }
            return (item.id, blob)
        }
    }

    /// Starts fetching every visible item's blob that is neither complete nor being fetched.
    func scanBlobs() {
        let references = mediaReferences
        // An item removed (withdrawn by its author, say) stops its fetch: nobody may ever serve it.
        let referenced = Set(references.map(\.blob.id))
        for key in transfers.transfers.keys where !referenced.contains(key.id) {
            transfers.forget(key)
            runningHashes[key] = nil
            videoIndexes[key] = nil
        }
        for (_, blob) in references {
            guard !completeBlobs.contains(blob.id), pendingShares[blob.id] == nil, !corruptBlobs.contains(blob.id),
                blob.id.count == BlobID.length,
                blob.commitment.count == BlobCommitment.length, !blobChecks.badCommitments.contains(blob.commitment),
                blob.size <= UInt64(Self.maxBlobSize), blobEpochs[blob.id].map({ contentKeys[$0] != nil }) ?? true
            else { continue }
            let key = BlobKey(id: blob.id, count: UInt32(BlobSealer.chunkCount(forSize: Int(blob.size))))
            guard transfers.transfers[key] == nil else { continue }
            // A list stored here was verified when it arrived; checked again (it is cheap) so a
            // damaged row is fetched again rather than making good chunks look bad.
            let hashes = (try? store.chunkHashes(room: room.tag, blob: blob.id, commitment: blob.commitment)).flatMap {
                BlobCommitment.verify(hashes: $0, chunkCount: Int(key.count), commitment: blob.commitment) ? $0 : nil
            }
            var held = (try? store.chunkIndices(room: room.tag, blob: blob.id)) ?? []
            // Chunks held from before a restart are checked against the list before they count
            // (without a list yet, once it arrives): a store holding a bad chunk repairs itself.
            if let hashes { held = keepMatching(key, indices: held, hashes: hashes) }
            transfers.want(key, size: blob.size, commitment: blob.commitment, hashes: hashes, held: held)
            if blob.mime == "video/mp4" || blob.mime == "video/quicktime" {
                videoIndexes[key] = VideoIndexLocator(size: Int(blob.size))
                locateVideoIndex(key)
            }
            if transfers.transfers[key]?.isComplete == true { finish(key) }
        }
        pumpTransfers()
    }

    /// Asks linked peers for the chunks still missing, within each peer's window.
    func pumpTransfers() {
        guard let transport, !transfers.transfers.isEmpty else { return }
        let now = MonotonicClock.seconds()
        for request in transfers.listRequests(peers: Array(peers.keys), now: now) {
            for page in 0..<request.pages {
                let message = PeerMessage.hashListRequest(request.key, commitment: request.commitment, page: UInt32(page))
                try? transport.send(message: message.encoded, to: request.peer)
            }
        }
        for request in transfers.requests(peers: Array(peers.keys), now: now) {
            try? transport.send(message: PeerMessage.chunkRequest(request.key, indices: request.indices).encoded, to: request.peer)
        }
    }

    /// The periodic pass over transfers: time-outs, parked chunks, buffered writes.
    func transferTimer() {
        flushChunks()
        transfers.refresh(now: MonotonicClock.seconds())
        pumpTransfers()
    }

    func serve(_ key: BlobKey, indices: [UInt32], to peer: PublicKey) {
        guard let transport else { return }
        var missing: [UInt32] = []
        for index in indices {
            let buffered = chunkBuffer.first { $0.key == key && $0.index == index }?.sealed
            // A blob still being stored is sealed from its source: the store's one connection is
            // busy with the author's write transactions, and waiting on it would stall every link.
            guard let data = buffered ?? pendingChunk(key, index: index) ?? (try? store.chunk(room: room.tag, blob: key.id, index: Int(index)))
            else {
                missing.append(index)
                continue
            }
            counters.chunksServed += 1
            try? transport.send(message: PeerMessage.chunk(key, index: index, sealed: data).encoded, to: peer)
        }
        if !missing.isEmpty {
            try? transport.send(message: PeerMessage.chunkMissing(key, indices: missing).encoded, to: peer)
        }
    }

    /// A chunk of a blob this node is still storing, sealed from its source (each seal has a
    /// fresh nonce, so it differs from the stored copy but opens to the same checked bytes).
    private func pendingChunk(_ key: BlobKey, index: UInt32) -> [UInt8]? {
        guard let source = pendingShares[key.id], source.count == Int(key.count), Int(index) < source.count,
            let chunk = try? source.plaintext(source.range(Int(index)))
        else { return nil }
        return source.seal(Int(index), chunk)
    }

    func receiveChunk(_ key: BlobKey, index: UInt32, sealed data: [UInt8], from peer: PublicKey) {
        // No chunk is taken before the blob's hash list is verified: it could not be checked.
        guard transfers.wants(key, index: index), let hashes = transfers.transfers[key]?.hashes, let id = BlobID(bytes: key.id) else {
            counters.unwantedChunks += 1
            return
        }
        guard let plaintext = openChunk(index: Int(index), of: Int(key.count), blobID: id, sealed: data) else {
            counters.rejectedChunks += 1
            transfers.refused(key, indices: [index], by: peer)
            return
        }
        // It opens, so a member sealed it; only the author's hash says it is the right bytes.
        guard chunkHasher.matches(plaintext, index: Int(index), hashes: hashes) else {
            counters.poisonedChunks += 1
            blobChecks.blame(peer)
            transfers.poisoned(key, index: index, by: peer, now: MonotonicClock.seconds())
            pumpTransfers()
            return
        }
        chunkBuffer.append((key, index, data))
        let complete = transfers.received(key, index: index)
        hashInOrder(key, index: index, plaintext: plaintext)
        if videoIndexes[key] != nil { locateVideoIndex(key, arrived: (Int(index), plaintext)) }
        if chunkBuffer.count >= Self.chunkFlushCount { flushChunks() }
        if complete { finish(key) }
        pumpTransfers()
    }

    /// Writes buffered chunks in one transaction; on failure they are dropped and fetched again.
    func flushChunks() {
        guard !chunkBuffer.isEmpty else { return }
        let byBlob = Dictionary(grouping: chunkBuffer, by: \.key)
        chunkBuffer.removeAll(keepingCapacity: true)
        for (key, chunks) in byBlob {
            do {
                try store.putChunks(room: room.tag, blob: key.id, chunks: chunks.map { (Int($0.index), $0.sealed) })
            } catch {
                transfers.forget(key)
            }
        }
    }

    /// All chunks are in: check the whole blob against its id, then stop tracking it. If it does
    /// not match, the stored chunks are checked against the hash list and those that do not match
    /// (a store damaged or poisoned before) are deleted and fetched again; only if every chunk
    /// matches the list, so the author's commitment itself is to other bytes than the id names,
    /// is the blob given up as corrupt.
    private func finish(_ key: BlobKey) {
        flushChunks()
        videoIndexes[key] = nil
        let running = runningHashes.removeValue(forKey: key)
        let matches: Bool
        if let running, running.next == Int(key.count) {
            matches = running.hasher.finalize().bytes == key.id
        } else {
            // Some chunks were never hashed in order (held from before a restart, say): one pass over the store.
            matches = (try? plaintext(of: key.id, size: nil)) != nil
        }
        if matches, (try? markVerified(key.id)) != nil {
            transfers.forget(key)
            pushStatus()
            return
        }
        guard let transfer = transfers.transfers[key] else { return }
        guard let hashes = transfer.hashes else { return }  // The list, once in, checks the held chunks.
        let all = Array(0..<Int(key.count))
        let good = Set(keepMatching(key, indices: all, hashes: hashes))
        if good.count < all.count {
            transfers.lost(key, indices: all.filter { !good.contains($0) })
            pushStatus()
            return
        }
        transfers.forget(key)
        blobChecks.badCommitments.insert(transfer.commitment)
        // Another item may name the same blob with another commitment (the author's, when this
        // one was a member's forgery): that one is fetched (its list removes the chunks that do
        // not match it) before the blob is given up.
        if mediaReferences.contains(where: { $0.blob.id == key.id && !blobChecks.badCommitments.contains($0.blob.commitment) }) {
            scanBlobs()
        } else {
            corruptBlobs.insert(key.id)
        }
    }

    /// The epoch a new blob's chunks are sealed in (the newest held) and its content key.
    var chunkSealing: (epoch: UInt32, key: SecretBytes) {
        let epoch = sealingEpoch
        return (epoch, contentKeys[epoch]!)
    }

    /// Opens a chunk under the content key of the blob's epoch (that of the first batch this
    /// node took in that referred to it), else under any other epoch's key held: the AEAD says
    /// which sealed it, so a member who refers to the blob again in another epoch cannot make
    /// its chunks unreadable. A member removed before the blob was shared holds no key that opens it.
    func openChunk(index: Int, of count: Int, blobID: BlobID, sealed: [UInt8]) -> [UInt8]? {
        let hint = blobEpochs[blobID.bytes]
        let others = contentKeys.keys.filter { $0 != hint }.sorted(by: >)
        for epoch in (hint.map { [$0] } ?? []) + others {
            guard let key = contentKeys[epoch] else { continue }
            if let plaintext = try? BlobSealer.openChunk(index: index, of: count, blobID: blobID, sealed: sealed, contentKey: key) {
                return plaintext
            }
        }
        return nil
    }

    /// Records the epoch of each blob a batch refers to, the first one seen: the hint
    /// `openChunk` tries first.
    func noteBlobEpochs(_ batch: VerifiedBatch) {
        Self.noteBlobEpochs(batch, into: &blobEpochs)
    }

    static func noteBlobEpochs(_ batch: VerifiedBatch, into blobEpochs: inout [[UInt8]: UInt32]) {
        guard case .success(let operations) = batch.content else { return }
        for operation in operations {
            let fields: [ItemField]
            switch operation.edit {
            case let .createItem(_, _, itemFields): fields = itemFields
            case let .setItemField(_, field): fields = [field]
            default: continue
            }
            for case .media(let blob) in fields {
                if blobEpochs[blob.id] == nil { blobEpochs[blob.id] = batch.epoch }
            }
        }
    }

    /// The hasher of this room's chunk hashes.
    var chunkHasher: BlobChunkHasher { BlobChunkHasher(contentKey: contentKey) }

    /// Checks stored chunks against a blob's hash list: returns the indices that match and
    /// deletes the others from the store (counted as repaired), so they are fetched again.
    func keepMatching(_ key: BlobKey, indices: [Int], hashes: [UInt8]) -> [Int] {
        guard let id = BlobID(bytes: key.id) else { return [] }
        let hasher = chunkHasher
        var good: [Int] = []
        var bad: [Int] = []
        for index in indices where index >= 0 && index < Int(key.count) {
            if let sealed = try? store.chunk(room: room.tag, blob: key.id, index: index),
                let opened = openChunk(index: index, of: Int(key.count), blobID: id, sealed: sealed),
                hasher.matches(opened, index: index, hashes: hashes)
            {
                good.append(index)
            } else {
                bad.append(index)
            }
        }
        if !bad.isEmpty, (try? store.deleteChunks(room: room.tag, blob: key.id, indices: bad)) != nil {
            counters.repairedChunks += bad.count
        }
        return good
    }

    /// Hash-list requests, pages and refusals.
    func receiveHashListMessage(_ message: PeerMessage, from peer: PublicKey) {
        switch message {
        case let .hashListRequest(key, commitment, page):
            serveHashList(key, commitment: commitment, page: page, to: peer)
        case let .hashList(key, commitment, page, hashes):
            guard transfers.wantsListPage(key, commitment: commitment, page: page, from: peer) else {
                counters.unwantedChunks += 1
                return
            }
            switch transfers.receivedListPage(key, page: page, hashes: hashes, from: peer, now: MonotonicClock.seconds()) {
            case .incomplete:
                return
            case .bad:
                counters.badHashLists += 1
                blobChecks.blame(peer)
            case .verified(let list):
                listVerified(key, hashes: list)
            }
            pumpTransfers()
        case let .hashListMissing(key, commitment, _):
            transfers.refusedList(key, commitment: commitment, by: peer)
            pumpTransfers()
        default:
            return
        }
    }

    /// A blob's list arrived and matches its commitment (the caller checked): used, stored (to
    /// serve it, and so a restart needs no refetch), then the chunks already held are checked against it.
    func listVerified(_ key: BlobKey, hashes: [UInt8]) {
        transfers.adopt(key, hashes: hashes)
        guard let transfer = transfers.transfers[key] else { return }
        try? store.putChunkHashes(room: room.tag, blob: key.id, commitment: transfer.commitment, hashes: hashes)
        let held = transfer.have.indices.filter { transfer.have[$0] }
        let good = Set(keepMatching(key, indices: held, hashes: hashes))
        transfers.lost(key, indices: held.filter { !good.contains($0) })
        if transfers.transfers[key]?.isComplete == true { finish(key) }
    }

    /// Sends page `page` of a blob's hash list, from a transfer under way, the last list served,
    /// or the store; or says this node lacks it.
    func serveHashList(_ key: BlobKey, commitment: [UInt8], page: UInt32, to peer: PublicKey) {
        guard let transport else { return }
        var hashes: [UInt8]?
        if let transfer = transfers.transfers[key], transfer.commitment == commitment {
            hashes = transfer.hashes
        }
        if hashes == nil, let served = blobChecks.served, served.key == key, served.commitment == commitment {
            hashes = served.hashes
        }
        if hashes == nil, let stored = try? store.chunkHashes(room: room.tag, blob: key.id, commitment: commitment) {
            hashes = stored
            blobChecks.served = (key, commitment, stored)
        }
        guard let hashes, hashes.count == Int(key.count) * BlobCommitment.hashLength,
            Int(page) < BlobCommitment.pageCount(chunkCount: Int(key.count))
        else {
            try? transport.send(message: PeerMessage.hashListMissing(key, commitment: commitment, page: page).encoded, to: peer)
            return
        }
        let range = BlobCommitment.chunkRange(page: Int(page), chunkCount: Int(key.count))
        let bytes = Array(hashes[range.lowerBound * BlobCommitment.hashLength..<range.upperBound * BlobCommitment.hashLength])
        try? transport.send(message: PeerMessage.hashList(key, commitment: commitment, page: page, hashes: bytes).encoded, to: peer)
    }

    /// Feeds the keyed hash of a blob being received with chunk `index` if it is the next in
    /// order, then with any later chunks that had already arrived (opened again from the buffer
    /// or the store). Chunks from one peer arrive in order, so the catch-up is short.
    private func hashInOrder(_ key: BlobKey, index: UInt32, plaintext: [UInt8]) {
        let running = runningHashes[key] ?? RunningBlobHash(contentKey: contentKey)
        runningHashes[key] = running
        guard Int(index) == running.next else { return }
        running.hasher.update(plaintext)
        running.next += 1
        guard let id = BlobID(bytes: key.id) else { return }
        while running.next < Int(key.count), !transfers.wants(key, index: UInt32(running.next)) {
            let next = UInt32(running.next)
            guard let sealed = chunkBuffer.last(where: { $0.key == key && $0.index == next })?.sealed
                ?? (try? store.chunk(room: room.tag, blob: key.id, index: Int(next))),
                let chunk = openChunk(index: Int(next), of: Int(key.count), blobID: id, sealed: sealed)
            else { return }
            running.hasher.update(chunk)
            running.next += 1
        }
    }

    /// The whole plaintext of a blob held here, checked against its id.
    ///
    /// - Throws: `NodeError.blobIncomplete` while chunks are missing, `.blobCorrupt` if it does not match.
    func plaintext(of id: [UInt8], size: UInt64?) throws -> [UInt8] {
        guard let blobID = BlobID(bytes: id) else { throw NodeError.notFound("blob") }
        guard let size = size ?? mediaReferences.first(where: { $0.blob.id == id })?.blob.size else {
            throw NodeError.notFound("blob")
        }
        let count = BlobSealer.chunkCount(forSize: Int(size))
        var result: [UInt8] = []
        result.reserveCapacity(Int(size))
        let hasher = BlobHasher(contentKey: contentKey)
        for index in 0..<count {
            guard let data = try store.chunk(room: room.tag, blob: id, index: index) else {
                let have = (try? store.chunkIndices(room: room.tag, blob: id).count) ?? 0
                throw NodeError.blobIncomplete(have: have, total: count)
            }
            guard let chunk = openChunk(index: index, of: count, blobID: blobID, sealed: data) else { throw NodeError.blobCorrupt }
            hasher.update(chunk)
            result += chunk
        }
        guard hasher.finalize() == blobID, result.count == Int(size) else { throw NodeError.blobCorrupt }
        return result
    }

    /// The plaintext and MIME type of a visible item's blob, for the viewer and `save`.
    public func blob(hex: String) throws -> (bytes: [UInt8], mime: String) {
        guard let id = Hex.bytes(hex), let reference = mediaReferences.first(where: { $0.blob.id == id }) else {
            throw NodeError.notFound("blob")
        }
        flushChunks()
        do {
            return (try plaintext(of: id, size: reference.blob.size), reference.blob.mime)
        } catch NodeError.blobIncomplete(let have, let total) {
            throw NodeError.blobIncomplete(have: have, total: total)
        } catch {
            // Held whole once but damaged since (a chunk altered in the store): it is no longer
            // whole, so the scan checks every chunk against the list and fetches the bad ones again.
            if completeBlobs.remove(id) != nil {
                try? store.removeSetting(Self.verifiedPrefix + Hex.string(id))
                scanBlobs()
            }
            throw error
        }
    }

    /// True once this node holds the blob whole and has checked it against its id; cheap, unlike
    /// `blob(hex:)`, which decrypts the whole file (benchmarks wait on this).
    package func holdsWhole(blobHex: String) -> Bool {
        Hex.bytes(blobHex).map { completeBlobs.contains($0) } ?? false
    }

    /// Transfers in progress, for status.
    var transferList: [NodeStatus.Transfer] {
        transfers.transfers.values.sorted { $0.key.id.lexicographicallyPrecedes($1.key.id) }.map { transfer in
            let item = mediaReferences.first { $0.blob.id == transfer.key.id }?.item.canonicalString
            let total = Int(transfer.key.count)
            let bytes = min(UInt64(transfer.haveCount) * UInt64(BlobSealer.chunkSize), transfer.size)
            return NodeStatus.Transfer(
                item: item ?? "", blob: Hex.string(transfer.key.id), have: transfer.haveCount, total: total,
                bytes: bytes, size: transfer.size,
                percent: total == 0 ? 100.0 : (Double(transfer.haveCount) * 1000 / Double(total)).rounded() / 10)
        }
    }
}

/// What the engine remembers about blob commitments beyond single transfers.
struct BlobCheckState {
    /// Chunks and hash lists each peer sent that did not match the author's commitment.
    var badPeers: [PublicKey: Int] = [:]
    /// Commitments whose chunks all matched their list but not the blob id: a member committed
    /// to other bytes than the id names. Items naming them are not fetched again.
    var badCommitments: Set<[UInt8]> = []
    /// The last hash list read from the store to serve, so paging through it reads it once.
    var served: (key: BlobKey, commitment: [UInt8], hashes: [UInt8])?

    mutating func blame(_ peer: PublicKey) {
        badPeers[peer, default: 0] += 1
    }
}

/// A blob's keyed hash fed in index order, and the next index it expects.
final class RunningBlobHash {
    let hasher: BlobHasher
    var next = 0

    init(contentKey: SecretBytes) {
        hasher = BlobHasher(contentKey: contentKey)
    }
}

/// Lets tests hold a share after its item is announced and before any chunk is stored, to see
/// that peers fetch it from the source meanwhile. Open unless a test closes it.
package final class ShareGate: Sendable {
    private let state = Mutex<(closed: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    package init() {}

    /// Shares from now on wait at the gate.
    package func close() {
        state.withLock { $0.closed = true }
    }

    /// Lets every waiting share go on, and later ones pass.
    package func open() {
        let waiting = state.withLock { state in
            state.closed = false
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    /// True while a share waits at the gate.
    package var holding: Bool { state.withLock { !$0.waiting.isEmpty } }

    func pass() async {
        await withCheckedContinuation { continuation in
            let go = state.withLock { state in
                if state.closed { state.waiting.append(continuation) }
                return !state.closed
            }
            if go { continuation.resume() }
        }
    }
}

/// A blob announced by this node whose chunks are still being sealed and stored: where its bytes are.
final class PendingShare: Sendable {
    let id: BlobID
    let count: Int
    let size: Int
    let sealingKey: SecretBytes
    /// The blob's bytes in a range (a copy out of memory, or a read of the upload's file).
    let plaintext: @Sendable (Range<Int>) throws -> [UInt8]

    init(id: BlobID, count: Int, size: Int, sealingKey: SecretBytes, plaintext: @escaping @Sendable (Range<Int>) throws -> [UInt8]) {
        self.id = id
        self.count = count
        self.size = size
        self.sealingKey = sealingKey
        self.plaintext = plaintext
    }

    /// The bytes of chunk `index`.
    func range(_ index: Int) -> Range<Int> {
        index * BlobSealer.chunkSize..<min((index + 1) * BlobSealer.chunkSize, size)
    }

    func seal(_ index: Int, _ chunk: [UInt8]) -> [UInt8] {
        BlobSealer.sealChunk(index: index, of: count, blobID: id, plaintext: chunk, contentKey: sealingKey)
    }
}
