import CVPeerTestSupport
import PeerCrypto
import Testing
@testable import Transport

/// Feeds bytes to an endpoint outside #expect, which cannot capture inout values.
private func feed(_ endpoint: inout TestLinkEndpoint, _ bytes: [UInt8], from path: LinkTestPath, now: UInt64)
    -> [TestLinkAction]
{
    endpoint.received(bytes, from: path, now: now)
}

/// Harvested initiations: a timestamp under the mac, a window around the responder's clock and a
/// replay cache refuse them before any budget, Diffie-Hellman or reply (docs/PROTOCOL.md, Links).
@Suite struct LinkReplayTests {
    static let room = LinkFixtures.room(1)
    static let pathA = LinkTestPath.direct(1)
    static let pathB = LinkTestPath.direct(2)
    static let attacker = LinkTestPath.direct(666)

    static func endpoint(_ n: UInt8, skewMs: Int64 = 0) -> TestLinkEndpoint {
        TestLinkEndpoint(
            identity: LinkFixtures.identity(n), room: room, random: SeededRandom(seed: UInt64(n)),
            wallClock: .followingMonotonic(offsetMilliseconds: skewMs))
    }

    @Test func initiationCarriesTheWallClockUnderItsMac() throws {
        var a = Self.endpoint(1, skewMs: 1_234_567)
        let m1 = sentBytes(a.connect(paths: [Self.pathB], now: 5 * linkSecond))[0]
        guard case .initiation(let initiation) = try LinkPacket.decode(m1) else {
            Issue.record("not an initiation")
            return
        }
        #expect(initiation.timestamp == 5_000 + 1_234_567)
        #expect(LinkMac.isValid(m1, key: Self.room.macKey))
        // Retries resend the very same bytes, timestamp included.
        let retries = sentBytes(a.timerFired(now: 3 * linkSecond + 5 * linkSecond))
        #expect(retries == [m1])
    }

    @Test func replayAfterTheSessionCompletedGetsNothingAndCostsNoBudget() {
        var a = Self.endpoint(1), b = Self.endpoint(2)
        let m1 = sentBytes(a.connect(paths: [Self.pathB], now: 0))[0]
        let m2 = sentBytes(feed(&b, m1, from: Self.pathA, now: 1 * linkMs))
        let m3 = sentBytes(feed(&a, m2[0], from: Self.pathB, now: 2 * linkMs))
        let confirm = sentBytes(feed(&b, m3[0], from: Self.pathA, now: 3 * linkMs))
        _ = feed(&a, confirm[0], from: Self.pathB, now: 4 * linkMs)
        #expect(b.connectedPeers == [a.localKey])
        // While the session lives, a copy is a late duplicate; either way nothing goes out.
        let budget = b.rateLimiter
        #expect(feed(&b, m1, from: Self.attacker, now: 10 * linkSecond).isEmpty)
        #expect(b.stats.dropped(.duplicateHandshake) == 1)
        // Once the link is gone, the same bytes are a replay: still no reply, no new state.
        _ = b.close(a.localKey, now: 20 * linkSecond)
        for i in 0..<50 {
            let path: LinkTestPath = i % 2 == 0 ? Self.attacker : .direct(UInt16(700 + i))
            #expect(feed(&b, m1, from: path, now: 30 * linkSecond + UInt64(i) * linkMs).isEmpty)
        }
        #expect(b.stats.dropped(.initiationReplayed) == 50)
        #expect(b.halfOpenCount == 0 && b.sessionCount == 0)
        #expect(b.stats.dropped(.rateLimited) == 0)
        #expect(b.rateLimiter == budget, "replays are refused before the budget is charged")
        #expect(b.stats.sessionsEstablished == 1)
    }

    @Test func replayAfterTheHalfOpenExpiredGetsNothing() {
        var a = Self.endpoint(1), b = Self.endpoint(2)
        let m1 = sentBytes(a.connect(paths: [Self.pathB], now: 0))[0]
        let m2 = sentBytes(feed(&b, m1, from: Self.pathA, now: 1 * linkMs))
        #expect(m2.count == 1 && b.halfOpenCount == 1)
        // A copy while the half-open state lives is a retry: the cached message 2, as before.
        #expect(sentBytes(feed(&b, m1, from: .direct(3), now: 1 * linkSecond)) == m2)
        #expect(b.stats.duplicateInitiationsAnswered == 1)
        // The state expires (no message 3): the same bytes within the window are refused.
        let later = Wire.linkHandshakeTimeout + 1 * linkSecond
        let budget = b.rateLimiter
        #expect(feed(&b, m1, from: Self.attacker, now: later).isEmpty)
        #expect(b.halfOpenCount == 0)
        #expect(b.stats.dropped(.initiationReplayed) == 1)
        #expect(b.rateLimiter == budget)
        // Past the window it is stale, and stays refused after the cache forgot it.
        #expect(feed(&b, m1, from: Self.attacker, now: Wire.linkInitiationWindow + 2 * linkMs).isEmpty)
        #expect(feed(&b, m1, from: Self.attacker, now: 10 * Wire.linkInitiationWindow).isEmpty)
        #expect(b.stats.dropped(.initiationStale) == 2)
        #expect(b.replayCache.count == 0, "entries are forgotten once their timestamp left the window")
        #expect(b.rateLimiter == budget)
        #expect(b.halfOpenCount == 0 && b.stats.sessionsEstablished == 0)
    }

