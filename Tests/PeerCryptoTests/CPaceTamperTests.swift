import Foundation
import Testing

@testable import PeerCrypto

// CPace under attack: a wrong password, every bit of either message flipped, messages cut short,
// grown, or carrying the identity or non-canonical encodings. The acceptable outcomes are a
// thrown error or an ISK that differs from the honest one; a round trip with matching inputs agrees.

private let prs = Array("orbit-lantern".utf8)
private let ci = CPace.lvCat(Array("cvpeer/2 short code".utf8), Array("joiner".utf8), Array("host".utf8), Array("7".utf8))
private let sid = Array("0123456789abcdef".utf8)
private let adA = Array("joiner-ad".utf8)
private let adB = Array("host-ad".utf8)

/// One honest run: both messages, both ISKs, and the scalars that made them (so a test can replay
/// either side against an altered message).
private struct HonestRun {
    let scalarA = SecretBytes(randomCount: 32)
    let scalarB = SecretBytes(randomCount: 32)
    let messageA: [UInt8]
    let messageB: [UInt8]
    let isk: [UInt8]

    init() throws {
        // Random scalars reduced below 2^252 so they are valid fixed scalars (the real path uses
        // crypto_core_ristretto255_scalar_random; these stand in for it so each side can be replayed).
        let a = CPace.start(prs: prs, ci: ci, sid: sid, ad: adA, role: .initiator, scalar: Self.reduced(scalarA))
        let b = CPace.start(prs: prs, ci: ci, sid: sid, ad: adB, role: .responder, scalar: Self.reduced(scalarB))
        messageA = a.message
        messageB = b.message
        let iskA = try a.finish(peerMessage: messageB).isk
        let iskB = try b.finish(peerMessage: messageA).isk
        #expect(iskA == iskB)
        isk = iskA.unsafeCopy()
    }

    static func reduced(_ scalar: SecretBytes) -> SecretBytes {
        var bytes = scalar.unsafeCopy()
        bytes[31] &= 0x0F
        defer { Sodium.zero(&bytes) }
        return SecretBytes(copying: bytes)
    }

    /// The initiator, replayed with its scalar, finishing with `messageB`.
    func initiator() -> CPace {
        CPace.start(prs: prs, ci: ci, sid: sid, ad: adA, role: .initiator, scalar: Self.reduced(scalarA))
    }

    /// The responder, replayed with its scalar.
    func responder() -> CPace {
        CPace.start(prs: prs, ci: ci, sid: sid, ad: adB, role: .responder, scalar: Self.reduced(scalarB))
    }
}

/// Finishes `state` with `message`: the ISK's bytes, or the error.
private func outcome(_ state: consuming CPace, _ message: [UInt8]) -> Result<[UInt8], CryptoError> {
    do {
        return .success(try state.finish(peerMessage: message).isk.unsafeCopy())
    } catch {
        return .failure(error)
    }
}

/// The message with the point replaced (its length prefix kept).
private func withPoint(_ message: [UInt8], _ point: [UInt8]) -> [UInt8] {
    [message[0]] + point + message[33...]
}

@Suite struct CPaceTamperTests {
    @Test func matchingInputsAgreeOnAFreshRandomRun() throws {
        let a = CPace.start(prs: prs, ci: ci, sid: sid, ad: adA, role: .initiator)
        let b = CPace.start(prs: prs, ci: ci, sid: sid, ad: adB, role: .responder)
        let (messageA, messageB) = (a.message, b.message)
        #expect(messageA.count == 1 + 32 + 1 + adA.count)
        let initiator = try a.finish(peerMessage: messageB)
        let responder = try b.finish(peerMessage: messageA)
        #expect(initiator.isk == responder.isk)
        #expect(initiator.isk.count == CPace.iskLength)
        #expect(initiator.peerAD == adB && responder.peerAD == adA)
    }

