import CVPeerTestSupport
import PeerCrypto
import Rendezvous
import Testing

/// Registrations prove the room key: whoever holds only a room's tag (it travels in every packet)
/// can register, refresh, move, unregister, list members or retire nothing; a retired tag refuses
/// registers; signature checks are rate-limited per source. The pure server, driven by scripted
/// datagrams.
@Suite struct RendezvousRoomKeyTests {
    /// A register for `tag(1)` carrying `key` and signed by `signer`, from an outsider's point of
    /// view: it knows the tag and (from any register it saw) the room's public key, not its secret.
    static func forged(
        peerID: RendezvousPeerID, nonce: UInt64, cookie: RendezvousCookie, key: PublicKey, signer: Identity
    ) -> RendezvousMessage {
        .register(
            RendezvousMessage.Register(
                roomTag: tag(1), peerID: peerID, clientNonce: nonce, cookie: cookie, registrationKey: key,
                candidates: []
            ).signed(by: signer))
    }

    @Test func anOutsiderWithTheTagCannotRegisterRefreshMoveUnregisterListOrRetire() throws {
        let harness = ServerHarness()
        let a = loopback(1)
        let b = loopback(2)
        let outsider = loopback(66)
        harness.register(peer(1), in: tag(1), from: a)
        harness.register(peer(2), in: tag(1), from: b)
        let roomKey = roomKey(1).publicKey
        let cookie = try #require(harness.cookie(for: outsider, nonce: 7))

        // Its own key: the tag is not bound to it.
        let ownKey = Self.forged(peerID: peer(9), nonce: 7, cookie: cookie, key: strangerKey.publicKey, signer: strangerKey)
        #expect(harness.receive(ownKey, from: outsider).drops == [.badRoomKey])
        // The room's public key, signed with another: no registration, so no member list either.
        let noSecret = Self.forged(peerID: peer(9), nonce: 7, cookie: cookie, key: roomKey, signer: strangerKey)
        let listed = harness.receive(noSecret, from: outsider)
        #expect(listed.drops == [.badSignature] && listed.sends.isEmpty)
        // A member's peer id from the outsider's address: neither a refresh nor a move.
        let move = Self.forged(peerID: peer(1), nonce: 7, cookie: cookie, key: roomKey, signer: strangerKey)
        #expect(harness.receive(move, from: outsider).drops == [.badSignature])
        #expect(harness.relay([1], to: peer(1), from: b).sends.map(\.target) == [a], "a must still be at its address")
        // A member's captured register, replayed from the outsider's address: the signed cookie is a's.
        let captured = RendezvousMessage.register(
            .init(roomTag: tag(1), peerID: peer(1), clientNonce: 7, cookie: try #require(harness.cookie(for: a, nonce: 7)), candidates: []))
        #expect(harness.receive(captured, from: outsider).sends.map { $0.message?.type } == [.cookieChallenge])
        // Unregister a member, from its own address or (on path, with a cookie for a's address) from a's.
        let aCookie = try #require(harness.cookie(for: a, nonce: 8))
        for (source, sourceCookie) in [(outsider, cookie), (a, aCookie)] {
            let unregister = RendezvousMessage.unregister(
                RendezvousMessage.Unregister(
                    roomTag: tag(1), peerID: peer(1), clientNonce: source == a ? 8 : 7, cookie: sourceCookie,
                    registrationKey: roomKey
                ).signed(by: strangerKey))
            #expect(harness.receive(unregister, from: source).drops == [.badSignature])
        }
        // Retire the room: with the room's key but no signature of it, or with its own key.
        let retire = RendezvousMessage.retire(
            RendezvousMessage.Retire(roomTag: tag(1), registrationKey: roomKey, clientNonce: 7, cookie: cookie)
                .signed(by: strangerKey))
        #expect(harness.receive(retire, from: outsider).drops == [.badSignature])
        let retireOwn = RendezvousMessage.retire(
            RendezvousMessage.Retire(
                roomTag: tag(1), registrationKey: strangerKey.publicKey, clientNonce: 7, cookie: cookie
            ).signed(by: strangerKey))
        #expect(harness.receive(retireOwn, from: outsider).drops == [.badRoomKey])

        let stats = harness.server.stats
        #expect(stats.rooms == 1 && stats.peers == 2 && stats.roomsRetired == 0 && stats.retiredRooms == 0)
        #expect(stats.registrations == 2)
        #expect(stats.drops[.badRoomKey] == 2)
        #expect(stats.drops[.badSignature] == 5)
        // The members still refresh and hear of each other only.
        let refresh = harness.register(peer(1), in: tag(1), from: a, at: 1)
        #expect(refresh.messages(to: a).map(\.type) == [.registered, .introduce])
    }

    @Test func aRetiredTagRefusesRegistersWhileTheRoomsNewTagWorks() throws {
        var configuration = RendezvousServer.Configuration()
        configuration.maxRetiredRooms = 2
        let harness = ServerHarness(configuration: configuration)
        let a = loopback(1)
        let b = loopback(2)
        harness.register(peer(1), in: tag(1), from: a)
        harness.register(peer(2), in: tag(1), from: b)
        // Without a cookie a retire gets only a challenge, smaller than it.
        let unproven = RendezvousMessage.retire(.init(roomTag: tag(1), clientNonce: 3, cookie: .none))
        let challenged = harness.receive(unproven, from: a)
        #expect(challenged.sends.map { $0.message?.type } == [.cookieChallenge])
        #expect(challenged.sends.allSatisfy { $0.datagram.count < unproven.encoded().count })
        #expect(harness.server.stats.rooms == 1)
        // With one: the room and its registrations go, and nothing is sent.
        let cookie = try #require(harness.cookie(for: a, nonce: 3))
        let retired = harness.receive(.retire(.init(roomTag: tag(1), clientNonce: 3, cookie: cookie)), from: a)
        #expect(retired.events == [.roomRetired(tag(1), peers: 2)] && retired.sends.isEmpty)
        var stats = harness.server.stats
        #expect(stats.rooms == 0 && stats.peers == 0 && stats.roomsRetired == 1 && stats.retiredRooms == 1)
        #expect(harness.relay([1], to: peer(2), from: a).drops == [.relayFromUnregistered])
        // A member of the old epoch (a removed one, say) holds the old key: refused and counted.
        #expect(harness.register(peer(3), in: tag(1), from: loopback(3), at: 1).drops == [.roomRetired])
        // The room's next epoch has another tag, which works.
        #expect(harness.register(peer(1), in: tag(101), from: a, at: 1).drops.isEmpty)
        #expect(harness.register(peer(2), in: tag(101), from: b, at: 1).messages(to: b).map(\.type) == [.registered, .introduce])
        // A repeated retire changes nothing.
        #expect(harness.receive(.retire(.init(roomTag: tag(1), clientNonce: 3, cookie: cookie)), from: a, at: 2).isEmpty)
        #expect(harness.server.stats.roomsRetired == 1)
        // At most maxRetiredRooms tags: the oldest is forgotten first.
        for n: UInt64 in [2, 3] {
            let c = try #require(harness.cookie(for: a, nonce: n, at: 3))
            _ = harness.receive(.retire(.init(roomTag: tag(n), clientNonce: n, cookie: c)), from: a, at: 3)
        }
        stats = harness.server.stats
        #expect(stats.retiredRooms == 2 && stats.roomsRetired == 3)
        #expect(harness.register(peer(3), in: tag(1), from: loopback(3), at: 4).drops.isEmpty)
        #expect(harness.register(peer(3), in: tag(2), from: loopback(3), at: 4).drops == [.roomRetired])
        // After retiredRoomLifetime the tags are forgotten.
        _ = harness.server.timerFired(now: harness.at(3 + 3_600))
        #expect(harness.server.stats.retiredRooms == 0)
        #expect(harness.register(peer(4), in: tag(2), from: loopback(4), at: 3_604).drops.isEmpty)
        #expect(harness.server.stats.drops[.roomRetired] == 2)
        #expect(RendezvousServer.Configuration.defaultRetiredRoomLifetime == .seconds(3_600))
        #expect(RendezvousServer.Configuration.defaultMaxRetiredRooms == 65_536)
    }

    @Test func signatureChecksAreRateLimitedPerSource() throws {
        var configuration = RendezvousServer.Configuration()
        configuration.sourceSignatureChecksPerSecond = 10
        configuration.sourceSignatureCheckBurst = 10
        let harness = ServerHarness(configuration: configuration)
        var drops: [RendezvousServer.DropReason] = []
        // Twelve members behind one address (other ports): ten checks in the burst, then none.
        for n in 1...12 {
            drops += harness.register(peer(UInt64(n)), in: tag(UInt64(n)), from: loopback(1, port: UInt16(n))).drops
        }
        #expect(drops == [.signatureRateLimited, .signatureRateLimited])
        #expect(harness.server.stats.peers == 10 && harness.server.stats.signatureChecks == 10)
        // Cookie-less registers never reach a signature check, and cost no budget.
        #expect(harness.cookie(for: loopback(1, port: 99), nonce: 1) != nil)
        // Another source is not held back; a second later there is budget again.
        #expect(harness.register(peer(13), in: tag(13), from: loopback(2)).drops.isEmpty)
        #expect(harness.register(peer(11), in: tag(11), from: loopback(1, port: 11), at: 1).drops.isEmpty)
        #expect(harness.server.stats.drops[.signatureRateLimited] == 2)
        #expect(RendezvousServer.Configuration.defaultSourceSignatureChecksPerSecond == 200)
    }

    @Test func repliesNameTheRecipientsOwnNonce() throws {
        let harness = ServerHarness()
        let a = loopback(1)
        let b = loopback(2)
        harness.register(peer(1), in: tag(1), from: a)
        let joined = harness.register(peer(2), in: tag(1), from: b)
        for message in joined.messages(to: b) {
            switch message {
            case .registered(let r): #expect(r.clientNonce == registerNonce(peer(2), at: b))
            case .introduce(let i): #expect(i.clientNonce == registerNonce(peer(2), at: b))
            default: Issue.record("unexpected \(message.type)")
            }
        }
        guard case .introduce(let toA) = try #require(joined.messages(to: a).first) else {
            Issue.record("a was not introduced to b")
            return
        }
        #expect(toA.clientNonce == registerNonce(peer(1), at: a))
    }
}
