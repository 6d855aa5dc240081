/// Disjoint byte ranges of one message, sorted, with touching ranges merged.
///
/// Used for the bytes a receiver holds and the bytes a sender has had acknowledged. Lookups are
/// binary searches, so a message received in thousands of pieces stays cheap.
struct OffsetRangeSet: Equatable, Sendable {
    private(set) var ranges: [Range<Int>] = []

    /// The number of ranges after inserting `range`, without inserting it.
    func countAfterInserting(_ range: Range<Int>) -> Int {
        guard !range.isEmpty else { return ranges.count }
        let (low, high) = touching(range)
        return ranges.count - (high - low) + 1
    }

    /// Adds `range`, merging it with every range it overlaps or touches.
    mutating func insert(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        let (low, high) = touching(range)
        if low == high {
            ranges.insert(range, at: low)
        } else {
            let merged = min(range.lowerBound, ranges[low].lowerBound)..<max(range.upperBound, ranges[high - 1].upperBound)
            ranges.replaceSubrange(low..<high, with: CollectionOfOne(merged))
        }
    }

    /// True if `0..<length` is entirely covered.
    func covers(_ length: Int) -> Bool {
        length == 0 || (ranges.count == 1 && ranges[0].lowerBound == 0 && ranges[0].upperBound >= length)
    }

    /// The first part of `range` not covered, if any.
    func firstGap(in range: Range<Int>) -> Range<Int>? {
        guard !range.isEmpty else { return nil }
        var cursor = range.lowerBound
        var index = firstIndex(upperBoundAbove: cursor)
        while index < ranges.count, cursor < range.upperBound {
            let existing = ranges[index]
            if existing.lowerBound > cursor { return cursor..<min(existing.lowerBound, range.upperBound) }
            cursor = max(cursor, existing.upperBound)
            index += 1
        }
        return cursor < range.upperBound ? cursor..<range.upperBound : nil
    }

    /// The indices of the ranges that overlap or touch `range`: `low..<high`.
    private func touching(_ range: Range<Int>) -> (Int, Int) {
        let low = firstIndex(upperBoundAbove: range.lowerBound - 1)
        var lo = low
        var hi = ranges.count
        // First index whose lowerBound is beyond range.upperBound (not touching).
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].lowerBound <= range.upperBound { lo = mid + 1 } else { hi = mid }
        }
        return (low, lo)
    }

    /// The first index whose range ends after `offset`.
    private func firstIndex(upperBoundAbove offset: Int) -> Int {
        var lo = 0
        var hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound <= offset { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// The packet numbers a receiver has taken in, as ascending ranges, for ACKs and duplicates.
///
/// Lost packets leave permanent gaps (numbers are never reused), so only the newest
/// `Reliability.maxTrackedAckRanges` ranges are kept; everything below the oldest kept range
/// counts as already seen, so a very late duplicate cannot be delivered twice.
struct PacketNumberSet: Equatable, Sendable {
    private(set) var ranges: [ClosedRange<UInt64>] = []
    /// Numbers below this were forgotten and are treated as seen.
    private(set) var floor: UInt64 = 0

    var largest: UInt64? { ranges.last?.upperBound }

    func contains(_ number: UInt64) -> Bool {
        if number < floor { return true }
        let index = firstIndex(upperBoundAtLeast: number)
        return index < ranges.count && ranges[index].lowerBound <= number
    }

    /// Adds `number`, which must not be contained yet.
    mutating func insert(_ number: UInt64) {
        let index = firstIndex(upperBoundAtLeast: number)
        let joinsBelow = index > 0 && ranges[index - 1].upperBound == number - 1
        let joinsAbove = index < ranges.count && number < UInt64.max && ranges[index].lowerBound == number + 1
        switch (joinsBelow, joinsAbove) {
        case (true, true):
            ranges[index - 1] = ranges[index - 1].lowerBound...ranges[index].upperBound
            ranges.remove(at: index)
        case (true, false):
            ranges[index - 1] = ranges[index - 1].lowerBound...number
        case (false, true):
            ranges[index] = number...ranges[index].upperBound
        case (false, false):
            ranges.insert(number...number, at: index)
        }
        if ranges.count > Reliability.maxTrackedAckRanges {
            floor = ranges.removeFirst().upperBound + 1
        }
    }

    /// The first index whose range ends at or after `number`.
    private func firstIndex(upperBoundAtLeast number: UInt64) -> Int {
        var lo = 0
        var hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound < number { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
