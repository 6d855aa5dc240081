import CVPeerTestSupport
import PeerCrypto
import Testing
@testable import Transport

/// Issue 13: WireGuard's mac2 under load. A responder that is busy answers a direct path's
/// initiation with a small cookie reply before any Diffie-Hellman, and only a sender that receives
/// at its address (and so reads the cookie) gets message 2.
@Suite struct LinkCookieTests {
    static let room = LinkFixtures.room(1)

    /// A responder pushed under load by `flood` initiations on relayed paths (which never need a
    /// cookie), and a time just after.
    static func loadedResponder(flood: Int = Wire.linkLoadHalfOpen) -> (responder: TestLinkEndpoint, now: UInt64) {
        var b = TestLinkEndpoint(identity: LinkFixtures.identity(2), room: room, random: SeededRandom(seed: 2))
        var flooder = TestLinkEndpoint(identity: LinkFixtures.identity(9), room: room, random: SeededRandom(seed: 9))
        for i in 0..<flood {
            let m1 = sentBytes(flooder.connect(paths: [.relay(1000 + i)], now: 1))[0]
            _ = b.received(m1, from: .relay(1000 + i), now: 1)
        }
        return (b, 2)
    }

    @Test func aQuietResponderAnswersAtOnceAndIgnoresMac2() throws {
        var a = TestLinkEndpoint(identity: LinkFixtures.identity(1), room: Self.room, random: SeededRandom(seed: 1))
        var b = TestLinkEndpoint(identity: LinkFixtures.identity(2), room: Self.room, random: SeededRandom(seed: 2))
        var m1 = sentBytes(a.connect(paths: [.direct(2)], now: 0))[0]
        m1[Wire.handshakeInitiationMac2Offset] ^= 0x5A
        let answer = sentBytes(b.received(m1, from: .direct(1), now: 1))
        #expect(answer.map(\.count) == [Wire.handshakeResponseSize])
        #expect(b.stats.cookieRepliesSent == 0)
        #expect(!b.isUnderLoad(now: 1))
    }

    @Test func underLoadADirectInitiationGetsACookieFirstThenTheLinkCompletes() throws {
        var (b, now) = Self.loadedResponder()
        #expect(b.isUnderLoad(now: now))
        let halfOpen = b.halfOpenCount
        var a = TestLinkEndpoint(identity: LinkFixtures.identity(1), room: Self.room, random: SeededRandom(seed: 1))
        let m1 = sentBytes(a.connect(paths: [.direct(2)], now: now))[0]

        // The first answer is the 64-byte cookie reply: no state, no Diffie-Hellman, no message 2.
        let first = b.received(m1, from: .direct(1), now: now)
        let cookieReply = try #require(sentBytes(first).first)
        #expect(cookieReply.count == Wire.cookieReplySize && cookieReply.count <= m1.count)
        #expect(cookieReply.first == Wire.LinkPacketType.cookieReply.rawValue)
        #expect(b.halfOpenCount == halfOpen)
        #expect(b.stats.cookieRepliesSent == 1)

        // The initiator reads the cookie and sends message 1 again with mac2, at once.
        let resent = sentBytes(a.received(cookieReply, from: .direct(2), now: now + 1))
        #expect(resent.count == 1)
        #expect(a.stats.cookieRepliesReceived == 1)
        let withMac2 = try #require(resent.first)
        #expect(Array(withMac2[..<Wire.handshakeInitiationMac2Offset]) == Array(m1[..<Wire.handshakeInitiationMac2Offset]))
        #expect(withMac2[Wire.handshakeInitiationMac2Offset...] != m1[Wire.handshakeInitiationMac2Offset...])

        // That copy is served: message 2, then the handshake completes as usual.
        let m2 = try #require(sentBytes(b.received(withMac2, from: .direct(1), now: now + 2)).first)
        #expect(m2.count == Wire.handshakeResponseSize)
        let m3 = try #require(sentBytes(a.received(m2, from: .direct(2), now: now + 3)).first)
        let confirmation = try #require(sentBytes(b.received(m3, from: .direct(1), now: now + 4)).first)
        #expect(a.received(confirmation, from: .direct(2), now: now + 5).contains(.linkUp(b.localKey, path: .direct(2))))

        // Retries on that path keep mac2 while the cookie is fresh.
        var c = TestLinkEndpoint(identity: LinkFixtures.identity(3), room: Self.room, random: SeededRandom(seed: 3))
        let cm1 = sentBytes(c.connect(paths: [.direct(2)], now: now))[0]
        let reply = sentBytes(b.received(cm1, from: .direct(3), now: now))[0]
        _ = c.received(reply, from: .direct(2), now: now + 1)
        let retries = sentBytes(c.timerFired(now: now + 2 * linkSecond))
        #expect(retries.count == 1 && LinkCookie.withoutMac2(retries[0]) == LinkCookie.withoutMac2(cm1))
        #expect(retries[0] != cm1)
    }

