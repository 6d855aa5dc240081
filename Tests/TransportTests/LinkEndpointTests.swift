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

/// The bytes of every `.send` action, in order.
func sentBytes(_ actions: [TestLinkAction]) -> [[UInt8]] {
    actions.compactMap { if case .send(let bytes, _) = $0 { bytes } else { nil } }
}

@Suite struct LinkEndpointTests {
    @Test func handshakeThenDataBothWays() {
        var net = LinkNetwork(count: 2)
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        #expect(net.linkUps(0) == [net.key(1)])
        #expect(net.linkUps(1) == [net.key(0)])
        let sentHello = net.send(Array("hello".utf8), from: 0, to: 1)
        #expect(sentHello)
        let sentWorld = net.send(Array("world".utf8), from: 1, to: 0)
        #expect(sentWorld)
        net.run(for: 1 * linkSecond)
        #expect(net.delivered[1].map(\.bytes) == [Array("hello".utf8)])
        #expect(net.delivered[0].map(\.bytes) == [Array("world".utf8)])
        #expect(net.delivered[1].first?.peer == net.key(0))
        // Packet numbers start at 0 on a new link; the responder's confirmation used its 0.
        #expect(net.delivered[1].first?.number == 0)
        #expect(net.delivered[0].first?.number == 1)
        let info = net.nodes[0].linkInfo(for: net.key(1))
        #expect(info?.path == net.direct(1))
        #expect(info?.isDirect == true)
        #expect(info?.initiatedLocally == true)
        #expect(net.nodes[1].linkInfo(for: net.key(0))?.initiatedLocally == false)
        #expect(net.nodes[0].stats.totalDrops == 0)
        #expect(net.nodes[1].stats.totalDrops == 0)
        // 176 + 164 + 128 bytes of handshake, as the packet table says.
        #expect(net.packets(.handshakeInitiation, from: 0).map(\.bytes.count) == [176])
        #expect(net.packets(.handshakeResponse, from: 1).map(\.bytes.count) == [164])
        #expect(net.packets(.handshakeFinish, from: 0).map(\.bytes.count) == [128])
    }