    @Test func twoRunsWithTheSameInputsSendDifferentMessages() {
        // A fresh scalar per run: the draft forbids reusing ya/yb.
        let first = CPace.start(prs: prs, ci: ci, sid: sid, ad: adA, role: .initiator)
        let second = CPace.start(prs: prs, ci: ci, sid: sid, ad: adA, role: .initiator)
        #expect(first.message != second.message)
    }

    @Test func aWrongPasswordGivesDifferentKeys() throws {
        let a = CPace.start(prs: prs, ci: ci, sid: sid, ad: adA, role: .initiator)
        let b = CPace.start(prs: Array("orbit-lanterm".utf8), ci: ci, sid: sid, ad: adB, role: .responder)
        let (messageA, messageB) = (a.message, b.message)
        let initiator = try a.finish(peerMessage: messageB)
        let responder = try b.finish(peerMessage: messageA)
        #expect(initiator.isk != responder.isk)
    }

    @Test func aDifferentChannelOrSessionGivesDifferentKeys() throws {
        for (otherCI, otherSID) in [(ci + [0], sid), (ci, sid + [0]), (ci, [UInt8]())] {
            let a = CPace.start(prs: prs, ci: ci, sid: sid, ad: adA, role: .initiator)
            let b = CPace.start(prs: prs, ci: otherCI, sid: otherSID, ad: adB, role: .responder)
            let (messageA, messageB) = (a.message, b.message)
            #expect(try a.finish(peerMessage: messageB).isk != b.finish(peerMessage: messageA).isk)
        }
    }

    @Test func twoInitiatorsDoNotAgree() throws {
        // The roles are part of the transcript's order; two parties both claiming A get different keys.
        let a = CPace.start(prs: prs, ci: ci, sid: sid, ad: adA, role: .initiator)
        let b = CPace.start(prs: prs, ci: ci, sid: sid, ad: adB, role: .initiator)
        let (messageA, messageB) = (a.message, b.message)
        #expect(try a.finish(peerMessage: messageB).isk != b.finish(peerMessage: messageA).isk)
    }

    @Test func flippingAnyBitOfTheResponsesMessageFailsOrChangesTheKey() throws {
        let run = try HonestRun()
        for index in run.messageB.indices {
            for bit in 0..<8 {
                var altered = run.messageB
                altered[index] ^= 1 << bit
                if case .success(let isk) = outcome(run.initiator(), altered) {
                    #expect(isk != run.isk, "byte \(index) bit \(bit) of B's message left A's ISK unchanged")
                }
            }
        }
    }

    @Test func flippingAnyBitOfTheInitiatorsMessageFailsOrChangesTheKey() throws {
        let run = try HonestRun()
        for index in run.messageA.indices {
            for bit in 0..<8 {
                var altered = run.messageA
                altered[index] ^= 1 << bit
                if case .success(let isk) = outcome(run.responder(), altered) {
                    #expect(isk != run.isk, "byte \(index) bit \(bit) of A's message left B's ISK unchanged")
                }
            }
        }
    }

    @Test func theUnalteredMessagesStillGiveTheHonestKey() throws {
        // The replay the flip tests rely on: the same scalars reproduce the honest ISK.
        let run = try HonestRun()
        #expect(try outcome(run.initiator(), run.messageB).get() == run.isk)
        #expect(try outcome(run.responder(), run.messageA).get() == run.isk)
    }

    @Test func bit255OfThePointIsRefused() throws {
        // libsodium 1.0.18 alone would decode this to the same point as the honest one.
        let run = try HonestRun()
        var altered = run.messageB
        altered[32] |= 0x80
        #expect(finishError(run.initiator(), altered) == .invalidPAKEPoint)
        var alteredA = run.messageA
        alteredA[32] |= 0x80
        #expect(finishError(run.responder(), alteredA) == .invalidPAKEPoint)
    }

