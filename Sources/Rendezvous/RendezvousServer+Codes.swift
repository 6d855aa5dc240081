import Primitives

/// The short-code mailbox on the server side (docs/PROTOCOL.md, "Short-code mailbox").
///
/// Flow: a host's codeOpen takes the smallest free nameplate and stores the host's PAKE message,
/// address and nonce; lookups read the PAKE message; the first knock marks the mailbox used and
/// is forwarded to the host; the host's answer (or burn) is forwarded to that joiner and the
/// mailbox finishes. A finished or expired mailbox keeps its number for `codeLinger`, answering
/// repeats and late lookups with what happened, and is then released.
///
/// Every request is checked for a cookie first, exactly like register: without one the only
/// reply is the 28-byte challenge. Every datagram sent because of a request is no larger than
/// that request (`reply` checks it), so even a cookie-proven address gains nothing by asking.
extension RendezvousServer {
    // MARK: Open

    mutating func codeOpen(
        _ message: RendezvousMessage.CodeOpen,
        requestSize: Int,
        from source: UDPEndpoint,
        now: Instant
    ) -> [Action] {
        let nonce = message.clientNonce
        guard cookieIsValid(message.cookie, for: source, nonce: nonce) else {
            return challenge(source, nonce: nonce, requestSize: requestSize)
        }
        if let held = codes.nameplate(heldBy: source, nonce: nonce) {
            // A lost codeOpened, or the host's keepalive: the same nameplate, never a second one.
            guard message.nameplate == nil || message.nameplate == held else {
                return [drop(.codeRejected, from: source)]
            }
            var actions = expireIfDue(held, now: now)
            guard let mailbox = codes[held] else { return actions }
            switch mailbox.stage {
            case .open, .knocked:
                let opened = RendezvousMessage.codeOpened(
                    .init(clientNonce: nonce, nameplate: held, lifetimeSeconds: wholeSeconds(mailbox.expiresAt - now))
                )
                actions += reply(opened, to: source, requestSize: requestSize, from: source)
            case .finished(let outcome, _, _):
                actions += refuse(
                    outcome.dropReason,
                    outcome.reason,
                    nonce: nonce,
                    nameplate: held,
                    to: source,
                    requestSize: requestSize
                )
            }
            return actions
        }
        if let asked = message.nameplate {
            // A refresh of a mailbox this host and nonce do not hold: released, or the rendezvous restarted.
            return refuse(.codeUnknown, .unknown, nonce: nonce, nameplate: asked, to: source, requestSize: requestSize)
        }
        guard codes.count(heldBy: source.sourceKey) < configuration.maxNameplatesPerSource else {
            return refuse(
                .codeSourceLimit,
                .unavailable,
                nonce: nonce,
                nameplate: nil,
                to: source,
                requestSize: requestSize
            )
        }
        guard codes.count < configuration.maxNameplates, let nameplate = codes.smallestFree() else {
            return refuse(.codeLimit, .unavailable, nonce: nonce, nameplate: nil, to: source, requestSize: requestSize)
        }
        let asked = Duration.seconds(Int(message.requestedLifetimeSeconds))
        let lifetime = asked == .zero ? configuration.codeLifetime : min(asked, configuration.codeLifetime)
        codes.insert(
            CodeMailbox(
                nameplate: nameplate,
                host: source,
                hostNonce: nonce,
                pakeMessage: message.pakeMessage,
                expiresAt: now + lifetime,
                stage: .open
            )
        )
        counters.codesOpened += 1
        let opened = RendezvousMessage.codeOpened(
            .init(clientNonce: nonce, nameplate: nameplate, lifetimeSeconds: wholeSeconds(lifetime))
        )
        return [.log(.codeOpened(nameplate, source))]
            + reply(opened, to: source, requestSize: requestSize, from: source)
    }

    // MARK: Lookup

