import CVPeerTestSupport
import PeerCrypto
import Testing
@testable import Rendezvous

/// The client's side of `--allow`: an owner's registers carry its proof, a member's do not, and a
/// refusal reaches the node once, bound to its own nonce.
@Suite struct RendezvousClientOwnerTests {
    static let roomKey = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0x41, count: 32)))
    static let owner = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0x42, count: 32)))

    private func sentRegister(_ actions: [RendezvousClient.Action]) -> ([UInt8], RendezvousMessage.Register)? {
        for case .send(let bytes) in actions {
            if case .register(let register)? = try? RendezvousMessage.decode(bytes) { return (bytes, register) }
        }
        return nil
    }

    @Test func anOwnersRegistersCarryItsProofAndAMembersDoNot() throws {
        var owner = RendezvousClient(
            registrationKey: Self.roomKey, peerID: RendezvousPeerID(rawValue: 1), candidates: [], owner: Self.owner,
            random: SeededRandom(seed: 1))
        let (bytes, register) = try #require(sentRegister(owner.start(now: 0)))
        #expect(register.owner?.key == Self.owner.publicKey)
        #expect(RendezvousMessage.hasValidOwnerSignature(bytes, by: Self.owner.publicKey))
        #expect(RendezvousMessage.hasValidSignature(bytes, by: Self.roomKey.publicKey))
        var member = RendezvousClient(
            registrationKey: Self.roomKey, peerID: RendezvousPeerID(rawValue: 2), candidates: [],
            random: SeededRandom(seed: 2))
        let (memberBytes, memberRegister) = try #require(sentRegister(member.start(now: 0)))
        #expect(memberRegister.owner == nil)
        #expect(memberBytes.count == RendezvousWire.registerMinSize)
    }

    @Test func aRefusalIsReportedOnceForItsOwnNonceAndRetriesGoOn() throws {
        var client = RendezvousClient(
            registrationKey: Self.roomKey, peerID: RendezvousPeerID(rawValue: 1), candidates: [], owner: Self.owner,
            random: SeededRandom(seed: 3))
        _ = client.start(now: 0)
        let other = RendezvousMessage.registerRefused(.init(clientNonce: client.nonce &+ 1, reason: .ownerNotAllowed))
        #expect(client.received(other.encoded(), now: 1).isEmpty)
        #expect(client.stats.drops[.wrongNonce] == 1)
        let refused = RendezvousMessage.registerRefused(.init(clientNonce: client.nonce, reason: .ownerNotAllowed))
        #expect(client.received(refused.encoded(), now: 2) == [.refused(.ownerNotAllowed)])
        #expect(client.received(refused.encoded(), now: 3).isEmpty)
        #expect(client.stats.refusals == 2)
        #expect(!client.isRegistered)
        // Still trying: the operator may add the key and reload.
        #expect(client.nextTimer != nil)
    }
}
