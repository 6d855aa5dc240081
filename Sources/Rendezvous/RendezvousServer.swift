import PeerCrypto
import Primitives

/// The rendezvous protocol's server side as a pure state machine: datagrams and clock ticks in,
/// actions out.
///
/// Inbound flow, cheapest check first, so garbage costs almost nothing:
/// 1. header: size bounds, type byte, reserved bytes (`RendezvousMessage.checkHeader`); garbage is
///    dropped here without touching any table;
/// 2. the source's token buckets (packets and bytes per IPv4 address or IPv6 /64);
/// 3. the message itself: register, relay, unregister, or a short-code mailbox request
///    (`RendezvousServer+Codes.swift`).
///
/// A register must carry a valid cookie, a keyed BLAKE2b of the sender's address, port and nonce:
/// without one the only reply is a 28-byte cookie challenge, smaller than any register, so the
/// server cannot be used to amplify traffic toward a spoofed address. With one, the address is
/// proven and the node is registered, told its reflexive address, and introduced to the room.
/// Only then is the room key checked: the tag must be the hash of the registration key the
/// register carries, and the register must be signed with that key (signature checks rate-limited
/// per source), so only holders of the room's epoch secret register, move, list or remove anyone.
/// Unregister and retire are checked the same way; a retired tag refuses registers for
/// `retiredRoomLifetime`. Replies name the client nonce of the recipient's own register, so a
/// node can tell them from an off-path sender's.
///
/// No I/O, no clock, no randomness of its own: `now` is passed in and random bytes come from the
/// injected source. Not thread-safe; owned by one caller (`RendezvousService`'s loop thread).
public struct RendezvousServer: Sendable {
    /// Monotonic time.
    public typealias Instant = ContinuousClock.Instant
    /// Returns that many random bytes; the cookie secrets come from here.
    public typealias RandomSource = @Sendable (Int) -> [UInt8]

    /// What the caller should do.
    public enum Action: Equatable, Sendable {
        /// Send this datagram to this address.
        case send([UInt8], to: UDPEndpoint)
        /// A lifecycle event worth a log line.
        case log(Event)
        /// A datagram was dropped or refused, for the debug log. Nothing is sent for it, except
        /// that a refused code request from a cookie-proven address gets a small codeError
        /// (its own `.send`), so a person learns why the code did not work.
        case drop(DropReason, from: UDPEndpoint)
    }

    /// Lifecycle events, for logs.
    public enum Event: Equatable, Sendable {
        /// The first peer registered in a room.
        case roomCreated(RoomTag)
        /// The last peer of a room left or expired.
        case roomRemoved(RoomTag)
        /// A member retired the room's tag; its registrations (this many) were removed.
        case roomRetired(RoomTag, peers: Int)
        /// A register that would create a room was refused: the rendezvous has an allow list and
        /// the register's owner part named this key (nil: it had none) — not on the list.
        case roomRefused(RoomTag, owner: PublicKey?, from: UDPEndpoint)
        /// A room created by an owner not on the allow list was removed, with this many
        /// registrations, to make room for an allowed owner's room.
        case roomEvicted(RoomTag, peers: Int)
        /// A new peer registered (room, peer, its address).
        case peerRegistered(RoomTag, RendezvousPeerID, UDPEndpoint)
        /// A registered peer re-registered from a new, cookie-proven address.
        case peerMoved(RoomTag, RendezvousPeerID, from: UDPEndpoint, to: UDPEndpoint)
        /// A new peer id registered from the address and port of another peer of the room, which
        /// it replaces (room, old id, new id): one socket is one node, restarted with a new id.
        case peerReplaced(RoomTag, RendezvousPeerID, by: RendezvousPeerID)
        /// A peer stopped refreshing and was removed.
        case peerExpired(RoomTag, RendezvousPeerID)
        /// A peer unregistered.
        case peerUnregistered(RoomTag, RendezvousPeerID)
        /// The cookie secret was replaced.
        case secretRotated
        /// A host opened a short-code mailbox (nameplate, host address).
        case codeOpened(CodeNameplate, UDPEndpoint)
        /// A joiner knocked first on a nameplate (nameplate, joiner address).
        case codeKnocked(CodeNameplate, UDPEndpoint)
        /// The host's answer was forwarded to the joiner.
        case codeAnswered(CodeNameplate)
        /// The host burnt the nameplate after a wrong guess.
        case codeBurnt(CodeNameplate)
        /// The host closed the mailbox.
        case codeClosed(CodeNameplate)
        /// The mailbox expired unfinished.
        case codeExpired(CodeNameplate)
        /// A finished mailbox's nameplate is free again.
        case codeReleased(CodeNameplate)
        /// A peer's relay reservation window ended without a refresh to renew it; its relays are
        /// refused until one does (logged once per window).
        case relayReservationExpired(RoomTag, RendezvousPeerID)
        /// A peer spent its relay reservation's byte budget (this many bytes relayed in the
        /// window); its relays are refused until the next window (logged once per window).
        case relayReservationExhausted(RoomTag, RendezvousPeerID, bytes: Int)
    }

