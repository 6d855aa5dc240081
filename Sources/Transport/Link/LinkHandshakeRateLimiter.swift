/// Token buckets that bound how many handshake packets an endpoint processes, per path and in
/// all, so a member flooding valid-mac packets cannot buy unbounded Diffie-Hellman work.
///
/// Credit is kept in nanoseconds (one packet costs its interval), so the arithmetic is exact
/// integers. Not thread-safe; owned by one `LinkEndpoint`.
struct LinkHandshakeRateLimiter<Path: Hashable & Sendable>: Sendable, Equatable {
    struct Bucket: Sendable, Equatable {
        var credit: UInt64
        var updatedAt: UInt64

        /// The credit refilled by the time passed until `now`, without taking any.
        func credit(at now: UInt64, capacity: UInt64) -> UInt64 {
            let elapsed = now >= updatedAt ? now - updatedAt : 0
            return min(capacity, credit &+ elapsed)
        }

        /// Refills by the time passed, then takes one packet's worth if there is enough.
        mutating func take(interval: UInt64, burst: UInt64, now: UInt64) -> Bool {
            credit = credit(at: now, capacity: interval * burst)
            updatedAt = max(updatedAt, now)
            guard credit >= interval else { return false }
            credit -= interval
            return true
        }
    }

    private(set) var global = Bucket(
        credit: Wire.linkHandshakeGlobalInterval * Wire.linkHandshakeGlobalBurst, updatedAt: 0)
    private(set) var perPath: [Path: Bucket] = [:]

    /// True if at least half the global budget is spent at `now`; charges nothing. The endpoint
    /// counts this as load, so cookies are asked for before the budget runs out.
    func isGlobalHalfSpent(at now: UInt64) -> Bool {
        let capacity = Wire.linkHandshakeGlobalInterval * Wire.linkHandshakeGlobalBurst
        return global.credit(at: now, capacity: capacity) < capacity / 2
    }

    /// True if a handshake packet from `path` may be processed now (and charges for it).
    mutating func allow(from path: Path, now: UInt64) -> Bool {
        var bucket = perPath[path] ?? Bucket(
            credit: Wire.linkHandshakePathInterval * Wire.linkHandshakePathBurst, updatedAt: now)
        // Refuse on the path's own bucket first, so one noisy path cannot drain the global one.
        guard bucket.take(interval: Wire.linkHandshakePathInterval, burst: Wire.linkHandshakePathBurst, now: now)
        else {
            perPath[path] = bucket
            return false
        }
        guard global.take(interval: Wire.linkHandshakeGlobalInterval, burst: Wire.linkHandshakeGlobalBurst, now: now)
        else {
            // Give the path its token back: it was not served.
            bucket.credit += Wire.linkHandshakePathInterval
            perPath[path] = bucket
            return false
        }
        if perPath[path] == nil, perPath.count >= Wire.linkRateLimitedPaths, let idlest = perPath.min(by: {
            $0.value.updatedAt < $1.value.updatedAt
        }) {
            perPath[idlest.key] = nil
        }
        perPath[path] = bucket
        return true
    }
}
