/// The initiations a responder has answered recently, so a harvested message 1 replayed within
/// its timestamp's window earns nothing (docs/PROTOCOL.md, "Links", Handshake).
///
/// Keyed by the packet's 16-byte room mac (a keyed hash of every other byte: the same packet, the
/// same key; nobody without the room key makes two packets share one). An entry is kept for
/// 2 × `Wire.linkInitiationWindow` of monotonic time after it was added (by then its timestamp has
/// left the window, so `initiationStale` refuses the packet anyway) and at most
/// `Wire.linkReplayCacheSize` entries are kept, the oldest forgotten first. Expiry is in insertion
/// order, so pruning is amortised O(1). The zero value is ready to use. Not thread-safe; owned by
/// one `LinkEndpoint`.
struct LinkReplayCache: Sendable, Equatable {
    /// A mac as two integers: hashes faster than an array.
    struct Key: Hashable, Sendable {
        let high: UInt64
        let low: UInt64

        init(mac: ArraySlice<UInt8>) {
            precondition(mac.count == Wire.linkMacSize, "a link mac is 16 bytes")
            let start = mac.startIndex
            high = mac[start..<start + 8].reduce(0) { ($0 << 8) | UInt64($1) }
            low = mac[start + 8..<start + 16].reduce(0) { ($0 << 8) | UInt64($1) }
        }
    }

    /// Each key's expiry (monotonic nanoseconds); a key absent here is a removed queue entry.
    private(set) var expiries: [Key: UInt64] = [:]
    /// Keys in insertion order (expiries are increasing along it); `head` is the oldest live slot.
    private var queue: [(key: Key, expiresAt: UInt64)] = []
    private var head = 0

    static func == (a: Self, b: Self) -> Bool { a.expiries == b.expiries }

    /// How long an entry is kept.
    static var lifetime: UInt64 { 2 * Wire.linkInitiationWindow }

    /// Entries currently held.
    var count: Int { expiries.count }

    /// True if `key` was added and has not expired or been removed.
    func contains(_ key: Key, now: UInt64) -> Bool {
        expiries[key].map { $0 > now } ?? false
    }

    /// Remembers `key` until `now + lifetime`, forgetting the oldest entry if full.
    mutating func insert(_ key: Key, now: UInt64) {
        prune(now: now)
        guard expiries[key] == nil else { return }
        while expiries.count >= Wire.linkReplayCacheSize, head < queue.count {
            let oldest = queue[head]
            head += 1
            if expiries[oldest.key] == oldest.expiresAt { expiries[oldest.key] = nil }
        }
        while queue.count - head >= 2 * Wire.linkReplayCacheSize {
            // Removed keys leave their slots behind: bound those too.
            let oldest = queue[head]
            head += 1
            if expiries[oldest.key] == oldest.expiresAt { expiries[oldest.key] = nil }
        }
        let expiresAt = now &+ Self.lifetime
        expiries[key] = expiresAt
        queue.append((key, expiresAt))
        compact()
    }

    /// Forgets `key` (a half-open state evicted while its initiator may still be retrying).
    mutating func remove(_ key: Key) {
        expiries[key] = nil
    }

    /// Forgets the entries that expired by `now` (amortised O(1): they are in insertion order).
    mutating func prune(now: UInt64) {
        while head < queue.count, queue[head].expiresAt <= now {
            let entry = queue[head]
            head += 1
            if expiries[entry.key] == entry.expiresAt { expiries[entry.key] = nil }
        }
        compact()
    }

    /// Drops consumed queue slots once they are half the array, so memory stays bounded.
    private mutating func compact() {
        if head > 0, head * 2 >= queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }
}