    private struct Peer: Sendable {
        let id: RendezvousPeerID
        var endpoint: UDPEndpoint
        var candidates: [UDPEndpoint]
        var lastSeen: Instant
        /// The nonce of its last accepted register: named in every introduce sent to it.
        var clientNonce: UInt64
        /// Its relay reservation: the window and byte budget its relayed datagrams draw on.
        var reservation: RelayReservation
    }

    private struct Room: Sendable {
        /// At most `maxPeersPerRoom` (16): an array keeps introduce order stable and beats hashing at that size.
        var peers: [Peer]
        var relay: TokenBucket
        /// The address of the register that created it: its prefixes are charged for the room.
        var creator: UDPEndpoint.Address
        /// True if an owner on the allow list created it; such a room is never evicted.
        var byAllowedOwner: Bool
        /// Creation order, to find the oldest evictable room.
        var serial: UInt64
    }

    /// One source prefix that room creation is counted against.
    private struct RoomPrefix: Hashable, Sendable {
        enum Kind: Hashable, Sendable {
            case ipv4Address, ipv4Slash24, ipv6Slash64, ipv6Slash56, ipv6Slash48
        }
        let kind: Kind
        let bits: UInt64
    }

    private struct Registration: Equatable, Sendable {
        let tag: RoomTag
        let peer: RendezvousPeerID
    }

    /// The limits and timers in force.
    public let configuration: Configuration
    let randomSource: RandomSource
    private var secret: SecretBytes
    private var previousSecret: SecretBytes?
    private var secretCreated: Instant
    private var nextSweep: Instant
    private var rooms: [RoomTag: Room] = [:]
    /// Which registrations each address and port holds: the relay's sender lookup.
    private var endpoints: [UDPEndpoint: [Registration]] = [:]
    private var registrationsPerSource: [UDPEndpoint.Address: Int] = [:]
    private var peerCount = 0
    private var sources: SourceRateLimiter
    var counters = Stats()
    /// The short-code mailboxes, by nameplate.
    var codes = CodeMailboxTable()
    /// New knocks per source: the bound on how fast one address can burn other people's codes.
    var knockSources: SourceRateLimiter
    /// Signature checks per source: the bound on how much verifying one address can cause.
    private var signatureSources: SourceRateLimiter
    /// Retired tags and when each stops refusing registers.
    private var retired: [RoomTag: Instant] = [:]
    /// Retired tags oldest first (`retiredHead` is the oldest): every tag has the same lifetime,
    /// so insertion order is expiry order and both expiry and eviction take from the front.
    private var retiredOrder: [RoomTag] = []
    private var retiredHead = 0
    /// The owners allowed to create rooms; nil: anyone may (an open rendezvous).
    public var allowedOwners: AllowedOwners?
    /// With an allow list, true lets owners not on it create rooms too, within the per-prefix
    /// limits and `maxRooms` (the open part of the table, `--allow FILE --open`), while rooms of
    /// listed owners always get in; false refuses them. Without a list anyone may create, whatever
    /// this says.
    public var unlistedOwnersMayCreate = false
    /// Rooms held per source prefix (`RoomPrefix`), created by owners not on the allow list.
    private var roomsPerPrefix: [RoomPrefix: Int] = [:]
    /// Rooms of owners not on the allow list, oldest first from `evictableHead` (with stale
    /// entries for rooms since gone, skipped by serial): the eviction order.
    private var evictable: [(tag: RoomTag, serial: UInt64)] = []
    private var evictableHead = 0
    private var nextRoomSerial: UInt64 = 0

    /// Creates a server with no rooms and a fresh cookie secret.
    ///
    /// - Parameters:
    ///   - configuration: limits and timers; non-positive values are a programmer error.
    ///   - now: the current time.
    ///   - randomSource: random bytes for the cookie secrets; libsodium's by default, seeded in tests.
    public init(
        configuration: Configuration = Configuration(),
        now: Instant,
        randomSource: @escaping RandomSource = { Sodium.randomBytes($0) }
    ) {
        precondition(configuration.maxRooms > 0 && configuration.maxPeersPerRoom > 0 && configuration.maxPeers > 0)
        precondition(configuration.maxRegistrationsPerSource > 0 && configuration.maxRegistrationsPerEndpoint > 0)
        precondition(configuration.sourcePacketsPerSecond > 0 && configuration.sourceBytesPerSecond > 0)
        precondition(configuration.sourcePacketBurst >= 1)
        precondition(configuration.sourceByteBurst >= Double(RendezvousWire.maxDatagramSize))
        precondition(configuration.roomRelayBurstBytes >= Double(RendezvousWire.maxDatagramSize))
        precondition(configuration.roomRelayBytesPerSecond > 0 && configuration.maxTrackedSources > 0)
        precondition(configuration.registrationLifetime > .zero && configuration.sweepInterval > .zero)
        precondition(configuration.secretRotationInterval > .zero && configuration.refreshInterval > .zero)
        precondition(configuration.refreshInterval < configuration.registrationLifetime)
        precondition((1...Int(RendezvousWire.maxNameplate)).contains(configuration.maxNameplates))
        precondition(configuration.maxNameplatesPerSource > 0 && configuration.codeRepeatInterval > .zero)
        precondition(
            configuration.codeLifetime >= .seconds(1) && configuration.codeLifetime <= .seconds(Int(UInt16.max))
        )
        precondition(configuration.codeLinger >= .zero)
        precondition(configuration.sourceKnocksPerSecond > 0 && configuration.sourceKnockBurst >= 1)
        precondition(configuration.sourceSignatureChecksPerSecond > 0 && configuration.sourceSignatureCheckBurst >= 1)
        precondition(configuration.retiredRoomLifetime > .zero && configuration.maxRetiredRooms > 0)
        precondition(configuration.relayReservationLifetime > configuration.refreshInterval)
        precondition(configuration.relayReservationBytes >= RendezvousWire.maxDatagramSize)
        precondition(configuration.maxRoomsPerIPv4Address > 0 && configuration.maxRoomsPerIPv4Slash24 > 0)
        precondition(configuration.maxRoomsPerIPv6Slash64 > 0 && configuration.maxRoomsPerIPv6Slash56 > 0)
        precondition(configuration.maxRoomsPerIPv6Slash48 > 0)
        self.configuration = configuration
        self.randomSource = randomSource
        secret = Self.makeSecret(randomSource)
        secretCreated = now
        nextSweep = now + configuration.sweepInterval
        sources = SourceRateLimiter(configuration: configuration)
        knockSources = SourceRateLimiter(
            capacity: configuration.maxTrackedSources,
            packetsPerSecond: configuration.sourceKnocksPerSecond,
            packetBurst: configuration.sourceKnockBurst
        )
        signatureSources = SourceRateLimiter(
            capacity: configuration.maxTrackedSources,
            packetsPerSecond: configuration.sourceSignatureChecksPerSecond,
            packetBurst: configuration.sourceSignatureCheckBurst
        )
    }

