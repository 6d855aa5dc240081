import CVPeerTestSupport
import PeerCrypto
import Testing
@testable import Transport

@Suite struct LinkTimerTests {
    @Test func rekeyAfterTwoMinutesKeepsDeliveringWithoutLoss() {
        var net = LinkNetwork(count: 2)
        net.directDelay = 30 * linkMs
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        var sent = [0, 0]
        // A packet each way every 10 ms for 260 s: about three in flight each way at every rekey.
        while net.now < 261 * linkSecond {
            for (from, to) in [(0, 1), (1, 0)] {
                let n = sent[from]
                if net.send(withUnsafeBytes(of: UInt32(n).bigEndian) { Array($0) }, from: from, to: to) { sent[from] += 1 }
            }
            net.run(for: 10 * linkMs)
        }
        net.run(for: 1 * linkSecond)
        #expect(sent[0] > 25_000 && sent[1] > 25_000)
        for node in 0..<2 {
            let got = net.delivered[node].map { $0.bytes.reduce(0) { $0 << 8 | Int($1) } }
            #expect(got == Array(0..<sent[1 - node]), "every packet exactly once, in order")
            let numbers = net.delivered[node].map(\.number)
            #expect(zip(numbers, numbers.dropFirst()).allSatisfy { $0 < $1 }, "packet numbers keep increasing across rekeys")
            #expect(net.linkDowns(node).isEmpty)
            #expect(net.nodes[node].stats.totalDrops == 0)
        }
        // Only the initiator of the current session rekeys: at 120 s and 240 s.
        #expect(net.nodes[0].stats.rekeysStarted == 2)
        #expect(net.nodes[1].stats.rekeysStarted == 0)
        #expect(net.nodes[1].stats.sessionsEstablished == 3)
        let info = net.nodes[0].linkInfo(for: net.key(1))
        #expect((info?.sessionStartedAt ?? 0) > 240 * linkSecond)
        #expect(info?.establishedAt ?? .max < 1 * linkSecond)
        #expect(info?.initiatedLocally == true)
        // Old sessions are dropped once past their time; at most the bound is ever held.
        #expect(net.nodes[0].sessionCount <= Wire.linkMaxSessionsPerLink)
    }

    @Test func aSessionThatCannotRekeyStopsAfterThreeMinutes() {
        var net = LinkNetwork(count: 2)
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        let upAt = net.nodes[1].linkInfo(for: net.key(0))!.sessionStartedAt
        net.filter = { $0.bytes.first != Wire.LinkPacketType.handshakeInitiation.rawValue }
        while net.now < 200 * linkSecond {
            net.send([1], from: 0, to: 1)
            net.send([2], from: 1, to: 0)
            net.run(for: 1 * linkSecond)
        }
        #expect(net.nodes[0].stats.rekeysStarted == 1)
        for node in 0..<2 {
            let downs = net.linkDowns(node)
            #expect(downs.map(\.2) == [.expired])
            let at = downs.first?.0 ?? 0
            #expect(at >= upAt + Wire.linkRejectAfterTime - 20 * linkMs && at <= upAt + Wire.linkRejectAfterTime + 20 * linkMs)
            #expect(net.nodes[node].sessionCount == 0)
            #expect(net.nodes[node].pendingHandshakes == 0)
        }
        let lastData = net.dataPackets(from: 0).map(\.deliverAt).max() ?? 0
        #expect(lastData <= upAt + Wire.linkRejectAfterTime + 10 * linkMs + 20 * linkMs)
    }

    @Test func packetNumbersStopBelowTwoToTheSixty() throws {
        var net = LinkNetwork(count: 2)
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        net.nodes[0]._setNextPacketNumber(Wire.linkRejectAfterMessages - 1, for: net.key(1))
        let sentLast = net.send([9], from: 0, to: 1)
        #expect(sentLast)
        #expect(throws: LinkError.exhausted) { _ = try net.nodes[0].send([9], to: net.key(1), now: net.now) }
        #expect(net.nodes[0].nextTimer == 0, "torn down at once: the shell connects afresh")
        net.run(for: 100 * linkMs)
        #expect(net.delivered[1].last?.number == Wire.linkRejectAfterMessages - 1)
        #expect(net.linkDowns(0).map(\.2) == [.exhausted])
    }

    @Test func passiveKeepalivesAnswerTrafficAndAnIdleLinkDies() {
        var net = LinkNetwork(count: 2)
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        let upAt = net.nodes[0].linkInfo(for: net.key(1))!.establishedAt
        let before = net.dataPackets(from: 0).count
        while net.now < 40 * linkSecond {
            net.send([7], from: 1, to: 0)
            net.run(for: 1 * linkSecond)
        }
        net.run(for: 120 * linkSecond)
        let keepalives = net.dataPackets(from: 0).dropFirst(before).map { $0.deliverAt - net.directDelay }
        // Node 0 never sends: a keepalive every 15 s while packets arrive, then none.
        #expect(keepalives == [upAt + 15 * linkSecond, upAt + 30 * linkSecond, upAt + 45 * linkSecond])
        #expect(net.nodes[0].stats.keepalivesSent == 3)
        // The last thing node 0 heard was at 40 s, node 1's last keepalive at 45 s.
        let lastHeardBy0 = net.dataPackets(from: 1).map(\.deliverAt).max()!
        #expect(net.linkDowns(0).map { [$0.0, UInt64(0)] } == [[lastHeardBy0 + Wire.linkDeadAfter, 0]])
        #expect(net.linkDowns(1).map(\.0) == [keepalives.last! + net.directDelay + Wire.linkDeadAfter])
        #expect(net.linkDowns(0).map(\.2) == [.timeout] && net.linkDowns(1).map(\.2) == [.timeout])
        #expect(net.nodes[0].nextTimer == nil && net.nodes[1].nextTimer == nil)
    }

    @Test func persistentKeepalivesKeepAnIdleLinkUpAndRekeyed() {
        var net = LinkNetwork(count: 2, configuration: .init(persistentKeepalive: true))
        net.connect(0, to: 1)
        net.run(for: 600 * linkSecond)
        #expect(net.linkDowns(0).isEmpty && net.linkDowns(1).isEmpty)
        for node in 0..<2 {
            let times = net.dataPackets(from: node).map(\.deliverAt)
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            #expect(gaps.allSatisfy { $0 <= Wire.linkKeepaliveInterval }, "never quiet longer than the interval")
            #expect(times.count >= 38)
        }
        #expect(net.nodes[0].stats.rekeysStarted == 4)
        #expect((net.nodes[1].linkInfo(for: net.key(0))?.sessionStartedAt ?? 0) > 480 * linkSecond)
    }

    @Test func aLinkIsDeadSixtySecondsAfterTheLastAuthenticatedPacket() {
        var net = LinkNetwork(count: 2, configuration: .init(persistentKeepalive: true))
        net.connect(0, to: 1)
        net.run(for: 20 * linkSecond)
        net.directWorks = false
        net.run(for: 100 * linkSecond)
        for node in 0..<2 {
            let lastHeard = net.dataPackets(from: 1 - node).filter { $0.to == node }.map(\.deliverAt).max()!
            #expect(net.linkDowns(node).map(\.0) == [lastHeard + Wire.linkDeadAfter])
            #expect(net.linkDowns(node).map(\.2) == [.timeout])
        }
    }
}