    mutating func codeLookup(
        _ message: RendezvousMessage.CodeLookup,
        requestSize: Int,
        from source: UDPEndpoint,
        now: Instant
    ) -> [Action] {
        let nonce = message.clientNonce
        guard cookieIsValid(message.cookie, for: source, nonce: nonce) else {
            return challenge(source, nonce: nonce, requestSize: requestSize)
        }
        var actions = expireIfDue(message.nameplate, now: now)
        guard let mailbox = codes[message.nameplate] else {
            return actions
                + refuse(
                    .codeUnknown,
                    .unknown,
                    nonce: nonce,
                    nameplate: message.nameplate,
                    to: source,
                    requestSize: requestSize
                )
        }
        switch mailbox.stage {
        case .open:
            let offer = RendezvousMessage.codeOffer(
                .init(clientNonce: nonce, nameplate: message.nameplate, pakeMessage: mailbox.pakeMessage)
            )
            actions += reply(offer, to: source, requestSize: requestSize, from: source)
        case .knocked:
            actions += refuse(
                .codeUsed,
                .used,
                nonce: nonce,
                nameplate: message.nameplate,
                to: source,
                requestSize: requestSize
            )
        case .finished(let outcome, _, _):
            actions += refuse(
                outcome.dropReason,
                outcome.reason,
                nonce: nonce,
                nameplate: message.nameplate,
                to: source,
                requestSize: requestSize
            )
        }
        return actions
    }

    // MARK: Knock

    mutating func codeKnock(
        _ message: RendezvousMessage.CodeKnock,
        requestSize: Int,
        from source: UDPEndpoint,
        now: Instant
    ) -> [Action] {
        let nonce = message.clientNonce
        let nameplate = message.nameplate
        guard cookieIsValid(message.cookie, for: source, nonce: nonce) else {
            return challenge(source, nonce: nonce, requestSize: requestSize)
        }
        var actions = expireIfDue(nameplate, now: now)
        if let mailbox = codes[nameplate], let knock = mailbox.stage.knock,
            knock.isRepeat(of: message, from: source)
        {
            return actions + repeatedKnock(knock, in: mailbox, requestSize: requestSize, now: now)
        }
        // Anything else is a guess: charged to the source before it can touch a mailbox.
        guard knockSources.admit(source.sourceKey, size: 0, now: now) else {
            return actions + [drop(.codeKnockRate, from: source)]
        }
        guard let mailbox = codes[nameplate] else {
            return actions
                + refuse(
                    .codeUnknown,
                    .unknown,
                    nonce: nonce,
                    nameplate: nameplate,
                    to: source,
                    requestSize: requestSize
                )
        }
        switch mailbox.stage {
        case .open:
            let knock = CodeKnock(
                joiner: source,
                clientNonce: nonce,
                id: randomSource(RendezvousWire.knockIDSize).reduce(0) { $0 << 8 | UInt64($1) },
                pakeMessage: message.pakeMessage,
                tag: message.tag,
                lastForwarded: now
            )
            // Used from this moment, whatever the host makes of the guess.
            codes.setStage(.knocked(knock), of: nameplate)
            counters.codeKnocks += 1
            actions.append(.log(.codeKnocked(nameplate, source)))
            actions += reply(knocked(knock, in: mailbox), to: mailbox.host, requestSize: requestSize, from: source)
        case .knocked:
            actions += refuse(
                .codeUsed,
                .used,
                nonce: nonce,
                nameplate: nameplate,
                to: source,
                requestSize: requestSize
            )
        case .finished(let outcome, _, _):
            actions += refuse(
                outcome.dropReason,
                outcome.reason,
                nonce: nonce,
                nameplate: nameplate,
                to: source,
                requestSize: requestSize
            )
        }
        return actions
    }