    /// Table sizes and counters now.
    public var stats: Stats {
        var stats = counters
        stats.rooms = rooms.count
        stats.peers = peerCount
        stats.trackedSources = sources.count
        stats.nameplates = codes.count
        stats.retiredRooms = retired.count
        return stats
    }

    /// When the caller should next call `timerFired(now:)`.
    package var nextTimerDeadline: Instant {
        min(nextSweep, secretCreated + configuration.secretRotationInterval)
    }

    // MARK: Events

    /// Handles one datagram from `source`.
    ///
    /// - Parameters:
    ///   - datagram: the UDP payload exactly as received.
    ///   - source: where it came from; IPv4-mapped IPv6 addresses should be unmapped first.
    ///   - now: the current time.
    /// - Returns: datagrams to send and events to log; `.drop` alone when the datagram is ignored.
    public mutating func received(datagram: [UInt8], from source: UDPEndpoint, now: Instant) -> [Action] {
        rotateSecretIfDue(now: now)
        let type: RendezvousWire.MessageType
        do {
            type = try RendezvousMessage.checkHeader(datagram)
        } catch {
            return [drop(error.isUnknownType ? .unknownType : .malformed, from: source)]
        }
        switch type {
        case .register, .relay, .unregister, .retire, .codeOpen, .codeLookup, .codeKnock, .codeAnswer, .codeBurn,
            .codeClose:
            break
        case .cookieChallenge, .registered, .introduce, .relayed, .codeOpened, .codeOffer, .codeKnocked, .codeAnswered,
            .codeAck, .codeError, .registerRefused:
            return [drop(.unexpectedType, from: source)]
        }
        guard sources.admit(source.sourceKey, size: datagram.count, now: now) else {
            return [drop(.rateLimited, from: source)]
        }
        if type == .relay { return relay(datagram, from: source, now: now) }
        let message: RendezvousMessage
        do {
            message = try RendezvousMessage.decode(datagram)
        } catch {
            return [drop(.malformed, from: source)]
        }
        switch message {
        case .register(let register):
            return self.register(register, datagram: datagram, from: source, now: now)
        case .unregister(let unregister):
            return self.unregister(unregister, datagram: datagram, from: source, now: now)
        case .retire(let retire):
            return self.retire(retire, datagram: datagram, from: source, now: now)
        case .codeOpen(let open):
            return codeOpen(open, requestSize: datagram.count, from: source, now: now)
        case .codeLookup(let lookup):
            return codeLookup(lookup, requestSize: datagram.count, from: source, now: now)
        case .codeKnock(let knock):
            return codeKnock(knock, requestSize: datagram.count, from: source, now: now)
        case .codeAnswer(let answer):
            return codeAnswer(answer, requestSize: datagram.count, from: source, now: now)
        case .codeBurn(let burn):
            return codeBurn(burn, requestSize: datagram.count, from: source, now: now)
        case .codeClose(let close):
            return codeClose(close, requestSize: datagram.count, from: source, now: now)
        case .relay, .cookieChallenge, .registered, .introduce, .relayed, .codeOpened, .codeOffer, .codeKnocked,
            .codeAnswered, .codeAck, .codeError, .registerRefused:
            // Filtered by type above; a server-bound type never decodes as another.
            return [drop(.unexpectedType, from: source)]
        }
    }

