import CVPeerTestSupport
import Primitives
import Testing

@testable import Rendezvous

/// The host's PAKE message in these tests: opaque to the rendezvous, so any bytes do.
let hostPake = Array(repeating: UInt8(0xA7), count: 32)
/// The joiner's PAKE message and confirmation tag.
let joinerPake = Array(repeating: UInt8(0xB8), count: 32)
let joinerTag = Array(repeating: UInt8(0x7A), count: RendezvousWire.codeTagSize)

/// Any short-code request, without a cookie or with a guessed one.
func randomCodeRequest(using random: inout SeededRandom) -> RendezvousMessage {
    let cookie =
        Bool.random(using: &random) ? RendezvousCookie.none : RendezvousCookie(high: random.next(), low: random.next())
    let nonce = random.next()
    let nameplate = plate(UInt16.random(in: 1...3, using: &random))
    let pake = Array(repeating: UInt8(1), count: Int.random(in: 1...RendezvousWire.maxPakeMessageSize, using: &random))
    let knockID = UInt64.random(in: 0...2, using: &random)
    switch Int.random(in: 0..<6, using: &random) {
    case 0:
        return .codeOpen(
            .init(
                clientNonce: nonce,
                cookie: cookie,
                requestedLifetimeSeconds: UInt16.random(in: 0...UInt16.max, using: &random),
                nameplate: Bool.random(using: &random) ? nil : nameplate,
                pakeMessage: pake
            )
        )
    case 1:
        return .codeLookup(.init(clientNonce: nonce, cookie: cookie, nameplate: nameplate))
    case 2:
        return .codeKnock(
            .init(clientNonce: nonce, cookie: cookie, nameplate: nameplate, pakeMessage: pake, tag: joinerTag)
        )
    case 3:
        let payload = Array(
            repeating: UInt8(2),
            count: Int.random(in: 1...RendezvousWire.maxCodePayloadSize, using: &random)
        )
        return .codeAnswer(
            .init(clientNonce: nonce, cookie: cookie, nameplate: nameplate, knockID: knockID, payload: payload)
        )
    case 4:
        return .codeBurn(.init(clientNonce: nonce, cookie: cookie, nameplate: nameplate, knockID: knockID))
    default:
        return .codeClose(.init(clientNonce: nonce, cookie: cookie, nameplate: nameplate))
    }
}

extension ServerHarness {
    /// Opens a mailbox through the cookie round trip; returns the nameplate, or nil if refused.
    @discardableResult
    func openCode(
        from host: UDPEndpoint,
        nonce: UInt64,
        lifetime: UInt16 = 0,
        refreshing held: CodeNameplate? = nil,
        at seconds: Double = 0
    ) -> CodeNameplate? {
        guard
            case .codeOpened(let opened) = openCodeActions(
                from: host,
                nonce: nonce,
                lifetime: lifetime,
                refreshing: held,
                at: seconds
            ).messages(to: host).last
        else { return nil }
        return opened.nameplate
    }

    func openCodeActions(
        from host: UDPEndpoint,
        nonce: UInt64,
        lifetime: UInt16 = 0,
        refreshing held: CodeNameplate? = nil,
        at seconds: Double = 0
    ) -> [RendezvousServer.Action] {
        guard let cookie = cookie(for: host, nonce: nonce, at: seconds) else { return [] }
        return receive(
            .codeOpen(
                .init(
                    clientNonce: nonce,
                    cookie: cookie,
                    requestedLifetimeSeconds: lifetime,
                    nameplate: held,
                    pakeMessage: hostPake
                )
            ),
            from: host,
            at: seconds
        )
    }

    func lookupCode(
        _ nameplate: CodeNameplate,
        from joiner: UDPEndpoint,
        nonce: UInt64,
        at seconds: Double = 0
    )
        -> [RendezvousServer.Action]
    {
        guard let cookie = cookie(for: joiner, nonce: nonce, at: seconds) else { return [] }
        return receive(
            .codeLookup(.init(clientNonce: nonce, cookie: cookie, nameplate: nameplate)),
            from: joiner,
            at: seconds
        )
    }

    @discardableResult
    func knockCode(
        _ nameplate: CodeNameplate,
        from joiner: UDPEndpoint,
        nonce: UInt64,
        pake: [UInt8] = joinerPake,
        at seconds: Double = 0
    ) -> [RendezvousServer.Action] {
        guard let cookie = cookie(for: joiner, nonce: nonce, at: seconds) else { return [] }
        return receive(
            .codeKnock(
                .init(clientNonce: nonce, cookie: cookie, nameplate: nameplate, pakeMessage: pake, tag: joinerTag)
            ),
            from: joiner,
            at: seconds
        )
    }

