import PeerCrypto
import Primitives
import Rendezvous

/// The node's side of the rendezvous protocol, as a pure state machine.
///
/// Registration: `start(now:)` sends a register with no cookie; the rendezvous answers with a
/// cookie challenge echoing the nonce, and the register goes again with the cookie; `registered`
/// names the node's reflexive (public) address and the refresh interval. The same nonce and
/// cookie refresh the registration every interval; a refresh answered by a challenge (stale
/// cookie, restarted rendezvous, NAT rebinding) is sent again at once with the new cookie.
/// Unanswered registers are retried after `RendezvousWire.clientRetryInterval`, doubling up to
/// `RendezvousWire.clientMaxRetryInterval`; after `RendezvousWire.clientRestartAfter` without an answer the
/// client starts over with a fresh nonce and no cookie.
///
/// Every register and unregister carries the room's registration key for the epoch and is signed
/// with it; the room tag is the hash of that key (`RoomTag(registrationKey:)`). A `registered` or
/// an introduction counts only if it names this client's current nonce (`wrongNonce` otherwise),
/// so an off-path sender who never saw the register cannot fake either.
///
/// Introductions of other members are reported with whether they are new or changed; relayed
/// datagrams are unwrapped and reported with their source peer id; `relayDatagram(_:to:)` wraps
/// the node's own. `close(now:)` unregisters; `retire(now:)` retires the room's tag instead (the
/// previous epoch's, after the overlap), sending the signed retire `RendezvousWire.clientRetireAttempts`
/// times and answering a challenge with the new cookie, then closes.
///
/// The shell must feed it only datagrams that came from the rendezvous's address. No I/O, no
/// clock: every event takes `now` (monotonic nanoseconds); nonces come from the injected
/// generator. Not thread-safe; owned by the node's transport loop.
public struct RendezvousClient: Sendable {
    /// What the shell must do or know after an event.
    public enum Action: Equatable, Sendable {
        /// Send these bytes to the rendezvous.
        case send([UInt8])
        /// The registration was accepted (first time, or the reflexive address changed).
        case registered(reflexive: UDPEndpoint)
        /// Another member of the room and its candidate addresses.
        case introduced(Introduction)
        /// A datagram another member sent through the relay.
        case relayed([UInt8], from: RendezvousPeerID)
        /// The rendezvous stopped answering; the client starts over with a cookie round trip.
        case registrationLost
        /// The rendezvous refused to create the room (reported once until a registration
        /// succeeds); the client keeps retrying, so an operator's change lets it in.
        case refused(RendezvousWire.RegisterRefusalReason)
    }

    /// Another member of the room, as the rendezvous described it.
    public struct Introduction: Equatable, Sendable {
        /// Its random id in this room: relay to it with this.
        public var peerID: RendezvousPeerID
        /// Its address as the rendezvous sees it.
        public var reflexive: UDPEndpoint
        /// Its own local addresses.
        public var candidates: [UDPEndpoint]
        /// False when the rendezvous repeated an introduction already reported unchanged.
        public var isNew: Bool
    }

    /// Why a datagram from the rendezvous was ignored; each drop is counted, nothing is answered.
    public enum DropReason: Hashable, Sendable, CaseIterable {
        /// It did not decode as a rendezvous message.
        case malformed
        /// A node → rendezvous message type, or a short-code message (not a registration's).
        case unexpectedType
        /// A challenge, registered or introduction for a nonce this client is not using.
        case wrongNonce
        /// A registered reply for another peer id.
        case wrongPeerID
        /// An introduction for another room.
        case wrongRoom
        /// An introduction of this node itself.
        case selfIntroduction
        /// Anything arriving after `close`.
        case closed
    }

    /// Counters for status displays and tests.
    public struct Stats: Equatable, Sendable {
        /// Registers sent (first attempts, retries and refreshes).
        package internal(set) var registersSent = 0
        /// Retires sent (repeats and the ones answering a challenge included).
        package internal(set) var retiresSent = 0
        /// Cookie challenges taken.
        package internal(set) var challengesReceived = 0
        /// Registered replies taken.
        package internal(set) var registrations = 0
        /// Times the client gave up waiting and started over.
        package internal(set) var restarts = 0
        /// Introductions reported (new or repeated).
        package internal(set) var introductions = 0
        /// Relayed datagrams unwrapped.
        package internal(set) var relayedReceived = 0
        /// registerRefused replies taken.
        public internal(set) var refusals = 0
        /// Ignored datagrams by reason.
        public internal(set) var drops: [DropReason: Int] = [:]

        /// Drops for all reasons.
        public var totalDrops: Int { drops.values.reduce(0, +) }

        mutating func drop(_ reason: DropReason) { drops[reason, default: 0] += 1 }
    }