    /// Rotates the cookie secret and removes expired registrations, empty rooms, idle buckets,
    /// expired mailboxes and finished mailboxes past their linger.
    ///
    /// - Parameter now: the current time.
    /// - Returns: events to log, and a codeError `expired` to each joiner whose knocked mailbox expired.
    public mutating func timerFired(now: Instant) -> [Action] {
        var actions: [Action] = []
        if rotateSecretIfDue(now: now) { actions.append(.log(.secretRotated)) }
        guard now >= nextSweep else { return actions }
        nextSweep = now + configuration.sweepInterval
        let lifetime = configuration.registrationLifetime
        var expired: [Registration] = []
        for (tag, room) in rooms {
            for peer in room.peers where now - peer.lastSeen >= lifetime {
                expired.append(Registration(tag: tag, peer: peer.id))
            }
        }
        for registration in expired {
            actions.append(.log(.peerExpired(registration.tag, registration.peer)))
            counters.expiredPeers += 1
            if let removed = removePeer(registration) { actions.append(removed) }
        }
        sources.sweep(now: now)
        knockSources.sweep(now: now)
        signatureSources.sweep(now: now)
        while retiredHead < retiredOrder.count, let until = retired[retiredOrder[retiredHead]], now >= until {
            forgetOldestRetired()
        }
        actions += sweepCodes(now: now)
        return actions
    }

    // MARK: Register

    private mutating func register(
        _ message: RendezvousMessage.Register,
        datagram: [UInt8],
        from source: UDPEndpoint,
        now: Instant
    ) -> [Action] {
        guard cookieIsValid(message.cookie, for: source, nonce: message.clientNonce) else {
            return challenge(source, nonce: message.clientNonce, requestSize: datagram.count)
        }
        let tag = message.roomTag
        guard RoomTag(registrationKey: message.registrationKey) == tag else { return [drop(.badRoomKey, from: source)] }
        guard retired[tag] == nil else { return [drop(.roomRetired, from: source)] }
        if let reason = checkSignature(datagram, by: message.registrationKey, from: source, now: now) {
            return [drop(reason, from: source)]
        }
        let nonce = message.clientNonce
        let registration = Registration(tag: tag, peer: message.peerID)
        var actions: [Action] = []
        var changed = false
        var roomCreated = false
        var inherited: RelayReservation?
        if let roomIndex = rooms.index(forKey: tag) {
            // Mutated in place through the index: a copy of the room would copy its peer array.
            if let stale = rooms.values[roomIndex].peers.firstIndex(where: {
                $0.endpoint == source && $0.id != message.peerID
            }) {
                // Left in place, the old id would shadow the new one as the sender of relays.
                let old = rooms.values[roomIndex].peers.remove(at: stale)
                unindex(Registration(tag: tag, peer: old.id), at: source)
                peerCount -= 1
                actions.append(.log(.peerReplaced(tag, old.id, by: message.peerID)))
                // The same socket is the same node: it keeps its reservation, so a new peer id
                // does not refill a spent budget.
                inherited = old.reservation
            }
            if let position = rooms.values[roomIndex].peers.firstIndex(where: { $0.id == message.peerID }) {
                let old = rooms.values[roomIndex].peers[position]
                if old.endpoint != source {
                    // The cookie proved the new address, so the move is the peer's own (or a
                    // room member's, who knows the tag and could register anyway).
                    if let reason = registrationLimit(for: source) {
                        return refuse(reason, in: tag, from: source, after: actions)
                    }
                    unindex(registration, at: old.endpoint)
                    index(registration, at: source)
                    actions.append(.log(.peerMoved(tag, message.peerID, from: old.endpoint, to: source)))
                    changed = true
                } else if old.candidates != message.candidates {
                    changed = true
                }
                rooms.values[roomIndex].peers[position].endpoint = source
                rooms.values[roomIndex].peers[position].candidates = message.candidates
                rooms.values[roomIndex].peers[position].lastSeen = now
                rooms.values[roomIndex].peers[position].clientNonce = nonce
                if rooms.values[roomIndex].peers[position].reservation.refreshed(
                    now: now, lifetime: configuration.relayReservationLifetime,
                    renewalLead: configuration.refreshInterval)
                {
                    counters.relayReservationsRenewed += 1
                }
            } else {
                guard rooms.values[roomIndex].peers.count < configuration.maxPeersPerRoom else {
                    return refuse(.roomFull, in: tag, from: source, after: actions)
                }
                if let reason = newPeerLimit(for: source) {
                    return refuse(reason, in: tag, from: source, after: actions)
                }
                if inherited == nil { counters.relayReservationsOpened += 1 }
                rooms.values[roomIndex].peers.append(
                    Peer(
                        id: message.peerID, endpoint: source, candidates: message.candidates, lastSeen: now,
                        clientNonce: nonce, reservation: inherited ?? RelayReservation(now: now))
                )
                addPeer(registration, at: source)
                actions.append(.log(.peerRegistered(tag, message.peerID, source)))
                changed = true
            }
        } else {
            var allowed = false
            if let list = allowedOwners {
                if let owner = message.owner, list.contains(owner.key) {
                    guard signatureSources.admit(source.sourceKey, size: 0, now: now) else {
                        return [drop(.signatureRateLimited, from: source)]
                    }
                    counters.signatureChecks += 1
                    guard RendezvousMessage.hasValidOwnerSignature(datagram, by: owner.key) else {
                        return [drop(.badOwnerSignature, from: source)]
                    }
                    allowed = true
                } else if !unlistedOwnersMayCreate {
                    counters.refusalsSent += 1
                    let refused = RendezvousMessage.registerRefused(.init(clientNonce: nonce, reason: .ownerNotAllowed))
                    return [
                        .log(.roomRefused(tag, owner: message.owner?.key, from: source)),
                        .send(refused.encoded(), to: source), drop(.ownerNotAllowed, from: source),
                    ]
                }
                // Else an unlisted owner in the open part: the part it carries (if any) proves
                // nothing the limits below care about, so it is not checked.
            }
            if allowed {
                // The operator vouched for this owner: no prefix limit, and when a table is full
                // the oldest room of an owner not on the list makes way.
                while rooms.count >= configuration.maxRooms || peerCount >= configuration.maxPeers {
                    guard let evicted = evictOldest() else { break }
                    actions.append(evicted)
                }
                guard rooms.count < configuration.maxRooms else { return [drop(.roomLimit, from: source)] }
            } else {
                guard rooms.count < configuration.maxRooms else { return [drop(.roomLimit, from: source)] }
                if prefixesAtLimit(source.address) { return [drop(.roomPrefixLimit, from: source)] }
            }
            if let reason = newPeerLimit(for: source) { return [drop(reason, from: source)] }
            let peer = Peer(
                id: message.peerID, endpoint: source, candidates: message.candidates, lastSeen: now, clientNonce: nonce,
                reservation: RelayReservation(now: now))
            counters.relayReservationsOpened += 1
            nextRoomSerial += 1
            rooms[tag] = Room(
                peers: [peer], relay: TokenBucket(burst: configuration.roomRelayBurstBytes, now: now),
                creator: source.address, byAllowedOwner: allowed, serial: nextRoomSerial)
            if !allowed {
                for prefix in Self.prefixes(of: source.address) { roomsPerPrefix[prefix, default: 0] += 1 }
                evictable.append((tag, nextRoomSerial))
            }
            addPeer(registration, at: source)
            actions.append(.log(.roomCreated(tag)))
            actions.append(.log(.peerRegistered(tag, message.peerID, source)))
            changed = true
            roomCreated = true
        }
        counters.registrations += 1

        let registered = RendezvousMessage.registered(
            .init(
                clientNonce: nonce, peerID: message.peerID, reflexive: source,
                refreshIntervalSeconds: refreshIntervalSeconds)
        )
        actions.append(.send(registered.encoded(), to: source))
        // The registering node hears of every member on every register, so an introduce lost in
        // transit is repeated at the next refresh; the members hear of it only when it changed.
        // Each introduce names its recipient's own nonce. A room just created has nobody to
        // introduce, so it is not looked up again (a flood of creations skips it all).
        guard !roomCreated, let members = rooms[tag]?.peers, members.count > 1 else { return actions }
        let newcomer = Peer(
            id: message.peerID, endpoint: source, candidates: message.candidates, lastSeen: now, clientNonce: nonce,
            reservation: RelayReservation(now: now))
        for other in members where other.id != message.peerID {
            actions.append(.send(introduce(other, to: nonce, in: tag), to: source))
            counters.introductionsSent += 1
            if changed {
                actions.append(.send(introduce(newcomer, to: other.clientNonce, in: tag), to: other.endpoint))
                counters.introductionsSent += 1
            }
        }
        return actions
    }

