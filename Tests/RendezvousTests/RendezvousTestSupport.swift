import CVPeerTestSupport
import PeerCrypto
import Primitives
import Rendezvous
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Random bytes from a seeded generator, shareable as the server's `RandomSource`.
final class SeededBytes: Sendable {
    private let generator: Mutex<SeededRandom>

    init(seed: UInt64) {
        generator = Mutex(SeededRandom(seed: seed))
    }

    func bytes(_ count: Int) -> [UInt8] {
        generator.withLock { rng in (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) } }
    }

    var source: RendezvousServer.RandomSource {
        { [self] count in bytes(count) }
    }
}

/// A loopback endpoint in 127/8: state-machine tests never send anything anywhere, and 127/8
/// keeps even a mistaken send on this host.
func loopback(_ index: Int, port: UInt16 = 40_000) -> UDPEndpoint {
    .ipv4(
        127,
        UInt8(truncatingIfNeeded: index >> 16),
        UInt8(truncatingIfNeeded: index >> 8),
        UInt8(truncatingIfNeeded: index),
        port: port
    )
}

/// Test room `n`'s registration key (a fixed seed, so tags are the same on every run), as
/// `RoomKeys.registrationKey` would be for a real room.
func roomKey(_ n: UInt64) -> Identity {
    testRoomKeys.withLock { table in
        if let key = table.byNumber[n] { return key }
        let key = try! Identity(seed: SecretBytes(copying: n.bigEndianBytes + [UInt8](repeating: 0x7A, count: 24)))
        table.byNumber[n] = key
        table.byTag[RoomTag(registrationKey: key.publicKey)] = key
        return key
    }
}

/// Test room `n`'s tag: bound to `roomKey(n)`, as the rendezvous checks.
func tag(_ n: UInt64) -> RoomTag { RoomTag(registrationKey: roomKey(n).publicKey) }

/// The key of a tag made by `tag(_:)`; any other tag gets `strangerKey`, whose tag is not it.
func roomKey(for tag: RoomTag) -> Identity {
    testRoomKeys.withLock { $0.byTag[tag] } ?? strangerKey
}

/// A key no test room uses: what an outsider who saw only a tag can sign with.
let strangerKey = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0x5A, count: 32)))

private let testRoomKeys = Mutex<(byNumber: [UInt64: Identity], byTag: [RoomTag: Identity])>(([:], [:]))

extension RendezvousMessage.Register {
    /// A register for a test room, carrying the room's key and correctly signed with it
    /// (`roomKey(for:)`): what a member's client sends.
    init(
        roomTag: RoomTag, peerID: RendezvousPeerID, clientNonce: UInt64, cookie: RendezvousCookie = .none,
        candidates: [UDPEndpoint]
    ) {
        let key = roomKey(for: roomTag)
        self = Self(
            roomTag: roomTag, peerID: peerID, clientNonce: clientNonce, cookie: cookie,
            registrationKey: key.publicKey, candidates: candidates
        ).signed(by: key)
    }
}

extension RendezvousMessage.Unregister {
    /// An unregister for a test room, correctly signed with its key.
    init(roomTag: RoomTag, peerID: RendezvousPeerID, clientNonce: UInt64, cookie: RendezvousCookie) {
        let key = roomKey(for: roomTag)
        self = Self(
            roomTag: roomTag, peerID: peerID, clientNonce: clientNonce, cookie: cookie, registrationKey: key.publicKey
        ).signed(by: key)
    }
}

extension RendezvousMessage.Retire {
    /// A retire of a test room's tag, correctly signed with its key.
    init(roomTag: RoomTag, clientNonce: UInt64, cookie: RendezvousCookie) {
        let key = roomKey(for: roomTag)
        self = Self(roomTag: roomTag, registrationKey: key.publicKey, clientNonce: clientNonce, cookie: cookie)
            .signed(by: key)
    }
}

func peer(_ n: UInt64) -> RendezvousPeerID { RendezvousPeerID(rawValue: 0x5EE5_0000_0000_0000 | n) }

