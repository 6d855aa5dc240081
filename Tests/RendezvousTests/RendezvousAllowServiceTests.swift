import CVPeerTestSupport
import PeerCrypto
import Primitives
import Rendezvous
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The allow list in the running service, over real sockets on 127.0.0.1: a refusal arrives as a
/// registerRefused for the register's nonce and is logged, and a new list is applied while running.
@Suite(.serialized) struct RendezvousAllowServiceTests {
    /// Registers through the cookie round trip and returns the reply to the register with the cookie.
    private func register(_ client: LoopbackSocket, room n: UInt64, nonce: UInt64, port: UInt16) throws -> RendezvousMessage? {
        let key = roomKey(n)
        func send(_ cookie: RendezvousCookie) {
            let register = RendezvousMessage.Register(
                roomTag: tag(n), peerID: peer(n), clientNonce: nonce, cookie: cookie, registrationKey: key.publicKey,
                candidates: []
            ).signed(by: key)
            client.send(RendezvousMessage.register(register).encoded(), to: port)
        }
        send(.none)
        guard case .cookieChallenge(let challenge) = try #require(client.receiveMessage()) else {
            throw TestFailure("expected a cookie challenge first")
        }
        send(challenge.cookie)
        return client.receiveMessage()
    }

    @Test func aRefusalReachesTheNodeAndTheLogAndAReloadOpensCreation() throws {
        let log = LogLines()
        let listed = try Identity(seed: SecretBytes(copying: [UInt8](repeating: 0xB1, count: 32)))
        let service = RendezvousService(
            listenAddress: HostPort(host: "127.0.0.1", port: 0), logLevel: .info,
            allowedOwners: AllowedOwners(keys: [listed.publicKey]), log: log.handler)
        let port = try service.start()
        defer { service.stop() }
        #expect(log.contains("info: room creation is limited to the 1 owner on the --allow list"))
        let client = try LoopbackSocket()
        let reply = try register(client, room: 60, nonce: 0xABCD, port: port)
        #expect(reply == .registerRefused(.init(clientNonce: 0xABCD, reason: .ownerNotAllowed)))
        #expect(log.contains("refused from 127.0.0.1:\(client.endpoint.port): no owner proof"))
        service.setAllowedOwners(nil)
        #expect(log.contains("info: room creation is open to anyone (no --allow list)"))
        // Applied by the loop within its longest poll wait.
        var registered = false
        for attempt in 0..<6 where !registered {
            if attempt > 0 { usleep(300_000) }
            if case .registered? = try register(client, room: 60, nonce: 0xABCE + UInt64(attempt), port: port) {
                registered = true
            }
        }
        #expect(registered)
        #expect(service.stats.drops[.ownerNotAllowed] >= 1)
    }
}