    /// Drops a register in an existing room, keeping events already produced and removing the
    /// room if a replacement left it empty (the limits make that unreachable today; this keeps
    /// the tables consistent if they change).
    private mutating func refuse(
        _ reason: DropReason,
        in tag: RoomTag,
        from source: UDPEndpoint,
        after actions: [Action]
    ) -> [Action] {
        var actions = actions
        if let room = rooms[tag], room.peers.isEmpty {
            roomGone(tag, room)
            actions.append(.log(.roomRemoved(tag)))
        }
        actions.append(drop(reason, from: source))
        return actions
    }

    private var refreshIntervalSeconds: UInt16 {
        UInt16(clamping: configuration.refreshInterval.components.seconds)
    }

    /// An introduce of `peer` for the member whose last register had `recipientNonce`.
    private func introduce(_ peer: Peer, to recipientNonce: UInt64, in tag: RoomTag) -> [UInt8] {
        RendezvousMessage.introduce(
            .init(
                clientNonce: recipientNonce, roomTag: tag, peerID: peer.id, reflexive: peer.endpoint,
                candidates: peer.candidates)
        ).encoded()
    }

    /// Checks a cookie-proven register, unregister or retire's signature within the source's
    /// signature-check budget; the reason to drop it, or nil if it verifies.
    private mutating func checkSignature(
        _ datagram: [UInt8],
        by key: PublicKey,
        from source: UDPEndpoint,
        now: Instant
    ) -> DropReason? {
        guard signatureSources.admit(source.sourceKey, size: 0, now: now) else { return .signatureRateLimited }
        counters.signatureChecks += 1
        return RendezvousMessage.hasValidSignature(datagram, by: key) ? nil : .badSignature
    }