    @Test func aCookieIsBoundToTheAddressItWasGivenTo() throws {
        var (b, now) = Self.loadedResponder()
        var a = TestLinkEndpoint(identity: LinkFixtures.identity(1), room: Self.room, random: SeededRandom(seed: 1))
        let m1 = sentBytes(a.connect(paths: [.direct(2)], now: now))[0]
        let reply = sentBytes(b.received(m1, from: .direct(1), now: now))[0]
        let withMac2 = sentBytes(a.received(reply, from: .direct(2), now: now))[0]
        let halfOpen = b.halfOpenCount
        // The same packet from another address (a spoofer who saw it) earns only another cookie,
        // for that address, smaller than what it sent.
        let elsewhere = sentBytes(b.received(withMac2, from: .direct(66), now: now))
        #expect(elsewhere.map(\.count) == [Wire.cookieReplySize])
        #expect(b.halfOpenCount == halfOpen)
        #expect(b.stats.cookieRepliesSent == 2)
    }

    @Test func forgedOrMisdirectedCookieRepliesAreDropped() throws {
        var (b, now) = Self.loadedResponder()
        var a = TestLinkEndpoint(identity: LinkFixtures.identity(1), room: Self.room, random: SeededRandom(seed: 1))
        let m1 = sentBytes(a.connect(paths: [.direct(2)], now: now))[0]
        var reply = sentBytes(b.received(m1, from: .direct(1), now: now))[0]

        // Another room's key, or a flipped byte: nothing is resent.
        var other = TestLinkEndpoint(identity: LinkFixtures.identity(5), room: LinkFixtures.room(2), random: SeededRandom(seed: 5))
        let otherM1 = sentBytes(other.connect(paths: [.direct(2)], now: now))[0]
        var loadedOther = TestLinkEndpoint(identity: LinkFixtures.identity(6), room: LinkFixtures.room(2), random: SeededRandom(seed: 6))
        loadedOther.underLoadUntil = now + linkSecond
        var foreign = sentBytes(loadedOther.received(otherM1, from: .direct(1), now: now))[0]
        foreign.replaceSubrange(4..<8, with: reply[4..<8])
        #expect(a.received(foreign, from: .direct(2), now: now).isEmpty)
        reply[40] ^= 1
        #expect(a.received(reply, from: .direct(2), now: now).isEmpty)
        #expect(a.stats.dropped(.badCookieReply) == 2)
        // A reply naming no attempt.
        reply[4] ^= 0xFF
        #expect(a.received(reply, from: .direct(2), now: now).isEmpty)
        #expect(a.stats.dropped(.unknownIndex) == 1)
        #expect(a.stats.cookieRepliesReceived == 0)
    }

    @Test func relayedInitiationsNeverNeedACookie() throws {
        var (b, now) = Self.loadedResponder()
        var a = TestLinkEndpoint(identity: LinkFixtures.identity(1), room: Self.room, random: SeededRandom(seed: 1))
        let m1 = sentBytes(a.connect(paths: [.relay(1)], now: now))[0]
        #expect(sentBytes(b.received(m1, from: .relay(1), now: now)).map(\.count) == [Wire.handshakeResponseSize])
        #expect(b.stats.cookieRepliesSent == 0)
    }

    @Test func loadEndsASecondAfterItsLastSign() throws {
        var b = TestLinkEndpoint(identity: LinkFixtures.identity(2), room: Self.room, random: SeededRandom(seed: 2))
        var flooder = TestLinkEndpoint(identity: LinkFixtures.identity(9), room: Self.room, random: SeededRandom(seed: 9))
        // Half the global burst spent in one instant is load (no half-open pile-up needed).
        for i in 0..<Int(Wire.linkHandshakeGlobalBurst / 2 + 1) {
            let m1 = sentBytes(flooder.connect(paths: [.relay(i)], now: 1))[0]
            _ = b.received(m1, from: .relay(i), now: 1)
        }
        var a = TestLinkEndpoint(identity: LinkFixtures.identity(1), room: Self.room, random: SeededRandom(seed: 1))
        let m1 = sentBytes(a.connect(paths: [.direct(2)], now: 1))[0]
        #expect(sentBytes(b.received(m1, from: .direct(1), now: 1)).map(\.count) == [Wire.cookieReplySize])
        // The budget refills and the states expire; after the load window a new one is answered.
        let later = 1 + Wire.linkHandshakeTimeout + 2 * linkSecond
        _ = b.timerFired(now: later)
        let fresh = sentBytes(a.connect(paths: [.direct(2)], now: later))[0]
        #expect(!b.isUnderLoad(now: later))
        #expect(sentBytes(b.received(fresh, from: .direct(1), now: later)).map(\.count) == [Wire.handshakeResponseSize])
    }
}
