import PeerCrypto

/// A node's side of the short-code mailbox, host or joiner, as a pure state machine.
///
/// Host: `start` sends codeOpen with the host's PAKE message (a cookie challenge is answered at
/// once); `.opened` names the nameplate to read out. While it waits, a refresh goes every
/// `keepaliveInterval`, which also keeps the host's NAT binding to the rendezvous open so the
/// knock can reach it. `.knocked` hands over the joiner's PAKE message and tag; the caller checks
/// the tag and calls `answer(payload:now:)` or `burn(now:)`; `.acknowledged` ends it.
///
/// Joiner: `start` sends codeLookup; `.offered` hands over the host's PAKE message; the caller
/// computes its own and its tag and calls `knock(pakeMessage:tag:now:)`; `.answered` (the host's
/// sealed payload) ends it.
///
/// Either way `.failed` ends it: the rendezvous refused (`codeRefused` with its reason), did not
/// reply (`codeNoReply`), the host never answered the knock (`codeNoAnswer`), or the host's code
/// ran out before a knock (`codeExpired`). Requests are retried after `retryInterval`, doubling
/// up to `maxRetryInterval`, with the same nonce and cookie, so the rendezvous treats a retry as
/// the same request.
///
/// Every reply must carry this exchange's random nonce, so an off-path sender cannot fake one.
/// The PAKE itself is the caller's: this machine only carries bytes. No I/O, no clock: events
/// take `now`, the nonce comes from the injected random source. The shell feeds it only
/// datagrams from the rendezvous's address. Not thread-safe; owned by one caller
/// (`CodeMailboxClient.runHost`/`runJoiner`, or a test).
public struct CodeMailboxClient: Sendable {
    /// Monotonic time.
    public typealias Instant = ContinuousClock.Instant
    /// Returns that many random bytes; the nonce comes from here.
    public typealias RandomSource = @Sendable (Int) -> [UInt8]

    /// Which side of the exchange this is.
    public enum Role: Equatable, Sendable {
        /// Opens a mailbox with its PAKE message; `lifetime` nil takes the rendezvous's default,
        /// a shorter one is honoured, a longer one is capped by the rendezvous.
        case host(pakeMessage: [UInt8], lifetime: Duration?)
        /// Looks up and knocks on the nameplate the person typed.
        case joiner(nameplate: CodeNameplate)
    }

    /// The joiner's guess as the host receives it.
    public struct Knock: Equatable, Sendable {
        /// The rendezvous's id of the knock.
        package var knockID: UInt64
        /// The joiner's PAKE message.
        public var pakeMessage: [UInt8]
        /// The joiner's key confirmation tag, to check before answering.
        public var tag: [UInt8]

        /// Creates a knock.
        public init(knockID: UInt64, pakeMessage: [UInt8], tag: [UInt8]) {
            self.knockID = knockID
            self.pakeMessage = pakeMessage
            self.tag = tag
        }
    }

    /// What happened, for the caller.
    public enum Event: Equatable, Sendable {
        /// Host: the mailbox is open under this nameplate for this long.
        case opened(CodeNameplate, lifetime: Duration)
        /// Joiner: the host's PAKE message; answer with `knock(pakeMessage:tag:now:)`.
        case offered(pakeMessage: [UInt8])
        /// Host: a joiner knocked; answer with `answer(payload:now:)` or `burn(now:)`.
        case knocked(Knock)
        /// Joiner: the host's sealed payload. The exchange is over.
        case answered(payload: [UInt8])
        /// Host: the rendezvous carried out the answer or burn. The exchange is over.
        case acknowledged
        /// The exchange is over without success.
        case failed(RendezvousError)
    }

    /// What the shell must do.
    public enum Action: Equatable, Sendable {
        /// Send these bytes to the rendezvous.
        case send([UInt8])
        /// Tell the caller.
        case event(Event)
    }