    @Test func fullSizedPlaintextFitsAndOneMoreIsRefused() throws {
        var net = LinkNetwork(count: 2)
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        let big = [UInt8](repeating: 7, count: Wire.maxFramesSize)
        let actions = try net.nodes[0].send(big, to: net.key(1), now: net.now)
        #expect(sentBytes(actions).map(\.count) == [Wire.maxLinkDatagramSize])
        #expect(throws: LinkError.plaintextTooLarge(Wire.maxFramesSize + 1)) {
            _ = try net.nodes[0].send(big + [0], to: net.key(1), now: net.now)
        }
        #expect(throws: LinkError.reservedPlaintext) {
            _ = try net.nodes[0].send([Wire.linkCloseNotice], to: net.key(1), now: net.now)
        }
        #expect(throws: LinkError.noLink) {
            _ = try net.nodes[0].send([1], to: LinkFixtures.identity(99).publicKey, now: net.now)
        }
    }

    @Test func initiatorIsConfirmedOnlyByAPacketFromTheResponder() {
        var net = LinkNetwork(count: 2)
        // Lose the responder's first confirmation.
        var lost = 0
        net.filter = { datagram in
            if datagram.sender == 1, datagram.bytes.first == Wire.LinkPacketType.data.rawValue, lost == 0 {
                lost += 1
                return false
            }
            return true
        }
        net.connect(0, to: 1)
        net.run(for: 100 * linkMs)
        #expect(net.isLinked(1, 0))
        #expect(!net.isLinked(0, 1), "message 3 sent but nothing from the responder decrypted yet")
        let sentEarly = net.send([1], from: 0, to: 1)
        #expect(!sentEarly)
        net.run(for: 2 * linkSecond)
        #expect(net.isLinked(0, 1))
        #expect(net.nodes[1].stats.duplicateFinishesAnswered == 1)
        #expect(net.nodes[1].stats.sessionsEstablished == 1)
        #expect(net.packets(.handshakeFinish, from: 0).count == 2)
    }

    @Test func replayedDataPacketsAreDropped() {
        var net = LinkNetwork(count: 2)
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        for i in 0..<5 { net.send([UInt8(i)], from: 0, to: 1) }
        net.run(for: 1 * linkSecond)
        #expect(net.delivered[1].count == 5)
        let packets = net.dataPackets(from: 0)
        for packet in packets { net.inject(packet.bytes, to: 1, from: packet.from) }
        #expect(net.delivered[1].count == 5)
        #expect(net.nodes[1].stats.dropped(.replayed) == packets.count)
    }

    @Test func duplicatedHandshakeMessagesDoNotCreateExtraSessions() {
        let room = LinkFixtures.room(1)
        var a = TestLinkEndpoint(identity: LinkFixtures.identity(1), room: room, random: SeededRandom(seed: 1))
        var b = TestLinkEndpoint(identity: LinkFixtures.identity(2), room: room, random: SeededRandom(seed: 2))
        let pathA = LinkTestPath.direct(1), pathB = LinkTestPath.direct(2)
        let m1 = sentBytes(a.connect(paths: [pathB], now: 0))[0]
        let m2 = sentBytes(feed(&b, m1, from: pathA, now: 1))
        #expect(m2.count == 1)
        // Copies of message 1 (another path, a retry): the very same answer, no new state.
        for copy in 0..<3 {
            let again = sentBytes(feed(&b, m1, from: .direct(UInt16(50 + copy)), now: 2))
            #expect(again == m2)
        }
        #expect(b.halfOpenCount == 1)
        #expect(b.stats.duplicateInitiationsAnswered == 3)
        let m3 = sentBytes(feed(&a, m2[0], from: pathB, now: 3))
        #expect(m3.count == 1)
        #expect(feed(&a, m2[0], from: pathB, now: 4).isEmpty)
        #expect(a.stats.dropped(.duplicateHandshake) == 1)
        #expect(a.sessionCount == 1)
        let confirm = sentBytes(feed(&b, m3[0], from: pathA, now: 5))
        #expect(confirm.count == 1)
        #expect(b.sessionCount == 1 && b.halfOpenCount == 0)
        // A copy of message 3 gets a fresh confirmation, not a second session.
        let reconfirm = sentBytes(feed(&b, m3[0], from: pathA, now: 6))
        #expect(reconfirm.count == 1 && reconfirm != confirm)
        #expect(b.sessionCount == 1)
        // A late copy of message 1 after completion is ignored.
        #expect(feed(&b, m1, from: pathA, now: 7).isEmpty)
        #expect(b.halfOpenCount == 0)
        #expect(b.stats.dropped(.duplicateHandshake) == 1)
        _ = feed(&a, confirm[0], from: pathB, now: 8)
        _ = feed(&a, reconfirm[0], from: pathB, now: 9)
        #expect(a.connectedPeers == [b.localKey])
        #expect(b.connectedPeers == [a.localKey])
        #expect(a.sessionCount == 1 && b.sessionCount == 1)
        #expect(a.stats.sessionsEstablished == 1 && b.stats.sessionsEstablished == 1)
    }

    @Test func forgedReceiverIndicesAndCiphertextsAreDropped() {
        var net = LinkNetwork(count: 2)
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        let before = net.nodes[1]._stateSnapshot
        var random = SeededRandom(seed: 5)
        let from = net.direct(0)
        for _ in 0..<200 {
            let index = UInt32(truncatingIfNeeded: random.next())
            let forged = LinkPacket.DataPacket(
                receiverIndex: index, counter: random.next() >> 8,
                ciphertext: (0..<32).map { _ in UInt8(truncatingIfNeeded: random.next()) })
            net.inject(LinkPacket.data(forged).encoded(macKey: LinkFixtures.room(1).macKey), to: 1, from: from)
        }
        #expect(net.nodes[1].stats.dropped(.unknownIndex) == 200)
        // The right index with a forged ciphertext fails the AEAD and leaves the replay window alone.
        let genuine = net.dataPackets(from: 1)[0].bytes
        guard case .data(let sample)? = try? LinkPacket.decode(genuine) else {
            Issue.record("no data packet")
            return
        }
        let liveIndex = net.nodes[1].sessions.keys.first!
        for counter in UInt64(0)..<50 {
            let forged = LinkPacket.DataPacket(
                receiverIndex: liveIndex, counter: counter, ciphertext: sample.ciphertext)
            net.inject(LinkPacket.data(forged).encoded(macKey: LinkFixtures.room(1).macKey), to: 1, from: from)
        }
        #expect(net.nodes[1].stats.dropped(.decryptionFailed) == 50)
        // Members can make valid macs; handshake packets to indices that do not exist still die.
        let finish = LinkPacket.finish(.init(receiverIndex: 12345, message: [UInt8](repeating: 1, count: Wire.handshakeFinishMessageSize)))
        net.inject(finish.encoded(macKey: LinkFixtures.room(1).macKey), to: 1, from: from)
        let response = LinkPacket.response(
            .init(senderIndex: 1, receiverIndex: 12345, message: [UInt8](repeating: 1, count: Wire.handshakeResponseMessageSize)))
        net.inject(response.encoded(macKey: LinkFixtures.room(1).macKey), to: 1, from: from)
        #expect(net.nodes[1].stats.dropped(.unknownIndex) == 202)
        #expect(net.nodes[1]._stateSnapshot == before, "not even the handshake rate budget is charged")
        // And the link still works, from counter 0 upward.
        net.send([42], from: 0, to: 1)
        net.run(for: 1 * linkSecond)
        #expect(net.delivered[1].map(\.bytes) == [[42]])
    }

    @Test func aMemberOfAnotherRoomNeverGetsALink() {
        var net = LinkNetwork(
            identities: [LinkFixtures.identity(1), LinkFixtures.identity(2), LinkFixtures.identity(3)],
            rooms: [LinkFixtures.room(1), LinkFixtures.room(1), LinkFixtures.room(2)])
        net.connect(2, to: 0)
        net.connect(0, to: 2)
        net.connect(0, to: 1)
        net.run(for: 100 * linkSecond)
        // (The idle 0–1 link has since timed out; that it came up is what counts.)
        #expect(net.linkUps(0) == [net.key(1)] && net.linkUps(1) == [net.key(0)])
        #expect(net.linkUps(2).isEmpty)
        #expect(net.nodes[2].sessionCount == 0)
        // Every retry of the outsider's message 1 died at the mac, before any Diffie-Hellman.
        let outsiderInitiations = net.packets(.handshakeInitiation, from: 2).count
        #expect(outsiderInitiations > 70)
        #expect(net.nodes[0].stats.dropped(.badMac) == outsiderInitiations)
        #expect(net.nodes[0].halfOpenCount == 0)
        #expect(net.nodes[2].stats.dropped(.badMac) == net.packets(.handshakeInitiation, from: 0).filter {
            $0.to == 2
        }.count)
        #expect(net.packets(.handshakeResponse, from: 0).allSatisfy { $0.to != 2 })
        // Both attempts gave up after the handshake timeout.
        #expect(net.events[2].contains { if case .handshakeFailed = $0.1 { true } else { false } })
        #expect(net.events[0].contains { if case .handshakeFailed(let paths) = $0.1 { paths == [net.direct(2)] } else { false } })
        #expect(net.nodes[2].pendingHandshakes == 0)
    }

    @Test func anEndpointCannotLinkToItself() {
        var net = LinkNetwork(count: 1)
        net.connect(0, to: 0)
        net.run(for: 100 * linkSecond)
        #expect(net.linkUps(0).isEmpty)
        #expect(net.nodes[0].stats.dropped(.handshakeRejected) > 70, "every response names our own key")
        #expect(net.nodes[0].stats.sessionsEstablished == 0)
        #expect(net.events[0].count == 1)
    }

    @Test func handshakeRetriesSendTheSameMessageWithJitterAndGiveUpAfterNinetySeconds() {
        var net = LinkNetwork(count: 2)
        net.directWorks = false
        net.connect(0, to: 1)
        net.run(for: 95 * linkSecond)
        let tries = net.packets(.handshakeInitiation, from: 0)
        #expect(Set(tries.map(\.bytes)).count == 1, "retries resend the same message 1")
        let gaps = zip(tries.dropFirst(), tries).map { $0.deliverAt - $1.deliverAt }
        #expect(gaps.allSatisfy { $0 >= Wire.linkHandshakeRetryInterval && $0 <= Wire.linkHandshakeRetryInterval + Wire.linkHandshakeRetryJitter })
        #expect(Set(gaps).count > 1, "jittered")
        let failures = net.events[0].filter { if case .handshakeFailed = $0.1 { true } else { false } }
        #expect(failures.count == 1)
        #expect(failures.first?.0 == Wire.linkHandshakeTimeout)
        #expect(net.nodes[0].pendingHandshakes == 0)
        #expect(net.nodes[0].nextTimer == nil)
    }

    @Test func aLostHandshakeIsRetriedUntilItCompletes() {
        var net = LinkNetwork(count: 2)
        var dropped = 0
        net.filter = { datagram in
            guard datagram.bytes.first == Wire.LinkPacketType.handshakeInitiation.rawValue, dropped < 3 else { return true }
            dropped += 1
            return false
        }
        net.connect(0, to: 1)
        net.run(for: 10 * linkSecond)
        #expect(net.isLinked(0, 1) && net.isLinked(1, 0))
        #expect(net.packets(.handshakeInitiation, from: 0).count == 4)
        #expect(net.nodes[1].stats.sessionsEstablished == 1)
    }

    @Test func closeNotifiesThePeerAndNothingMoreIsAccepted() {
        var net = LinkNetwork(count: 2)
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        net.send([1], from: 0, to: 1)
        net.run(for: 1 * linkSecond)
        let old = net.dataPackets(from: 0)
        net.apply(net.nodes[0].close(net.key(1), now: net.now), from: 0)
        #expect(net.linkDowns(0).map(\.2) == [.closedLocally])
        #expect(!net.isLinked(0, 1))
        net.run(for: 1 * linkSecond)
        #expect(net.linkDowns(1).map(\.2) == [.closedByPeer])
        #expect(!net.isLinked(1, 0))
        #expect(net.nodes[1].sessionCount == 0)
        let sentAfterClose = net.send([2], from: 1, to: 0)
        #expect(!sentAfterClose)
        // Old packets, including the close notice itself, find nothing.
        let drops = net.nodes[1].stats.dropped(.unknownIndex)
        for packet in net.dataPackets(from: 0) { net.inject(packet.bytes, to: 1, from: packet.from) }
        #expect(net.nodes[1].stats.dropped(.unknownIndex) == drops + old.count + 1)
        #expect(net.delivered[1].count == 1)
        #expect(net.nodes[0].nextTimer == nil && net.nodes[1].nextTimer == nil)
        // A new link can still be made afterwards.
        net.connect(1, to: 0)
        net.run(for: 1 * linkSecond)
        #expect(net.isLinked(0, 1) && net.isLinked(1, 0))
    }

    @Test func threeEndpointsEachLinkToEachOther() {
        var net = LinkNetwork(count: 3)
        net.connect(0, to: 1)
        net.connect(0, to: 2)
        net.connect(1, to: 2)
        net.run(for: 1 * linkSecond)
        for i in 0..<3 {
            #expect(net.nodes[i].connectedPeers.count == 2)
            for j in 0..<3 where j != i { net.send([UInt8(i), UInt8(j)], from: i, to: j) }
        }
        net.run(for: 1 * linkSecond)
        for j in 0..<3 {
            let got = net.delivered[j].map { ($0.peer, $0.bytes) }
            #expect(got.count == 2)
            for (peer, bytes) in got {
                #expect(net.key(Int(bytes[0])) == peer && Int(bytes[1]) == j)
            }
        }
    }

    @Test func halfOpenStatesAreBoundedAndTheOldestEvicted() {
        let room = LinkFixtures.room(1)
        var b = TestLinkEndpoint(identity: LinkFixtures.identity(2), room: room, random: SeededRandom(seed: 2))
        var a = TestLinkEndpoint(identity: LinkFixtures.identity(1), room: room, random: SeededRandom(seed: 1))
        let extra = 40
        var now: UInt64 = 0
        for i in 0..<(Wire.linkMaxHalfOpen + extra) {
            let m1 = sentBytes(a.connect(paths: [.direct(2)], now: now))[0]
            // Spread over paths and time so the rate limits let them all through; relayed, as
            // direct paths would be asked for cookies once this many states are open.
            _ = feed(&b, m1, from: .relay(i % 500), now: now)
            now += 6 * linkMs
        }
        #expect(b.halfOpenCount == Wire.linkMaxHalfOpen)
        #expect(b.stats.halfOpenEvicted == extra)
        #expect(b.stats.dropped(.rateLimited) == 0)
    }

    @Test func handshakeProcessingIsRateLimitedPerPathAndInAll() {
        let room = LinkFixtures.room(1)
        var b = TestLinkEndpoint(identity: LinkFixtures.identity(2), room: room, random: SeededRandom(seed: 2))
        var a = TestLinkEndpoint(identity: LinkFixtures.identity(1), room: room, random: SeededRandom(seed: 1))
        let flood = (0..<401).map { _ in sentBytes(a.connect(paths: [.direct(2)], now: 0))[0] }
        // One path, all at once: its burst, then nothing. (Relayed paths: direct ones would be
        // asked for cookies under this load, LinkCookieTests.)
        for m1 in flood.prefix(100) { _ = feed(&b, m1, from: .relay(7), now: 1) }
        #expect(b.halfOpenCount == Int(Wire.linkHandshakePathBurst))
        #expect(b.stats.dropped(.rateLimited) == 100 - Int(Wire.linkHandshakePathBurst))
        // Many paths at once: the global burst caps the total.
        for (i, m1) in flood[100..<400].enumerated() { _ = feed(&b, m1, from: .relay(100 + i), now: 1) }
        #expect(b.halfOpenCount == Int(Wire.linkHandshakeGlobalBurst))
        // A second later the budget has refilled by one second's worth.
        _ = feed(&b, flood[400], from: .relay(7), now: 1 + linkSecond)
        #expect(b.halfOpenCount == Int(Wire.linkHandshakeGlobalBurst) + 1)
    }
}

