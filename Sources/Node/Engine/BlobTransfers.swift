import PeerCrypto

/// Which chunks of which blobs this node still lacks, whom each was asked of, and who said it
/// lacks one: the pure bookkeeping of blob transfers (the engine does the I/O).
///
/// Chunks are asked of every linked peer in turn, at most `windowPerPeer` at a time from each, so
/// a transfer uses every peer that has the blob and the requester, not the sender, bounds what is
/// in flight. A chunk asked of a peer that goes away, that says it lacks it, or that does not
/// answer within `timeout` is asked again (of someone else when possible).
///
/// Before any chunk, the blob's chunk-hash list is fetched (all its pages from one peer) and
/// accepted only if it hashes to the author's commitment; a peer that sends a list that does not,
/// or a chunk that does not match its hash, is not asked for that blob again for `distrustTime`.
/// Not thread-safe.
struct BlobTransfers: Sendable {
    /// Chunks in flight from one peer: 32 × 64 KiB = 2 MiB, several round trips' worth on a LAN.
    var windowPerPeer = 32
    /// Seconds after which an unanswered request is given up and asked again.
    var timeout = 10.0
    /// Seconds a peer that sent a bad chunk or list is not asked for that blob again: long
    /// enough that the transfer completes from the others, short enough that a peer whose store
    /// has since repaired itself is used again.
    var distrustTime = 120.0

    /// One blob being fetched.
    struct Transfer: Sendable {
        let key: BlobKey
        /// The blob's size in bytes.
        let size: UInt64
        /// Chunks held (verified and stored, or about to be).
        var have: [Bool]
        var haveCount: Int
        /// Next index never asked for yet.
        var cursor: UInt32 = 0
        /// Indices to ask (again), ahead of the cursor.
        var retry: [UInt32] = []
        /// Indices every linked peer said it lacks, asked again after the next `refresh`.
        var parked: [UInt32] = []
        /// What is in flight: index → (peer, when asked).
        var outstanding: [UInt32: (peer: PublicKey, since: Double)] = [:]
        /// Indices each peer said it lacks, forgotten at `refresh`.
        var refused: [PublicKey: Set<UInt32>] = [:]
        /// The author's commitment to the chunks (from the item's blob reference).
        let commitment: [UInt8]
        /// The chunk-hash list, once verified against the commitment; no chunk is asked before.
        var hashes: [UInt8]?
        /// Pages of the list received so far from `listPeer`.
        var listPages: [[UInt8]?] = []
        /// The peer the list is being fetched from, and since when.
        var listPeer: (peer: PublicKey, since: Double)?
        /// Peers that said they lack the list, forgotten at `refresh`.
        var listRefused: Set<PublicKey> = []
        /// Peers that sent a bad chunk or list for this blob, and until when they are not asked.
        var distrusted: [PublicKey: Double] = [:]

        func trusts(_ peer: PublicKey, now: Double) -> Bool {
            (distrusted[peer] ?? -.infinity) <= now
        }

        /// True when every chunk is held.
        var isComplete: Bool { haveCount == have.count }
    }

    /// Transfers by blob, complete ones removed by the engine once verified.
    private(set) var transfers: [BlobKey: Transfer] = [:]

    /// Starts fetching a blob unless already fetching it.
    ///
    /// - Parameters:
    ///   - commitment: the author's commitment to the chunks.
    ///   - hashes: the chunk-hash list if already verified (stored), else nil: it is fetched first.
    ///   - held: the chunks already stored (and, if `hashes` is given, checked against it).
    mutating func want(_ key: BlobKey, size: UInt64, commitment: [UInt8], hashes: [UInt8]?, held: [Int]) {
        guard transfers[key] == nil else { return }
        var transfer = Transfer(
            key: key, size: size, have: Array(repeating: false, count: Int(key.count)), haveCount: 0, commitment: commitment, hashes: hashes)
        for index in held where index >= 0 && index < transfer.have.count && !transfer.have[index] {
            transfer.have[index] = true
            transfer.haveCount += 1
        }
        transfers[key] = transfer
    }

    /// Stops tracking a blob (complete, or no longer shown).
    mutating func forget(_ key: BlobKey) {
        transfers[key] = nil
    }

    /// True if `index` of `key` is wanted and not yet held: a chunk worth verifying and storing.
    func wants(_ key: BlobKey, index: UInt32) -> Bool {
        guard let transfer = transfers[key], index < key.count else { return false }
        return !transfer.have[Int(index)]
    }

    /// Records a verified chunk; returns true if that completed the blob.
    mutating func received(_ key: BlobKey, index: UInt32) -> Bool {
        guard var transfer = transfers[key], index < key.count, !transfer.have[Int(index)] else { return false }
        transfer.have[Int(index)] = true
        transfer.haveCount += 1
        transfer.outstanding[index] = nil
        transfers[key] = transfer
        return transfer.isComplete
    }