    /// Why a datagram from the rendezvous was ignored; counted, never answered.
    public enum DropReason: Hashable, Sendable, CaseIterable {
        /// It did not decode.
        case malformed
        /// A node → rendezvous type, or a registration message.
        case unexpectedType
        /// Another exchange's nonce: stale, or forged off-path.
        case wrongNonce
        /// Another nameplate than this exchange's.
        case wrongNameplate
        /// Not expected at this point of the exchange (a duplicate, say).
        case unexpected
        /// The exchange is over, or has not started.
        case inactive
    }

    /// Timers of the exchange; every default is the named constant.
    public struct Configuration: Equatable, Sendable {
        /// The first retry of an unanswered request.
        package var retryInterval = Self.defaultRetryInterval
        /// Retries double up to this.
        package var maxRetryInterval = Self.defaultMaxRetryInterval
        /// A request the rendezvous does not reply to in this long fails with `codeNoReply`.
        package var replyTimeout = Self.defaultReplyTimeout
        /// A knock the host does not answer in this long fails with `codeNoAnswer`.
        package var answerTimeout = Self.defaultAnswerTimeout
        /// How often a waiting host refreshes its mailbox.
        package var keepaliveInterval = Self.defaultKeepaliveInterval

        /// The defaults.
        public init() {}

        /// 0.5 s: a loopback or LAN round trip is far shorter, an intercontinental one about this.
        package static let defaultRetryInterval = Duration.milliseconds(500)
        /// 4 s: a person waits for the code; long silences between retries help nobody.
        package static let defaultMaxRetryInterval = Duration.seconds(4)
        /// 10 s: six or seven tries; a rendezvous silent that long is down or unreachable.
        package static let defaultReplyTimeout = Duration.seconds(10)
        /// 30 s: the host answers within a round trip, unless its knock was lost, which its
        /// next refresh (every 15 s) and the joiner's retries repair.
        package static let defaultAnswerTimeout = Duration.seconds(30)
        /// 15 s: the rendezvous's refresh interval; many NATs forget an idle UDP binding after 30 s.
        package static let defaultKeepaliveInterval = Duration.seconds(15)
    }

    /// Counters for logs and tests.
    public struct Stats: Equatable, Sendable {
        /// Datagrams sent again because no reply came.
        package var retransmissions = 0
        /// Cookie challenges taken.
        package var challenges = 0
        /// Ignored datagrams by reason.
        public var drops: [DropReason: Int] = [:]

        /// All zero.
        public init() {}
    }

    private enum Phase: Equatable, Sendable {
        case idle
        /// Host: codeOpen sent, no codeOpened yet.
        case opening
        /// Host: open, refreshing, waiting for a knock.
        case waitingForKnock
        /// Host: `.knocked` reported; the caller decides.
        case hostDeciding(knockID: UInt64)
        /// Host: answer or burn sent, waiting for codeAck.
        case concluding
        /// Joiner: codeLookup sent.
        case lookingUp
        /// Joiner: `.offered` reported; the caller computes its knock.
        case joinerDeciding
        /// Joiner: knock sent, waiting for the answer.
        case knocking
        case finished
    }

    private enum Request: Equatable, Sendable {
        case open(refresh: Bool)
        case lookup
        case knock(pakeMessage: [UInt8], tag: [UInt8])
        case answer(knockID: UInt64, payload: [UInt8])
        case burn(knockID: UInt64)
    }

    /// This side's role.
    public let role: Role
    /// The timers in force.
    public let configuration: Configuration
    /// The exchange's random nonce, bound into the cookie and echoed in every reply.
    package let clientNonce: UInt64
    /// Counters.
    public private(set) var stats = Stats()
    /// The nameplate: the joiner's from the start, the host's once opened.
    public private(set) var nameplate: CodeNameplate?

    private var phase = Phase.idle
    private var cookie = RendezvousCookie.none
    private var request: Request?
    private var retransmitAt: Instant?
    private var retryDelay: Duration
    private var giveUpAt: Instant?
    private var keepaliveAt: Instant?
    private var expiresAt: Instant?

