/// A sliding-window replay filter for data-packet counters, in the style of RFC 6479.
///
/// Accepts each counter at most once, and rejects counters more than `windowSize` behind the
/// highest seen. The bitmap is a ring of 64-bit words, so advancing the window clears whole words
/// instead of shifting bits. `check` must only be called after the packet authenticated, so a
/// forger cannot move the window.
///
/// Not thread-safe; owned by one link's receive path.
package struct ReplayWindow: Sendable {
    /// Counters this far behind the newest are still accepted: the 2,048 the design asks for, so
    /// that heavy reordering on a fast path (pacing bursts, several paths) is not taken for replay.
    /// A multiple of 64 by construction.
    package static let windowSize: UInt64 = UInt64(wordCount - 1) * 64
    /// 33 words: 32 whole words of history plus one being filled.
    private static let wordCount = 33
    /// Counters at or above this are never accepted: the sender must rekey first (2^64 − 2^13,
    /// like WireGuard's RejectAfterMessages, leaves the top range unused).
    package static let rejectAfter: UInt64 = UInt64.max - (1 << 13)

    private var highest: UInt64 = 0
    private var seenAny = false
    private var bitmap = [UInt64](repeating: 0, count: wordCount)

    /// Creates an empty window.
    public init() {}

    /// True (and records the counter) if `counter` has not been seen and is not too old.
    public mutating func check(_ counter: UInt64) -> Bool {
        guard counter < Self.rejectAfter else { return false }
        let words = UInt64(Self.wordCount)
        if !seenAny || counter > highest {
            let currentWord = highest >> 6
            let newWord = counter >> 6
            // Clear the words the window slides over; if it jumps past all of them, clear all.
            let steps = seenAny ? min(newWord - currentWord, words) : words
            var step: UInt64 = 1
            while step <= steps {
                bitmap[Int((currentWord &+ step) % words)] = 0
                step += 1
            }
            if !seenAny { bitmap[Int(newWord % words)] = 0 }
            highest = counter
            seenAny = true
        } else if highest - counter > Self.windowSize {
            return false
        }
        let index = Int((counter >> 6) % words)
        let bit = UInt64(1) << (counter & 63)
        if bitmap[index] & bit != 0 { return false }
        bitmap[index] |= bit
        return true
    }
}