    enum Phase: Equatable, Sendable {
        /// Not started.
        case idle
        /// A register without a valid cookie is out; waiting for a challenge.
        case awaitingChallenge
        /// A register with a cookie is out; waiting for registered.
        case awaitingRegistered
        /// Registered; the next refresh is due at `nextSendAt`.
        case registered
        /// Retiring the tag: a retire is out, the next repeat (or the close) is due at `nextSendAt`.
        case retiring
        /// Closed; nothing more is sent or accepted.
        case closed
    }

    /// The room registered in: `RoomTag(registrationKey:)` of the key.
    public let roomTag: RoomTag
    /// The room's registration key in this epoch: signs every register, unregister and retire.
    let registrationKey: Identity
    /// The room's owner identity when this node is the owner: every register carries its proof,
    /// which a rendezvous with an allow list needs to create the room.
    let owner: Identity?
    /// True once a refusal was reported, until a registration succeeds.
    var refusalReported = false
    /// This node's random id in the room, kept across refreshes and restarts.
    public let peerID: RendezvousPeerID
    /// The local addresses announced to other members.
    public let candidates: [UDPEndpoint]
    /// What happened so far.
    public internal(set) var stats = Stats()
    /// This node's address as the rendezvous last saw it.
    public internal(set) var reflexive: UDPEndpoint?

    var random: any RandomNumberGenerator & Sendable
    var phase = Phase.idle
    var nonce: UInt64 = 0
    var cookie = RendezvousCookie.none
    /// True from the first registered reply until the client starts over or closes.
    var registeredOnce = false
    var refreshInterval = RendezvousWire.clientDefaultRefreshInterval
    /// When the oldest unanswered register went out, if one is unanswered.
    var unansweredSince: UInt64?
    var retryDelay = RendezvousWire.clientRetryInterval
    var nextSendAt: UInt64?
    /// Introduced peers and when each was last introduced.
    var known: [RendezvousPeerID: (introduction: Introduction, seenAt: UInt64)] = [:]
    /// Retires sent since `retire(now:)`.
    var retiresSent = 0

    /// A client for the room whose registration key (in one epoch) is `registrationKey`, as
    /// `peerID`, announcing `candidates` (at most `RendezvousWire.maxCandidates`; more are cut).
    public init(
        registrationKey: Identity, peerID: RendezvousPeerID, candidates: [UDPEndpoint],
        owner: Identity? = nil, random: some RandomNumberGenerator & Sendable
    ) {
        self.registrationKey = registrationKey
        self.owner = owner
        self.roomTag = RoomTag(registrationKey: registrationKey.publicKey)
        self.peerID = peerID
        self.candidates = Array(candidates.prefix(RendezvousWire.maxCandidates))
        self.random = random
    }

    /// A client for the room with these keys, in their epoch; `identity` is this node's, and the
    /// registers carry the owner's proof when it is the room's owner (`roomKeys.owner`).
    public init(
        roomKeys: RoomKeys, peerID: RendezvousPeerID, candidates: [UDPEndpoint], identity: Identity? = nil,
        random: some RandomNumberGenerator & Sendable
    ) {
        self.init(
            registrationKey: roomKeys.registrationKey, peerID: peerID, candidates: candidates,
            owner: identity.flatMap { $0.publicKey == roomKeys.owner ? $0 : nil }, random: random)
    }

    /// True while the rendezvous holds a registration for this node, as far as the client knows.
    public var isRegistered: Bool { registeredOnce && phase != .closed && phase != .retiring }

    /// True once closed (or done retiring): nothing more is sent, and the shell may let it go.
    public var isFinished: Bool { phase == .closed }

    /// When `timerFired(now:)` should next be called, or nil if nothing is pending.
    public var nextTimer: UInt64? {
        switch phase {
        case .idle, .closed: nil
        case .awaitingChallenge, .awaitingRegistered, .registered, .retiring: nextSendAt
        }
    }

    /// Starts registering: a register with a fresh nonce and no cookie.
    public mutating func start(now: UInt64) -> [Action] {
        guard phase == .idle else { return [] }
        return startOver(now: now)
    }