    /// Creates an idle exchange with a fresh nonce.
    ///
    /// - Parameters:
    ///   - role: host (with its PAKE message, 1 … `RendezvousWire.maxPakeMessageSize` bytes; any
    ///     other size is a programmer error) or joiner (with the nameplate typed).
    ///   - configuration: timers.
    ///   - randomSource: random bytes for the nonce; libsodium's by default, seeded in tests.
    public init(
        role: Role,
        configuration: Configuration = Configuration(),
        randomSource: RandomSource = { Sodium.randomBytes($0) }
    ) {
        switch role {
        case .host(let pakeMessage, let lifetime):
            precondition(isPakeMessageSize(pakeMessage.count), "PAKE message of 1…96 bytes")
            precondition(lifetime.map { $0 > .zero } ?? true, "a positive lifetime")
        case .joiner(let nameplate):
            self.nameplate = nameplate
        }
        precondition(
            configuration.retryInterval > .zero && configuration.maxRetryInterval >= configuration.retryInterval
        )
        precondition(configuration.replyTimeout > .zero && configuration.answerTimeout > .zero)
        precondition(configuration.keepaliveInterval > .zero)
        self.role = role
        self.configuration = configuration
        let nonceBytes = randomSource(RendezvousWire.clientNonceSize)
        precondition(nonceBytes.count == RendezvousWire.clientNonceSize, "random source returned the wrong length")
        clientNonce = nonceBytes.reduce(0) { $0 << 8 | UInt64($1) }
        retryDelay = configuration.retryInterval
    }

    /// True once the exchange is over (after `.answered`, `.acknowledged`, `.failed`, or `close`).
    public var isFinished: Bool { phase == .finished }

    /// When `timerFired(now:)` should next be called, or nil if nothing is pending.
    public var nextTimer: Instant? {
        switch phase {
        case .idle, .finished: return nil
        case .opening, .waitingForKnock, .hostDeciding, .concluding, .lookingUp, .joinerDeciding, .knocking: break
        }
        var deadlines = [giveUpAt, request == nil ? nil : retransmitAt].compactMap { $0 }
        if phase == .waitingForKnock, request == nil, let keepaliveAt { deadlines.append(keepaliveAt) }
        if holdsOpenCode, let expiresAt { deadlines.append(expiresAt) }
        return deadlines.min()
    }

    /// Host, waiting for or deciding on a knock: the code's lifetime is what bounds it.
    private var holdsOpenCode: Bool {
        switch phase {
        case .waitingForKnock, .hostDeciding: true
        case .idle, .opening, .concluding, .lookingUp, .joinerDeciding, .knocking, .finished: false
        }
    }

    // MARK: Events

    /// Sends the first request: codeOpen for a host, codeLookup for a joiner.
    public mutating func start(now: Instant) -> [Action] {
        guard phase == .idle else { return [] }
        switch role {
        case .host:
            phase = .opening
            return begin(.open(refresh: false), timeout: configuration.replyTimeout, now: now)
        case .joiner:
            phase = .lookingUp
            return begin(.lookup, timeout: configuration.replyTimeout, now: now)
        }
    }

    /// Joiner, after `.offered`: knocks with the joiner's PAKE message and confirmation tag.
    ///
    /// - Parameters:
    ///   - pakeMessage: 1 … `RendezvousWire.maxPakeMessageSize` bytes.
    ///   - tag: `RendezvousWire.codeTagSize` bytes.
    ///   - now: the current time.
    /// - Returns: the knock to send; nothing if the exchange is already over. Calling it before
    ///   `.offered`, twice, or as the host is a programmer error.
    public mutating func knock(pakeMessage: [UInt8], tag: [UInt8], now: Instant) -> [Action] {
        guard phase != .finished else { return [] }
        precondition(phase == .joinerDeciding, "knock only once, after .offered, as the joiner")
        precondition(isPakeMessageSize(pakeMessage.count) && tag.count == RendezvousWire.codeTagSize)
        phase = .knocking
        return begin(.knock(pakeMessage: pakeMessage, tag: tag), timeout: configuration.answerTimeout, now: now)
    }

