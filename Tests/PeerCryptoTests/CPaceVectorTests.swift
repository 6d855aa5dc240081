import Foundation
import Testing

@testable import PeerCrypto

// Known answers for CPace on ristretto255 with SHA-512: draft-irtf-cfrg-cpace-21's Appendix B.3
// (generator, both messages with their scalars, K, the initiator-responder ISK, scalar_mult_vfy on
// a valid point and on the two invalid ones) and the string functions of Appendix A it rests on.
// Every expected value comes from Fixtures/cpace-ristretto255-sha512.json, never from this code.

/// The fixture, as stored in Fixtures/cpace-ristretto255-sha512.json.
struct CPaceVectorFile: Decodable, Sendable {
    struct PrependLen: Decodable, Sendable {
        /// Hex input, or absent when the input is `bytes(range(inputRange))`.
        let input: String?
        let inputRange: Int?
        let output: String

        var inputBytes: [UInt8] { input.map(noiseHex) ?? (0..<(inputRange ?? 0)).map { UInt8($0) } }
    }

    struct LVCat: Decodable, Sendable {
        let inputs: [String]
        let output: String
    }

    struct Transcript: Decodable, Sendable {
        let ya: String
        let ada: String
        let yb: String
        let adb: String
        let output: String
    }

    struct ProtocolRun: Decodable, Sendable {
        let prs: String
        let ci: String
        let sid: String
        let zpadLength: Int
        let generatorString: String
        let generatorHash: String
        let generator: String
        let ada: String
        let ya: String
        let Ya: String
        let adb: String
        let yb: String
        let Yb: String
        let K: String
        let transcriptIR: String
        let iskInput: String
        let iskIR: String
    }

    struct ScalarMultValid: Decodable, Sendable {
        let s: String
        let X: String
        let result: String
    }

    struct InvalidPoint: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let point: String
        var testDescription: String { name }
    }

    struct ScalarMultInvalid: Decodable, Sendable {
        let s: String
        let points: [InvalidPoint]
    }

    let source: String
    let suite: String
    let prependLen: [PrependLen]
    let lvCat: LVCat
    let transcriptIR: [Transcript]
    let `protocol`: ProtocolRun
    let scalarMultValid: ScalarMultValid
    let scalarMultInvalid: ScalarMultInvalid
}

/// The fixture, or nil if it cannot be read (which `fixtureIsTheDraftsRistrettoSuite` reports).
let cpaceVectors: CPaceVectorFile? = {
    guard
        let url = Bundle.module.url(forResource: "cpace-ristretto255-sha512", withExtension: "json", subdirectory: "Fixtures"),
        let data = try? Data(contentsOf: url)
    else { return nil }
    return try? JSONDecoder().decode(CPaceVectorFile.self, from: data)
}()

private func secret(_ hex: String) -> SecretBytes { SecretBytes(copying: noiseHex(hex)) }

@Suite struct CPaceVectorTests {
    @Test func fixtureIsTheDraftsRistrettoSuite() throws {
        let file = try #require(cpaceVectors, "Fixtures/cpace-ristretto255-sha512.json is missing or unreadable")
        #expect(file.suite == "CPACE-RISTR255-SHA512")
        #expect(file.source.contains("caca86adecc1cc463d15fb2803be16642040f5c5"))
        #expect(file.prependLen.count == 4 && file.transcriptIR.count == 2 && file.scalarMultInvalid.points.count == 2)
    }

    @Test func prependLenMatchesAppendixA1() throws {
        let file = try #require(cpaceVectors)
        for vector in file.prependLen {
            let bytes = vector.inputBytes
            #expect(CPace.prependLen(bytes) == noiseHex(vector.output), "prepend_len of \(bytes.count) bytes")
        }
    }

    @Test func lvCatMatchesAppendixA1() throws {
        let file = try #require(cpaceVectors)
        let parts = file.lvCat.inputs.map(noiseHex)
        #expect(CPace.lvCat(parts[0], parts[1], parts[2], parts[3]) == noiseHex(file.lvCat.output))
    }

    @Test func transcriptIRMatchesAppendixA3() throws {
        let file = try #require(cpaceVectors)
        for vector in file.transcriptIR {
            let transcript = CPace.transcriptIR(
                ya: noiseHex(vector.ya), ada: noiseHex(vector.ada), yb: noiseHex(vector.yb), adb: noiseHex(vector.adb))
            #expect(transcript == noiseHex(vector.output))
        }
    }

    @Test func generatorMatchesB31() throws {
        let run = try #require(cpaceVectors).protocol
        let (prs, ci, sid) = (noiseHex(run.prs), noiseHex(run.ci), noiseHex(run.sid))
        #expect(CPace.zeroPadLength(prsLength: prs.count) == run.zpadLength)
        #expect(CPace.generatorString(prs: prs, ci: ci, sid: sid) == noiseHex(run.generatorString))
        #expect(CPace.generatorHash(prs: prs, ci: ci, sid: sid).unsafeCopy() == noiseHex(run.generatorHash))
        #expect(CPace.generator(prs: prs, ci: ci, sid: sid).unsafeCopy() == noiseHex(run.generator))
    }