    /// Takes in one datagram that came from the rendezvous's address; never throws or traps.
    public mutating func received(_ datagram: [UInt8], now: UInt64) -> [Action] {
        guard phase != .closed else {
            stats.drop(.closed)
            return []
        }
        let message: RendezvousMessage
        do {
            message = try RendezvousMessage.decode(datagram)
        } catch {
            stats.drop(.malformed)
            return []
        }
        if phase == .retiring {
            // Only a challenge to the retire matters now; the registration is gone.
            guard case .cookieChallenge(let challenge) = message else {
                stats.drop(.closed)
                return []
            }
            return receivedRetireChallenge(challenge, now: now)
        }
        switch message {
        case .register, .relay, .unregister, .retire, .codeOpen, .codeLookup, .codeKnock, .codeAnswer, .codeBurn,
            .codeClose:
            stats.drop(.unexpectedType)
            return []
        case .codeOpened, .codeOffer, .codeKnocked, .codeAnswered, .codeAck, .codeError:
            // Short-code replies go to the code exchange's own socket, never to a node's registration.
            stats.drop(.unexpectedType)
            return []
        case .registerRefused(let refused):
            guard phase != .idle, refused.clientNonce == nonce else {
                stats.drop(.wrongNonce)
                return []
            }
            stats.refusals += 1
            guard !refusalReported else { return [] }
            refusalReported = true
            return [.refused(refused.reason)]
        case .cookieChallenge(let challenge):
            return receivedChallenge(challenge, now: now)
        case .registered(let registered):
            return receivedRegistered(registered, now: now)
        case .introduce(let introduce):
            return receivedIntroduce(introduce, now: now)
        case .relayed(let relayed):
            stats.relayedReceived += 1
            return [.relayed(relayed.datagram, from: relayed.source)]
        }
    }

    /// Sends what is due: a retry, a refresh, or (after `RendezvousWire.clientRestartAfter` unanswered) a fresh start.
    public mutating func timerFired(now: UInt64) -> [Action] {
        guard let due = nextSendAt, now >= due else { return [] }
        switch phase {
        case .idle, .closed:
            return []
        case .retiring:
            guard retiresSent < RendezvousWire.clientRetireAttempts else {
                phase = .closed
                nextSendAt = nil
                return []
            }
            return [sendRetire(now: now)]
        case .awaitingChallenge, .awaitingRegistered, .registered:
            break
        }
        if let since = unansweredSince, now - min(since, now) >= RendezvousWire.clientRestartAfter {
            stats.restarts += 1
            let lost: [Action] = registeredOnce ? [.registrationLost] : []
            return lost + startOver(now: now)
        }
        if unansweredSince == nil {
            // A refresh: the first register of a new round trip.
            unansweredSince = now
            retryDelay = RendezvousWire.clientRetryInterval
        } else {
            retryDelay = min(retryDelay * 2, RendezvousWire.clientMaxRetryInterval)
        }
        nextSendAt = now + retryDelay
        return [sendRegister()]
    }

    /// Unregisters (if registered) and stops; later input is dropped.
    public mutating func close(now: UInt64) -> [Action] {
        defer {
            phase = .closed
            nextSendAt = nil
        }
        guard phase != .closed, phase != .retiring, registeredOnce, !cookie.isNone else { return [] }
        let unregister = RendezvousMessage.Unregister(
            roomTag: roomTag, peerID: peerID, clientNonce: nonce, cookie: cookie,
            registrationKey: registrationKey.publicKey
        ).signed(by: registrationKey)
        return [.send(RendezvousMessage.unregister(unregister).encoded())]
    }

    /// Retires the room's tag at the rendezvous instead of unregistering: every registration under
    /// it goes, and the rendezvous refuses registers under it for its `retiredRoomLifetime`.
    ///
    /// For the previous epoch's tag once the overlap after an epoch change ends, so a removed
    /// member (who holds that epoch's key) cannot register under it again. The signed retire
    /// carries the current nonce and cookie (with no cookie yet, it brings a challenge); it goes
    /// out `RendezvousWire.clientRetireAttempts` times, `RendezvousWire.clientRetryInterval` apart, and once
    /// more for each challenge that names its nonce; then the client closes (`isFinished`).
    public mutating func retire(now: UInt64) -> [Action] {
        switch phase {
        case .closed, .retiring: return []
        case .idle: nonce = random.next()
        case .awaitingChallenge, .awaitingRegistered, .registered: break
        }
        phase = .retiring
        retiresSent = 0
        return [sendRetire(now: now)]
    }