    /// Host, after `.knocked` with a tag that checked out: sends the sealed payload to the joiner.
    ///
    /// - Parameters:
    ///   - payload: 1 … `RendezvousWire.maxCodePayloadSize` bytes, opaque.
    ///   - now: the current time.
    /// - Returns: the answer to send; nothing if the exchange is already over (the code expired
    ///   while deciding). Calling it before `.knocked`, twice, or as the joiner is a programmer error.
    public mutating func answer(payload: [UInt8], now: Instant) -> [Action] {
        guard phase != .finished else { return [] }
        guard case .hostDeciding(let knockID) = phase else { preconditionFailure("answer only once, after .knocked") }
        precondition(isCodePayloadSize(payload.count), "payload of 1…maxCodePayloadSize bytes")
        phase = .concluding
        return begin(.answer(knockID: knockID, payload: payload), timeout: configuration.replyTimeout, now: now)
    }

    /// Host, after `.knocked` with a wrong tag: burns the nameplate; the joiner is told `burnt`.
    ///
    /// - Returns: the burn to send; nothing if the exchange is already over. Calling it before
    ///   `.knocked`, twice, or as the joiner is a programmer error.
    public mutating func burn(now: Instant) -> [Action] {
        guard phase != .finished else { return [] }
        guard case .hostDeciding(let knockID) = phase else { preconditionFailure("burn only once, after .knocked") }
        phase = .concluding
        return begin(.burn(knockID: knockID), timeout: configuration.replyTimeout, now: now)
    }

    /// Ends the exchange now. A host holding a nameplate sends codeClose once (best effort: if it
    /// is lost the code expires at its time), which also tells a joiner waiting on it.
    public mutating func close(now: Instant) -> [Action] {
        defer { finish() }
        switch phase {
        case .waitingForKnock, .hostDeciding, .concluding:
            guard let nameplate, !cookie.isNone else { return [] }
            let close = RendezvousMessage.codeClose(
                .init(clientNonce: clientNonce, cookie: cookie, nameplate: nameplate)
            )
            return [.send(close.encoded())]
        case .idle, .opening, .lookingUp, .joinerDeciding, .knocking, .finished:
            return []
        }
    }

    /// Takes in one datagram that came from the rendezvous's address; never traps on its bytes.
    public mutating func received(_ datagram: [UInt8], now: Instant) -> [Action] {
        switch phase {
        case .idle, .finished:
            return drop(.inactive)
        case .opening, .waitingForKnock, .hostDeciding, .concluding, .lookingUp, .joinerDeciding, .knocking:
            break
        }
        let message: RendezvousMessage
        do {
            message = try RendezvousMessage.decode(datagram)
        } catch {
            return drop(.malformed)
        }
        switch message {
        case .register, .registered, .introduce, .relay, .relayed, .unregister, .codeOpen, .codeLookup, .codeKnock,
            .codeAnswer, .codeBurn, .codeClose, .retire, .registerRefused:
            return drop(.unexpectedType)
        case .cookieChallenge(let challenge):
            return receivedChallenge(challenge, now: now)
        case .codeOpened(let opened):
            return receivedOpened(opened, now: now)
        case .codeOffer(let offer):
            guard offer.clientNonce == clientNonce else { return drop(.wrongNonce) }
            guard offer.nameplate == nameplate else { return drop(.wrongNameplate) }
            guard phase == .lookingUp else { return drop(.unexpected) }
            settle()
            phase = .joinerDeciding
            return [.event(.offered(pakeMessage: offer.pakeMessage))]
        case .codeKnocked(let knocked):
            return receivedKnocked(knocked, now: now)
        case .codeAnswered(let answered):
            guard answered.clientNonce == clientNonce else { return drop(.wrongNonce) }
            guard answered.nameplate == nameplate else { return drop(.wrongNameplate) }
            guard phase == .knocking else { return drop(.unexpected) }
            finish()
            return [.event(.answered(payload: answered.payload))]
        case .codeAck(let ack):
            guard ack.clientNonce == clientNonce else { return drop(.wrongNonce) }
            guard ack.nameplate == nameplate else { return drop(.wrongNameplate) }
            guard phase == .concluding else { return drop(.unexpected) }
            finish()
            return [.event(.acknowledged)]
        case .codeError(let error):
            guard error.clientNonce == clientNonce else { return drop(.wrongNonce) }
            // nil only answers an open that found no free nameplate, before this host has one.
            guard error.nameplate == nameplate || (error.nameplate == nil && phase == .opening) else {
                return drop(.wrongNameplate)
            }
            // Only an answer to a request in flight; a late copy answering an earlier one is stale.
            guard request != nil else { return drop(.unexpected) }
            finish()
            return [.event(.failed(.codeRefused(error.reason)))]
        }
    }