    /// The accepted joiner knocked again: its answer (or the host's copy of the knock) was lost.
    private mutating func repeatedKnock(
        _ knock: CodeKnock,
        in mailbox: CodeMailbox,
        requestSize: Int,
        now: Instant
    ) -> [Action] {
        let joiner = knock.joiner
        var again = knock
        again.lastForwarded = now
        let dueAgain = now - knock.lastForwarded >= configuration.codeRepeatInterval
        switch mailbox.stage {
        case .open:
            preconditionFailure("an open mailbox holds no knock")
        case .knocked:
            // The host has not decided: its copy of the knock may have been lost.
            guard dueAgain else { return [drop(.codeRepeat, from: joiner)] }
            codes.setStage(.knocked(again), of: mailbox.nameplate)
            return reply(knocked(knock, in: mailbox), to: mailbox.host, requestSize: requestSize, from: joiner)
        case .finished(.answered(let payload), _, let until):
            // The answer was lost on its way to the joiner: the same answer again.
            guard dueAgain else { return [drop(.codeRepeat, from: joiner)] }
            codes.setStage(.finished(.answered(payload), knock: again, until: until), of: mailbox.nameplate)
            let answered = RendezvousMessage.codeAnswered(
                .init(clientNonce: knock.clientNonce, nameplate: mailbox.nameplate, payload: payload)
            )
            return reply(answered, to: joiner, requestSize: requestSize, from: joiner)
        case .finished(let outcome, _, _):
            // Burnt, closed or expired: the small error again, as often as asked.
            return refuse(
                outcome.dropReason,
                outcome.reason,
                nonce: knock.clientNonce,
                nameplate: mailbox.nameplate,
                to: joiner,
                requestSize: requestSize
            )
        }
    }

    private func knocked(_ knock: CodeKnock, in mailbox: CodeMailbox) -> RendezvousMessage {
        .codeKnocked(
            .init(
                clientNonce: mailbox.hostNonce,
                nameplate: mailbox.nameplate,
                knockID: knock.id,
                tag: knock.tag,
                pakeMessage: knock.pakeMessage
            )
        )
    }

    // MARK: Answer, burn, close

    mutating func codeAnswer(
        _ message: RendezvousMessage.CodeAnswer,
        requestSize: Int,
        from source: UDPEndpoint,
        now: Instant
    ) -> [Action] {
        hostDecision(
            .answered(message.payload),
            nonce: message.clientNonce,
            cookie: message.cookie,
            nameplate: message.nameplate,
            knockID: message.knockID,
            requestSize: requestSize,
            from: source,
            now: now
        )
    }

    mutating func codeBurn(
        _ message: RendezvousMessage.CodeBurn,
        requestSize: Int,
        from source: UDPEndpoint,
        now: Instant
    ) -> [Action] {
        hostDecision(
            .burnt,
            nonce: message.clientNonce,
            cookie: message.cookie,
            nameplate: message.nameplate,
            knockID: message.knockID,
            requestSize: requestSize,
            from: source,
            now: now
        )
    }

    mutating func codeClose(
        _ message: RendezvousMessage.CodeClose,
        requestSize: Int,
        from source: UDPEndpoint,
        now: Instant
    ) -> [Action] {
        hostDecision(
            .closed,
            nonce: message.clientNonce,
            cookie: message.cookie,
            nameplate: message.nameplate,
            knockID: nil,
            requestSize: requestSize,
            from: source,
            now: now
        )
    }

