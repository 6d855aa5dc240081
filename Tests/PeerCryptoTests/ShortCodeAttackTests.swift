import Foundation
import Testing

@testable import PeerCrypto

// A hostile rendezvous (or anyone on the path) against a short code's CPace run, with the keys
// exactly as the node derives them (`ShortCodeKeys(isk:context: code.keyContext)`, empty sid):
// substituting either side's message, replaying a knock from another run, moving a run to
// another nameplate. Each gets at most the one guess it made, and a wrong one fails the
// confirmation that decides the burn.

private func code(_ text: String) -> ShortCode { try! ShortCode(parsing: text) }

/// One side's finished run, keyed as the node keys it.
private func keys(_ state: consuming CPace, peer: [UInt8], code: ShortCode) throws -> ShortCodeKeys {
    ShortCodeKeys(isk: try state.finish(peerMessage: peer).isk, context: code.keyContext)
}

@Suite struct ShortCodeAttackTests {
    @Test func aRendezvousThatSubstitutesTheHostsMessageFailsBothConfirmationsWithAWrongGuess() throws {
        let real = code("7-orbit-lantern")
        let guess = code("7-orbit-lagoon")
        let host = real.startCPace(side: .host, sessionID: [])
        let joiner = real.startCPace(side: .joiner, sessionID: [])
        // The rendezvous offers the joiner its own message under its guess, and knocks at the
        // host with another run under the same guess.
        let towardJoiner = guess.startCPace(side: .host, sessionID: [])
        let towardHost = guess.startCPace(side: .joiner, sessionID: [])
        let (hostMessage, joinerMessage) = (host.message, joiner.message)
        let (towardJoinerMessage, towardHostMessage) = (towardJoiner.message, towardHost.message)
        let joinerKeys = try keys(joiner, peer: towardJoinerMessage, code: real)
        let attackerAsHost = try keys(towardJoiner, peer: joinerMessage, code: guess)
        let attackerAsJoiner = try keys(towardHost, peer: hostMessage, code: guess)
        let hostKeys = try keys(host, peer: towardHostMessage, code: real)
        // The joiner's tag does not confirm the attacker's guess (its one offline test fails)...
        #expect(joinerKeys.joinerConfirmation != attackerAsHost.joinerConfirmation)
        // ...the attacker's knock fails the host's check (which burns the code)...
        #expect(throws: CryptoError.authenticationFailed) { try hostKeys.verifyJoiner(attackerAsJoiner.joinerConfirmation) }
        // ...and passing the joiner's real knock on to the host fails too: the runs differ.
        #expect(throws: CryptoError.authenticationFailed) { try hostKeys.verifyJoiner(joinerKeys.joinerConfirmation) }
        // Whatever the attacker seals as "host" does not pass the joiner's checks.
        #expect(throws: CryptoError.authenticationFailed) { try joinerKeys.verifyHost(attackerAsHost.hostConfirmation) }
        #expect(throws: CryptoError.authenticationFailed) {
            _ = try joinerKeys.openInvite(attackerAsHost.sealInvite(Array("cvp2:forged".utf8)))
        }
        // And the attacker opens nothing the host seals for the real joiner.
        #expect(throws: CryptoError.authenticationFailed) {
            _ = try attackerAsJoiner.openInvite(hostKeys.sealInvite(Array("cvp2:secret".utf8)))
        }
    }

    @Test func aKnockFromAnotherRunOrMovedToAnotherNameplateFails() throws {
        let words = code("7-orbit-lantern")
        // An earlier run of the same words (the same agent reading out the same words again
        // would be rare, but the words repeat across codes by chance): its knock is replayed.
        let oldHost = words.startCPace(side: .host, sessionID: [])
        let oldJoiner = words.startCPace(side: .joiner, sessionID: [])
        let oldJoinerMessage = oldJoiner.message
        let oldKeys = try keys(oldJoiner, peer: oldHost.message, code: words)
        let newHost = words.startCPace(side: .host, sessionID: [])
        let newHostKeys = try keys(newHost, peer: oldJoinerMessage, code: words)
        #expect(throws: CryptoError.authenticationFailed) { try newHostKeys.verifyJoiner(oldKeys.joinerConfirmation) }
        // The host's message offered under another nameplate (the same words at 8): the keys
        // carry the nameplate, so the joiner's tag confirms nothing at 7.
        let atEight = try words.at(nameplate: 8)
        let host = words.startCPace(side: .host, sessionID: [])
        let joiner = atEight.startCPace(side: .joiner, sessionID: [])
        let (hostMessage, joinerMessage) = (host.message, joiner.message)
        let joinerKeys = try keys(joiner, peer: hostMessage, code: atEight)
        let hostKeys = try keys(host, peer: joinerMessage, code: words)
        #expect(throws: CryptoError.authenticationFailed) { try hostKeys.verifyJoiner(joinerKeys.joinerConfirmation) }
        // The same run at the right nameplate confirms both ways (the control).
        let rightJoiner = words.startCPace(side: .joiner, sessionID: [])
        let rightHost = words.startCPace(side: .host, sessionID: [])
        let (toJoiner, toHost) = (rightHost.message, rightJoiner.message)
        let a = try keys(rightJoiner, peer: toJoiner, code: words)
        let b = try keys(rightHost, peer: toHost, code: words)
        try b.verifyJoiner(a.joinerConfirmation)
        try a.verifyHost(b.hostConfirmation)
    }

    @Test func reflectingTheHostsOwnMessageBackAsAKnockFails() throws {
        let words = code("7-orbit-lantern")
        let host = words.startCPace(side: .host, sessionID: [])
        // The rendezvous knows no tag to send with it; any tag fails, and nothing traps.
        let own = host.message
        if let reflected = try? keys(host, peer: own, code: words) {
            #expect(throws: CryptoError.authenticationFailed) { try reflected.verifyJoiner([UInt8](repeating: 0, count: 32)) }
        }
    }

    @Test(arguments: [0, 1, 2, 31, 32, 33, 34, 35, 64, 96, 97, 1059, 1060, 4096])
    func peerMessagesOfOddSizesAreRefusedWithoutATrap(size: Int) {
        let words = code("7-orbit-lantern")
        var message = [UInt8](repeating: 0x5a, count: size)
        if size > 0 { message[0] = UInt8(truncatingIfNeeded: max(0, size - 2)) }
        for side in [ShortCode.Side.joiner, .host] {
            do {
                _ = try words.startCPace(side: side, sessionID: []).finish(peerMessage: message)
                Issue.record("a \(size)-byte message was taken")
            } catch {}
        }
    }
}
