import Primitives

/// A token bucket refilled continuously at `rate` tokens per second up to `burst`.
struct TokenBucket: Sendable {
    private(set) var tokens: Double
    private(set) var updated: ContinuousClock.Instant

    /// A full bucket.
    init(burst: Double, now: ContinuousClock.Instant) {
        tokens = burst
        updated = now
    }

    mutating func refill(rate: Double, burst: Double, now: ContinuousClock.Instant) {
        // A full bucket (every new source's, and a counting limiter's byte bucket always) has
        // nothing to gain, so the costlier duration arithmetic is skipped: it runs per datagram.
        if tokens >= burst {
            if now > updated { updated = now }
            return
        }
        // A clock that seems to run backwards (tests, or a caller mixing clocks) refills nothing.
        let elapsed = max(0, seconds(now - updated))
        tokens = min(burst, tokens + elapsed * rate)
        if now > updated { updated = now }
    }

    /// Refills, then takes `amount` if that many tokens are there.
    mutating func take(_ amount: Double, rate: Double, burst: Double, now: ContinuousClock.Instant) -> Bool {
        refill(rate: rate, burst: burst, now: now)
        guard tokens >= amount else { return false }
        tokens -= amount
        return true
    }

    /// Removes tokens the caller has checked are there.
    mutating func consume(_ amount: Double) {
        tokens -= amount
    }

    /// True once the bucket would be full again, so forgetting it changes nothing.
    func isFull(rate: Double, burst: Double, now: ContinuousClock.Instant) -> Bool {
        tokens + max(0, seconds(now - updated)) * rate >= burst
    }
}

/// Per-source packet and byte buckets in a table of bounded size.
///
/// When the table is full the oldest entry is evicted. Evicting only resets a source to a full
/// bucket, so a flood of spoofed sources cannot grow memory, and at worst makes the limiter more
/// lenient for a moment. Not thread-safe; owned by `RendezvousServer`.
struct SourceRateLimiter: Sendable {
    private struct Entry: Sendable {
        var packets: TokenBucket
        var bytes: TokenBucket
        /// Matches the entry's slot in `order`; a slot whose sequence differs is stale.
        var sequence: UInt64
    }

    private struct Slot: Sendable {
        var key: UDPEndpoint.Address
        var sequence: UInt64
    }

    private var entries: [UDPEndpoint.Address: Entry] = [:]
    /// Insertion order as a ring: it grows to `capacity`, then each new entry overwrites the oldest slot.
    private var order: [Slot] = []
    private var oldest = 0
    private var nextSequence: UInt64 = 0
    private let capacity: Int
    private let packetRate: Double
    private let packetBurst: Double
    private let byteRate: Double
    private let byteBurst: Double

    init(configuration: RendezvousServer.Configuration) {
        capacity = configuration.maxTrackedSources
        packetRate = configuration.sourcePacketsPerSecond
        packetBurst = configuration.sourcePacketBurst
        byteRate = configuration.sourceBytesPerSecond
        byteBurst = configuration.sourceByteBurst
    }

    /// A limiter that counts events only (knocks, say): admit them with `size: 0`.
    init(capacity: Int, packetsPerSecond: Double, packetBurst: Double) {
        self.capacity = capacity
        packetRate = packetsPerSecond
        self.packetBurst = packetBurst
        // A byte bucket that is never charged stays full, so it never refuses and never keeps an entry alive.
        byteRate = 1
        byteBurst = 1
    }

    var count: Int { entries.count }

    /// Charges one packet of `size` bytes to `key`; false if either bucket is short.
    mutating func admit(_ key: UDPEndpoint.Address, size: Int, now: ContinuousClock.Instant) -> Bool {
        // One hash lookup whether the source is known or new (this runs for every datagram): the
        // entry is found or made in place, and a new one is told apart by its fresh sequence.
        let fresh = nextSequence
        let (packetRate, packetBurst, byteRate, byteBurst) = (packetRate, packetBurst, byteRate, byteBurst)
        let (admitted, inserted) = Self.charge(
            &entries[
                key,
                default: Entry(
                    packets: TokenBucket(burst: packetBurst, now: now), bytes: TokenBucket(burst: byteBurst, now: now),
                    sequence: fresh)],
            size: size, now: now, fresh: fresh, rates: (packetRate, packetBurst, byteRate, byteBurst))
        if inserted { track(key, sequence: fresh) }
        return admitted
    }

    private static func charge(
        _ entry: inout Entry, size: Int, now: ContinuousClock.Instant, fresh: UInt64,
        rates: (packetRate: Double, packetBurst: Double, byteRate: Double, byteBurst: Double)
    ) -> (admitted: Bool, inserted: Bool) {
        entry.packets.refill(rate: rates.packetRate, burst: rates.packetBurst, now: now)
        entry.bytes.refill(rate: rates.byteRate, burst: rates.byteBurst, now: now)
        // Charge neither bucket unless both have room, so a refused packet costs the source nothing.
        let admitted = entry.packets.tokens >= 1 && entry.bytes.tokens >= Double(size)
        if admitted {
            entry.packets.consume(1)
            entry.bytes.consume(Double(size))
        }
        return (admitted, entry.sequence == fresh)
    }

    /// Puts a new entry in the insertion ring, evicting the oldest when the table is full.
    private mutating func track(_ key: UDPEndpoint.Address, sequence: UInt64) {
        nextSequence &+= 1
        let slot = Slot(key: key, sequence: sequence)
        if order.count < capacity {
            order.append(slot)
        } else {
            let evicted = order[oldest]
            if entries[evicted.key]?.sequence == evicted.sequence { entries[evicted.key] = nil }
            order[oldest] = slot
            oldest = (oldest + 1) % capacity
        }
    }

    /// Forgets sources whose buckets have refilled: they behave exactly as untracked ones.
    mutating func sweep(now: ContinuousClock.Instant) {
        var idle: [UDPEndpoint.Address] = []
        for (key, entry) in entries
        where entry.packets.isFull(rate: packetRate, burst: packetBurst, now: now)
            && entry.bytes.isFull(rate: byteRate, burst: byteBurst, now: now)
        {
            idle.append(key)
        }
        for key in idle { entries[key] = nil }
        if entries.isEmpty {
            // Every slot is stale: start the ring afresh rather than keep dead keys in memory.
            order.removeAll(keepingCapacity: false)
            oldest = 0
        }
    }
}

/// A duration in seconds as a floating-point number.
func seconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
}