    /// An answer or burn (for `knockID`) or a close (`knockID` nil) from the mailbox's host.
    private mutating func hostDecision(
        _ outcome: CodeOutcome,
        nonce: UInt64,
        cookie: RendezvousCookie,
        nameplate: CodeNameplate,
        knockID: UInt64?,
        requestSize: Int,
        from source: UDPEndpoint,
        now: Instant
    ) -> [Action] {
        guard cookieIsValid(cookie, for: source, nonce: nonce) else {
            return challenge(source, nonce: nonce, requestSize: requestSize)
        }
        var actions = expireIfDue(nameplate, now: now)
        guard let mailbox = codes[nameplate] else {
            return actions
                + refuse(
                    .codeUnknown,
                    .unknown,
                    nonce: nonce,
                    nameplate: nameplate,
                    to: source,
                    requestSize: requestSize
                )
        }
        // Only the host's own address and nonce may decide; anyone else is ignored, not answered.
        guard mailbox.host == source, mailbox.hostNonce == nonce else {
            return actions + [drop(.codeRejected, from: source)]
        }
        let ack = RendezvousMessage.codeAck(.init(clientNonce: nonce, nameplate: nameplate))
        switch mailbox.stage {
        case .open:
            guard knockID == nil else { return actions + [drop(.codeRejected, from: source)] }
            finish(mailbox, .closed, knock: nil, now: now)
            actions.append(.log(.codeClosed(nameplate)))
            counters.codesClosed += 1
            return actions + reply(ack, to: source, requestSize: requestSize, from: source)
        case .knocked(let knock):
            guard knockID == nil || knockID == knock.id else { return actions + [drop(.codeRejected, from: source)] }
            finish(mailbox, outcome, knock: knock, now: now)
            let toJoiner: RendezvousMessage
            switch outcome {
            case .answered(let payload):
                actions.append(.log(.codeAnswered(nameplate)))
                counters.codesAnswered += 1
                toJoiner = .codeAnswered(.init(clientNonce: knock.clientNonce, nameplate: nameplate, payload: payload))
            case .burnt, .closed, .expired:
                actions.append(.log(outcome.isBurnt ? .codeBurnt(nameplate) : .codeClosed(nameplate)))
                if outcome.isBurnt { counters.codesBurnt += 1 } else { counters.codesClosed += 1 }
                counters.codeErrorsSent += 1
                toJoiner = .codeError(
                    .init(clientNonce: knock.clientNonce, nameplate: nameplate, reason: outcome.reason)
                )
            }
            actions += reply(toJoiner, to: knock.joiner, requestSize: requestSize, from: source)
            return actions + reply(ack, to: source, requestSize: requestSize, from: source)
        case .finished(let done, let knock, _):
            // The host's repeat (its ack was lost) of what it decided, or a close of anything finished.
            let sameDecision = knockID == nil || (knockID == knock?.id && done.sameKind(as: outcome))
            guard sameDecision else {
                return actions
                    + refuse(
                        done.dropReason,
                        done.reason,
                        nonce: nonce,
                        nameplate: nameplate,
                        to: source,
                        requestSize: requestSize
                    )
            }
            return actions + reply(ack, to: source, requestSize: requestSize, from: source)
        }
    }

    // MARK: Expiry and release

    /// Expires the mailbox if its time is up and it has not finished; tells a waiting joiner.
    private mutating func expireIfDue(_ nameplate: CodeNameplate, now: Instant) -> [Action] {
        guard let mailbox = codes[nameplate], now >= mailbox.expiresAt else { return [] }
        let knock: CodeKnock?
        switch mailbox.stage {
        case .open: knock = nil
        case .knocked(let waiting): knock = waiting
        case .finished: return []
        }
        finish(mailbox, .expired, knock: knock, now: now)
        counters.codesExpired += 1
        var actions: [Action] = [.log(.codeExpired(nameplate))]
        if let knock {
            // 15 bytes to an address its knock's cookie proved.
            counters.codeErrorsSent += 1
            let error = RendezvousMessage.codeError(
                .init(clientNonce: knock.clientNonce, nameplate: nameplate, reason: .expired)
            )
            actions.append(.send(error.encoded(), to: knock.joiner))
        }
        return actions
    }

    /// Expires what is due and releases finished mailboxes past their linger.
    mutating func sweepCodes(now: Instant) -> [Action] {
        var actions: [Action] = []
        for nameplate in codes.nameplates {
            actions += expireIfDue(nameplate, now: now)
            guard let mailbox = codes[nameplate], case .finished(_, _, let until) = mailbox.stage, now >= until else {
                continue
            }
            codes.remove(nameplate)
            actions.append(.log(.codeReleased(nameplate)))
        }
        return actions
    }

    private mutating func finish(_ mailbox: CodeMailbox, _ outcome: CodeOutcome, knock: CodeKnock?, now: Instant) {
        codes.setStage(.finished(outcome, knock: knock, until: now + configuration.codeLinger), of: mailbox.nameplate)
    }

    // MARK: Replies