    /// Retries, refreshes, and gives up when a request or the code has run out of time.
    public mutating func timerFired(now: Instant) -> [Action] {
        switch phase {
        case .idle, .finished: return []
        case .opening, .waitingForKnock, .hostDeciding, .concluding, .lookingUp, .joinerDeciding, .knocking: break
        }
        if holdsOpenCode, let expiresAt, now >= expiresAt {
            finish()
            return [.event(.failed(.codeExpired))]
        }
        if let request, let giveUpAt, now >= giveUpAt {
            let knocked: Bool
            switch request {
            case .knock: knocked = true
            case .open, .lookup, .answer, .burn: knocked = false
            }
            finish()
            return [.event(.failed(knocked ? .codeNoAnswer : .codeNoReply))]
        }
        if request == nil, phase == .waitingForKnock, let keepaliveAt, now >= keepaliveAt {
            return begin(.open(refresh: true), timeout: configuration.replyTimeout, now: now)
        }
        guard let request, let retransmitAt, now >= retransmitAt else { return [] }
        retryDelay = min(retryDelay * 2, configuration.maxRetryInterval)
        self.retransmitAt = now + retryDelay
        stats.retransmissions += 1
        return [.send(encode(request))]
    }

    // MARK: Replies

    private mutating func receivedChallenge(_ challenge: RendezvousMessage.CookieChallenge, now: Instant) -> [Action] {
        guard challenge.clientNonce == clientNonce else { return drop(.wrongNonce) }
        // The same cookie again (a reply to a retry) changes nothing; resending would only echo it.
        guard challenge.cookie != cookie else { return drop(.unexpected) }
        cookie = challenge.cookie
        stats.challenges += 1
        guard let request else { return [] }
        return [.send(encode(request))]
    }

    private mutating func receivedOpened(_ opened: RendezvousMessage.CodeOpened, now: Instant) -> [Action] {
        guard opened.clientNonce == clientNonce else { return drop(.wrongNonce) }
        let lifetime = Duration.seconds(Int(opened.lifetimeSeconds))
        switch phase {
        case .opening:
            nameplate = opened.nameplate
            settle()
            phase = .waitingForKnock
            expiresAt = now + lifetime
            keepaliveAt = now + configuration.keepaliveInterval
            return [.event(.opened(opened.nameplate, lifetime: lifetime))]
        case .waitingForKnock where request == .open(refresh: true):
            guard opened.nameplate == nameplate else { return drop(.wrongNameplate) }
            settle()
            expiresAt = min(expiresAt ?? now + lifetime, now + lifetime)
            keepaliveAt = now + configuration.keepaliveInterval
            return []
        case .idle, .waitingForKnock, .hostDeciding, .concluding, .lookingUp, .joinerDeciding, .knocking, .finished:
            return drop(.unexpected)
        }
    }