    /// Why `source` may not take one more registration, or nil if it may.
    private func registrationLimit(for source: UDPEndpoint) -> DropReason? {
        if endpoints[source, default: []].count >= configuration.maxRegistrationsPerEndpoint {
            return .endpointRegistrationLimit
        }
        if registrationsPerSource[source.sourceKey, default: 0] >= configuration.maxRegistrationsPerSource {
            return .sourceRegistrationLimit
        }
        return nil
    }

    private func newPeerLimit(for source: UDPEndpoint) -> DropReason? {
        guard peerCount < configuration.maxPeers else { return .peerLimit }
        return registrationLimit(for: source)
    }

    // MARK: Relay

    private mutating func relay(_ datagram: [UInt8], from source: UDPEndpoint, now: Instant) -> [Action] {
        // checkHeader has bounded the size, so the peer id is there; the guard keeps that local.
        guard let target = RendezvousMessage.relayPeerID(in: datagram) else { return [drop(.malformed, from: source)] }
        guard let registrations = endpoints[source] else { return [drop(.relayFromUnregistered, from: source)] }
        for registration in registrations where registration.peer != target {
            guard let roomIndex = rooms.index(forKey: registration.tag),
                let destination = rooms.values[roomIndex].peers.first(where: { $0.id == target }),
                let senderIndex = rooms.values[roomIndex].peers.firstIndex(where: { $0.id == registration.peer })
            else { continue }
            // The sender's own reservation first: a member past its window or budget costs the
            // room's bucket nothing.
            switch rooms.values[roomIndex].peers[senderIndex].reservation.decide(
                size: datagram.count, now: now, lifetime: configuration.relayReservationLifetime,
                budget: configuration.relayReservationBytes)
            {
            case .allow:
                break
            case .expired:
                return reservationEnded(.relayReservationExpired, room: roomIndex, peer: senderIndex, from: source)
            case .exhausted:
                return reservationEnded(.relayReservationExhausted, room: roomIndex, peer: senderIndex, from: source)
            }
            guard
                rooms.values[roomIndex].relay.take(
                    Double(datagram.count),
                    rate: configuration.roomRelayBytesPerSecond,
                    burst: configuration.roomRelayBurstBytes,
                    now: now
                )
            else { return [drop(.relayBandwidth, from: source)] }
            rooms.values[roomIndex].peers[senderIndex].reservation.charge(datagram.count)
            // Same size, same inner bytes: only the type and the peer id (target → sender) change.
            var forwarded = datagram
            forwarded[0] = RendezvousWire.MessageType.relayed.rawValue
            let idStart = RendezvousWire.relayPeerIDOffset
            forwarded.replaceSubrange(idStart..<(idStart + RendezvousWire.peerIDSize), with: registration.peer.bytes)
            counters.relayedPackets += 1
            counters.relayedBytes += forwarded.count
            return [.send(forwarded, to: destination.endpoint)]
        }
        return [drop(.relayUnknownTarget, from: source)]
    }

    /// Drops a relay refused by the sender's reservation; the first refusal of a window also
    /// yields the event for the log line and counts the window as run out.
    private mutating func reservationEnded(
        _ reason: DropReason,
        room roomIndex: Dictionary<RoomTag, Room>.Index,
        peer peerIndex: Int,
        from source: UDPEndpoint
    ) -> [Action] {
        var actions: [Action] = []
        if rooms.values[roomIndex].peers[peerIndex].reservation.reportEnd() {
            let tag = rooms.keys[roomIndex]
            let peer = rooms.values[roomIndex].peers[peerIndex]
            if reason == .relayReservationExpired {
                counters.relayReservationsExpired += 1
                actions.append(.log(.relayReservationExpired(tag, peer.id)))
            } else {
                counters.relayReservationsExhausted += 1
                actions.append(
                    .log(.relayReservationExhausted(tag, peer.id, bytes: peer.reservation.bytesUsed)))
            }
        }
        actions.append(drop(reason, from: source))
        return actions
    }

    // MARK: Unregister

    private mutating func unregister(
        _ message: RendezvousMessage.Unregister,
        datagram: [UInt8],
        from source: UDPEndpoint,
        now: Instant
    ) -> [Action] {
        let registration = Registration(tag: message.roomTag, peer: message.peerID)
        guard cookieIsValid(message.cookie, for: source, nonce: message.clientNonce) else {
            return [drop(.unregisterRejected, from: source)]
        }
        guard RoomTag(registrationKey: message.registrationKey) == message.roomTag else {
            return [drop(.badRoomKey, from: source)]
        }
        if let reason = checkSignature(datagram, by: message.registrationKey, from: source, now: now) {
            return [drop(reason, from: source)]
        }
        guard
            rooms[message.roomTag]?.peers.contains(where: { $0.id == message.peerID && $0.endpoint == source }) == true
        else { return [drop(.unregisterRejected, from: source)] }
        var actions: [Action] = [.log(.peerUnregistered(message.roomTag, message.peerID))]
        counters.unregisteredPeers += 1
        if let removed = removePeer(registration) { actions.append(removed) }
        return actions
    }

    // MARK: Retire