    func answerCode(
        _ nameplate: CodeNameplate,
        knockID: UInt64,
        payload: [UInt8] = Array("sealed invite".utf8),
        from host: UDPEndpoint,
        nonce: UInt64,
        at seconds: Double = 0
    ) -> [RendezvousServer.Action] {
        guard let cookie = cookie(for: host, nonce: nonce, at: seconds) else { return [] }
        return receive(
            .codeAnswer(
                .init(clientNonce: nonce, cookie: cookie, nameplate: nameplate, knockID: knockID, payload: payload)
            ),
            from: host,
            at: seconds
        )
    }

    func burnCode(
        _ nameplate: CodeNameplate,
        knockID: UInt64,
        from host: UDPEndpoint,
        nonce: UInt64,
        at seconds: Double = 0
    )
        -> [RendezvousServer.Action]
    {
        guard let cookie = cookie(for: host, nonce: nonce, at: seconds) else { return [] }
        return receive(
            .codeBurn(.init(clientNonce: nonce, cookie: cookie, nameplate: nameplate, knockID: knockID)),
            from: host,
            at: seconds
        )
    }

    func closeCode(
        _ nameplate: CodeNameplate,
        from host: UDPEndpoint,
        nonce: UInt64,
        at seconds: Double = 0
    )
        -> [RendezvousServer.Action]
    {
        guard let cookie = cookie(for: host, nonce: nonce, at: seconds) else { return [] }
        return receive(
            .codeClose(.init(clientNonce: nonce, cookie: cookie, nameplate: nameplate)),
            from: host,
            at: seconds
        )
    }

    /// The codeError reason sent to `target`, if one was.
    func errorReason(in actions: [RendezvousServer.Action], to target: UDPEndpoint) -> RendezvousWire.CodeErrorReason? {
        for case .codeError(let error) in actions.messages(to: target) { return error.reason }
        return nil
    }
}

extension Array where Element == RendezvousServer.Action {
    /// The knock forwarded to `host`, if one was.
    func knocked(to host: UDPEndpoint) -> RendezvousMessage.CodeKnocked? {
        for case .codeKnocked(let knocked) in messages(to: host) { return knocked }
        return nil
    }
}

@Suite struct RendezvousCodeServerTests {
    let host = loopback(10, port: 7_001)
    let joiner = loopback(20, port: 7_002)

    // MARK: Opening