/// The client nonce `ServerHarness.register` uses for `peerID` at `source`: replies to it name it.
func registerNonce(_ peerID: RendezvousPeerID, at source: UDPEndpoint) -> UInt64 {
    UInt64(source.port) << 32 | peerID.rawValue & 0xFFFF_FFFF
}

/// A server with a seeded secret and a fixed starting instant, and the calls tests repeat.
///
/// A class, so that calls which drive the server can sit inside `#expect` and `#require`.
final class ServerHarness {
    var server: RendezvousServer
    let start: ContinuousClock.Instant

    init(configuration: RendezvousServer.Configuration = .init(), seed: UInt64 = 0x5EED) {
        start = ContinuousClock.now
        server = RendezvousServer(
            configuration: configuration,
            now: start,
            randomSource: SeededBytes(seed: seed).source
        )
    }

    func at(_ seconds: Double) -> ContinuousClock.Instant {
        start + .nanoseconds(Int64(seconds * 1_000_000_000))
    }

    func receive(
        _ message: RendezvousMessage,
        from source: UDPEndpoint,
        at seconds: Double = 0
    )
        -> [RendezvousServer.Action]
    {
        server.received(datagram: message.encoded(), from: source, now: at(seconds))
    }

    /// Asks for a cookie with a zero-cookie register and returns the challenge's cookie.
    func cookie(for source: UDPEndpoint, nonce: UInt64, at seconds: Double = 0) -> RendezvousCookie? {
        let probe = RendezvousMessage.register(
            .init(roomTag: tag(0), peerID: peer(0), clientNonce: nonce, cookie: .none, candidates: [])
        )
        let sent = receive(probe, from: source, at: seconds).sends
        guard sent.count == 1, sent[0].target == source,
            case .cookieChallenge(let challenge) = try? RendezvousMessage.decode(sent[0].datagram),
            challenge.clientNonce == nonce
        else { return nil }
        return challenge.cookie
    }

    /// The full round trip: zero-cookie register, challenge, register with the cookie.
    @discardableResult
    func register(
        _ peerID: RendezvousPeerID,
        in room: RoomTag,
        from source: UDPEndpoint,
        candidates: [UDPEndpoint] = [],
        at seconds: Double = 0
    ) -> [RendezvousServer.Action] {
        let nonce = registerNonce(peerID, at: source)
        guard let cookie = cookie(for: source, nonce: nonce, at: seconds) else { return [] }
        return receive(
            .register(.init(roomTag: room, peerID: peerID, clientNonce: nonce, cookie: cookie, candidates: candidates)),
            from: source,
            at: seconds
        )
    }

    func relay(
        _ inner: [UInt8],
        to target: RendezvousPeerID,
        from source: UDPEndpoint,
        at seconds: Double = 0
    )
        -> [RendezvousServer.Action]
    {
        receive(.relay(.init(target: target, datagram: inner)), from: source, at: seconds)
    }
}

struct Sent: Equatable {
    let datagram: [UInt8]
    let target: UDPEndpoint

    var message: RendezvousMessage? { try? RendezvousMessage.decode(datagram) }
}

extension Array where Element == RendezvousServer.Action {
    var sends: [Sent] {
        compactMap { action in
            switch action {
            case .send(let datagram, let target): Sent(datagram: datagram, target: target)
            case .log, .drop: nil
            }
        }
    }

    var events: [RendezvousServer.Event] {
        compactMap { action in
            switch action {
            case .log(let event): event
            case .send, .drop: nil
            }
        }
    }

    var drops: [RendezvousServer.DropReason] {
        compactMap { action in
            switch action {
            case .drop(let reason, _): reason
            case .send, .log: nil
            }
        }
    }

    /// The decoded messages sent to `target`, in order.
    func messages(to target: UDPEndpoint) -> [RendezvousMessage] {
        sends.filter { $0.target == target }.compactMap(\.message)
    }
}

extension LoopbackSocket {
    /// The next rendezvous message within the time limit, or nil.
    func receiveMessage(within milliseconds: Int = 2_000) -> RendezvousMessage? {
        receive(within: milliseconds).flatMap { try? RendezvousMessage.decode($0) }
    }
}