    private mutating func retire(
        _ message: RendezvousMessage.Retire,
        datagram: [UInt8],
        from source: UDPEndpoint,
        now: Instant
    ) -> [Action] {
        guard cookieIsValid(message.cookie, for: source, nonce: message.clientNonce) else {
            return challenge(source, nonce: message.clientNonce, requestSize: datagram.count)
        }
        let tag = message.roomTag
        guard RoomTag(registrationKey: message.registrationKey) == tag else { return [drop(.badRoomKey, from: source)] }
        if let reason = checkSignature(datagram, by: message.registrationKey, from: source, now: now) {
            return [drop(reason, from: source)]
        }
        // Retired already (another member's retire, or this one's again): nothing more to do.
        guard retired[tag] == nil else { return [] }
        if retired.count >= configuration.maxRetiredRooms { forgetOldestRetired() }
        retired[tag] = now + configuration.retiredRoomLifetime
        retiredOrder.append(tag)
        counters.roomsRetired += 1
        var removed = 0
        if let room = rooms[tag] {
            roomGone(tag, room)
            for peer in room.peers {
                unindex(Registration(tag: tag, peer: peer.id), at: peer.endpoint)
                peerCount -= 1
                removed += 1
            }
        }
        return [.log(.roomRetired(tag, peers: removed))]
    }

    private mutating func forgetOldestRetired() {
        guard retiredHead < retiredOrder.count else { return }
        retired[retiredOrder[retiredHead]] = nil
        retiredHead += 1
        // Compacted now and then, so the array holds about as many tags as the table.
        if retiredHead >= 1024, retiredHead * 2 >= retiredOrder.count {
            retiredOrder.removeFirst(retiredHead)
            retiredHead = 0
        }
    }

    // MARK: Tables

    private mutating func addPeer(_ registration: Registration, at endpoint: UDPEndpoint) {
        peerCount += 1
        index(registration, at: endpoint)
    }

    private mutating func index(_ registration: Registration, at endpoint: UDPEndpoint) {
        endpoints[endpoint, default: []].append(registration)
        registrationsPerSource[endpoint.sourceKey, default: 0] += 1
    }

    private mutating func unindex(_ registration: Registration, at endpoint: UDPEndpoint) {
        if var list = endpoints[endpoint] {
            list.removeAll { $0 == registration }
            endpoints[endpoint] = list.isEmpty ? nil : list
        }
        let key = endpoint.sourceKey
        if let count = registrationsPerSource[key] {
            registrationsPerSource[key] = count > 1 ? count - 1 : nil
        }
    }

    /// Removes one registration; returns the room-removed event if that emptied the room.
    private mutating func removePeer(_ registration: Registration) -> Action? {
        guard var room = rooms[registration.tag],
            let index = room.peers.firstIndex(where: { $0.id == registration.peer })
        else { return nil }
        unindex(registration, at: room.peers[index].endpoint)
        room.peers.remove(at: index)
        peerCount -= 1
        if room.peers.isEmpty {
            roomGone(registration.tag, room)
            return .log(.roomRemoved(registration.tag))
        }
        rooms[registration.tag] = room
        return nil
    }

    /// Removes `room` (its peers already unindexed or about to be) and releases its prefix counts.
    private mutating func roomGone(_ tag: RoomTag, _ room: Room) {
        rooms[tag] = nil
        guard !room.byAllowedOwner else { return }
        for prefix in Self.prefixes(of: room.creator) {
            if let count = roomsPerPrefix[prefix] { roomsPerPrefix[prefix] = count > 1 ? count - 1 : nil }
        }
        // Stale entries (rooms gone) are dropped now and then, so the order stays about as long
        // as the table.
        if evictable.count - evictableHead > 2 * max(rooms.count, 1024) {
            evictable = evictable[evictableHead...].filter { rooms[$0.tag]?.serial == $0.serial }
            evictableHead = 0
        }
    }

    /// Removes the oldest room created by an owner not on the allow list, with its registrations;
    /// nil if there is none.
    private mutating func evictOldest() -> Action? {
        while evictableHead < evictable.count {
            let (tag, serial) = evictable[evictableHead]
            evictableHead += 1
            guard let room = rooms[tag], room.serial == serial else { continue }
            roomGone(tag, room)
            for peer in room.peers {
                unindex(Registration(tag: tag, peer: peer.id), at: peer.endpoint)
                peerCount -= 1
            }
            counters.roomsEvicted += 1
            return .log(.roomEvicted(tag, peers: room.peers.count))
        }
        return nil
    }

    /// Two or three prefixes held inline rather than in an array: they are worked out twice for
    /// every room created and once for every room removed, so a flood of creations pays no
    /// allocation for them.
    private struct Prefixes: Sequence, IteratorProtocol {
        private let items: (RoomPrefix, RoomPrefix, RoomPrefix?)
        private var position = 0

        init(_ first: RoomPrefix, _ second: RoomPrefix, _ third: RoomPrefix? = nil) {
            items = (first, second, third)
        }

        mutating func next() -> RoomPrefix? {
            defer { position += 1 }
            switch position {
            case 0: return items.0
            case 1: return items.1
            case 2: return items.2
            default: return nil
            }
        }
    }