    /// `message` to `target`, if it is no larger than the request that caused it: true by the
    /// sizes, checked so that no format change can ever make the mailbox an amplifier.
    private mutating func reply(
        _ message: RendezvousMessage,
        to target: UDPEndpoint,
        requestSize: Int,
        from source: UDPEndpoint
    ) -> [Action] {
        let bytes = message.encoded()
        guard bytes.count <= requestSize else { return [drop(.malformed, from: source)] }
        return [.send(bytes, to: target)]
    }

    /// Counts the refusal and sends the small codeError to the cookie-proven requester.
    private mutating func refuse(
        _ dropReason: DropReason,
        _ reason: RendezvousWire.CodeErrorReason,
        nonce: UInt64,
        nameplate: CodeNameplate?,
        to source: UDPEndpoint,
        requestSize: Int
    ) -> [Action] {
        let error = RendezvousMessage.codeError(.init(clientNonce: nonce, nameplate: nameplate, reason: reason))
        let sent = reply(error, to: source, requestSize: requestSize, from: source)
        if case .send = sent.first { counters.codeErrorsSent += 1 }
        return [drop(dropReason, from: source)] + sent
    }
}

/// Seconds, rounded up and capped to the 2-byte lifetime field.
private func wholeSeconds(_ duration: Duration) -> UInt16 {
    let parts = duration.components
    let seconds = parts.seconds + (parts.attoseconds > 0 ? 1 : 0)
    return UInt16(clamping: max(0, seconds))
}

// MARK: - Table

/// A joiner's accepted knock, kept to forward it again and to recognise its repeats.
struct CodeKnock: Sendable {
    /// The joiner's address, proven by its knock's cookie.
    let joiner: UDPEndpoint
    /// The joiner's nonce, echoed in everything sent to it.
    let clientNonce: UInt64
    /// The rendezvous's random id of the knock.
    let id: UInt64
    /// The joiner's PAKE message.
    let pakeMessage: [UInt8]
    /// The joiner's confirmation tag.
    let tag: [UInt8]
    /// When it (or its answer) was last sent, for `codeRepeatInterval`.
    var lastForwarded: ContinuousClock.Instant

    /// The same joiner sending the same guess again: a retransmission, not a second guess.
    func isRepeat(of message: RendezvousMessage.CodeKnock, from source: UDPEndpoint) -> Bool {
        joiner == source && clientNonce == message.clientNonce && pakeMessage == message.pakeMessage
            && tag == message.tag
    }
}

/// How a mailbox finished.
enum CodeOutcome: Sendable {
    /// The host's payload went to the joiner; kept for the joiner's repeated knocks.
    case answered([UInt8])
    /// The host burnt it after a wrong guess.
    case burnt
    /// The host closed it.
    case closed
    /// Its lifetime ended first.
    case expired

    /// What a later request is told.
    var reason: RendezvousWire.CodeErrorReason {
        switch self {
        case .answered: .used
        case .burnt: .burnt
        case .closed: .closed
        case .expired: .expired
        }
    }

    /// What a later request is counted as.
    var dropReason: RendezvousServer.DropReason {
        switch self {
        case .answered, .burnt, .closed: .codeUsed
        case .expired: .codeExpired
        }
    }

    var isBurnt: Bool {
        switch self {
        case .burnt: true
        case .answered, .closed, .expired: false
        }
    }

    /// Both answers, both burns, both closes, or both expiries (payloads aside).
    func sameKind(as other: CodeOutcome) -> Bool {
        switch (self, other) {
        case (.answered, .answered), (.burnt, .burnt), (.closed, .closed), (.expired, .expired): true
        case (.answered, _), (.burnt, _), (.closed, _), (.expired, _): false
        }
    }
}

/// Where a mailbox is in its exchange.
enum CodeStage: Sendable {
    /// Waiting for a knock; lookups get the host's PAKE message.
    case open
    /// A joiner knocked; waiting for the host's answer or burn.
    case knocked(CodeKnock)
    /// Done; keeps its number until `until` so repeats and late lookups learn the outcome.
    case finished(CodeOutcome, knock: CodeKnock?, until: ContinuousClock.Instant)

