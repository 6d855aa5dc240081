import CVPeerTestSupport
import PeerCrypto
import Testing
@testable import Transport

@Suite struct LinkPathTests {
    @Test func anAuthenticatedPacketFromANewAddressMovesTheLink() {
        var net = LinkNetwork(count: 2)
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        // Node 0's NAT rebinds: its packets now come from 2000, which still reaches it.
        net.addressOwner[2000] = 0
        net.sourceAddress[0] = 2000
        net.send([1], from: 0, to: 1)
        net.run(for: 1 * linkSecond)
        #expect(net.pathChanges(1) == [.direct(2000)])
        #expect(net.nodes[1].linkInfo(for: net.key(0))?.path == .direct(2000))
        net.addressOwner[1000] = nil
        net.send([2], from: 1, to: 0)
        net.run(for: 1 * linkSecond)
        #expect(net.delivered[0].map(\.bytes) == [[2]])
        #expect(net.nodes[1].stats.pathChanges == 1)
    }

    @Test func unauthenticatedReplayedOrOlderPacketsDoNotMoveTheLink() {
        var net = LinkNetwork(count: 2)
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        // Hold one genuine packet back, let a newer one through.
        var held: [LinkNetwork.Datagram] = []
        net.filter = { datagram in
            if datagram.sender == 0, held.isEmpty {
                held.append(datagram)
                return false
            }
            return true
        }
        net.send([1], from: 0, to: 1)
        net.send([2], from: 0, to: 1)
        net.run(for: 1 * linkSecond)
        let path = net.nodes[1].linkInfo(for: net.key(0))?.path
        let genuine = net.dataPackets(from: 0).last!.bytes
        // A forgery, a replay and an older (reordered) genuine packet, all from new addresses.
        var forged = genuine
        forged[forged.count - 1] ^= 1
        net.inject(forged, to: 1, from: .direct(3000))
        net.inject(genuine, to: 1, from: .direct(3001))
        net.inject(held[0].bytes, to: 1, from: .direct(3002))
        #expect(net.delivered[1].map(\.bytes) == [[2], [1]], "the older packet is still delivered")
        #expect(net.nodes[1].linkInfo(for: net.key(0))?.path == path)
        #expect(net.pathChanges(1).isEmpty)
        #expect(net.nodes[1].stats.dropped(.decryptionFailed) == 1)
        #expect(net.nodes[1].stats.dropped(.replayed) == 1)
    }

    @Test func aRelayedLinkMovesToADirectPathOnceAProbeGetsThrough() throws {
        var net = LinkNetwork(count: 2)
        net.directWorks = false
        net.connect(0, paths: [net.direct(1), .relay(1)])
        net.run(for: 2 * linkSecond)
        #expect(net.linkUps(0) == [net.key(1)])
        #expect(net.nodes[0].linkInfo(for: net.key(1))?.isDirect == false)
        #expect(net.nodes[1].linkInfo(for: net.key(0))?.path == .relay(0))
        #expect(net.nodes[0].stats.probesSent == 1, "the direct candidate was probed at once")
        // The direct path opens later; the shell probes it.
        net.directWorks = true
        net.apply(try net.nodes[0].probe(net.key(1), on: net.direct(1), now: net.now), from: 0)
        net.run(for: 1 * linkSecond)
        #expect(net.nodes[1].linkInfo(for: net.key(0))?.path == net.direct(0))
        #expect(net.nodes[0].linkInfo(for: net.key(1))?.path == net.direct(1))
        #expect(net.nodes[0].linkInfo(for: net.key(1))?.isDirect == true)
        #expect(net.events[0].contains { $0.1 == .pathChanged(net.key(1), path: net.direct(1), isDirect: true) })
        net.send([5, 5], from: 0, to: 1)
        net.run(for: 1 * linkSecond)
        #expect(net.wire.last?.via == net.direct(1))
        #expect(net.delivered[1].map(\.bytes) == [[5, 5]])
    }

    @Test func aLinkThatStartsOnTheRelayMovesToAWorkingDirectPathByItself() {
        var net = LinkNetwork(count: 2)
        net.relayDelay = 5 * linkMs
        net.directDelay = 30 * linkMs
        net.connect(0, paths: [net.direct(1), .relay(1)])
        net.run(for: 1 * linkSecond)
        #expect(net.events[0].first?.1 == .linkUp(net.key(1), path: .relay(1)))
        #expect(net.nodes[0].linkInfo(for: net.key(1))?.path == net.direct(1))
        #expect(net.nodes[1].linkInfo(for: net.key(0))?.path == net.direct(0))
        #expect(net.pathChanges(0) == [net.direct(1)] && net.pathChanges(1) == [net.direct(0)])
    }

