import PeerCrypto
import Replication

/// Per-author rate limits on edits: a token bucket for operations and one for sealed batch bytes.
///
/// Pure and time-injected (`now` is any monotonic clock in seconds), so tests drive it by hand.
/// A bucket holds at most its burst, refills continuously at its rate per minute, and an author
/// with no bucket yet is treated as holding a full one. Two ways to spend:
///
/// - `spend` (this node's own edits): all or nothing, the cost is known before anything is stored;
///   a refusal says how long until it would fit.
/// - `admits` then `charge` (others' batches): a batch's operation count is only known once it
///   opened, and only an authentic batch may cost its author anything (or a forwarder could
///   exhaust an honest author's quota with forged headers naming it). So admission only asks
///   whether the bucket has room for one operation and the batch's bytes, and the verified batch
///   is charged in full afterwards, into debt if need be (at most one batch's worth).
struct AuthorQuota: Sendable {
    /// Rates and bursts.
    struct Limits: Sendable, Equatable {
        /// Operations a minute, sustained.
        var operationsPerMinute: Double
        /// Operations at once.
        var operationBurst: Double
        /// Sealed batch bytes a minute, sustained.
        var bytesPerMinute: Double
        /// Sealed batch bytes at once.
        var byteBurst: Double

        /// This node's own edits. A person panning sends one view a 150 ms (the viewer's
        /// `VIEW_INTERVAL`), under 7 operations a second; 600 a minute (10 a second) leaves room to
        /// draw and chat while doing so. The burst of a full minute covers a bulk action (a pasted
        /// product list) and is well above the 256 operations one batch may carry. 8 MiB a minute
        /// is 14 KiB for every one of those operations, far above a chat line (≤ 4 KiB) or a
        /// stroke (≤ 512 points); its burst is above the largest batch (256 KiB). A script that
        /// edits in a loop stops at the burst and then crawls at 10 a second.
        static let local = Limits(operationsPerMinute: 600, operationBurst: 600, bytesPerMinute: 8 * mebibyte, byteBurst: 8 * mebibyte)

        /// Others' batches, per author. An honest node already holds its own edits to `local`,
        /// so live traffic never comes near this; what it must let through is catching up
        /// history (a joiner taking in a session's past, a peer back from an outage): four times
        /// the local rate and a burst of five minutes of a person's maximum. A hostile member's
        /// script (which skips its own node's check) is held to that instead of filling every
        /// member's store at network speed.
        static let remote = Limits(
            operationsPerMinute: 2400, operationBurst: 3000, bytesPerMinute: 32 * mebibyte, byteBurst: 40 * mebibyte)

        private static let mebibyte: Double = 1024 * 1024
    }

    /// Why `spend` refused, and how long until the same cost would fit.
    enum Refusal: Equatable, Sendable {
        case operations(retryAfterSeconds: Double)
        case bytes(retryAfterSeconds: Double)
    }

    private struct Bucket: Sendable {
        var operations: Double
        var bytes: Double
        var updated: Double
    }

    /// The most authors with a bucket: beyond it, full buckets (which are the same as none) are forgotten.
    static let maxAuthors = 4096

    /// The limits every author gets.
    let limits: Limits
    private var buckets: [ReplicaID: Bucket] = [:]
    /// Batches refused per author, for status (a batch offered again and refused again counts again).
    private(set) var dropped: [ReplicaID: Int] = [:]

    /// A quota with `limits` for every author.
    init(limits: Limits) {
        self.limits = limits
    }

    /// Spends `operations` and `bytes` of `author`'s quota if both fit; otherwise spends nothing.
    ///
    /// - Returns: nil when spent, or what is short and for how long.
    mutating func spend(_ author: ReplicaID, operations: Int, bytes: Int, now: Double) -> Refusal? {
        var bucket = refilled(author, now: now)
        let (ops, size) = (Double(operations), Double(bytes))
        if bucket.operations < ops {
            return .operations(retryAfterSeconds: Self.wait(for: ops - bucket.operations, perMinute: limits.operationsPerMinute, burst: limits.operationBurst, need: ops))
        }
        if bucket.bytes < size {
            return .bytes(retryAfterSeconds: Self.wait(for: size - bucket.bytes, perMinute: limits.bytesPerMinute, burst: limits.byteBurst, need: size))
        }
        bucket.operations -= ops
        bucket.bytes -= size
        store(author, bucket)
        return nil
    }

    /// Whether `author`'s bucket has room for a batch of `bytes` (and at least one operation); spends nothing.
    func admits(_ author: ReplicaID, bytes: Int, now: Double) -> Bool {
        guard buckets[author] != nil else { return true }
        let bucket = refilled(author, now: now)
        return bucket.operations >= 1 && bucket.bytes >= Double(bytes)
    }