    /// The accepted knock, if any.
    var knock: CodeKnock? {
        switch self {
        case .open: nil
        case .knocked(let knock): knock
        case .finished(_, let knock, _): knock
        }
    }
}

/// One nameplate's mailbox.
struct CodeMailbox: Sendable {
    let nameplate: CodeNameplate
    /// The host's address, proven by its open's cookie: knocks are forwarded here, and only it may decide.
    let host: UDPEndpoint
    /// The host's nonce, echoed in everything sent to it.
    let hostNonce: UInt64
    /// The host's PAKE message, given to lookups.
    let pakeMessage: [UInt8]
    /// When an unfinished mailbox expires.
    let expiresAt: ContinuousClock.Instant
    var stage: CodeStage
}

/// The held nameplates, indexed by number, by host address and nonce, and counted per source.
///
/// At most `RendezvousWire.maxNameplate` entries by construction. Not thread-safe; owned by
/// `RendezvousServer`.
struct CodeMailboxTable: Sendable {
    private struct HostKey: Hashable, Sendable {
        let host: UDPEndpoint
        let nonce: UInt64
    }

    private var mailboxes: [CodeNameplate: CodeMailbox] = [:]
    private var hosts: [HostKey: CodeNameplate] = [:]
    private var perSource: [UDPEndpoint.Address: Int] = [:]

    /// Nameplates held.
    var count: Int { mailboxes.count }

    /// Every held nameplate, in no particular order (a copy, so the table may change while iterating).
    var nameplates: [CodeNameplate] { Array(mailboxes.keys) }

    subscript(nameplate: CodeNameplate) -> CodeMailbox? { mailboxes[nameplate] }

    /// The nameplate a host's address and nonce hold, if any.
    func nameplate(heldBy host: UDPEndpoint, nonce: UInt64) -> CodeNameplate? {
        hosts[HostKey(host: host, nonce: nonce)]
    }

    /// Nameplates held by hosts of this source (IPv4 address or IPv6 /64).
    func count(heldBy source: UDPEndpoint.Address) -> Int { perSource[source, default: 0] }

    /// The smallest number not held, so codes stay short; nil when all are held.
    func smallestFree() -> CodeNameplate? {
        for value in 1...RendezvousWire.maxNameplate {
            // 1…maxNameplate are all valid nameplates.
            let nameplate = CodeNameplate(rawValue: value)!
            if mailboxes[nameplate] == nil { return nameplate }
        }
        return nil
    }

    mutating func insert(_ mailbox: CodeMailbox) {
        precondition(mailboxes[mailbox.nameplate] == nil, "nameplate already held")
        mailboxes[mailbox.nameplate] = mailbox
        hosts[HostKey(host: mailbox.host, nonce: mailbox.hostNonce)] = mailbox.nameplate
        perSource[mailbox.host.sourceKey, default: 0] += 1
    }

    mutating func setStage(_ stage: CodeStage, of nameplate: CodeNameplate) {
        precondition(mailboxes[nameplate] != nil, "no such mailbox")
        mailboxes[nameplate]!.stage = stage
    }

    mutating func remove(_ nameplate: CodeNameplate) {
        guard let mailbox = mailboxes.removeValue(forKey: nameplate) else { return }
        hosts[HostKey(host: mailbox.host, nonce: mailbox.hostNonce)] = nil
        let key = mailbox.host.sourceKey
        if let count = perSource[key] { perSource[key] = count > 1 ? count - 1 : nil }
    }

    /// The three indexes agree; for tests.
    func checkInvariants() -> Bool {
        guard hosts.count == mailboxes.count, perSource.values.reduce(0, +) == mailboxes.count else { return false }
        return mailboxes.allSatisfy { nameplate, mailbox in
            mailbox.nameplate == nameplate && hosts[HostKey(host: mailbox.host, nonce: mailbox.hostNonce)] == nameplate
        }
    }
}