    @Test func openAllocatesTheSmallestFreeNameplateAndReusesItOnlyAfterRelease() throws {
        let harness = ServerHarness()
        let first = harness.openCodeActions(from: loopback(1), nonce: 1)
        #expect(first.events == [.codeOpened(plate(1), loopback(1))])
        #expect(
            first.messages(to: loopback(1)) == [
                .codeOpened(.init(clientNonce: 1, nameplate: plate(1), lifetimeSeconds: 600))
            ]
        )
        #expect(harness.openCode(from: loopback(2), nonce: 2) == plate(2))
        #expect(harness.openCode(from: loopback(3), nonce: 3) == plate(3))
        // Closing 2 does not free its number at once: it lingers, answering "closed".
        #expect(
            harness.closeCode(plate(2), from: loopback(2), nonce: 2, at: 1).messages(to: loopback(2)) == [
                .codeAck(.init(clientNonce: 2, nameplate: plate(2)))
            ]
        )
        #expect(harness.openCode(from: loopback(4), nonce: 4, at: 2) == plate(4))
        #expect(
            harness.errorReason(in: harness.lookupCode(plate(2), from: joiner, nonce: 9, at: 3), to: joiner) == .closed
        )
        // Past the linger the sweep releases it, and the next open takes it again.
        #expect(harness.server.timerFired(now: harness.at(60.5)).events.isEmpty)
        #expect(harness.server.timerFired(now: harness.at(61.5)).events == [.codeReleased(plate(2))])
        #expect(
            harness.errorReason(in: harness.lookupCode(plate(2), from: joiner, nonce: 9, at: 62), to: joiner)
                == .unknown
        )
        #expect(harness.openCode(from: loopback(5), nonce: 5, at: 62) == plate(2))
        #expect(harness.server.stats.nameplates == 4)
        #expect(harness.server.stats.codesOpened == 5)
        #expect(harness.server.codes.checkInvariants())
    }

    @Test func aRepeatedOpenGetsTheSameNameplateAndARefreshNeverAllocates() throws {
        let harness = ServerHarness()
        let nameplate = try #require(harness.openCode(from: host, nonce: 7))
        // The codeOpened was lost: the same request again, the same nameplate, the time left.
        let again = harness.openCodeActions(from: host, nonce: 7, at: 100)
        #expect(again.events.isEmpty)
        #expect(
            again.messages(to: host) == [.codeOpened(.init(clientNonce: 7, nameplate: nameplate, lifetimeSeconds: 500))]
        )
        // A keepalive naming the nameplate: the same answer.
        #expect(harness.openCode(from: host, nonce: 7, refreshing: nameplate, at: 200.5) == nameplate)
        #expect(harness.server.stats.nameplates == 1)
        // Naming another nameplate than the one held is ignored.
        #expect(harness.openCodeActions(from: host, nonce: 7, refreshing: plate(2), at: 201).drops == [.codeRejected])
        // A refresh from a nonce that holds nothing (the rendezvous restarted, say) is told "unknown".
        let stale = harness.openCodeActions(from: host, nonce: 8, refreshing: plate(5), at: 202)
        #expect(stale.drops == [.codeUnknown])
        #expect(harness.errorReason(in: stale, to: host) == .unknown)
        // The same nonce from another address is another host.
        #expect(harness.openCode(from: loopback(11), nonce: 7, at: 203) == plate(2))
        #expect(harness.server.stats.nameplates == 2)
        #expect(harness.server.codes.checkInvariants())
    }

    @Test func theLifetimeIsTheDefaultOrLessButNeverMore() throws {
        let harness = ServerHarness()
        func granted(_ asked: UInt16, nonce: UInt64) -> UInt16? {
            guard
                case .codeOpened(let opened) = harness.openCodeActions(from: host, nonce: nonce, lifetime: asked)
                    .messages(to: host).last
            else { return nil }
            return opened.lifetimeSeconds
        }
        #expect(granted(0, nonce: 1) == 600)
        #expect(granted(60, nonce: 2) == 60)
        #expect(granted(601, nonce: 3) == 600)
        #expect(granted(.max, nonce: 4) == 600)
        #expect(RendezvousServer.Configuration.defaultCodeLifetime == .seconds(600))
        var shorter = RendezvousServer.Configuration()
        shorter.codeLifetime = .seconds(120)
        let short = ServerHarness(configuration: shorter)
        guard
            case .codeOpened(let opened) = short.openCodeActions(from: host, nonce: 1, lifetime: 300).messages(to: host)
                .last
        else {
            Issue.record("expected codeOpened")
            return
        }
        #expect(opened.lifetimeSeconds == 120)
    }

    // MARK: Lookup and knock

    @Test func aLookupGetsTheHostsMessageOrASmallError() throws {
        let harness = ServerHarness()
        let unknown = harness.lookupCode(plate(1), from: joiner, nonce: 3)
        #expect(unknown.drops == [.codeUnknown])
        #expect(
            unknown.messages(to: joiner) == [.codeError(.init(clientNonce: 3, nameplate: plate(1), reason: .unknown))]
        )
        let nameplate = try #require(harness.openCode(from: host, nonce: 1))
        let offer = harness.lookupCode(nameplate, from: joiner, nonce: 3)
        #expect(
            offer.messages(to: joiner) == [
                .codeOffer(.init(clientNonce: 3, nameplate: nameplate, pakeMessage: hostPake))
            ]
        )
        #expect(offer.sends.allSatisfy { $0.datagram.count <= RendezvousWire.codeLookupSize })
        // Looking up uses nothing up: anyone may look, as often as the rate limit allows.
        #expect(harness.lookupCode(nameplate, from: loopback(21), nonce: 4).messages(to: loopback(21)).count == 1)
        // Without a cookie: the challenge, nothing else.
        let bare = harness.receive(.codeLookup(.init(clientNonce: 5, nameplate: nameplate)), from: joiner)
        #expect(bare.sends.map { $0.message?.type } == [.cookieChallenge])
    }

    @Test func onlyTheFirstKnockIsForwardedAndItUsesTheNameplateUp() throws {
        let harness = ServerHarness()
        let nameplate = try #require(harness.openCode(from: host, nonce: 1))
        let first = harness.knockCode(nameplate, from: joiner, nonce: 2)
        #expect(first.events == [.codeKnocked(nameplate, joiner)])
        let knocked = try #require(first.knocked(to: host))
        #expect(knocked.clientNonce == 1, "bound to the host's nonce")
        #expect(knocked.nameplate == nameplate && knocked.pakeMessage == joinerPake && knocked.tag == joinerTag)
        #expect(first.messages(to: joiner).isEmpty, "the joiner waits for the host")
        // From now on the nameplate is used: lookups and other knocks are refused.
        #expect(
            harness.errorReason(in: harness.lookupCode(nameplate, from: loopback(21), nonce: 3), to: loopback(21))
                == .used
        )
        let second = harness.knockCode(nameplate, from: loopback(21), nonce: 3)
        #expect(second.drops == [.codeUsed])
        #expect(harness.errorReason(in: second, to: loopback(21)) == .used)
        #expect(second.knocked(to: host) == nil)
        // The same joiner guessing again with other bytes is a second guess, refused the same way.
        let other = harness.knockCode(nameplate, from: joiner, nonce: 2, pake: [1, 2, 3])
        #expect(harness.errorReason(in: other, to: joiner) == .used)
        #expect(other.knocked(to: host) == nil)
        // The same knock again is a retransmission: forwarded again with the same id, at most once a second.
        #expect(harness.knockCode(nameplate, from: joiner, nonce: 2, at: 0.5).drops == [.codeRepeat])
        let repeated = harness.knockCode(nameplate, from: joiner, nonce: 2, at: 1.2)
        #expect(repeated.knocked(to: host) == knocked)
        #expect(harness.server.stats.codeKnocks == 1)
    }

    @Test func theAnswerGoesToTheKnockingJoinerAndTheHostIsAcknowledged() throws {
        let harness = ServerHarness()
        let nameplate = try #require(harness.openCode(from: host, nonce: 1))
        let knocked = try #require(harness.knockCode(nameplate, from: joiner, nonce: 2).knocked(to: host))
        let payload = Array(repeating: UInt8(0xEE), count: RendezvousWire.maxCodePayloadSize)
        let answer = harness.answerCode(
            nameplate,
            knockID: knocked.knockID,
            payload: payload,
            from: host,
            nonce: 1,
            at: 1
        )
        #expect(answer.events == [.codeAnswered(nameplate)])
        #expect(
            answer.messages(to: joiner) == [
                .codeAnswered(.init(clientNonce: 2, nameplate: nameplate, payload: payload))
            ]
        )
        #expect(answer.messages(to: host) == [.codeAck(.init(clientNonce: 1, nameplate: nameplate))])
        // The answer to the joiner was lost: its repeated knock gets the same answer, no larger than the knock.
        let resent = harness.knockCode(nameplate, from: joiner, nonce: 2, at: 2.5)
        #expect(resent.messages(to: joiner) == answer.messages(to: joiner))
        #expect(resent.knocked(to: host) == nil)
        #expect(resent.sends.allSatisfy { $0.datagram.count <= RendezvousWire.codeKnockSize })
        // The ack was lost: the host's repeated answer is acknowledged again, and nothing else happens.
        let repeatedAnswer = harness.answerCode(
            nameplate,
            knockID: knocked.knockID,
            payload: payload,
            from: host,
            nonce: 1,
            at: 3
        )
        #expect(repeatedAnswer.sends.map(\.target) == [host])
        // Others learn it was used, until the number is released.
        #expect(
            harness.errorReason(
                in: harness.lookupCode(nameplate, from: loopback(21), nonce: 3, at: 4),
                to: loopback(21)
            ) == .used
        )
        _ = harness.server.timerFired(now: harness.at(62))
        #expect(harness.server.stats.nameplates == 0)
        #expect(harness.server.stats.codesAnswered == 1)
        #expect(harness.server.codes.checkInvariants())
    }

    @Test func aBurnTellsTheJoinerAndAcknowledgesTheHost() throws {
        let harness = ServerHarness()
        let nameplate = try #require(harness.openCode(from: host, nonce: 1))
        let knocked = try #require(harness.knockCode(nameplate, from: joiner, nonce: 2).knocked(to: host))
        let burn = harness.burnCode(nameplate, knockID: knocked.knockID, from: host, nonce: 1)
        #expect(burn.events == [.codeBurnt(nameplate)])
        #expect(burn.messages(to: joiner) == [.codeError(.init(clientNonce: 2, nameplate: nameplate, reason: .burnt))])
        #expect(burn.messages(to: host) == [.codeAck(.init(clientNonce: 1, nameplate: nameplate))])
        #expect(
            harness.errorReason(in: harness.knockCode(nameplate, from: joiner, nonce: 2, at: 1), to: joiner) == .burnt
        )
        #expect(
            harness.errorReason(in: harness.lookupCode(nameplate, from: loopback(21), nonce: 3), to: loopback(21))
                == .burnt
        )
        // An answer after the burn is refused, and the host is told why.
        let late = harness.answerCode(nameplate, knockID: knocked.knockID, from: host, nonce: 1, at: 2)
        #expect(harness.errorReason(in: late, to: host) == .burnt)
        #expect(late.messages(to: joiner).isEmpty)
        #expect(harness.server.stats.codesBurnt == 1)
    }

    @Test func decisionsFromAnyoneButTheHostOrForAnotherKnockAreIgnored() throws {
        let harness = ServerHarness()
        let nameplate = try #require(harness.openCode(from: host, nonce: 1))
        // No knock yet: nothing to answer or burn.
        #expect(harness.answerCode(nameplate, knockID: 0, from: host, nonce: 1).drops == [.codeRejected])
        let knocked = try #require(harness.knockCode(nameplate, from: joiner, nonce: 2).knocked(to: host))
        let id = knocked.knockID
        let stranger = loopback(30, port: 7_003)
        // Each of these carries a valid cookie for its own address and nonce, and is still ignored.
        let forged: [[RendezvousServer.Action]] = [
            harness.answerCode(nameplate, knockID: id, from: stranger, nonce: 1),
            harness.answerCode(nameplate, knockID: id, from: joiner, nonce: 2),
            harness.answerCode(nameplate, knockID: id, from: loopback(10, port: 7_999), nonce: 1),
            harness.answerCode(nameplate, knockID: id, from: host, nonce: 99),
            harness.answerCode(nameplate, knockID: id &+ 1, from: host, nonce: 1),
            harness.burnCode(nameplate, knockID: id, from: stranger, nonce: 1),
            harness.burnCode(nameplate, knockID: id ^ 0xFF, from: host, nonce: 1),
            harness.closeCode(nameplate, from: stranger, nonce: 1),
        ]
        for actions in forged {
            #expect(actions.sends.isEmpty, "nothing is sent for a forged decision")
            #expect(actions.drops == [.codeRejected])
        }
        // The real answer still works afterwards.
        #expect(harness.answerCode(nameplate, knockID: id, from: host, nonce: 1).events == [.codeAnswered(nameplate)])
        #expect(harness.server.stats.drops[.codeRejected] == 9)
    }

    @Test func closingEndsTheMailboxAndTellsAWaitingJoiner() throws {
        let harness = ServerHarness()
        let nameplate = try #require(harness.openCode(from: host, nonce: 1))
        harness.knockCode(nameplate, from: joiner, nonce: 2)
        let close = harness.closeCode(nameplate, from: host, nonce: 1, at: 1)
        #expect(close.events == [.codeClosed(nameplate)])
        #expect(
            close.messages(to: joiner) == [.codeError(.init(clientNonce: 2, nameplate: nameplate, reason: .closed))]
        )
        #expect(close.messages(to: host) == [.codeAck(.init(clientNonce: 1, nameplate: nameplate))])
        // Closing again is acknowledged again.
        #expect(harness.closeCode(nameplate, from: host, nonce: 1, at: 2).messages(to: host).count == 1)
        #expect(harness.server.stats.codesClosed == 1)
    }

    // MARK: Expiry

    @Test func mailboxesExpireAndAWaitingJoinerIsTold() throws {
        let harness = ServerHarness()
        let quiet = try #require(harness.openCode(from: host, nonce: 1, lifetime: 60))
        let knockedOn = try #require(harness.openCode(from: loopback(11), nonce: 2, lifetime: 60))
        harness.knockCode(knockedOn, from: joiner, nonce: 3, at: 10)
        #expect(
            harness.lookupCode(quiet, from: loopback(21), nonce: 4, at: 59).messages(to: loopback(21)).first?.type
                == .codeOffer
        )
        let swept = harness.server.timerFired(now: harness.at(60.2))
        #expect(
            Set(swept.events.map { "\($0)" })
                == Set([RendezvousServer.Event.codeExpired(quiet), .codeExpired(knockedOn)].map { "\($0)" })
        )
        // The joiner who knocked is told at once; it knows its host will not answer.
        #expect(
            swept.messages(to: joiner) == [.codeError(.init(clientNonce: 3, nameplate: knockedOn, reason: .expired))]
        )
        let late = harness.lookupCode(quiet, from: loopback(21), nonce: 4, at: 61)
        #expect(late.drops == [.codeExpired])
        #expect(harness.errorReason(in: late, to: loopback(21)) == .expired)
        // The host's keepalive learns it too.
        #expect(
            harness.errorReason(in: harness.openCodeActions(from: host, nonce: 1, refreshing: quiet, at: 62), to: host)
                == .expired
        )
        // A request between expiry and the next sweep already sees it expired.
        let other = try #require(harness.openCode(from: loopback(12), nonce: 5, lifetime: 1, at: 100))
        #expect(
            harness.errorReason(
                in: harness.knockCode(other, from: loopback(22), nonce: 6, at: 101.01),
                to: loopback(22)
            ) == .expired
        )
        _ = harness.server.timerFired(now: harness.at(200))
        #expect(harness.server.stats.nameplates == 0)
        #expect(harness.server.stats.codesExpired == 3)
        #expect(harness.server.codes.checkInvariants())
    }

    // MARK: Limits

    @Test func nameplatesAreLimitedOverallAndPerSource() throws {
        var configuration = RendezvousServer.Configuration()
        configuration.maxNameplates = 5
        configuration.maxNameplatesPerSource = 3
        let harness = ServerHarness(configuration: configuration)
        for port in UInt16(1)...3 {
            #expect(harness.openCode(from: loopback(1, port: port), nonce: UInt64(port)) != nil)
        }
        // A fourth from the same address (another port, same source) is refused, and told so.
        let fourth = harness.openCodeActions(from: loopback(1, port: 4), nonce: 4)
        #expect(fourth.drops == [.codeSourceLimit])
        #expect(
            fourth.messages(to: loopback(1, port: 4)) == [
                .codeError(.init(clientNonce: 4, nameplate: nil, reason: .unavailable))
            ]
        )
        #expect(harness.openCode(from: loopback(2), nonce: 5) == plate(4))
        #expect(harness.openCode(from: loopback(3), nonce: 6) == plate(5))
        let full = harness.openCodeActions(from: loopback(4), nonce: 7)
        #expect(full.drops == [.codeLimit])
        #expect(harness.errorReason(in: full, to: loopback(4)) == .unavailable)
        #expect(harness.server.stats.nameplates == 5)
    }

    @Test func everyNameplateCanBeHeldAndNoMore() {
        let harness = ServerHarness()
        var held = Set<CodeNameplate>()
        for index in 0..<999 {
            // 16 per source by default: a new address every 16 opens.
            if let nameplate = harness.openCode(
                from: loopback(100 + index / 16, port: UInt16(1 + index % 16)),
                nonce: UInt64(index)
            ) {
                held.insert(nameplate)
            }
        }
        #expect(held.count == 999)
        #expect(held.map(\.rawValue).max() == 999)
        #expect(harness.openCodeActions(from: loopback(5_000), nonce: 1).drops == [.codeLimit])
        #expect(harness.server.codes.checkInvariants())
    }

    @Test func oneSourceCanKnockOnlySoFast() throws {
        let harness = ServerHarness()
        // Knocks on nameplates nobody holds still count: each is a guess.
        for n in UInt16(1)...8 {
            #expect(
                harness.errorReason(in: harness.knockCode(plate(n), from: joiner, nonce: UInt64(n)), to: joiner)
                    == .unknown
            )
        }
        let ninth = harness.knockCode(plate(9), from: joiner, nonce: 9)
        #expect(ninth.drops == [.codeKnockRate])
        #expect(ninth.sends.isEmpty)
        // Another address is not held back; this one gets one more knock every 10 s.
        #expect(harness.knockCode(plate(9), from: loopback(21), nonce: 9).drops == [.codeUnknown])
        #expect(harness.knockCode(plate(9), from: joiner, nonce: 10, at: 10.5).drops == [.codeUnknown])
        #expect(harness.knockCode(plate(9), from: joiner, nonce: 11, at: 11).drops == [.codeKnockRate])
        // The accepted joiner's retransmissions are not charged.
        let nameplate = try #require(harness.openCode(from: host, nonce: 1, at: 20))
        harness.knockCode(nameplate, from: loopback(22), nonce: 12, at: 20)
        for second in 21...40 {
            #expect(harness.knockCode(nameplate, from: loopback(22), nonce: 12, at: Double(second)).drops.isEmpty)
        }
    }

    // MARK: Amplification

    /// Hosts and joiners that do everything right and wrong, with valid cookies: every datagram the
    /// server sends is no larger than the one that made it send it, for every code request type.
    @Test func noCodeReplyOrForwardIsLargerThanItsRequest() throws {
        let seed = SeededRandom.seedFromEnvironment(default: 0xC0DE)
        var random = SeededRandom(seed: seed)
        var configuration = RendezvousServer.Configuration()
        // Knocks are rate-limited per source; here they should reach the mailboxes.
        configuration.sourceKnocksPerSecond = 1_000
        configuration.sourceKnockBurst = 1_000
        let harness = ServerHarness(configuration: configuration)
        var lastKnockID: UInt64?
        var types = Set<RendezvousWire.MessageType>()
        var sent = 0
        for step in 0..<4_000 {
            let seconds = Double(step) * 0.05
            let address = loopback(1 + Int.random(in: 0..<6, using: &random), port: 9_000)
            let nonce = UInt64.random(in: 1...3, using: &random)
            let cookie = try #require(harness.cookie(for: address, nonce: nonce, at: seconds))
            var message = randomCodeRequest(using: &random)
            message.setNonceAndCookie(nonce, cookie)
            if Bool.random(using: &random), let lastKnockID { message.setKnockID(lastKnockID) }
            let datagram = message.encoded()
            let actions = harness.server.received(datagram: datagram, from: address, now: harness.at(seconds))
            for knocked in actions.sends.compactMap({ $0.message }) {
                if case .codeKnocked(let k) = knocked { lastKnockID = k.knockID }
            }
            types.insert(message.type)
            for reply in actions.sends {
                sent += 1
                #expect(
                    reply.datagram.count <= datagram.count,
                    "seed \(seed): \(message.type) → \(reply.message?.type as Any)"
                )
            }
            if step % 20 == 0 {
                for swept in harness.server.timerFired(now: harness.at(seconds)).sends {
                    #expect(swept.datagram.count <= RendezvousWire.codeErrorSize, "seed \(seed)")
                }
            }
        }
        #expect(types.count == 6)
        #expect(sent > 1_000, "seed \(seed)")
        #expect(harness.server.codes.checkInvariants())
    }

    @Test func codeReplyTypesAreRefusedByTheServer() {
        let harness = ServerHarness()
        for message in sampleCodeMessages
        where [.codeOpened, .codeOffer, .codeKnocked, .codeAnswered, .codeAck, .codeError].contains(message.type) {
            #expect(harness.receive(message, from: host).drops == [.unexpectedType])
        }
    }
}

