import Primitives
import Rendezvous
import Testing
@testable import Transport

/// Issue 13: a node sends to an address nothing authenticated came from only within a small
/// budget, so a member naming someone else's address as its candidate buys little traffic there.
@Suite struct UnverifiedSendBudgetTests {
    static let victim = UDPEndpoint.ipv4(127, 0, 0, 1, port: 9)
    static let second: UInt64 = 1_000_000_000

    @Test func anUnheardAddressGetsItsBudgetAndNoMore() {
        var budget = UnverifiedSendBudget()
        var sent = 0
        var now: UInt64 = 0
        for _ in 0..<100 {
            if budget.allow(176, to: Self.victim, now: now) { sent += 176 }
            now += Self.second
        }
        #expect(sent <= Wire.natUnverifiedBudgetBytes && sent > Wire.natUnverifiedBudgetBytes - 176)
        // Still refused a while later: only idleness (no sends for the idle time) forgets it.
        let allowed1 = budget.allow(176, to: Self.victim, now: now + Self.second)
        #expect(!allowed1)
        let allowed2 = budget.allow(12, to: Self.victim, now: now + Wire.natUnverifiedIdleTime)
        #expect(allowed2)
    }

    @Test func aHeardAddressIsUnlimited() {
        var budget = UnverifiedSendBudget()
        for _ in 0..<20 { _ = budget.allow(176, to: Self.victim, now: 0) }
        let allowed3 = budget.allow(176, to: Self.victim, now: 0)
        #expect(!allowed3)
        budget.heard(from: Self.victim)
        var allowed = 0
        for _ in 0..<1_000 where budget.allow(1_188, to: Self.victim, now: 0) { allowed += 1 }
        #expect(allowed == 1_000)
    }

    @Test func cyclingThroughAddressesRefillsNobody() {
        var budget = UnverifiedSendBudget()
        var admitted = 0
        for port in 0..<Wire.natUnverifiedMaxAddresses {
            if budget.allow(Wire.natUnverifiedBudgetBytes, to: .ipv4(10, 0, 0, 1, port: UInt16(port)), now: 0) { admitted += 1 }
        }
        #expect(admitted == Wire.natUnverifiedMaxAddresses)
        // The table is full of spent addresses: a new one gets nothing, and an old one no more.
        let allowed4 = budget.allow(12, to: .ipv4(10, 0, 0, 2, port: 1), now: Self.second)
        #expect(!allowed4)
        let allowed5 = budget.allow(12, to: .ipv4(10, 0, 0, 1, port: 0), now: Self.second)
        #expect(!allowed5)
    }
}