    @Test func theIdentityIsRefused() throws {
        let run = try HonestRun()
        #expect(finishError(run.initiator(), withPoint(run.messageB, [UInt8](repeating: 0, count: 32))) == .invalidPAKEPoint)
        // The identity with bit 255 set, the one other spelling 1.0.18 would decode.
        var highIdentity = [UInt8](repeating: 0, count: 32)
        highIdentity[31] = 0x80
        #expect(finishError(run.initiator(), withPoint(run.messageB, highIdentity)) == .invalidPAKEPoint)
    }

    @Test func nonCanonicalEncodingsAreRefused() throws {
        let run = try HonestRun()
        // p = 2^255 - 19 itself and p + 2 (an encoding of 2 that is not reduced); a negative field
        // element (odd low bit, as in the draft's Y_i1); all ones.
        var p = [UInt8](repeating: 0xFF, count: 32)
        p[0] = 0xED
        p[31] = 0x7F
        var pPlus2 = p
        pPlus2[0] = 0xEF
        var negative = Array(run.messageB[1...32])
        negative[0] |= 1
        var allOnes = [UInt8](repeating: 0xFF, count: 32)
        allOnes[31] = 0x7F
        for point in [p, pPlus2, negative, allOnes] {
            #expect(finishError(run.initiator(), withPoint(run.messageB, point)) == .invalidPAKEPoint, "\(point)")
        }
    }

    @Test func truncatedMessagesAreRefused() throws {
        let run = try HonestRun()
        for length in 0..<run.messageB.count {
            let error = finishError(run.initiator(), Array(run.messageB.prefix(length)))
            #expect(isMalformed(error), "a message cut to \(length) bytes: \(String(describing: error))")
        }
    }

    @Test func oversizedMessagesAreRefused() throws {
        let run = try HonestRun()
        // Trailing bytes, a longer point, and AD beyond the limit (in a well-formed encoding).
        let longPoint = CPace.lvCat([UInt8](repeating: 1, count: 33), adB)
        let longAD = CPace.lvCat(Array(run.messageB[1...32]), [UInt8](repeating: 0x41, count: CPace.maxADLength + 1))
        let huge = run.messageB + [UInt8](repeating: 0, count: CPace.maxMessageLength)
        for message in [run.messageB + [0], longPoint, longAD, huge] {
            #expect(isMalformed(finishError(run.initiator(), message)), "a message of \(message.count) bytes")
        }
        // AD of exactly the limit is fine.
        let atLimit = CPace.lvCat(Array(run.messageB[1...32]), [UInt8](repeating: 0x41, count: CPace.maxADLength))
        #expect(throws: Never.self) { _ = try run.initiator().finish(peerMessage: atLimit) }
    }

    @Test func nonMinimalLengthPrefixesAreRefused() throws {
        let run = try HonestRun()
        let point = Array(run.messageB[1...32])
        // 32 spelled as two LEB128 bytes; the AD's length spelled the same way.
        #expect(isMalformed(finishError(run.initiator(), [0xA0, 0x00] + point + CPace.prependLen(adB))))
        #expect(isMalformed(finishError(run.initiator(), [0x20] + point + [UInt8(0x80 | adB.count), 0x00] + adB)))
    }

    @Test func aShortPointIsRefusedEvenIfTheLengthsAgree() throws {
        let run = try HonestRun()
        #expect(isMalformed(finishError(run.initiator(), CPace.lvCat(Array(run.messageB[1...31]), adB))))
    }

    @Test func randomMessagesNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 2, 33, 34, 35, 40, 100, CPace.maxMessageLength, CPace.maxMessageLength + 1] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let state = CPace.start(prs: prs, ci: ci, sid: sid, ad: adA, role: .initiator)
            // Any outcome but a crash is fine here; a random point is usually invalid, never the honest key.
            _ = outcome(state, bytes)
        }
    }
}

private func isMalformed(_ error: CryptoError?) -> Bool {
    if case .malformedPAKEMessage = error { return true }
    return false
}