    /// The prefixes a room created from `address` is counted against.
    private static func prefixes(of address: UDPEndpoint.Address) -> Prefixes {
        switch address {
        case .v4(let value):
            Prefixes(
                RoomPrefix(kind: .ipv4Address, bits: UInt64(value)), RoomPrefix(kind: .ipv4Slash24, bits: UInt64(value & 0xFFFF_FF00)))
        case .v6(let high, _):
            Prefixes(
                RoomPrefix(kind: .ipv6Slash64, bits: high), RoomPrefix(kind: .ipv6Slash56, bits: high & ~0xFF),
                RoomPrefix(kind: .ipv6Slash48, bits: high & ~0xFFFF))
        }
    }

    /// True if any prefix of `address` already holds its limit of rooms.
    private func prefixesAtLimit(_ address: UDPEndpoint.Address) -> Bool {
        for prefix in Self.prefixes(of: address) {
            let limit =
                switch prefix.kind {
                case .ipv4Address: configuration.maxRoomsPerIPv4Address
                case .ipv4Slash24: configuration.maxRoomsPerIPv4Slash24
                case .ipv6Slash64: configuration.maxRoomsPerIPv6Slash64
                case .ipv6Slash56: configuration.maxRoomsPerIPv6Slash56
                case .ipv6Slash48: configuration.maxRoomsPerIPv6Slash48
                }
            if roomsPerPrefix[prefix, default: 0] >= limit { return true }
        }
        return false
    }

    mutating func drop(_ reason: DropReason, from source: UDPEndpoint) -> Action {
        counters.drops[reason] += 1
        return .drop(reason, from: source)
    }

    // MARK: Cookies

    private static func makeSecret(_ randomSource: RandomSource) -> SecretBytes {
        var bytes = randomSource(RendezvousServer.secretSize)
        precondition(bytes.count == RendezvousServer.secretSize, "random source returned the wrong length")
        defer { Sodium.zero(&bytes) }
        return SecretBytes(copying: bytes)
    }

    /// The cookie secret's length: 32 bytes, a full-strength BLAKE2b key.
    package static let secretSize = 32

    /// Returns true when it rotated.
    @discardableResult
    private mutating func rotateSecretIfDue(now: Instant) -> Bool {
        let age = now - secretCreated
        let interval = configuration.secretRotationInterval
        guard age >= interval else { return false }
        // After a gap of two periods or more the previous secret is too old to honour as well.
        previousSecret = age >= interval * 2 ? nil : secret
        secret = Self.makeSecret(randomSource)
        secretCreated = now
        counters.secretRotations += 1
        return true
    }

    /// The only reply to a request without a valid cookie: a challenge for this address and nonce.
    mutating func challenge(_ source: UDPEndpoint, nonce: UInt64, requestSize: Int) -> [Action] {
        let cookie = makeCookie(for: source, nonce: nonce, secret: secret)
        let challenge = RendezvousMessage.cookieChallenge(.init(clientNonce: nonce, cookie: cookie)).encoded()
        // True by the sizes (28 is below every request's minimum); checked so that no format
        // change can ever make this an amplifier.
        guard challenge.count <= requestSize else { return [drop(.malformed, from: source)] }
        counters.challengesSent += 1
        return [.send(challenge, to: source)]
    }

    func cookieIsValid(_ cookie: RendezvousCookie, for source: UDPEndpoint, nonce: UInt64) -> Bool {
        guard !cookie.isNone else { return false }
        if cookie.constantTimeEquals(makeCookie(for: source, nonce: nonce, secret: secret)) { return true }
        guard let previousSecret else { return false }
        return cookie.constantTimeEquals(makeCookie(for: source, nonce: nonce, secret: previousSecret))
    }

    /// BLAKE2b-128 keyed by the secret over family | address | port | nonce.
    private func makeCookie(for source: UDPEndpoint, nonce: UInt64, secret: SecretBytes) -> RendezvousCookie {
        // Built on the stack (at most 1 + 16 + 2 + 8 bytes): every register, retire and code request checks one.
        let hash = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 27) { input in
            var count = 0
            func put<T: FixedWidthInteger>(_ value: T) {
                for shift in stride(from: T.bitWidth - 8, through: 0, by: -8) {
                    input[count] = UInt8(truncatingIfNeeded: value >> shift)
                    count += 1
                }
            }
            put(source.family.rawValue)
            switch source.address {
            case .v4(let address): put(address)
            case .v6(let high, let low):
                put(high)
                put(low)
            }
            put(source.port)
            put(nonce)
            return secret.withUnsafeBytes { key in
                Blake2b.hash(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(input)[..<count]), key: key,
                    outputLength: RendezvousWire.cookieSize)
            }
        }
        // Blake2b.hash returns exactly outputLength (16) bytes.
        return RendezvousCookie(bytes: hash)!
    }
}

extension RendezvousError {
    /// True for a type byte outside the rendezvous range, to tell stray traffic from damage in stats.
    fileprivate var isUnknownType: Bool {
        switch self {
        case .unknownType: true
        case .truncatedHeader, .datagramTooLarge, .reservedNotZero, .wrongSize, .truncatedField, .trailingBytes,
            .unknownAddressFamily, .tooManyCandidates, .cannotResolve, .socket, .alreadyRunning, .invalidNameplate,
            .unknownCodeErrorReason, .unknownRefusalReason, .pakeMessageSize, .paddingNotZero, .codeRefused, .codeNoReply, .codeNoAnswer,
            .codeExpired, .codeDeadline, .codeCancelled:
            false
        }
    }
}