    /// Charges a verified batch to its author, into debt if need be.
    mutating func charge(_ author: ReplicaID, operations: Int, bytes: Int, now: Double) {
        var bucket = refilled(author, now: now)
        bucket.operations -= Double(max(1, operations))
        bucket.bytes -= Double(bytes)
        store(author, bucket)
    }

    /// Counts a batch of `author`'s refused.
    mutating func noteDropped(_ author: ReplicaID) {
        // Only authors that have a bucket are refused, so this map is as bounded as the buckets.
        dropped[author, default: 0] += 1
    }

    private func refilled(_ author: ReplicaID, now: Double) -> Bucket {
        guard var bucket = buckets[author] else {
            return Bucket(operations: limits.operationBurst, bytes: limits.byteBurst, updated: now)
        }
        // A clock that steps back refills nothing (and never drains).
        let elapsed = max(0, now - bucket.updated)
        bucket.operations = min(limits.operationBurst, bucket.operations + elapsed * limits.operationsPerMinute / 60)
        bucket.bytes = min(limits.byteBurst, bucket.bytes + elapsed * limits.bytesPerMinute / 60)
        bucket.updated = max(bucket.updated, now)
        return bucket
    }

    private mutating func store(_ author: ReplicaID, _ bucket: Bucket) {
        if buckets[author] == nil, buckets.count >= Self.maxAuthors {
            let now = bucket.updated
            buckets = buckets.filter { key, _ in
                let current = refilled(key, now: now)
                return current.operations < limits.operationBurst || current.bytes < limits.byteBurst
            }
        }
        buckets[author] = bucket
    }

    /// Seconds until `missing` more tokens have refilled; infinite if `need` exceeds the burst.
    private static func wait(for missing: Double, perMinute rate: Double, burst: Double, need: Double) -> Double {
        guard need <= burst, rate > 0 else { return .infinity }
        return missing * 60 / rate
    }
}

/// A local edit refused by this node's own quota: what ran out, its limit, and when it fits again.
package struct QuotaExceeded: Error, Equatable, Sendable, CustomStringConvertible {
    /// What ran out.
    package enum Resource: String, Sendable {
        case operations, bytes
    }
    /// What ran out.
    package let resource: Resource
    /// Its sustained limit a minute (operations, or bytes).
    package let perMinute: Int
    /// Whole seconds until the same edit would fit; nil if it is larger than the burst and never will.
    package let retryAfterSeconds: Int?

    init(_ refusal: AuthorQuota.Refusal, limits: AuthorQuota.Limits) {
        switch refusal {
        case .operations(let wait):
            resource = .operations
            perMinute = Int(limits.operationsPerMinute)
            retryAfterSeconds = wait.isFinite ? max(1, Int(wait.rounded(.up))) : nil
        case .bytes(let wait):
            resource = .bytes
            perMinute = Int(limits.bytesPerMinute)
            retryAfterSeconds = wait.isFinite ? max(1, Int(wait.rounded(.up))) : nil
        }
    }

    public var description: String {
        let limit = resource == .operations ? "\(perMinute) operations" : "\(perMinute >> 20) MiB of edits"
        guard let retryAfterSeconds else { return "this edit is larger than this node accepts at once (\(limit) a minute)" }
        let what = resource == .operations ? "too many edits" : "too much edited data"
        return "\(what): this node allows \(limit) a minute; try again in \(retryAfterSeconds) s"
    }
}

extension RoomEngine {
    /// Whether a sealed batch from a peer may be taken in under its author's quota. A batch held
    /// already (or unreadable) passes: the replica drops it without cost. A refused one is
    /// counted for its author and not taken in; our vector still lacks it, so sync offers it again.
    func admitByQuota(_ sealed: [UInt8]) -> Bool {
        guard let header = try? BatchSealer.peekHeader(sealed) else { return true }
        let author = ReplicaID(header.author)
        guard !replica.vector.contains(BatchID(author: author, sequence: header.sequence)) else { return true }
        guard remoteQuota.admits(author, bytes: sealed.count, now: quotaClock()) else {
            remoteQuota.noteDropped(author)
            return false
        }
        return true
    }

    /// Charges each batch a receive applied (a held-back one when it is finally applied) to its author.
    func chargeQuota(_ outcome: Replica.ReceiveOutcome) {
        guard case .applied(let applied) = outcome else { return }
        let now = quotaClock()
        for item in applied {
            remoteQuota.charge(item.batch.batch.author, operations: item.batch.batch.operations.count, bytes: item.batch.sealed.count, now: now)
        }
    }

    /// Replaces the quotas' clock (tests drive it by hand).
    func setQuotaClock(_ clock: @escaping @Sendable () -> Double) {
        quotaClock = clock
    }

    /// Replaces this node's own limits (tests play a member whose script skips them).
    func setLocalQuotaLimits(_ limits: AuthorQuota.Limits) {
        localQuota = AuthorQuota(limits: limits)
    }

    /// Others' batches refused by their author's quota, per author, since start.
    public var quotaDrops: [ReplicaID: Int] { remoteQuota.dropped }
}