    @Test(arguments: [
        (Int64(-120_001), false), (-119_000, true), (119_000, true), (120_001, false), (-3_600_000, false),
        (86_400_000, false),
    ])
    func initiationOutsideTheWindowIsDropped(skewMs: Int64, answered: Bool) {
        let start = 1_000 * linkSecond
        var a = Self.endpoint(1, skewMs: skewMs), b = Self.endpoint(2)
        let m1 = sentBytes(a.connect(paths: [Self.pathB], now: start))[0]
        let budget = b.rateLimiter
        let reply = sentBytes(feed(&b, m1, from: Self.pathA, now: start))
        #expect(reply.count == (answered ? 1 : 0))
        #expect(b.stats.dropped(.initiationStale) == (answered ? 0 : 1))
        #expect(b.halfOpenCount == (answered ? 1 : 0))
        if !answered { #expect(b.rateLimiter == budget && b.replayCache.count == 0) }
    }

    @Test func retriesOverSeveralPathsStillLink() {
        var net = LinkNetwork(count: 2)
        let extra: UInt16 = 1_500
        net.addressOwner[extra] = 1
        // The responder's answers are lost for 2.5 s: the initiator retries the same bytes on
        // every path, and the responder answers each copy from its half-open state.
        net.filter = { datagram in !(datagram.sender == 1 && datagram.bytes.first == 0x02 && datagram.deliverAt < 2_500 * linkMs) }
        net.connect(0, paths: [net.direct(1), .direct(extra), .relay(1)])
        net.run(for: 5 * linkSecond)
        #expect(net.isLinked(0, 1) && net.isLinked(1, 0))
        #expect(net.nodes[1].stats.sessionsEstablished == 1)
        #expect(net.nodes[1].stats.duplicateInitiationsAnswered >= 6)
        #expect(net.nodes[1].stats.dropped(.initiationReplayed) == 0)
        #expect(net.nodes[1].stats.dropped(.initiationStale) == 0)
    }

    @Test func rekeysAndNewLinksAfterAReplayFloodStillWork() {
        var net = LinkNetwork(count: 3)
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        let harvested = net.packets(.handshakeInitiation, from: 0)[0].bytes
        let closing = net.nodes[1].close(net.key(0), now: net.now)
        net.apply(closing, from: 1)
        net.run(for: 1 * linkSecond)
        // A burst ten times the global budget, from many sources: all refused, none charged.
        for i in 0..<2_000 { net.inject(harvested, to: 1, from: .direct(UInt16(5_000 + i % 300))) }
        #expect(net.nodes[1].stats.dropped(.initiationReplayed) == 2_000)
        #expect(net.nodes[1].stats.dropped(.rateLimited) == 0)
        #expect(net.wire.filter { $0.sender == 1 && $0.bytes.first == 0x02 }.count == 1, "one message 2, for the real handshake")
        // A new member links at once, and the link runs past a rekey.
        net.connect(2, to: 1)
        net.run(for: 1 * linkSecond)
        #expect(net.isLinked(2, 1) && net.isLinked(1, 2))
        for _ in 0..<15 {
            _ = net.send([1], from: 2, to: 1)
            net.run(for: 10 * linkSecond)
        }
        #expect(net.isLinked(2, 1) && net.isLinked(1, 2))
        #expect(net.nodes[2].stats.rekeysStarted >= 1)
        #expect(net.nodes[1].stats.dropped(.initiationStale) == 0)
    }

    @Test func replayCacheExpiresAndStaysBounded() {
        var cache = LinkReplayCache()
        func key(_ n: Int) -> LinkReplayCache.Key {
            LinkReplayCache.Key(mac: (0..<16).map { UInt8(truncatingIfNeeded: n >> ($0 % 4 * 8)) }[...])
        }
        cache.insert(key(1), now: 0)
        #expect(cache.contains(key(1), now: LinkReplayCache.lifetime - 1))
        #expect(!cache.contains(key(1), now: LinkReplayCache.lifetime))
        cache.prune(now: LinkReplayCache.lifetime)
        #expect(cache.count == 0)
        for n in 0..<(Wire.linkReplayCacheSize + 10) { cache.insert(key(n), now: 1) }
        #expect(cache.count == Wire.linkReplayCacheSize)
        #expect(!cache.contains(key(0), now: 1) && !cache.contains(key(9), now: 1), "the oldest are forgotten first")
        #expect(cache.contains(key(10), now: 1) && cache.contains(key(Wire.linkReplayCacheSize + 9), now: 1))
        cache.remove(key(10))
        #expect(!cache.contains(key(10), now: 1))
        #expect(cache.count == Wire.linkReplayCacheSize - 1)
    }
}
