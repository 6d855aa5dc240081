import CVPeerTestSupport
import Foundation
import PeerCrypto
import Primitives
import Rendezvous
import Testing

/// A hostile client against a real `RendezvousService` on loopback. It knows what an observer of
/// one member's register learns — the room tag and the room's public registration key, read at
/// the offsets docs/PROTOCOL.md gives — and writes its datagrams byte by byte from that document,
/// never with the room's secret. Each of its tries is refused and counted.
@Suite(.serialized) struct RendezvousOutsiderServiceTests {
    /// A member registers through the cookie round trip (a member holds the room key); returns
    /// the register datagram it sent with the cookie, as an observer would capture it.
    private func register(
        _ client: LoopbackSocket, peerID: RendezvousPeerID, room: RoomTag, port: UInt16
    ) throws -> [UInt8] {
        let nonce = UInt64(client.endpoint.port)
        let first = RendezvousMessage.register(.init(roomTag: room, peerID: peerID, clientNonce: nonce, candidates: []))
        client.send(first.encoded(), to: port)
        guard case .cookieChallenge(let challenge) = try #require(client.receiveMessage()) else {
            throw TestFailure("expected a cookie challenge")
        }
        let second = RendezvousMessage.register(
            .init(roomTag: room, peerID: peerID, clientNonce: nonce, cookie: challenge.cookie, candidates: [])
        ).encoded()
        client.send(second, to: port)
        guard case .registered = try #require(client.receiveMessage()) else { throw TestFailure("expected registered") }
        return second
    }

    /// Big-endian bytes of a 64-bit field.
    private static func be(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }

    /// The outsider's own signing: any Ed25519 key but the room's.
    private static let outsiderKey = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0x0B, count: 32)))

    /// Asks for a cookie with a register (type 0x20) of zeros after the header: the challenge's
    /// bytes 12…27 are the cookie for this address and nonce.
    private static func cookie(_ outsider: LoopbackSocket, nonce: UInt64, tag: [UInt8], key: [UInt8], port: UInt16) throws -> [UInt8] {
        let probe = [0x20, 0, 0, 0] + tag + be(1) + be(nonce) + [UInt8](repeating: 0, count: 16) + key + [0]
            + [UInt8](repeating: 0, count: 64)
        outsider.send(probe, to: port)
        let challenge = try #require(outsider.receive(within: 2_000))
        try #require(challenge.count == 28 && challenge[0] == 0x21 && Array(challenge[4..<12]) == be(nonce))
        return Array(challenge[12..<28])
    }

    @Test func withTheTagAloneAnOutsiderCanDoNothingAndEveryTryIsCounted() throws {
        let service = RendezvousService(listenAddress: HostPort(host: "127.0.0.1", port: 0), log: { _, _ in })
        let port = try service.start()
        defer { service.stop() }
        let a = try LoopbackSocket()
        let b = try LoopbackSocket()
        let captured = try register(a, peerID: peer(1), room: tag(7), port: port)
        _ = try register(b, peerID: peer(2), room: tag(7), port: port)
        _ = b.receiveMessage()  // b's introduction of a
        _ = a.receiveMessage()  // a's introduction of b

        // What the observer read off a's register: the tag at 4, the room's public key at 52.
        let tagBytes = Array(captured[4..<20])
        let roomKey = Array(captured[52..<84])
        let outsider = try LoopbackSocket()
        let nonce: UInt64 = 0x0BAD
        let cookie = try Self.cookie(outsider, nonce: nonce, tag: tagBytes, key: roomKey, port: port)
        let sign = { (label: String, body: [UInt8]) in Self.outsiderKey.sign(Array(label.utf8) + body) }

        // register (0x20): header, tag, peer id, nonce, cookie, key, count, candidates, signature.
        func registerBody(peerID: UInt64, key: [UInt8]) -> [UInt8] {
            [0x20, 0, 0, 0] + tagBytes + Self.be(peerID) + Self.be(nonce) + cookie + key + [0]
        }
        // 1. Register with its own key: the tag is not bound to it.
        let ownKey = registerBody(peerID: 9, key: Self.outsiderKey.publicKey.bytes)
        outsider.send(ownKey + sign("cvpeer/2 register", ownKey), to: port)
        // 2. Register (and so list the members) with the room's key, signed with its own.
        let roomKeyed = registerBody(peerID: 9, key: roomKey)
        outsider.send(roomKeyed + sign("cvpeer/2 register", roomKeyed), to: port)
        // 3. Refresh or move member 1 to its own address.
        let move = registerBody(peerID: peer(1).rawValue, key: roomKey)
        outsider.send(move + sign("cvpeer/2 register", move), to: port)
        // 4. Unregister member 1 (0x26): header, tag, peer id, nonce, cookie, key, signature.
        let unregister = [0x26, 0, 0, 0] + tagBytes + Self.be(peer(1).rawValue) + Self.be(nonce) + cookie + roomKey
        outsider.send(unregister + sign("cvpeer/2 unregister", unregister), to: port)
        // 5. Retire the room (0x33): header, tag, key, nonce, cookie, signature; with either key.
        let retire = [0x33, 0, 0, 0] + tagBytes + roomKey + Self.be(nonce) + cookie
        outsider.send(retire + sign("cvpeer/2 retire", retire), to: port)
        let retireOwn = [0x33, 0, 0, 0] + tagBytes + Self.outsiderKey.publicKey.bytes + Self.be(nonce) + cookie
        outsider.send(retireOwn + sign("cvpeer/2 retire", retireOwn), to: port)
        // 6. Replay a's captured register: its signed cookie is for a's address, so only a challenge.
        outsider.send(captured, to: port)
        let replayed = try #require(outsider.receive(within: 2_000))
        #expect(replayed.count == 28 && replayed[0] == 0x21, "only a challenge for a replay")
        // Nothing else came back: no registered, no introductions.
        #expect(outsider.receive(within: 300) == nil)

        // The members are untouched: a relay from b still reaches a at a's own address.
        b.send(RendezvousMessage.relay(.init(target: peer(1), datagram: [7])).encoded(), to: port)
        #expect(a.receiveMessage() == .relayed(.init(source: peer(2), datagram: [7])))

        service.stop()
        let stats = service.stats
        #expect(stats.rooms == 1 && stats.peers == 2)
        #expect(stats.registrations == 2 && stats.roomsRetired == 0 && stats.unregisteredPeers == 0)
        #expect(stats.drops[.badRoomKey] == 2)
        #expect(stats.drops[.badSignature] == 4)
    }

    @Test func aRetiredTagRefusesRegistrationOverRealUDPWhileTheNewTagWorks() throws {
        let log = LogLines()
        let service = RendezvousService(
            listenAddress: HostPort(host: "127.0.0.1", port: 0), logLevel: .debug, log: log.handler)
        let port = try service.start()
        defer { service.stop() }
        let a = try LoopbackSocket()
        _ = try register(a, peerID: peer(1), room: tag(8), port: port)
        // The member retires the old epoch's tag: with no cookie first, then with the challenge's.
        a.send(RendezvousMessage.retire(.init(roomTag: tag(8), clientNonce: 5, cookie: .none)).encoded(), to: port)
        guard case .cookieChallenge(let challenge) = try #require(a.receiveMessage()) else {
            throw TestFailure("expected a challenge to the retire")
        }
        a.send(
            RendezvousMessage.retire(.init(roomTag: tag(8), clientNonce: 5, cookie: challenge.cookie)).encoded(),
            to: port)
        #expect(a.receive(within: 300) == nil, "nothing answers a retire")
        // A removed member holds the old epoch's key: its register with a valid cookie gets nothing.
        let removed = try LoopbackSocket()
        removed.send(
            RendezvousMessage.register(.init(roomTag: tag(8), peerID: peer(3), clientNonce: 3, candidates: [])).encoded(),
            to: port)
        guard case .cookieChallenge(let again) = try #require(removed.receiveMessage()) else {
            throw TestFailure("expected a challenge")
        }
        removed.send(
            RendezvousMessage.register(
                .init(roomTag: tag(8), peerID: peer(3), clientNonce: 3, cookie: again.cookie, candidates: [])
            ).encoded(),
            to: port)
        #expect(removed.receive(within: 300) == nil)
        // The new epoch's tag works.
        _ = try register(a, peerID: peer(1), room: tag(9), port: port)
        service.stop()
        let stats = service.stats
        #expect(stats.roomsRetired == 1 && stats.retiredRooms == 1)
        #expect(stats.drops[.roomRetired] == 1)
        #expect(stats.rooms == 1 && stats.peers == 1)
        #expect(log.contains("info: room \(tag(8).shortDescription) retired by a member (1 registrations removed); registers under its tag are refused"))
        #expect(log.contains("debug: dropped datagram from \(removed.endpoint): register under a retired room tag"))
    }
}