    /// A chunk from `peer` opened but did not match its hash: it is asked again of someone else,
    /// and `peer` is not asked for this blob for `distrustTime`.
    mutating func poisoned(_ key: BlobKey, index: UInt32, by peer: PublicKey, now: Double) {
        guard var transfer = transfers[key], index < key.count else { return }
        if transfer.outstanding[index]?.peer == peer { transfer.outstanding[index] = nil }
        if !transfer.have[Int(index)] { transfer.retry.append(index) }
        transfer.distrusted[peer] = now + distrustTime
        transfers[key] = transfer
    }

    /// True if `key`'s list is being fetched and `page` of it from `peer` is still awaited.
    func wantsListPage(_ key: BlobKey, commitment: [UInt8], page: UInt32, from peer: PublicKey) -> Bool {
        guard let transfer = transfers[key], transfer.hashes == nil, transfer.commitment == commitment,
            transfer.listPeer?.peer == peer, Int(page) < transfer.listPages.count
        else { return false }
        return transfer.listPages[Int(page)] == nil
    }

    /// Records a page of the list from the peer it was asked of. Once every page is in, the list
    /// is checked against the commitment: returns `.verified(hashes)` (now in use), `.bad` (the
    /// peer is distrusted and the list asked of another), or `.incomplete`.
    mutating func receivedListPage(_ key: BlobKey, page: UInt32, hashes: [UInt8], from peer: PublicKey, now: Double) -> ListProgress {
        guard var transfer = transfers[key], transfer.listPeer?.peer == peer, Int(page) < transfer.listPages.count else {
            return .incomplete
        }
        transfer.listPages[Int(page)] = hashes
        defer { transfers[key] = transfer }
        guard transfer.listPages.allSatisfy({ $0 != nil }) else { return .incomplete }
        let list = transfer.listPages.flatMap { $0! }
        transfer.listPages = []
        transfer.listPeer = nil
        guard BlobCommitment.verify(hashes: list, chunkCount: Int(key.count), commitment: transfer.commitment) else {
            transfer.distrusted[peer] = now + distrustTime
            return .bad
        }
        transfer.hashes = list
        return .verified(list)
    }

    /// What a page of a chunk-hash list completed.
    enum ListProgress: Equatable {
        case incomplete, bad
        case verified([UInt8])
    }

    /// Uses a verified chunk-hash list (idempotent): chunks may be asked from now on.
    mutating func adopt(_ key: BlobKey, hashes: [UInt8]) {
        guard var transfer = transfers[key], hashes.count == Int(key.count) * BlobCommitment.hashLength else { return }
        transfer.hashes = hashes
        transfer.listPeer = nil
        transfer.listPages = []
        transfers[key] = transfer
    }

    /// A peer said it lacks the list: it is asked of someone else.
    mutating func refusedList(_ key: BlobKey, commitment: [UInt8], by peer: PublicKey) {
        guard var transfer = transfers[key], transfer.commitment == commitment, transfer.listPeer?.peer == peer else { return }
        transfer.listPeer = nil
        transfer.listPages = []
        transfer.listRefused.insert(peer)
        transfers[key] = transfer
    }

    /// Marks chunks held before as gone again (found not to match their hashes and deleted).
    mutating func lost(_ key: BlobKey, indices: [Int]) {
        guard var transfer = transfers[key] else { return }
        for index in indices where index >= 0 && index < transfer.have.count && transfer.have[index] {
            transfer.have[index] = false
            transfer.haveCount -= 1
            transfer.retry.append(UInt32(index))
        }
        transfers[key] = transfer
    }

    /// The list requests to send now: for each transfer still without its list and not already
    /// fetching it, every page, asked of one trusted peer that has not said it lacks the list.
    mutating func listRequests(peers: [PublicKey], now: Double) -> [(peer: PublicKey, key: BlobKey, commitment: [UInt8], pages: Int)] {
        var result: [(peer: PublicKey, key: BlobKey, commitment: [UInt8], pages: Int)] = []
        for key in transfers.keys.sorted(by: { $0.id.lexicographicallyPrecedes($1.id) }) {
            guard var transfer = transfers[key], transfer.hashes == nil else { continue }
            if let asked = transfer.listPeer, now - asked.since <= timeout, peers.contains(asked.peer) { continue }
            let candidates = peers.filter { transfer.trusts($0, now: now) && !transfer.listRefused.contains($0) }
            // Start from a different peer each time the list is asked again, so a silent peer is not asked forever.
            guard let peer = candidates.min(by: { ($0 == transfer.listPeer?.peer ? 1 : 0) < ($1 == transfer.listPeer?.peer ? 1 : 0) }) else {
                transfer.listPeer = nil
                transfers[key] = transfer
                continue
            }
            let pages = BlobCommitment.pageCount(chunkCount: Int(key.count))
            transfer.listPeer = (peer, now)
            transfer.listPages = Array(repeating: nil, count: pages)
            transfers[key] = transfer
            result.append((peer, key, transfer.commitment, pages))
        }
        return result
    }

