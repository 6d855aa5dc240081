import CVPeerTestSupport
import PeerCrypto
import Testing

@testable import Transport

/// A room's links moving to a new epoch: rekeyed under its keys, older epochs answered for members only.
struct LinkEpochTests {
    let root = LinkFixtures.room(1)
    var one: RoomKeys { try! root.inEpoch(1, secret: SecretBytes(copying: [UInt8](repeating: 9, count: 32))) }

    func epochOf(_ net: LinkNetwork, _ node: Int) -> UInt32 { net.nodes[node].room.epoch }

    @Test func linksRekeyIntoTheNewEpochOnceBothSidesHoldIt() throws {
        var net = LinkNetwork(count: 2)
        net.connect(0, to: 1)
        net.run(for: 1 * linkSecond)
        #expect(net.linkUps(0) == [net.key(1)])
        let rekeysBefore = net.nodes[0].stats.rekeysStarted
        // Node 0 moves first: its rekey is in epoch 1, which node 1 cannot check yet.
        net.apply(net.nodes[0].switchEpoch(to: one, older: [root], olderEpochPeers: [net.key(1)], now: net.now), from: 0)
        net.run(for: 200 * linkMs)
        #expect(net.nodes[0].stats.rekeysStarted == rekeysBefore + 1)
        #expect((net.nodes[1].stats.drops[.badMac] ?? 0) > 0)
        // The link carries on meanwhile, on its epoch-0 session.
        let carriesOn = net.send(Array("still here".utf8), from: 0, to: 1)
        #expect(carriesOn)
        // Node 1 moves too: its own rekey completes in epoch 1.
        net.apply(net.nodes[1].switchEpoch(to: one, older: [root], olderEpochPeers: [net.key(0)], now: net.now), from: 1)
        let established = net.nodes[1].stats.sessionsEstablished
        net.run(for: 1 * linkSecond)
        #expect(net.nodes[1].stats.sessionsEstablished > established)
        #expect(net.linkDowns(0).isEmpty && net.linkDowns(1).isEmpty)
        let sent = net.send(Array("epoch one".utf8), from: 1, to: 0)
        #expect(sent)
        net.run(for: 1 * linkSecond)
        #expect(net.delivered[0].map(\.bytes).contains(Array("epoch one".utf8)))
    }

    @Test func anOlderEpochIsAnsweredForMembersOnlyAndNeverTheNewOneForOthers() throws {
        // Node 0 has moved to epoch 1; node 1 (a member away during the change) and node 2 (a
        // removed member, or someone with the old invite) still knock in epoch 0.
        var net = LinkNetwork(
            identities: [LinkFixtures.identity(10), LinkFixtures.identity(11), LinkFixtures.identity(12)], rooms: [one, root, root])
        net.apply(net.nodes[0].switchEpoch(to: one, older: [root], olderEpochPeers: [net.key(1)], now: 0), from: 0)
        net.connect(1, to: 0)
        net.connect(2, to: 0)
        net.run(for: 2 * linkSecond)
        #expect(net.linkUps(0) == [net.key(1)])
        #expect(net.linkUps(2).isEmpty)
        #expect((net.nodes[0].stats.drops[.olderEpochRefused] ?? 0) > 0)
        // Without the older epoch at all, nobody in epoch 0 gets past the mac.
        var strict = LinkNetwork(identities: [LinkFixtures.identity(10), LinkFixtures.identity(11)], rooms: [one, root])
        strict.apply(strict.nodes[0].switchEpoch(to: one, older: [], olderEpochPeers: [strict.key(1)], now: 0), from: 0)
        strict.connect(1, to: 0)
        strict.run(for: 2 * linkSecond)
        #expect(strict.linkUps(0).isEmpty)
        #expect((strict.nodes[0].stats.drops[.badMac] ?? 0) > 0)
    }

    @Test func anAttemptStartedBeforeTheSwitchIsNotCompletedByAKeyOutsideTheOlderEpochsMembers() throws {
        // Node 0 starts a handshake in epoch 0 towards an address that turns out to be node 2's
        // (a removed member, still in epoch 0); before the answer comes, node 0 moves to epoch 1
        // and lets only node 1 in on epoch 0. Message 2 names node 2: no link, as for a responder.
        var net = LinkNetwork(
            identities: [LinkFixtures.identity(10), LinkFixtures.identity(11), LinkFixtures.identity(12)], rooms: [root, root, root])
        net.connect(0, to: 2)
        net.apply(net.nodes[0].switchEpoch(to: one, older: [root], olderEpochPeers: [net.key(1)], now: net.now), from: 0)
        net.run(for: 2 * linkSecond)
        #expect(!net.linkUps(0).contains(net.key(2)))
        #expect(!net.linkUps(2).contains(net.key(0)))
        #expect((net.nodes[0].stats.drops[.olderEpochRefused] ?? 0) > 0)
        #expect(net.nodes[0].sessionCount == 0, "no session for the refused key, not even an unconfirmed one")
        // The same attempt towards a member still in epoch 0 completes (the control).
        var control = LinkNetwork(identities: [LinkFixtures.identity(10), LinkFixtures.identity(11)], rooms: [root, root])
        control.connect(0, to: 1)
        control.apply(control.nodes[0].switchEpoch(to: one, older: [root], olderEpochPeers: [control.key(1)], now: control.now), from: 0)
        control.run(for: 2 * linkSecond)
        #expect(control.linkUps(0).contains(control.key(1)))
    }

    @Test func olderEpochsAreBounded() throws {
        var endpoint = TestLinkEndpoint(identity: LinkFixtures.identity(10), room: root, random: SeededRandom(seed: 1))
        let epochs = try (1...20).map { try root.inEpoch(UInt32($0), secret: SecretBytes(randomCount: 32)) }
        _ = endpoint.switchEpoch(to: epochs.last!, older: [root] + epochs.dropLast(), olderEpochPeers: [], now: 0)
        #expect(endpoint.olderRooms.count == Wire.linkMaxOlderEpochs)
        #expect(endpoint.olderRooms.first?.epoch == 19)
    }
}