extension RendezvousMessage {
    /// Puts a nonce and cookie into a code request, for tests that prove the sender's address.
    mutating func setNonceAndCookie(_ nonce: UInt64, _ cookie: RendezvousCookie) {
        switch self {
        case .codeOpen(var m):
            (m.clientNonce, m.cookie) = (nonce, cookie)
            self = .codeOpen(m)
        case .codeLookup(var m):
            (m.clientNonce, m.cookie) = (nonce, cookie)
            self = .codeLookup(m)
        case .codeKnock(var m):
            (m.clientNonce, m.cookie) = (nonce, cookie)
            self = .codeKnock(m)
        case .codeAnswer(var m):
            (m.clientNonce, m.cookie) = (nonce, cookie)
            self = .codeAnswer(m)
        case .codeBurn(var m):
            (m.clientNonce, m.cookie) = (nonce, cookie)
            self = .codeBurn(m)
        case .codeClose(var m):
            (m.clientNonce, m.cookie) = (nonce, cookie)
            self = .codeClose(m)
        default:
            break
        }
    }

    /// Puts a knock id into an answer or burn.
    mutating func setKnockID(_ id: UInt64) {
        switch self {
        case .codeAnswer(var m):
            m.knockID = id
            self = .codeAnswer(m)
        case .codeBurn(var m):
            m.knockID = id
            self = .codeBurn(m)
        default:
            break
        }
    }
}