    private mutating func receivedKnocked(_ knocked: RendezvousMessage.CodeKnocked, now: Instant) -> [Action] {
        guard knocked.clientNonce == clientNonce else { return drop(.wrongNonce) }
        guard knocked.nameplate == nameplate else { return drop(.wrongNameplate) }
        switch phase {
        case .waitingForKnock:
            // A refresh in flight no longer matters: the code is used.
            settle()
            phase = .hostDeciding(knockID: knocked.knockID)
            let knock = Knock(knockID: knocked.knockID, pakeMessage: knocked.pakeMessage, tag: knocked.tag)
            return [.event(.knocked(knock))]
        case .concluding:
            // Forwarded again because the joiner heard nothing: the decision has not reached the
            // rendezvous yet, so it goes again now.
            guard let request else { return drop(.unexpected) }
            switch request {
            case .answer(let knockID, _), .burn(let knockID):
                guard knockID == knocked.knockID else { return drop(.unexpected) }
                stats.retransmissions += 1
                return [.send(encode(request))]
            case .open, .lookup, .knock:
                return drop(.unexpected)
            }
        case .idle, .opening, .hostDeciding, .lookingUp, .joinerDeciding, .knocking, .finished:
            return drop(.unexpected)
        }
    }

    // MARK: Requests

    private mutating func begin(_ request: Request, timeout: Duration, now: Instant) -> [Action] {
        self.request = request
        retryDelay = configuration.retryInterval
        retransmitAt = now + retryDelay
        giveUpAt = now + timeout
        return [.send(encode(request))]
    }

    /// The request in flight was answered.
    private mutating func settle() {
        request = nil
        retransmitAt = nil
        giveUpAt = nil
    }

    private mutating func finish() {
        settle()
        phase = .finished
        keepaliveAt = nil
        expiresAt = nil
    }

    private mutating func drop(_ reason: DropReason) -> [Action] {
        stats.drops[reason, default: 0] += 1
        return []
    }

    private func encode(_ request: Request) -> [UInt8] {
        let message: RendezvousMessage
        switch request {
        case .open(let refresh):
            guard case .host(let pakeMessage, let lifetime) = role else { preconditionFailure("only a host opens") }
            message = .codeOpen(
                .init(
                    clientNonce: clientNonce,
                    cookie: cookie,
                    requestedLifetimeSeconds: lifetime.map(lifetimeSeconds) ?? 0,
                    nameplate: refresh ? nameplate : nil,
                    pakeMessage: pakeMessage
                )
            )
        case .lookup:
            // A joiner has its nameplate from the start.
            message = .codeLookup(.init(clientNonce: clientNonce, cookie: cookie, nameplate: nameplate!))
        case .knock(let pakeMessage, let tag):
            message = .codeKnock(
                .init(
                    clientNonce: clientNonce,
                    cookie: cookie,
                    nameplate: nameplate!,
                    pakeMessage: pakeMessage,
                    tag: tag
                )
            )
        case .answer(let knockID, let payload):
            message = .codeAnswer(
                .init(
                    clientNonce: clientNonce,
                    cookie: cookie,
                    nameplate: nameplate!,
                    knockID: knockID,
                    payload: payload
                )
            )
        case .burn(let knockID):
            message = .codeBurn(
                .init(clientNonce: clientNonce, cookie: cookie, nameplate: nameplate!, knockID: knockID)
            )
        }
        return message.encoded()
    }
}

/// A requested lifetime in the 2-byte field: whole seconds rounded up, at least 1, at most 65,535.
private func lifetimeSeconds(_ duration: Duration) -> UInt16 {
    let parts = duration.components
    return UInt16(clamping: max(1, parts.seconds + (parts.attoseconds > 0 ? 1 : 0)))
}
