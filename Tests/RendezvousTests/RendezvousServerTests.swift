import CVPeerTestSupport
import Primitives
import Rendezvous
import Testing

@Suite struct RendezvousServerTests {
    // MARK: Amplification

    @Test func noReplyToAnUnverifiedSourceIsLargerThanItsRequest() throws {
        let seed = SeededRandom.seedFromEnvironment(default: 0xA3B1)
        var random = SeededRandom(seed: seed)
        let harness = ServerHarness()
        // Real members exist, so relays and unregisters name peers that are there.
        harness.register(peer(1), in: tag(1), from: loopback(1))
        harness.register(peer(2), in: tag(1), from: loopback(2))
        // And a code mailbox that a joiner has knocked on, so code requests find something to act on.
        let nameplate = try #require(harness.openCode(from: loopback(3), nonce: 3))
        harness.knockCode(nameplate, from: loopback(4), nonce: 4)
        var replies = 0
        for i in 0..<30_000 {
            let datagram: [UInt8]
            switch i % 5 {
            case 0:
                datagram = fuzzInput(using: &random)
            case 1:
                // Valid-looking registers without a cookie, or with a guessed one.
                let candidates = (0..<Int.random(in: 0...8, using: &random)).map { n in
                    Bool.random(using: &random)
                        ? loopback(n) : UDPEndpoint(address: .v6(high: random.next(), low: random.next()), port: 1)
                }
                let cookie =
                    Bool.random(using: &random)
                    ? RendezvousCookie.none : RendezvousCookie(high: random.next(), low: random.next())
                datagram = RendezvousMessage.register(
                    .init(
                        roomTag: tag(UInt64.random(in: 0...3, using: &random)),
                        peerID: peer(UInt64.random(in: 0...3, using: &random)),
                        clientNonce: random.next(),
                        cookie: cookie,
                        candidates: candidates
                    )
                ).encoded()
            case 2:
                datagram = RendezvousMessage.relay(
                    .init(
                        target: peer(UInt64.random(in: 0...3, using: &random)),
                        datagram: Array(repeating: 1, count: Int.random(in: 0...1188, using: &random))
                    )
                ).encoded()
            case 3:
                // Every short-code request, without a cookie or with a guessed one, naming held nameplates too.
                datagram = randomCodeRequest(using: &random).encoded()
            default:
                // Signed unregisters and retires (the room's own key, even) without a valid cookie.
                let cookie =
                    Bool.random(using: &random)
                    ? RendezvousCookie.none : RendezvousCookie(high: random.next(), low: 1)
                datagram =
                    Bool.random(using: &random)
                    ? RendezvousMessage.unregister(
                        .init(roomTag: tag(1), peerID: peer(1), clientNonce: random.next(), cookie: cookie)
                    ).encoded()
                    : RendezvousMessage.retire(.init(roomTag: tag(1), clientNonce: random.next(), cookie: cookie))
                        .encoded()
            }
            // Fresh sources, none of them registered: 127.1.x.y never overlaps the members above.
            let source = loopback(
                0x01_0000 | Int.random(in: 0..<0xFFFF, using: &random),
                port: UInt16.random(in: 1...UInt16.max, using: &random)
            )
            let actions = harness.server.received(datagram: datagram, from: source, now: harness.at(Double(i) / 1_000))
            for sent in actions.sends {
                replies += 1
                #expect(sent.target == source, "seed \(seed): reply to another address")
                #expect(
                    sent.datagram.count <= datagram.count,
                    "seed \(seed): \(sent.datagram.count) > \(datagram.count)"
                )
                #expect(sent.message?.type == .cookieChallenge, "seed \(seed)")
            }
        }
        #expect(replies > 5_000, "the cookie-less registers must have been answered")
        #expect(harness.server.stats.peers == 2)
        #expect(harness.server.stats.nameplates == 1)
        #expect(harness.server.stats.codeKnocks == 1)
    }

    // MARK: Registration

    @Test func cookieRoundTripThenRegisterThenIntroduceBothWays() throws {
        let harness = ServerHarness()
        let a = loopback(1, port: 5_001)
        let b = loopback(2, port: 5_002)
        let aLocal = [UDPEndpoint.ipv4(127, 0, 0, 1, port: 6_001)]
        let bLocal = [
            UDPEndpoint.ipv4(127, 0, 0, 1, port: 6_002), UDPEndpoint(address: .v6(high: 0, low: 1), port: 6_002),
        ]

        // Without a cookie: a challenge and nothing else.
        let first = harness.receive(
            .register(.init(roomTag: tag(1), peerID: peer(1), clientNonce: 77, cookie: .none, candidates: aLocal)),
            from: a
        )
        #expect(first.events.isEmpty)
        guard case .cookieChallenge(let challenge) = try #require(first.messages(to: a).first) else {
            Issue.record("expected a cookie challenge")
            return
        }
        #expect(challenge.clientNonce == 77)
        #expect(harness.server.stats.rooms == 0)

        // With it: registered, with the address the server saw.
        let second = harness.receive(
            .register(
                .init(roomTag: tag(1), peerID: peer(1), clientNonce: 77, cookie: challenge.cookie, candidates: aLocal)
            ),
            from: a
        )
        #expect(second.events == [.roomCreated(tag(1)), .peerRegistered(tag(1), peer(1), a)])
        #expect(
            second.messages(to: a) == [
                .registered(.init(clientNonce: 77, peerID: peer(1), reflexive: a, refreshIntervalSeconds: 15))
            ]
        )

        // The second member is introduced to the first, and the first to the second.
        let third = harness.register(peer(2), in: tag(1), from: b, candidates: bLocal)
        #expect(third.events == [.peerRegistered(tag(1), peer(2), b)])
        #expect(
            third.messages(to: b) == [
                .registered(
                    .init(
                        clientNonce: registerNonce(peer(2), at: b), peerID: peer(2), reflexive: b,
                        refreshIntervalSeconds: 15)),
                .introduce(
                    .init(
                        clientNonce: registerNonce(peer(2), at: b), roomTag: tag(1), peerID: peer(1), reflexive: a,
                        candidates: aLocal)),
            ]
        )
        #expect(
            third.messages(to: a) == [
                // Named with a's own nonce, from its last register.
                .introduce(.init(clientNonce: 77, roomTag: tag(1), peerID: peer(2), reflexive: b, candidates: bLocal))
            ]
        )
        #expect(harness.server.stats.rooms == 1)
        #expect(harness.server.stats.peers == 2)
        #expect(harness.server.stats.introductionsSent == 2)
    }

    @Test func aRefreshRepeatsIntroductionsToItsSenderOnly() {
        let harness = ServerHarness()
        let a = loopback(1)
        let b = loopback(2)
        harness.register(peer(1), in: tag(1), from: a)
        harness.register(peer(2), in: tag(1), from: b)
        let refresh = harness.register(peer(1), in: tag(1), from: a, at: 10)
        #expect(refresh.events.isEmpty)
        #expect(refresh.messages(to: a).map(\.type) == [.registered, .introduce])
        #expect(refresh.messages(to: b).isEmpty)
        // Changed candidates are news for the others.
        let moved = harness.register(peer(1), in: tag(1), from: a, candidates: [loopback(9)], at: 11)
        #expect(
            moved.messages(to: b) == [
                .introduce(
                    .init(
                        clientNonce: registerNonce(peer(2), at: b), roomTag: tag(1), peerID: peer(1), reflexive: a,
                        candidates: [loopback(9)]))
            ]
        )
        #expect(harness.server.stats.registrations == 4)
    }

    @Test func aPeerIDMovesToANewAddressOnlyWithThatAddressesCookie() throws {
        let harness = ServerHarness()
        let old = loopback(1, port: 1_000)
        let new = loopback(1, port: 2_000)
        let b = loopback(2)
        harness.register(peer(1), in: tag(1), from: old)
        harness.register(peer(2), in: tag(1), from: b)
        // The old address's cookie does not prove the new one.
        let oldCookie = try #require(harness.cookie(for: old, nonce: 5))
        let stolen = harness.receive(
            .register(.init(roomTag: tag(1), peerID: peer(1), clientNonce: 5, cookie: oldCookie, candidates: [])),
            from: new
        )
        #expect(stolen.sends.map { $0.message?.type } == [.cookieChallenge])
        #expect(stolen.events.isEmpty)
        // Its own cookie does.
        let moved = harness.register(peer(1), in: tag(1), from: new, at: 1)
        #expect(moved.events == [.peerMoved(tag(1), peer(1), from: old, to: new)])
        #expect(
            moved.messages(to: b) == [
                .introduce(
                    .init(
                        clientNonce: registerNonce(peer(2), at: b), roomTag: tag(1), peerID: peer(1), reflexive: new,
                        candidates: []))
            ]
        )
        #expect(harness.relay([1], to: peer(2), from: old, at: 2).drops == [.relayFromUnregistered])
        #expect(harness.relay([1], to: peer(2), from: new, at: 2).sends.count == 1)
        #expect(harness.server.stats.peers == 2)
    }

    @Test func aNewPeerIDFromAMembersAddressReplacesIt() {
        let harness = ServerHarness()
        let socket = loopback(1)
        harness.register(peer(1), in: tag(1), from: socket)
        harness.register(peer(2), in: tag(1), from: loopback(2))
        // The node at `socket` restarted and picked a new id.
        let restarted = harness.register(peer(3), in: tag(1), from: socket, at: 1)
        #expect(
            restarted.events == [.peerReplaced(tag(1), peer(1), by: peer(3)), .peerRegistered(tag(1), peer(3), socket)]
        )
        #expect(harness.server.stats.peers == 2)
        let relayed = harness.relay([9], to: peer(2), from: socket, at: 2)
        #expect(relayed.sends.first?.message == .relayed(.init(source: peer(3), datagram: [9])))
        // The same socket in another room is another registration, not a replacement.
        #expect(
            harness.register(peer(1), in: tag(2), from: socket, at: 3).events == [
                .roomCreated(tag(2)), .peerRegistered(tag(2), peer(1), socket),
            ]
        )
        #expect(harness.server.stats.peers == 3)
    }

    // MARK: Relay

    @Test func relayWorksOnlyWithinARoomAndOnlyFromRegisteredSources() throws {
        let harness = ServerHarness()
        let a = loopback(1)
        let b = loopback(2)
        let c = loopback(3)
        harness.register(peer(1), in: tag(1), from: a)
        harness.register(peer(2), in: tag(1), from: b)
        harness.register(peer(3), in: tag(2), from: c)
        let inner = Array("noise packet".utf8)

        let request = RendezvousMessage.relay(.init(target: peer(2), datagram: inner)).encoded()
        let forwarded = harness.server.received(datagram: request, from: a, now: harness.at(1))
        #expect(forwarded.sends.count == 1)
        let sent = try #require(forwarded.sends.first)
        #expect(sent.target == b)
        #expect(sent.datagram.count == request.count, "the relay never changes a datagram's size")
        #expect(sent.message == .relayed(.init(source: peer(1), datagram: inner)))

        #expect(harness.relay(inner, to: peer(3), from: a, at: 1).drops == [.relayUnknownTarget], "other room")
        #expect(harness.relay(inner, to: peer(1), from: a, at: 1).drops == [.relayUnknownTarget], "itself")
        #expect(harness.relay(inner, to: peer(99), from: a, at: 1).drops == [.relayUnknownTarget], "nobody")
        #expect(harness.relay(inner, to: peer(2), from: loopback(4), at: 1).drops == [.relayFromUnregistered])
        // Same IP, other port: a different endpoint, not registered.
        #expect(harness.relay(inner, to: peer(2), from: loopback(1, port: 1), at: 1).drops == [.relayFromUnregistered])
        let stats = harness.server.stats
        #expect(stats.relayedPackets == 1)
        #expect(stats.relayedBytes == request.count)
        #expect(stats.drops[.relayUnknownTarget] == 3)
        #expect(stats.drops[.relayFromUnregistered] == 2)
    }

    @Test func relayBandwidthIsLimitedPerRoom() {
        var configuration = RendezvousServer.Configuration()
        configuration.roomRelayBytesPerSecond = 12_000
        configuration.roomRelayBurstBytes = 12_000
        let harness = ServerHarness(configuration: configuration)
        harness.register(peer(1), in: tag(1), from: loopback(1))
        harness.register(peer(2), in: tag(1), from: loopback(2))
        harness.register(peer(3), in: tag(2), from: loopback(3))
        harness.register(peer(4), in: tag(2), from: loopback(4))
        let full = [UInt8](repeating: 7, count: RendezvousWire.maxRelayedDatagramSize)

        var forwarded = 0
        for _ in 0..<20 { forwarded += harness.relay(full, to: peer(2), from: loopback(1), at: 1).sends.count }
        #expect(forwarded == 10, "12,000 bytes of burst is ten 1,200-byte datagrams")
        #expect(harness.server.stats.drops[.relayBandwidth] == 10)
        // Another room has its own budget.
        #expect(harness.relay(full, to: peer(4), from: loopback(3), at: 1).sends.count == 1)
        // Either direction draws on the same room budget.
        #expect(harness.relay(full, to: peer(1), from: loopback(2), at: 1).drops == [.relayBandwidth])
        // A second later, another second's worth.
        forwarded = 0
        for _ in 0..<20 { forwarded += harness.relay(full, to: peer(2), from: loopback(1), at: 2).sends.count }
        #expect(forwarded == 10)
        #expect(harness.server.stats.relayedBytes == 21 * RendezvousWire.maxDatagramSize)
    }

    // MARK: Relay reservations

    /// A configuration whose reservation is ten full datagrams per 60 s window, with a room
    /// bucket large enough never to bind.
    private static func smallReservation() -> RendezvousServer.Configuration {
        var configuration = RendezvousServer.Configuration()
        configuration.relayReservationBytes = 10 * RendezvousWire.maxDatagramSize
        configuration.relayReservationLifetime = .seconds(60)
        return configuration
    }

    private static let full = [UInt8](repeating: 7, count: RendezvousWire.maxRelayedDatagramSize)

    @Test func theRelayStopsWhenAReservationsByteBudgetIsSpentAndOnlyForThatPeer() {
        let harness = ServerHarness(configuration: Self.smallReservation())
        harness.register(peer(1), in: tag(1), from: loopback(1))
        harness.register(peer(2), in: tag(1), from: loopback(2))
        harness.register(peer(3), in: tag(2), from: loopback(3))
        harness.register(peer(4), in: tag(2), from: loopback(4))
        #expect(harness.server.stats.relayReservationsOpened == 4)

        var forwarded = 0
        for _ in 0..<10 { forwarded += harness.relay(Self.full, to: peer(2), from: loopback(1), at: 1).sends.count }
        #expect(forwarded == 10, "the whole budget is usable")
        let first = harness.relay(Self.full, to: peer(2), from: loopback(1), at: 2)
        #expect(first.sends.isEmpty)
        #expect(first.drops == [.relayReservationExhausted])
        #expect(
            first.events == [.relayReservationExhausted(tag(1), peer(1), bytes: 10 * RendezvousWire.maxDatagramSize)],
            "the first refusal of the window is logged")
        let second = harness.relay([1], to: peer(2), from: loopback(1), at: 3)
        #expect(second.drops == [.relayReservationExhausted])
        #expect(second.events.isEmpty, "once per window")

        // A refresh early in the window does not refill the budget.
        harness.register(peer(1), in: tag(1), from: loopback(1), at: 10)
        #expect(harness.relay([1], to: peer(2), from: loopback(1), at: 11).drops == [.relayReservationExhausted])
        // Nor does a new peer id from the same socket: the same node keeps its reservation.
        harness.register(peer(5), in: tag(1), from: loopback(1), at: 12)
        #expect(harness.relay([1], to: peer(2), from: loopback(1), at: 13).drops == [.relayReservationExhausted])

        // The other member of the room has its own reservation, and so has another room.
        #expect(harness.relay(Self.full, to: peer(5), from: loopback(2), at: 13).sends.count == 1)
        #expect(harness.relay(Self.full, to: peer(4), from: loopback(3), at: 13).sends.count == 1)

        let stats = harness.server.stats
        #expect(stats.relayedPackets == 12)
        #expect(stats.drops[.relayReservationExhausted] == 4)
        #expect(stats.relayReservationsExhausted == 1)
        #expect(stats.relayReservationsOpened == 4, "the replacement inherited peer 1's reservation")
        #expect(stats.drops[.relayBandwidth] == 0, "a refused relay costs the room bucket nothing")
    }

    @Test func theRelayStopsWhenAReservationsWindowEndsUntilARefreshRenewsIt() {
        let harness = ServerHarness(configuration: Self.smallReservation())
        harness.register(peer(1), in: tag(1), from: loopback(1))
        harness.register(peer(2), in: tag(1), from: loopback(2))
        harness.register(peer(3), in: tag(2), from: loopback(3), at: 40)
        harness.register(peer(4), in: tag(2), from: loopback(4), at: 40)
        // A refresh before the window's last refresh interval (15 s) renews nothing.
        harness.register(peer(1), in: tag(1), from: loopback(1), at: 30)
        #expect(harness.server.stats.relayReservationsRenewed == 0)
        #expect(harness.relay([1], to: peer(2), from: loopback(1), at: 59.9).sends.count == 1)

        let expired = harness.relay([1], to: peer(2), from: loopback(1), at: 60)
        #expect(expired.sends.isEmpty)
        #expect(expired.drops == [.relayReservationExpired])
        #expect(expired.events == [.relayReservationExpired(tag(1), peer(1))])
        #expect(harness.relay([1], to: peer(2), from: loopback(1), at: 61).events.isEmpty, "once per window")
        // Another room's reservations run on their own windows.
        #expect(harness.relay([1], to: peer(4), from: loopback(3), at: 61).sends.count == 1)

        // The next refresh opens a new window with a full budget.
        harness.register(peer(1), in: tag(1), from: loopback(1), at: 62)
        #expect(harness.server.stats.relayReservationsRenewed == 1)
        var forwarded = 0
        for _ in 0..<11 { forwarded += harness.relay(Self.full, to: peer(2), from: loopback(1), at: 63).sends.count }
        #expect(forwarded == 10)
        // That window runs from 62 to 122; a refresh in its last 15 s renews it ahead of its end.
        harness.register(peer(1), in: tag(1), from: loopback(1), at: 107)
        #expect(harness.server.stats.relayReservationsRenewed == 2)
        #expect(harness.relay(Self.full, to: peer(2), from: loopback(1), at: 108).sends.count == 1)

        let stats = harness.server.stats
        #expect(stats.drops[.relayReservationExpired] == 2)
        #expect(stats.drops[.relayReservationExhausted] == 1)
        #expect(stats.relayReservationsExpired == 1)
        #expect(stats.relayReservationsExhausted == 1)
    }

    @Test func aMemberRefreshingOnTimeIsNeverRefusedByTheDefaultReservation() {
        let harness = ServerHarness()
        harness.register(peer(1), in: tag(1), from: loopback(1))
        harness.register(peer(2), in: tag(1), from: loopback(2))
        // Two hours of refreshes every 15 s and a relayed datagram each way between them.
        for step in 1...480 {
            let t = Double(step) * 15
            harness.register(peer(1), in: tag(1), from: loopback(1), at: t)
            harness.register(peer(2), in: tag(1), from: loopback(2), at: t)
            #expect(harness.relay([1], to: peer(2), from: loopback(1), at: t + 14.9).sends.count == 1)
            #expect(harness.relay([2], to: peer(1), from: loopback(2), at: t + 14.9).sends.count == 1)
        }
        let stats = harness.server.stats
        #expect(stats.drops.total == 0)
        // Each window is renewed by the refresh 15 s before its end: at 1,785, 3,570, 5,355 and 7,140 s.
        #expect(stats.relayReservationsRenewed == 2 * 4)
    }

    // MARK: Limits

    @Test func aFloodFromOneSourceIsBoundedAndCounted() {
        let harness = ServerHarness()
        let flooder = loopback(66, port: 6_666)
        let register = RendezvousMessage.register(
            .init(roomTag: tag(1), peerID: peer(1), clientNonce: 1, cookie: .none, candidates: [])
        ).encoded()
        var replies = 0
        // 100,000 datagrams in 10 seconds: 10,000 a second against a 2,000 a second budget.
        for i in 0..<100_000 {
            replies +=
                harness.server.received(datagram: register, from: flooder, now: harness.at(Double(i) / 10_000)).sends
                .count
        }
        let configuration = harness.server.configuration
        let budget = Int(configuration.sourcePacketBurst + configuration.sourcePacketsPerSecond * 10)
        let stats = harness.server.stats
        #expect(replies <= budget)
        #expect(replies >= budget - 10)
        #expect(stats.challengesSent == replies)
        #expect(stats.drops[.rateLimited] == 100_000 - replies)
        #expect(stats.trackedSources == 1)
        #expect(stats.rooms == 0)
        #expect(stats.peers == 0)

        // Garbage is dropped before the rate limiter and leaves no state at all.
        let fresh = ServerHarness()
        for i in 0..<100_000 {
            _ = fresh.server.received(datagram: [0x04, 0, 0, 0, UInt8(i & 0xFF)], from: loopback(i), now: fresh.at(0))
        }
        #expect(fresh.server.stats.drops[.unknownType] == 100_000)
        #expect(fresh.server.stats.trackedSources == 0)
    }

    @Test func anotherSourceIsNotHeldBackByAFlooder() {
        let harness = ServerHarness()
        let garbage = RendezvousMessage.relay(.init(target: peer(1), datagram: [])).encoded()
        for _ in 0..<10_000 { _ = harness.server.received(datagram: garbage, from: loopback(66), now: harness.at(0)) }
        #expect(harness.server.stats.drops[.rateLimited] > 0)
        #expect(harness.register(peer(1), in: tag(1), from: loopback(1)).events.count == 2)
        // One IPv6 /64 is one source.
        let v6a = UDPEndpoint(address: .v6(high: 0, low: 1), port: 1)
        let v6b = UDPEndpoint(address: .v6(high: 0, low: 2), port: 1)
        for _ in 0..<3_000 { _ = harness.server.received(datagram: garbage, from: v6a, now: harness.at(0)) }
        #expect(harness.server.received(datagram: garbage, from: v6b, now: harness.at(0)).drops == [.rateLimited])
    }

    @Test func theSourceTableIsBoundedAndEvictsTheOldest() {
        var configuration = RendezvousServer.Configuration()
        configuration.maxTrackedSources = 100
        let harness = ServerHarness(configuration: configuration)
        let relay = RendezvousMessage.relay(.init(target: peer(1), datagram: [])).encoded()
        for i in 0..<1_000 { _ = harness.server.received(datagram: relay, from: loopback(i), now: harness.at(0)) }
        #expect(harness.server.stats.trackedSources == 100)
        // Idle buckets refill and are forgotten at the next sweep.
        _ = harness.server.timerFired(now: harness.at(5))
        #expect(harness.server.stats.trackedSources == 0)
    }

    @Test func registrationsExpireAfter45SecondsWithoutRefresh() {
        let harness = ServerHarness()
        harness.register(peer(1), in: tag(1), from: loopback(1))
        harness.register(peer(2), in: tag(1), from: loopback(2), at: 30)
        #expect(harness.server.timerFired(now: harness.at(44)).events.isEmpty)
        #expect(harness.server.stats.peers == 2)
        #expect(harness.server.timerFired(now: harness.at(45.5)).events == [.peerExpired(tag(1), peer(1))])
        #expect(harness.server.stats.peers == 1)
        #expect(harness.relay([1], to: peer(2), from: loopback(1), at: 46).drops == [.relayFromUnregistered])
        // A refresh keeps the other alive past its first 45 s.
        harness.register(peer(2), in: tag(1), from: loopback(2), at: 70)
        #expect(harness.server.timerFired(now: harness.at(80)).events.isEmpty)
        #expect(
            harness.server.timerFired(now: harness.at(116)).events == [
                .peerExpired(tag(1), peer(2)), .roomRemoved(tag(1)),
            ]
        )
        let stats = harness.server.stats
        #expect(stats.rooms == 0)
        #expect(stats.peers == 0)
        #expect(stats.expiredPeers == 2)
        #expect(RendezvousServer.Configuration.defaultRegistrationLifetime == .seconds(45))
    }

    @Test func aRoomHoldsAtMost16Peers() {
        let harness = ServerHarness()
        for n in 1...16 {
            let actions = harness.register(peer(UInt64(n)), in: tag(1), from: loopback(n))
            #expect(actions.messages(to: loopback(n)).filter { $0.type == .introduce }.count == n - 1)
        }
        let seventeenth = harness.register(peer(17), in: tag(1), from: loopback(17))
        #expect(seventeenth.drops == [.roomFull])
        #expect(seventeenth.sends.isEmpty)
        #expect(harness.server.stats.peers == 16)
        // Leaving makes room.
        _ = harness.server.timerFired(now: harness.at(50))
        #expect(harness.register(peer(17), in: tag(1), from: loopback(17), at: 50).drops.isEmpty)
    }

    @Test func tenThousandRoomsAreBoundedAndCounted() {
        var configuration = RendezvousServer.Configuration()
        configuration.maxRooms = 10_000
        #expect(RendezvousServer.Configuration().maxRooms == 65_536)
        let harness = ServerHarness(configuration: configuration)
        for n in 0..<10_000 {
            let actions = harness.register(
                peer(UInt64(n)),
                in: tag(UInt64(n)),
                from: loopback(n),
                at: Double(n) / 1_000
            )
            guard actions.drops.isEmpty else {
                Issue.record("room \(n) refused: \(actions.drops)")
                return
            }
        }
        let over = harness.register(peer(1), in: tag(10_000), from: loopback(10_000), at: 10)
        #expect(over.drops == [.roomLimit])
        var stats = harness.server.stats
        #expect(stats.rooms == 10_000)
        #expect(stats.peers == 10_000)
        #expect(stats.drops[.roomLimit] == 1)
        #expect(stats.trackedSources <= configuration.maxTrackedSources)
        // Existing rooms still take members.
        #expect(harness.register(peer(2), in: tag(5), from: loopback(20_000), at: 10).drops.isEmpty)
        // Everything goes once nobody refreshes.
        _ = harness.server.timerFired(now: harness.at(60))
        stats = harness.server.stats
        #expect(stats.rooms == 0)
        #expect(stats.peers == 0)
        #expect(stats.trackedSources == 0)
    }

    @Test func registrationsPerSourceAndPerEndpointAreCapped() {
        var configuration = RendezvousServer.Configuration()
        configuration.maxRegistrationsPerEndpoint = 2
        configuration.maxRegistrationsPerSource = 3
        configuration.maxPeers = 5
        let harness = ServerHarness(configuration: configuration)
        let endpoint = loopback(1, port: 1)
        #expect(harness.register(peer(1), in: tag(1), from: endpoint).drops.isEmpty)
        #expect(harness.register(peer(1), in: tag(2), from: endpoint).drops.isEmpty)
        #expect(harness.register(peer(1), in: tag(3), from: endpoint).drops == [.endpointRegistrationLimit])
        #expect(harness.register(peer(1), in: tag(3), from: loopback(1, port: 2)).drops.isEmpty)
        #expect(harness.register(peer(1), in: tag(4), from: loopback(1, port: 3)).drops == [.sourceRegistrationLimit])
        // A refresh is not a new registration.
        #expect(harness.register(peer(1), in: tag(1), from: endpoint, at: 1).drops.isEmpty)
        #expect(harness.register(peer(1), in: tag(4), from: loopback(2)).drops.isEmpty)
        #expect(harness.register(peer(1), in: tag(5), from: loopback(3)).drops.isEmpty)
        #expect(harness.register(peer(1), in: tag(6), from: loopback(4)).drops == [.peerLimit])
        #expect(harness.server.stats.peers == 5)
    }

    // MARK: Cookies and unregister

    @Test func cookieSecretRotatesEvery120SecondsAndThePreviousOneStillCounts() throws {
        let harness = ServerHarness()
        let a = loopback(1)
        let cookie = try #require(harness.cookie(for: a, nonce: 9))
        let register = RendezvousMessage.register(
            .init(roomTag: tag(1), peerID: peer(1), clientNonce: 9, cookie: cookie, candidates: [])
        )
        #expect(harness.receive(register, from: a, at: 1).messages(to: a).first?.type == .registered)
        #expect(harness.server.timerFired(now: harness.at(121)).events.first == .secretRotated)
        // Previous secret: still accepted.
        #expect(harness.receive(register, from: a, at: 130).messages(to: a).first?.type == .registered)
        // Wrong nonce: the cookie binds it.
        var otherNonce = register
        if case .register(var body) = otherNonce {
            body.clientNonce = 10
            otherNonce = .register(body)
        }
        #expect(harness.receive(otherNonce, from: a, at: 130).messages(to: a).first?.type == .cookieChallenge)
        #expect(harness.server.timerFired(now: harness.at(242)).events.contains(.secretRotated))
        // Two rotations later: stale, answered with a fresh challenge that works.
        let stale = harness.receive(register, from: a, at: 243)
        guard case .cookieChallenge(let challenge) = try #require(stale.messages(to: a).first) else {
            Issue.record("expected a challenge for a stale cookie")
            return
        }
        #expect(challenge.cookie != cookie)
        let fresh = RendezvousMessage.register(
            .init(roomTag: tag(1), peerID: peer(1), clientNonce: 9, cookie: challenge.cookie, candidates: [])
        )
        #expect(harness.receive(fresh, from: a, at: 244).messages(to: a).first?.type == .registered)
        #expect(harness.server.stats.secretRotations == 2)
        #expect(RendezvousServer.Configuration.defaultSecretRotationInterval == .seconds(120))
    }

    @Test func theSecretComesFromTheInjectedRandomSource() throws {
        let one = ServerHarness(seed: 1)
        let same = ServerHarness(seed: 1)
        let other = ServerHarness(seed: 2)
        let a = loopback(1)
        let cookie = try #require(one.cookie(for: a, nonce: 3))
        #expect(same.cookie(for: a, nonce: 3) == cookie)
        #expect(other.cookie(for: a, nonce: 3) != cookie)
        #expect(one.cookie(for: loopback(1, port: 1), nonce: 3) != cookie, "the cookie binds the port")
    }

    @Test func unregisterNeedsProofOfTheRegisteredAddress() throws {
        let harness = ServerHarness()
        let a = loopback(1)
        harness.register(peer(1), in: tag(1), from: a)
        let cookie = try #require(harness.cookie(for: a, nonce: 4))
        let wrongCookie = harness.receive(
            .unregister(.init(roomTag: tag(1), peerID: peer(1), clientNonce: 4, cookie: .none)),
            from: a
        )
        #expect(wrongCookie.drops == [.unregisterRejected])
        let elsewhere = loopback(2)
        let otherCookie = try #require(harness.cookie(for: elsewhere, nonce: 4))
        let wrongAddress = harness.receive(
            .unregister(.init(roomTag: tag(1), peerID: peer(1), clientNonce: 4, cookie: otherCookie)),
            from: elsewhere
        )
        #expect(wrongAddress.drops == [.unregisterRejected])
        #expect(harness.server.stats.peers == 1)
        let done = harness.receive(
            .unregister(.init(roomTag: tag(1), peerID: peer(1), clientNonce: 4, cookie: cookie)),
            from: a
        )
        #expect(done.events == [.peerUnregistered(tag(1), peer(1)), .roomRemoved(tag(1))])
        #expect(done.sends.isEmpty)
        #expect(harness.server.stats.rooms == 0)
        #expect(harness.server.stats.unregisteredPeers == 1)
    }

    @Test func messagesForNodesAndGarbageAreDroppedSilently() {
        let harness = ServerHarness()
        let a = loopback(1)
        let nodeBound: [RendezvousMessage] = sampleMessages.filter {
            [
                .cookieChallenge, .registered, .introduce, .relayed, .codeOpened, .codeOffer, .codeKnocked,
                .codeAnswered, .codeAck, .codeError, .registerRefused,
            ].contains($0.type)
        }
        for message in nodeBound {
            #expect(harness.receive(message, from: a).drops == [.unexpectedType])
        }
        #expect(
            harness.server.received(datagram: [0x01, 0, 0, 0], from: a, now: harness.at(0)).drops == [.unknownType]
        )
        #expect(harness.server.received(datagram: [], from: a, now: harness.at(0)).drops == [.malformed])
        var reserved = RendezvousMessage.relay(.init(target: peer(1), datagram: [])).encoded()
        reserved[3] = 1
        #expect(harness.server.received(datagram: reserved, from: a, now: harness.at(0)).drops == [.malformed])
        var badCount = RendezvousMessage.register(
            .init(roomTag: tag(1), peerID: peer(1), clientNonce: 1, candidates: [])
        ).encoded()
        badCount[RendezvousWire.registerCandidateCountOffset] = 1
        #expect(harness.server.received(datagram: badCount, from: a, now: harness.at(0)).drops == [.malformed])
        let stats = harness.server.stats
        #expect(stats.drops.total == nodeBound.count + 4)
        #expect(stats.challengesSent == 0)
    }

    @Test func timersAreDueAtTheSweepOrRotation() {
        let harness = ServerHarness()
        #expect(harness.server.nextTimerDeadline == harness.at(1))
    }
}
