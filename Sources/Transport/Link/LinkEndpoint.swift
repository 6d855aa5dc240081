import PeerCrypto

/// The encrypted links of one node to the other members of one room, as a pure state machine.
///
/// Connection establishment: `connect(paths:now:)` sends Noise message 1 on every path at once
/// and retries it (the same bytes) until a response completes or `Wire.linkHandshakeTimeout`
/// passes; the peer's identity is learned from its message 2. A link is "up" for the initiator
/// once a packet from the responder decrypts (the responder checks the room psk in message 3 and
/// answers at once with an empty packet), and for the responder once message 3 verifies.
///
/// Inbound flow: `received(_:from:now:)` checks the length, then (handshakes) the room mac before
/// any Diffie-Hellman, an initiation's timestamp against the wall clock and the replay cache, and
/// a per-path and global rate, or (data) the AEAD and only then the replay
/// window. Anything that fails is dropped silently and counted in `stats`. Outbound flow:
/// `send(_:to:now:)` encrypts under the current session with the link's next packet number.
/// Timers are data: the shell calls `timerFired(now:)` at `nextTimer`.
///
/// One link per peer identity. Packet numbers (the AEAD counters) start at 0 on a new link and
/// keep increasing across rekeys, so the reliability layer can use them as its packet numbers.
/// When both sides open sessions at the same time, the session whose initiator has the
/// lexicographically lower Ed25519 key is the one both send on.
///
/// No I/O, no clock: every event takes `now`, monotonic nanoseconds; randomness for indices,
/// jitter and punches comes from the injected generator (ephemeral keys come from libsodium).
/// Not thread-safe; owned by the node's transport shell.
package struct LinkEndpoint<Path: LinkPath>: Sendable {
    /// Choices the shell makes per endpoint.
    public struct Configuration: Equatable, Sendable {
        /// Send a keepalive after `Wire.linkKeepaliveInterval` without sending even when nothing
        /// arrives, so idle links and their NAT bindings stay up; otherwise keepalives only answer
        /// received packets (and an idle link dies after `Wire.linkDeadAfter`).
        package var persistentKeepalive: Bool

        /// The default answers received packets only, as WireGuard's passive keepalive does.
        public init(persistentKeepalive: Bool = false) {
            self.persistentKeepalive = persistentKeepalive
        }
    }

    /// Reads the wall clock for initiation timestamps and their check.
    ///
    /// Handshake initiations carry the initiator's wall-clock time, which a responder compares with
    /// its own; the monotonic `now` of the events cannot serve, as it differs per machine. The
    /// shell injects the system clock (`TransportLoop`); tests and simulations use
    /// `followingMonotonic`, or an offset from it to model a skewed clock, so runs stay
    /// deterministic. Called with the event's `now`; must be cheap.
    package struct WallClock: Sendable {
        /// Milliseconds since 1970 (UTC) at the given monotonic `now`.
        public let milliseconds: @Sendable (_ now: UInt64) -> UInt64

        /// A clock read by `milliseconds`.
        public init(milliseconds: @escaping @Sendable (_ now: UInt64) -> UInt64) {
            self.milliseconds = milliseconds
        }

        /// The monotonic time itself, in milliseconds, plus `offsetMilliseconds` (which may be
        /// negative): deterministic, for tests and simulations; every endpoint of one simulated
        /// network that shares `now` agrees on it.
        package static func followingMonotonic(offsetMilliseconds: Int64 = 0) -> WallClock {
            WallClock { now in UInt64(clamping: Int64(clamping: now / 1_000_000) &+ offsetMilliseconds) }
        }
    }

    /// This node's identity, as peers see it.
    package let localKey: PublicKey
    /// The configuration given at creation.
    public let configuration: Configuration
    let identity: Identity
    /// The identity's X25519 form, derived once: each handshake needs it, and deriving it costs a
    /// scalar multiplication.
    let staticKeyPair: X25519.KeyPair
    /// A fresh ephemeral key made while idle (`prepareEphemeral`), taken by the next handshake.
    var spareEphemeral: X25519.KeyPair?
    /// The room's keys in the epoch this endpoint runs in: every handshake it starts uses them.
    public internal(set) var room: RoomKeys
    /// Earlier epochs' keys, newest first, still answered for `olderEpochPeers` only (members
    /// who were away when the room moved on link there and learn the new epoch by sync).
    var olderRooms: [RoomKeys] = []
    /// Who may still complete a handshake in an earlier epoch.
    var olderEpochPeers: Set<PublicKey> = []
    var random: any RandomNumberGenerator & Sendable
    /// The injected wall clock, for initiation timestamps.
    let wallClock: WallClock
    /// Random per endpoint, sent in handshake messages 2 and 3: a peer that sees a new one knows this
    /// side restarted and drops the old link's state instead of resuming it.
    package let incarnation: [UInt8]

    var links: [PublicKey: LinkRecord<Path>] = [:]
    var sessions: [UInt32: LinkSession] = [:]
    var attempts: [UInt32: InitiatorAttempt<Path>] = [:]
    var halfOpen: [UInt32: HalfOpenResponder<Path>] = [:]
    /// Message 1 packets of pending responder states, to answer copies from the cache.
    var halfOpenByMessage1: [[UInt8]: UInt32] = [:]
    /// Message 1 packets of sessions that completed as responder, to ignore later copies.
    var sessionByMessage1: [[UInt8]: UInt32] = [:]
    var halfOpenSequence: UInt64 = 0
    var rateLimiter = LinkHandshakeRateLimiter<Path>()
    /// Initiations answered recently, refused if they come again (`initiationReplayed`).
    var replayCache = LinkReplayCache()
    /// The secrets cookies for direct paths are made with, while under load.
    var cookieSecrets = LinkCookieSecrets()
    /// Until when this endpoint counts as under load (see `Wire.linkLoadHalfOpen`).
    var underLoadUntil: UInt64 = 0
    /// What happened so far, drops by reason included.
    public internal(set) var stats = LinkStats()
    /// True if the last datagram given to `received` authenticated (data, a completed handshake,
    /// a cookie reply): only a sender at its address could have made it, so the shell may trust
    /// that the address receives, without comparing stats around every datagram.
    package internal(set) var lastDatagramAuthenticated = false

    /// An endpoint for `identity` in `room`, with no links yet.
    ///
    /// - Parameters:
    ///   - wallClock: the clock initiation timestamps come from and are checked against; the
    ///     default follows `now` and suits only simulations, where every endpoint shares `now`.
    public init(
        identity: Identity, room: RoomKeys, random: some RandomNumberGenerator & Sendable,
        configuration: Configuration = Configuration(), wallClock: WallClock = .followingMonotonic()
    ) {
        self.wallClock = wallClock
        self.identity = identity
        self.room = room
        var generator = random
        incarnation = (0..<Wire.linkIncarnationSize).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        self.random = generator
        self.configuration = configuration
        localKey = identity.publicKey
        staticKeyPair = identity.x25519KeyPair()
    }

    /// Starts a handshake with whoever answers on `paths`, sending message 1 on all of them at once.
    ///
    /// The first response to complete wins; the others are answered copies and ignored. If none
    /// completes within `Wire.linkHandshakeTimeout`, `timerFired` reports `.handshakeFailed`.
    /// - Precondition: `paths` is not empty.
    public mutating func connect(paths: [Path], now: UInt64) -> [LinkAction<Path>] {
        precondition(!paths.isEmpty, "connect needs at least one path")
        var unique: [Path] = []
        for path in paths where !unique.contains(path) { unique.append(path) }
        return startAttempt(paths: unique, rekeyOf: nil, now: now).1
    }

    /// Takes in one datagram from the network; never throws, traps or answers bad input.
    public mutating func received(_ datagram: [UInt8], from path: Path, now: UInt64) -> [LinkAction<Path>] {
        lastDatagramAuthenticated = false
        let packet: LinkPacket
        do {
            packet = try LinkPacket.decode(datagram)
        } catch {
            stats.drop(.malformed)
            return []
        }
        switch packet {
        case .punch:
            stats.punchesReceived += 1
            return []
        case .data(let data):
            return receivedData(data, from: path, now: now)
        case .initiation(let initiation):
            guard let keys = admitHandshake(datagram, from: path, now: now) else { return [] }
            return receivedInitiation(initiation, packet: datagram, keys: keys, from: path, now: now)
        case .response(let response):
            guard let keys = admitHandshake(datagram, from: path, now: now) else { return [] }
            return receivedResponse(response, packet: datagram, keys: keys, from: path, now: now)
        case .finish(let finish):
            guard admitHandshake(datagram, from: path, now: now) != nil else { return [] }
            return receivedFinish(finish, packet: datagram, from: path, now: now)
        case .cookieReply(let reply):
            return receivedCookieReply(reply, from: path, now: now)
        }
    }

    /// Generates the ephemeral key the next handshake will use, if none is waiting: the shell
    /// calls it when it is about to sleep, so a handshake does not wait for it.
    package mutating func prepareEphemeral() {
        if spareEphemeral == nil { spareEphemeral = X25519.KeyPair.generate() }
    }

    /// The key prepared ahead, taken so no other handshake uses it, or nil (one is then generated).
    mutating func takeEphemeral() -> X25519.KeyPair? {
        defer { spareEphemeral = nil }
        return spareEphemeral
    }

    /// The most earlier epochs still answered.
    package static var maxOlderEpochs: Int { Wire.linkMaxOlderEpochs }

    /// Moves to a new epoch: handshakes start with `keys` from now on, and every link is
    /// rekeyed under them (the peer answers once it holds them too; until then the link keeps
    /// its session). `older` epochs are still answered, but only for `olderEpochPeers`.
    public mutating func switchEpoch(to keys: RoomKeys, older: [RoomKeys], olderEpochPeers: Set<PublicKey>, now: UInt64)
        -> [LinkAction<Path>]
    {
        let moved = keys.epoch != room.epoch
        room = keys
        olderRooms = Array(older.filter { $0.epoch < keys.epoch }.sorted { $0.epoch > $1.epoch }.prefix(Self.maxOlderEpochs))
        self.olderEpochPeers = olderEpochPeers
        guard moved else { return [] }
        var actions: [LinkAction<Path>] = []
        for peer in links.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) where !rekeyInProgress(links[peer]!) {
            actions += startRekey(peer, now: now)
        }
        return actions
    }

    /// Encrypts `plaintext` (the reliability layer's frames) to `peer` on the link's current path.
    ///
    /// The packet carries `nextPacketNumber(for:)`. An empty plaintext is a keepalive and is not
    /// delivered on the other side.
    /// - Throws: `LinkError.noLink` without an established link, `.plaintextTooLarge` above
    ///   `Wire.maxFramesSize`, `.reservedPlaintext` for the close notice's one byte, `.exhausted`
    ///   once packet numbers are used up.
    public mutating func send(_ plaintext: [UInt8], to peer: PublicKey, now: UInt64) throws(LinkError)
        -> [LinkAction<Path>]
    {
        guard let next = links[peer]?.nextPacketNumber else { throw .noLink }
        guard plaintext.count <= Wire.maxFramesSize else { throw .plaintextTooLarge(plaintext.count) }
        guard plaintext.count != 1 || plaintext[0] != Wire.linkCloseNotice else { throw .reservedPlaintext }
        guard next < Wire.linkRejectAfterMessages else { throw .exhausted }
        guard let action = sendPacket(to: peer, plaintext: plaintext, on: nil, now: now) else { throw .noLink }
        return [action] + maybeStartRekey(peer, now: now)
    }

    /// Sends an empty authenticated packet to `peer` on `path` without moving the link there.
    ///
    /// A relayed link uses it to test a candidate direct path: if it arrives, the peer switches to
    /// the direct path and answers on it, and the answer moves this side too.
    /// - Throws: `LinkError.noLink` or `.exhausted`, as `send`.
    package mutating func probe(_ peer: PublicKey, on path: Path, now: UInt64) throws(LinkError) -> [LinkAction<Path>] {
        guard let link = links[peer] else { throw .noLink }
        guard link.nextPacketNumber < Wire.linkRejectAfterMessages else { throw .exhausted }
        if path.isRelayed { links[peer]?.relayPath = path }
        guard let action = sendPacket(to: peer, plaintext: [], on: path, now: now) else { throw .noLink }
        stats.probesSent += 1
        return [action]
    }

    /// A punch packet towards `path`: opens this side's NAT mapping before the peer's handshake arrives.
    package mutating func punch(on path: Path) -> [LinkAction<Path>] {
        var bytes = [UInt8](repeating: 0, count: Wire.punchRandomSize)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: random.next()) }
        return [.send(LinkPacket.punch(.init(random: bytes)).encoded(macKey: room.macKey), to: path)]
    }

    /// Closes the link to `peer`: one close notice goes out, and nothing more is sent or accepted on it.
    ///
    /// The notice is not retransmitted; if it is lost the peer notices after `Wire.linkDeadAfter`.
    public mutating func close(_ peer: PublicKey, now: UInt64) -> [LinkAction<Path>] {
        guard links[peer] != nil else { return [] }
        var actions: [LinkAction<Path>] = []
        if let notice = sendPacket(to: peer, plaintext: [Wire.linkCloseNotice], on: nil, now: now) {
            actions.append(notice)
        }
        tearDown(peer)
        actions.append(.linkDown(peer, reason: .closedLocally))
        return actions
    }

    /// The packet number the next packet to `peer` will carry, for the reliability layer.
    package func nextPacketNumber(for peer: PublicKey) -> UInt64? {
        links[peer]?.nextPacketNumber
    }

    /// Peers with an established link.
    package var connectedPeers: [PublicKey] {
        links.keys.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    }

    /// The state of the link to `peer`, or nil if there is none.
    package func linkInfo(for peer: PublicKey) -> LinkInfo<Path>? {
        guard let link = links[peer], let session = sessions[link.current] else { return nil }
        return LinkInfo(
            peer: peer, path: link.path, isDirect: !link.path.isRelayed, establishedAt: link.establishedAt,
            sessionStartedAt: session.createdAt, lastReceivedAt: link.lastReceived,
            initiatedLocally: session.isLocalInitiator, sessionCount: link.sessions.count,
            nextPacketNumber: link.nextPacketNumber, epoch: session.epoch)
    }

    /// Handshakes in progress as initiator (connects and rekeys).
    package var pendingHandshakes: Int { attempts.count }

    /// Responder states waiting for message 3.
    package var halfOpenCount: Int { halfOpen.count }

    /// True while direct paths' initiations need a cookie first.
    package func isUnderLoad(now: UInt64) -> Bool { now < underLoadUntil }

    /// Sessions held, confirmed or not, across all links.
    package var sessionCount: Int { sessions.count }
}

// MARK: Shared helpers

extension LinkEndpoint {
    /// A fresh random index, unique among this endpoint's attempts, half-open states and sessions.
    mutating func freshIndex() -> UInt32 {
        while true {
            let index = UInt32(truncatingIfNeeded: random.next())
            if sessions[index] == nil, attempts[index] == nil, halfOpen[index] == nil { return index }
        }
    }

    /// The retry interval plus jitter.
    mutating func retryDelay() -> UInt64 {
        Wire.linkHandshakeRetryInterval + random.next() % (Wire.linkHandshakeRetryJitter + 1)
    }

    /// Time from `start` to `now`, zero if the shell's clock went backwards.
    static func elapsed(from start: UInt64, to now: UInt64) -> UInt64 {
        now >= start ? now - start : 0
    }

    /// True if `a` should win over `b` as the session both sides send on: the lower initiator key.
    static func initiatorWins(_ a: PublicKey, over b: PublicKey) -> Bool {
        a.bytes.lexicographicallyPrecedes(b.bytes)
    }
}