    /// Moves chunks to the front of the fetch (a player waits for them: a seek, a video's index),
    /// the first given asked first. Chunks held or already asked for are left as they are.
    mutating func prioritize(_ key: BlobKey, indices: [Int]) {
        guard var transfer = transfers[key] else { return }
        let wanted = indices.filter { $0 >= 0 && $0 < transfer.have.count && !transfer.have[$0] && transfer.outstanding[UInt32($0)] == nil }
        guard !wanted.isEmpty else { return }
        // `retry` is taken from its end.
        transfer.retry.append(contentsOf: wanted.reversed().map { UInt32($0) })
        transfers[key] = transfer
    }

    /// A peer said it lacks these chunks.
    mutating func refused(_ key: BlobKey, indices: [UInt32], by peer: PublicKey) {
        guard var transfer = transfers[key] else { return }
        for index in indices where index < key.count {
            guard let asked = transfer.outstanding[index], asked.peer == peer else { continue }
            transfer.outstanding[index] = nil
            transfer.refused[peer, default: []].insert(index)
            if !transfer.have[Int(index)] { transfer.retry.append(index) }
        }
        transfers[key] = transfer
    }

    /// A peer went away: what it was asked is asked again.
    mutating func peerGone(_ peer: PublicKey) {
        for key in Array(transfers.keys) {
            guard var transfer = transfers[key] else { continue }
            for (index, asked) in transfer.outstanding where asked.peer == peer {
                transfer.outstanding[index] = nil
                transfer.retry.append(index)
            }
            transfer.refused[peer] = nil
            if transfer.listPeer?.peer == peer {
                transfer.listPeer = nil
                transfer.listPages = []
            }
            transfers[key] = transfer
        }
    }

    /// The periodic pass: requests that timed out and parked chunks are asked again, and
    /// refusals are forgotten (a peer may have received the chunk since).
    mutating func refresh(now: Double) {
        for key in Array(transfers.keys) {
            guard var transfer = transfers[key] else { continue }
            for (index, asked) in transfer.outstanding where now - asked.since > timeout {
                transfer.outstanding[index] = nil
                transfer.retry.append(index)
            }
            transfer.retry += transfer.parked
            transfer.parked = []
            transfer.refused = [:]
            transfer.listRefused = []
            transfer.distrusted = transfer.distrusted.filter { $0.value > now }
            transfers[key] = transfer
        }
    }

    /// The requests to send now: per peer, per blob, the chunk indices to ask for.
    mutating func requests(peers: [PublicKey], now: Double) -> [(peer: PublicKey, key: BlobKey, indices: [UInt32])] {
        guard !peers.isEmpty else { return [] }
        var inFlight: [PublicKey: Int] = [:]
        for transfer in transfers.values {
            for asked in transfer.outstanding.values { inFlight[asked.peer, default: 0] += 1 }
        }
        var result: [(peer: PublicKey, key: BlobKey, indices: [UInt32])] = []
        for key in transfers.keys.sorted(by: { $0.id.lexicographicallyPrecedes($1.id) }) {
            guard var transfer = transfers[key], transfer.hashes != nil else { continue }
            var batches: [PublicKey: [UInt32]] = [:]
            let trusted = peers.filter { transfer.trusts($0, now: now) }
            while let index = nextIndex(&transfer) {
                let candidates = trusted.filter {
                    inFlight[$0, default: 0] < windowPerPeer && transfer.refused[$0]?.contains(index) != true
                }
                guard let peer = candidates.min(by: { inFlight[$0, default: 0] < inFlight[$1, default: 0] }) else {
                    // Either every trusted peer is busy (ask later) or lacks it (park it until `refresh`).
                    if trusted.allSatisfy({ transfer.refused[$0]?.contains(index) == true }) {
                        transfer.parked.append(index)
                        continue
                    }
                    transfer.retry.append(index)
                    break
                }
                transfer.outstanding[index] = (peer, now)
                inFlight[peer, default: 0] += 1
                batches[peer, default: []].append(index)
                if batches[peer]!.count == PeerMessage.maxIndices {
                    result.append((peer, key, batches[peer]!))
                    batches[peer] = []
                }
            }
            for (peer, indices) in batches where !indices.isEmpty { result.append((peer, key, indices)) }
            transfers[key] = transfer
        }
        return result
    }

    /// The next chunk to ask for: a retry first, then the cursor; nil when none is left.
    private func nextIndex(_ transfer: inout Transfer) -> UInt32? {
        while let index = transfer.retry.popLast() {
            if !transfer.have[Int(index)], transfer.outstanding[index] == nil { return index }
        }
        while transfer.cursor < transfer.key.count {
            let index = transfer.cursor
            transfer.cursor += 1
            if !transfer.have[Int(index)], transfer.outstanding[index] == nil { return index }
        }
        return nil
    }
}