    /// A node's own datagram (at most `RendezvousWire.maxRelayedDatagramSize` bytes) wrapped for
    /// the rendezvous to relay to `peer`.
    public static func relayDatagram(_ datagram: [UInt8], to peer: RendezvousPeerID) -> [UInt8] {
        precondition(datagram.count <= RendezvousWire.maxRelayedDatagramSize, "inner datagram too large")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(RendezvousWire.relayHeaderSize + datagram.count)
        bytes.append(RendezvousWire.MessageType.relay.rawValue)
        bytes.append(contentsOf: repeatElement(0, count: RendezvousWire.reservedSize))
        let id = peer.rawValue
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: id >> UInt64(shift))) }
        bytes.append(contentsOf: datagram)
        return bytes
    }

    /// The introduced peers currently remembered.
    package var knownPeers: [Introduction] {
        known.values.map(\.introduction).sorted { $0.peerID.rawValue < $1.peerID.rawValue }
    }

    // MARK: Events

    private mutating func receivedChallenge(_ challenge: RendezvousMessage.CookieChallenge, now: UInt64) -> [Action] {
        guard phase != .idle, challenge.clientNonce == nonce else {
            stats.drop(.wrongNonce)
            return []
        }
        stats.challengesReceived += 1
        cookie = challenge.cookie
        phase = .awaitingRegistered
        // The challenge answered the last register: the round trip works, so the next wait
        // starts now, from the shortest retry.
        unansweredSince = now
        retryDelay = RendezvousWire.clientRetryInterval
        nextSendAt = now + retryDelay
        return [sendRegister()]
    }

    private mutating func receivedRegistered(_ registered: RendezvousMessage.Registered, now: UInt64) -> [Action] {
        guard registered.clientNonce == nonce else {
            stats.drop(.wrongNonce)
            return []
        }
        guard registered.peerID == peerID else {
            stats.drop(.wrongPeerID)
            return []
        }
        guard phase == .awaitingRegistered || phase == .registered, !cookie.isNone else {
            // Only a register with a cookie is ever accepted, so this is a stray copy.
            stats.drop(.wrongNonce)
            return []
        }
        stats.registrations += 1
        refusalReported = false
        let seconds = UInt64(registered.refreshIntervalSeconds) * 1_000_000_000
        refreshInterval = min(max(seconds, RendezvousWire.clientMinRefreshInterval), RendezvousWire.clientMaxRefreshInterval)
        phase = .registered
        unansweredSince = nil
        retryDelay = RendezvousWire.clientRetryInterval
        nextSendAt = now + refreshInterval
        let changed = !registeredOnce || reflexive != registered.reflexive
        registeredOnce = true
        reflexive = registered.reflexive
        return changed ? [.registered(reflexive: registered.reflexive)] : []
    }

    private mutating func receivedIntroduce(_ introduce: RendezvousMessage.Introduce, now: UInt64) -> [Action] {
        guard introduce.clientNonce == nonce, phase != .idle else {
            stats.drop(.wrongNonce)
            return []
        }
        guard introduce.roomTag == roomTag else {
            stats.drop(.wrongRoom)
            return []
        }
        guard introduce.peerID != peerID else {
            stats.drop(.selfIntroduction)
            return []
        }
        let previous = known[introduce.peerID]?.introduction
        let isNew = previous.map { $0.reflexive != introduce.reflexive || $0.candidates != introduce.candidates } ?? true
        let introduction = Introduction(
            peerID: introduce.peerID, reflexive: introduce.reflexive, candidates: introduce.candidates, isNew: isNew)
        known[introduce.peerID] = (introduction, now)
        while known.count > RendezvousWire.clientMaxKnownPeers,
            let stalest = known.min(by: { $0.value.seenAt < $1.value.seenAt })?.key
        {
            known[stalest] = nil
        }
        stats.introductions += 1
        return [.introduced(introduction)]
    }

    // MARK: Helpers

    private mutating func startOver(now: UInt64) -> [Action] {
        nonce = random.next()
        cookie = .none
        registeredOnce = false
        phase = .awaitingChallenge
        unansweredSince = now
        retryDelay = RendezvousWire.clientRetryInterval
        nextSendAt = now + retryDelay
        return [sendRegister()]
    }

    private mutating func sendRegister() -> Action {
        stats.registersSent += 1
        let unsigned = RendezvousMessage.Register(
            roomTag: roomTag, peerID: peerID, clientNonce: nonce, cookie: cookie,
            registrationKey: registrationKey.publicKey, candidates: candidates)
        let register = owner.map { unsigned.signed(by: registrationKey, owner: $0) } ?? unsigned.signed(by: registrationKey)
        return .send(RendezvousMessage.register(register).encoded())
    }

    private mutating func receivedRetireChallenge(
        _ challenge: RendezvousMessage.CookieChallenge, now: UInt64
    ) -> [Action] {
        // Each challenge answers one of our retires; the cap keeps a rendezvous that never takes
        // the cookie (an address that changes every packet) from holding the client in a loop.
        guard challenge.clientNonce == nonce, retiresSent < 2 * RendezvousWire.clientRetireAttempts else {
            stats.drop(.wrongNonce)
            return []
        }
        stats.challengesReceived += 1
        cookie = challenge.cookie
        return [sendRetire(now: now)]
    }

    private mutating func sendRetire(now: UInt64) -> Action {
        retiresSent += 1
        stats.retiresSent += 1
        nextSendAt = now + RendezvousWire.clientRetryInterval
        let retire = RendezvousMessage.Retire(
            roomTag: roomTag, registrationKey: registrationKey.publicKey, clientNonce: nonce, cookie: cookie
        ).signed(by: registrationKey)
        return .send(RendezvousMessage.retire(retire).encoded())
    }
}