    @Test func messagesMatchB32AndB33() throws {
        let run = try #require(cpaceVectors).protocol
        let a = CPace.start(
            prs: noiseHex(run.prs), ci: noiseHex(run.ci), sid: noiseHex(run.sid), ad: noiseHex(run.ada), role: .initiator,
            scalar: secret(run.ya))
        let b = CPace.start(
            prs: noiseHex(run.prs), ci: noiseHex(run.ci), sid: noiseHex(run.sid), ad: noiseHex(run.adb), role: .responder,
            scalar: secret(run.yb))
        // The message is lv_cat(Y, AD): 0x20, the 32-byte point, the AD's length, the AD.
        #expect(a.message == [0x20] + noiseHex(run.Ya) + [UInt8(noiseHex(run.ada).count)] + noiseHex(run.ada))
        #expect(b.message == [0x20] + noiseHex(run.Yb) + [UInt8(noiseHex(run.adb).count)] + noiseHex(run.adb))
        // Together they are the draft's transcript_ir.
        #expect(a.message + b.message == noiseHex(run.transcriptIR))
    }

    @Test func secretPointMatchesB34() throws {
        let run = try #require(cpaceVectors).protocol
        let fromA = try CPace.scalarMultVerified(secret(run.ya), noiseHex(run.Yb))
        let fromB = try CPace.scalarMultVerified(secret(run.yb), noiseHex(run.Ya))
        #expect(fromA.unsafeCopy() == noiseHex(run.K))
        #expect(fromB.unsafeCopy() == noiseHex(run.K))
    }

    @Test func iskMatchesB35InBothRoles() throws {
        let run = try #require(cpaceVectors).protocol
        let (prs, ci, sid) = (noiseHex(run.prs), noiseHex(run.ci), noiseHex(run.sid))
        let a = CPace.start(prs: prs, ci: ci, sid: sid, ad: noiseHex(run.ada), role: .initiator, scalar: secret(run.ya))
        let b = CPace.start(prs: prs, ci: ci, sid: sid, ad: noiseHex(run.adb), role: .responder, scalar: secret(run.yb))
        let (messageA, messageB) = (a.message, b.message)
        let initiator = try a.finish(peerMessage: messageB)
        let responder = try b.finish(peerMessage: messageA)
        #expect(initiator.isk.unsafeCopy() == noiseHex(run.iskIR), "initiator's ISK")
        #expect(responder.isk.unsafeCopy() == noiseHex(run.iskIR), "responder's ISK")
        #expect(initiator.peerAD == noiseHex(run.adb))
        #expect(responder.peerAD == noiseHex(run.ada))
        // The hash input the draft prints is the layout `finish` hashes: lv_cat(DSI_ISK, sid, K) ‖ transcript_ir.
        #expect(CPace.lvCat(CPace.iskDSI, sid, noiseHex(run.K)) + messageA + messageB == noiseHex(run.iskInput))
    }

    @Test func scalarMultVfyMatchesB310() throws {
        let vector = try #require(cpaceVectors).scalarMultValid
        #expect(try CPace.scalarMultVerified(secret(vector.s), noiseHex(vector.X)).unsafeCopy() == noiseHex(vector.result))
    }

    @Test(arguments: cpaceVectors?.scalarMultInvalid.points ?? [])
    func scalarMultVfyRefusesB311(_ invalid: CPaceVectorFile.InvalidPoint) throws {
        let scalar = try #require(cpaceVectors).scalarMultInvalid.s
        let error = expectCryptoError("scalar_mult_vfy on \(invalid.name)") {
            _ = try CPace.scalarMultVerified(secret(scalar), noiseHex(invalid.point))
        }
        #expect(error == .invalidPAKEPoint)
    }

    @Test(arguments: cpaceVectors?.scalarMultInvalid.points ?? [])
    func aMessageCarryingAnInvalidPointAborts(_ invalid: CPaceVectorFile.InvalidPoint) throws {
        // B.3.11: "When points Y_i1 or Y_i2 are included in message of A or B the protocol MUST abort."
        let run = try #require(cpaceVectors).protocol
        let hostile = CPace.lvCat(noiseHex(invalid.point), noiseHex(run.adb))
        for role in [CPace.Role.initiator, .responder] {
            let state = CPace.start(
                prs: noiseHex(run.prs), ci: noiseHex(run.ci), sid: noiseHex(run.sid), ad: noiseHex(run.ada), role: role)
            #expect(finishError(state, hostile) == .invalidPAKEPoint, "\(role) accepted \(invalid.name)")
        }
    }
}

/// The error `finish` throws for `peerMessage`, or nil (recorded as an issue) if it accepted it.
func finishError(_ state: consuming CPace, _ peerMessage: [UInt8], sourceLocation: SourceLocation = #_sourceLocation)
    -> CryptoError?
{
    do {
        _ = try state.finish(peerMessage: peerMessage)
        Issue.record("finish accepted the message", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}
