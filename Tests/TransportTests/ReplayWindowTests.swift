import CVPeerTestSupport
import Testing
import Transport

/// Calls the mutating check outside #expect, which cannot capture inout values.
private func accept(_ window: inout ReplayWindow, _ counter: UInt64) -> Bool {
    window.check(counter)
}

@Suite struct ReplayWindowTests {
    @Test func acceptsEachCounterOnce() {
        var window = ReplayWindow()
        for counter in UInt64(0)..<5_000 { #expect(accept(&window, counter)) }
        for counter in UInt64(0)..<5_000 where 4_999 - counter <= ReplayWindow.windowSize {
            #expect(!accept(&window, counter), "counter \(counter) replayed")
        }
    }

    @Test func keepsAtLeast2048PacketsOfHistory() {
        #expect(ReplayWindow.windowSize >= 2_048)
        var window = ReplayWindow()
        #expect(accept(&window, 10_000))
        #expect(accept(&window, 10_000 - ReplayWindow.windowSize))
        #expect(!accept(&window, 10_000 - ReplayWindow.windowSize - 1))
    }

    @Test func acceptsReorderedCountersInsideTheWindow() {
        var window = ReplayWindow()
        let counters = Array(UInt64(0)..<1_500)
        var random = SeededRandom(seed: 6479)
        for counter in counters.shuffled(using: &random) { #expect(accept(&window, counter)) }
        for counter in counters { #expect(!accept(&window, counter)) }
    }

    @Test func aJumpFarAheadForgetsOldCountersButNotTheNewOne() {
        var window = ReplayWindow()
        #expect(accept(&window, 1))
        #expect(accept(&window, 1_000_000))
        #expect(!accept(&window, 1))
        #expect(!accept(&window, 1_000_000))
        #expect(accept(&window, 999_999))
    }

    @Test func refusesCountersNearTheEndOfTheNonceSpace() {
        var window = ReplayWindow()
        #expect(!accept(&window, UInt64.max))
        #expect(!accept(&window, ReplayWindow.rejectAfter))
        #expect(accept(&window, ReplayWindow.rejectAfter - 1))
    }

    /// Compares against a plain set-based model over random histories.
    @Test func matchesASimpleModel() {
        let seed = SeededRandom.seedFromEnvironment(default: 2_048)
        var random = SeededRandom(seed: seed)
        for _ in 0..<50 {
            var window = ReplayWindow()
            var seen = Set<UInt64>()
            var highest: UInt64? = nil
            var base: UInt64 = 0
            for _ in 0..<2_000 {
                base += random.next() % 8
                let counter = base > 3_000 ? base - random.next() % 3_000 : random.next() % (base + 1)
                let tooOld = highest.map { $0 > counter && $0 - counter > ReplayWindow.windowSize } ?? false
                let expected = !tooOld && !seen.contains(counter)
                #expect(accept(&window, counter) == expected, "seed \(seed), counter \(counter)")
                if expected {
                    seen.insert(counter)
                    highest = max(highest ?? counter, counter)
                }
            }
        }
    }
}