    @Test func aSilentDirectPathFallsBackToTheRelayAndComesBack() throws {
        var net = LinkNetwork(count: 2)
        net.connect(0, paths: [net.direct(1), .relay(1)])
        net.run(for: 1 * linkSecond)
        #expect(net.nodes[0].linkInfo(for: net.key(1))?.isDirect == true)
        var sent = [0, 0]
        func traffic(_ net: inout LinkNetwork, until end: UInt64) {
            while net.now < end {
                for (from, to) in [(0, 1), (1, 0)] where net.send([0xEE, UInt8(truncatingIfNeeded: sent[from])], from: from, to: to) {
                    sent[from] += 1
                }
                net.run(for: 100 * linkMs)
            }
        }
        traffic(&net, until: 5 * linkSecond)
        // A relay packet while the direct path works does not move the link.
        net.apply(try net.nodes[0].probe(net.key(1), on: .relay(1), now: net.now), from: 0)
        traffic(&net, until: 6 * linkSecond)
        #expect(net.pathChanges(1).isEmpty)
        net.directWorks = false
        let cut = net.now
        traffic(&net, until: 20 * linkSecond)
        for node in 0..<2 {
            #expect(net.pathChanges(node) == [.relay(1 - node)])
            let at = net.events[node].first { if case .pathChanged = $0.1 { true } else { false } }?.0 ?? 0
            #expect(at >= cut + Wire.linkDirectSilenceTimeout - 100 * linkMs && at <= cut + Wire.linkDirectSilenceTimeout + 200 * linkMs)
            #expect(net.nodes[node].linkInfo(for: net.key(1 - node))?.isDirect == false)
        }
        // After the switch everything sent arrives.
        let afterSwitch = net.delivered[1].count
        traffic(&net, until: 25 * linkSecond)
        #expect(net.delivered[1].count - afterSwitch >= 49)
        net.directWorks = true
        net.apply(try net.nodes[1].probe(net.key(0), on: net.direct(0), now: net.now), from: 1)
        traffic(&net, until: 27 * linkSecond)
        #expect(net.nodes[0].linkInfo(for: net.key(1))?.isDirect == true)
        #expect(net.nodes[1].linkInfo(for: net.key(0))?.isDirect == true)
        #expect(net.linkDowns(0).isEmpty && net.linkDowns(1).isEmpty)
    }

    /// Offsets below 30 ms (when the first initiator's message 3 reaches the other side, at 10 ms
    /// per hop) are true races; later ones are a redundant connect by a side that already has the
    /// link (the shell cannot know a path leads to a linked peer before the handshake says who it is).
    @Test(arguments: [0, 3, 15, 25, 35, 60] as [UInt64])
    func simultaneousOpenEndsInOneLinkBothSidesAgreeOn(offsetMs: UInt64) {
        let race = offsetMs < 30
        for first in 0..<2 {
            var net = LinkNetwork(count: 2, configuration: .init(persistentKeepalive: true), seed: offsetMs + 1)
            net.connect(first, to: 1 - first)
            net.run(for: offsetMs * linkMs)
            net.connect(1 - first, to: first)
            net.run(for: 2 * linkSecond)
            let lower = net.key(0).bytes.lexicographicallyPrecedes(net.key(1).bytes) ? 0 : 1
            for node in 0..<2 {
                #expect(net.linkUps(node).count == 1, "offset \(offsetMs) first \(first)")
                #expect(net.nodes[node].connectedPeers == [net.key(1 - node)])
                #expect(net.nodes[node].linkInfo(for: net.key(1 - node))?.initiatedLocally == (node == lower),
                        "offset \(offsetMs) first \(first): both send on the lower key's session")
                #expect(net.nodes[node].pendingHandshakes == 0)
            }
            // A race needs no extra handshake; a redundant connect costs at most one, by the lower key.
            let fixUps = net.nodes[lower].stats.rekeysStarted
            #expect(race ? fixUps == 0 : fixUps <= 1, "offset \(offsetMs) first \(first)")
            #expect(net.nodes[1 - lower].stats.rekeysStarted == 0)
            net.send([1], from: 0, to: 1)
            net.send([2], from: 1, to: 0)
            net.run(for: 130 * linkSecond)
            #expect(net.delivered[1].map(\.bytes) == [[1]] && net.delivered[0].map(\.bytes) == [[2]])
            #expect(net.nodes[lower].stats.rekeysStarted == fixUps + 1 && net.nodes[1 - lower].stats.rekeysStarted == 0)
            #expect(net.linkDowns(0).isEmpty && net.linkDowns(1).isEmpty)
        }
    }

    @Test(arguments: [0, 1])
    func aPeerThatRestartedReconnectsAtOnce(restarting: Int) {
        var net = LinkNetwork(count: 2, configuration: .init(persistentKeepalive: true))
        net.connect(0, to: 1)
        net.run(for: 30 * linkSecond)
        // The restarted node has the same identity, no memory of the link, and a new address.
        let newAddress = UInt16(3000 + restarting)
        net.addressOwner[newAddress] = restarting
        net.addressOwner[LinkNetwork.address(restarting)] = nil
        net.sourceAddress[restarting] = newAddress
        net.nodes[restarting] = TestLinkEndpoint(
            identity: LinkFixtures.identity(UInt8(10 + restarting)), room: LinkFixtures.room(1),
            random: SeededRandom(seed: 999), configuration: .init(persistentKeepalive: true))
        net.connect(restarting, to: 1 - restarting)
        net.run(for: 1 * linkSecond)
        net.send([1], from: 0, to: 1)
        net.send([2], from: 1, to: 0)
        net.run(for: 1 * linkSecond)
        #expect(net.delivered[1].map(\.bytes) == [[1]])
        #expect(net.delivered[0].map(\.bytes) == [[2]])
        // The survivor learns of the restart from the new incarnation: the old link (and whatever
        // reliable state rode on it) goes down, and the restarted node's session is a fresh link.
        for node in 0..<2 {
            #expect(net.nodes[node].linkInfo(for: net.key(1 - node))?.initiatedLocally == (node == restarting))
        }
        #expect(net.linkDowns(1 - restarting).map(\.2) == [.peerRestarted])
        #expect(net.nodes[1 - restarting].stats.peerRestarts == 1)
        #expect(net.nodes[1 - restarting].linkInfo(for: net.key(restarting))?.path == .direct(newAddress))
    }
}
