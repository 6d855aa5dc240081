import PeerCrypto

/// Which chunks of which blobs this node still lacks, whom each was asked of, and who said it
/// lacks one: the pure bookkeeping of blob transfers (the engine does the I/O).
///
/// Chunks are asked of every linked peer in turn, at most `windowPerPeer` at a time from each, so
/// a transfer uses every peer that has the blob and the requester, not the sender, bounds what is
/// in flight. A chunk asked of a peer that goes away, that says it lacks it, or that does not
/// answer within `timeout` is asked again (of someone else when possible). Not thread-safe.
struct BlobTransfers: Sendable {
    /// Chunks in flight from one peer: 32 × 64 KiB = 2 MiB, several round trips' worth on a LAN.
    var windowPerPeer = 32
    /// Seconds after which an unanswered request is given up and asked again.
    var timeout = 10.0

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

        /// True when every chunk is held.
        var isComplete: Bool { haveCount == have.count }
    }

    /// Transfers by blob, complete ones removed by the engine once verified.
    private(set) var transfers: [BlobKey: Transfer] = [:]

    /// Starts fetching a blob unless already fetching it; `held` are the chunks already stored.
    mutating func want(_ key: BlobKey, size: UInt64, held: [Int]) {
        guard transfers[key] == nil else { return }
        var transfer = Transfer(key: key, size: size, have: Array(repeating: false, count: Int(key.count)), haveCount: 0)
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
            guard var transfer = transfers[key] else { continue }
            var batches: [PublicKey: [UInt32]] = [:]
            while let index = nextIndex(&transfer) {
                let candidates = peers.filter {
                    inFlight[$0, default: 0] < windowPerPeer && transfer.refused[$0]?.contains(index) != true
                }
                guard let peer = candidates.min(by: { inFlight[$0, default: 0] < inFlight[$1, default: 0] }) else {
                    // Either every peer is busy (ask later) or every peer lacks it (park it).
                    if peers.allSatisfy({ transfer.refused[$0]?.contains(index) == true }) {
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
