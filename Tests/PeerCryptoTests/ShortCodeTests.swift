import Foundation
import Testing

@testable import PeerCrypto

// The short code: its word list, parsing as people type, generation, the CPace inputs it makes,
// and the key schedule after CPace (confirmations and the sealed invite), including a wrong word
// and tampering. Pinned values were computed outside this code (Python's hashlib.blake2b).

/// Both sides of one short-code exchange over CPace, as the network layer would run it.
private struct Exchange {
    let joiner: ShortCodeKeys
    let host: ShortCodeKeys

    init(joinerCode: ShortCode, hostCode: ShortCode, sessionID: [UInt8] = Array("mailbox-42".utf8)) throws {
        let joinerState = joinerCode.startCPace(side: .joiner, sessionID: sessionID)
        let hostState = hostCode.startCPace(side: .host, sessionID: sessionID)
        let (toHost, toJoiner) = (joinerState.message, hostState.message)
        // Keyed as the node keys them: each side binds the nameplate it knows.
        joiner = ShortCodeKeys(isk: try joinerState.finish(peerMessage: toJoiner).isk, context: joinerCode.keyContext)
        host = ShortCodeKeys(isk: try hostState.finish(peerMessage: toHost).isk, context: hostCode.keyContext)
    }
}

private func code(_ text: String) -> ShortCode { try! ShortCode(parsing: text) }

@Suite struct ShortCodeTests {
    // MARK: The word list

    @Test func theWordListHas1024DistinctPlainWords() {
        let list = ShortCode.wordList
        #expect(list.count == 1 << ShortCode.bitsPerWord)
        #expect(Set(list).count == list.count)
        #expect(list == list.sorted())
        for word in list {
            #expect((3...8).contains(word.count) && word.allSatisfy { ("a"..."z").contains($0) }, "\(word)")
        }
        #expect(ShortCode.passwordBits == 20)
    }

    @Test func noTwoWordsDifferInOneLetter() {
        // A one-letter slip (a misheard rhyme, a typo) must not land on another valid word.
        func oneEditApart(_ a: [Character], _ b: [Character]) -> Bool {
            if a.count == b.count { return zip(a, b).filter { $0 != $1 }.count == 1 }
            let (short, long) = a.count < b.count ? (a, b) : (b, a)
            guard long.count == short.count + 1 else { return false }
            return long.indices.contains { index in
                var dropped = long
                dropped.remove(at: index)
                return dropped == short
            }
        }
        let list = ShortCode.wordList.map(Array.init)
        var pairs: [String] = []
        for i in list.indices {
            for j in list.indices where j > i && abs(list[i].count - list[j].count) <= 1 {
                if oneEditApart(list[i], list[j]) { pairs.append("\(String(list[i]))/\(String(list[j]))") }
            }
        }
        #expect(pairs.isEmpty, "\(pairs)")
    }

    // MARK: Parsing

    @Test(arguments: [
        "7-orbit-lantern", "7 orbit lantern", "  7-Orbit-LANTERN\n", "7 - orbit - lantern", "007-orbit-lantern",
        "7--orbit--lantern", "\t7 orbit-lantern ",
    ])
    func parsingToleratesCaseSpacesAndSeparators(_ text: String) throws {
        let parsed = try ShortCode(parsing: text)
        #expect(parsed.nameplate == 7)
        #expect(parsed.words == ["orbit", "lantern"])
        #expect(parsed.spoken == "7-orbit-lantern")
    }

    @Test func everyWordParsesAtTheEdgesOfTheNameplateRange() throws {
        for (index, word) in ShortCode.wordList.enumerated() {
            let other = ShortCode.wordList[(index + 1) % ShortCode.wordList.count]
            let nameplate = index.isMultiple(of: 2) ? 1 : 999
            let parsed = try ShortCode(parsing: "\(nameplate)-\(word)-\(other)")
            #expect(parsed.nameplate == nameplate && parsed.words == [word, other])
        }
    }

    @Test(arguments: [
        ("", "expected a number and 2 words"),
        ("7-orbit", "expected a number and 2 words"),
        ("7-orbit-lantern-comet", "expected a number and 2 words"),
        ("orbit-lantern-7", "start with a number"),
        ("0-orbit-lantern", "start with a number"),
        ("1000-orbit-lantern", "start with a number"),
        ("+7-orbit-lantern", "start with a number"),
        ("٧-orbit-lantern", "start with a number"),
        ("7-orbit-lanterns", "word 2 is not in the word list"),
        ("7-orbitt-lantern", "word 1 is not in the word list"),
        ("7-orbit_lantern", "expected a number and 2 words"),
    ])
    func malformedCodesSayWhatIsWrong(_ text: String, _ expected: String) {
        let error = expectCryptoError("parsing \(text)") { _ = try ShortCode(parsing: text) }
        guard case .invalidShortCode(let reason) = error else {
            Issue.record("\(text): \(String(describing: error))")
            return
        }
        #expect(reason.contains(expected), "\(text): \(reason)")
    }

    @Test func errorsAndDescriptionsNeverRepeatTheWords() throws {
        let error = expectCryptoError("an unknown word") { _ = try ShortCode(parsing: "7-orbit-zanzibar") }
        let message = error.map(String.init(describing:)) ?? ""
        #expect(!message.contains("zanzibar") && !message.contains("orbit"), "\(message)")
        let parsed = code("7-orbit-lantern")
        for text in [parsed.description, parsed.debugDescription, String(describing: parsed), String(reflecting: parsed)] {
            #expect(!text.contains("orbit") && !text.contains("lantern"), "\(text)")
        }
    }

    @Test func overlongInputIsRefusedBeforeSplitting() {
        let text = "7-orbit-lantern" + String(repeating: " ", count: ShortCode.maxInputLength)
        let error = expectCryptoError("overlong") { _ = try ShortCode(parsing: text) }
        #expect(error == .invalidShortCode("too long for a short code"))
    }

    // MARK: Generation

    @Test func generatedCodesParseBackAndVary() throws {
        var seen = Set<String>()
        for nameplate in [1, 7, 999] {
            for _ in 0..<50 {
                let generated = try ShortCode.generate(nameplate: nameplate)
                let parsed = try ShortCode(parsing: generated.spoken)
                #expect(parsed.nameplate == nameplate && parsed.words == generated.words)
                seen.insert(generated.words.joined(separator: " "))
            }
        }
        // 150 draws from 2^20 codes: a repeat is possible but more than a few means a broken generator.
        #expect(seen.count >= 145)
    }

    @Test func generationRefusesNameplatesOutOfRange() {
        for nameplate in [0, -1, 1000] {
            let error = expectCryptoError("nameplate \(nameplate)") { _ = try ShortCode.generate(nameplate: nameplate) }
            #expect(error == .invalidShortCode("the number must be 1 to 999"))
        }
    }

    // MARK: CPace inputs

    @Test func thePasswordIsTheWordsAndTheNameplateGoesIntoTheKeys() {
        let parsed = code(" 7 Orbit LANTERN ")
        #expect(parsed.password == Array("orbit-lantern".utf8))
        // lv_cat("cvpeer/2 short code", "joiner", "host"), written out by hand: no nameplate,
        // since the host's message exists before its nameplate does.
        #expect(parsed.channelIdentifier == noiseHex("136376706565722f322073686f727420636f6465066a6f696e657204686f7374"))
        #expect(code("8-orbit-lantern").password == parsed.password)
        #expect(code("8-orbit-lantern").channelIdentifier == parsed.channelIdentifier)
        // The nameplate is bound into the confirmations and the invite key instead.
        #expect(parsed.keyContext == Array("7".utf8))
        #expect(code("8-orbit-lantern").keyContext != parsed.keyContext)
    }

    // MARK: The key schedule

    @Test func keysMatchBlake2bUnderTheISK() throws {
        // Expected values: hashlib.blake2b(label, key=bytes(range(64)), digest_size=32).
        let keys = ShortCodeKeys(isk: SecretBytes(copying: (0..<64).map { UInt8($0) }))
        #expect(keys.joinerConfirmation == noiseHex("749036d15a578a6fafab727a8717625b529bb53c86fdc25198282b4f23c99d79"))
        #expect(keys.hostConfirmation == noiseHex("a65fadf4d0ae464f1a41f0f8c5f65cb1051c184e304f051be043a4b6963b604a"))
        // The invite key, checked by opening a sealed invite with it directly: nonce ‖ ciphertext, AD the label.
        let inviteKey = SecretBytes(copying: noiseHex("e96ec1867effd5e2150907b630abc62ce895058fb8011011d937947d1dfb4d5f"))
        let invite = Array("cvp2:example invite bytes".utf8)
        let sealed = keys.sealInvite(invite)
        #expect(sealed.count == invite.count + ShortCodeKeys.sealOverhead)
        let opened = try XChaCha20Poly1305.open(
            Array(sealed[24...]), ad: Array("cvpeer/2 short code invite".utf8), nonce: Array(sealed[..<24]), key: inviteKey)
        #expect(opened == invite)
    }

    @Test func theRightCodeConfirmsBothWaysAndOpensTheInvite() throws {
        let shared = try ShortCode.generate(nameplate: 7)
        let exchange = try Exchange(joinerCode: shared, hostCode: shared)
        try exchange.host.verifyJoiner(exchange.joiner.joinerConfirmation)
        try exchange.joiner.verifyHost(exchange.host.hostConfirmation)
        let invite = Array("cvp2:aaaabbbbcccc".utf8)
        #expect(try exchange.joiner.openInvite(exchange.host.sealInvite(invite)).unsafeCopy() == invite)
        // An empty invite seals and opens too.
        #expect(try exchange.joiner.openInvite(exchange.host.sealInvite([])).count == 0)
    }

    @Test func theConfirmationsAndInviteKeyAreDistinct() throws {
        let shared = try ShortCode.generate(nameplate: 7)
        let exchange = try Exchange(joinerCode: shared, hostCode: shared)
        #expect(exchange.joiner.joinerConfirmation != exchange.joiner.hostConfirmation)
        // The host's tag does not pass as the joiner's (no reflection).
        let host = exchange.host
        let reflected = expectCryptoError("host tag as joiner's") { try host.verifyJoiner(host.hostConfirmation) }
        #expect(reflected == .authenticationFailed)
    }

    @Test func aWrongWordFailsTheJoinersConfirmation() throws {
        let hostCode = code("7-orbit-lantern")
        for wrong in ["7-orbit-lagoon", "7-comet-lantern", "7-lantern-orbit"] {
            let exchange = try Exchange(joinerCode: code(wrong), hostCode: hostCode)
            #expect(exchange.joiner.joinerConfirmation != exchange.host.joinerConfirmation)
            let tag = exchange.joiner.joinerConfirmation
            let error = expectCryptoError("joiner typed \(wrong)") { try exchange.host.verifyJoiner(tag) }
            #expect(error == .authenticationFailed)
            // Nor does an invite sealed under the host's key open with the joiner's.
            let sealed = exchange.host.sealInvite(Array("cvp2:secret".utf8))
            let opening = expectCryptoError("open with a wrong code") { _ = try exchange.joiner.openInvite(sealed) }
            #expect(opening == .authenticationFailed)
        }
    }

    @Test func aWrongNameplateOrSessionFailsToo() throws {
        let hostCode = code("7-orbit-lantern")
        let otherNameplate = try Exchange(joinerCode: code("8-orbit-lantern"), hostCode: hostCode)
        let tag = otherNameplate.joiner.joinerConfirmation
        #expect(throws: CryptoError.authenticationFailed) { try otherNameplate.host.verifyJoiner(tag) }
        // Different sids on each side: build the two states by hand.
        let joinerState = hostCode.startCPace(side: .joiner, sessionID: Array("mailbox-1".utf8))
        let hostState = hostCode.startCPace(side: .host, sessionID: Array("mailbox-2".utf8))
        let (toHost, toJoiner) = (joinerState.message, hostState.message)
        let joiner = ShortCodeKeys(isk: try joinerState.finish(peerMessage: toJoiner).isk, context: hostCode.keyContext)
        let host = ShortCodeKeys(isk: try hostState.finish(peerMessage: toHost).isk, context: hostCode.keyContext)
        #expect(throws: CryptoError.authenticationFailed) { try host.verifyJoiner(joiner.joinerConfirmation) }
    }

    @Test func confirmationTagsOfAnyOtherValueOrLengthFail() throws {
        let shared = try ShortCode.generate(nameplate: 7)
        let exchange = try Exchange(joinerCode: shared, hostCode: shared)
        let tag = exchange.joiner.joinerConfirmation
        var candidates: [[UInt8]] = [[], Array(tag.dropLast()), tag + [0], [UInt8](repeating: 0, count: 32)]
        for index in tag.indices {
            var flipped = tag
            flipped[index] ^= 0x01
            candidates.append(flipped)
        }
        for candidate in candidates {
            #expect(throws: CryptoError.authenticationFailed) { try exchange.host.verifyJoiner(candidate) }
            #expect(throws: CryptoError.authenticationFailed) { try exchange.joiner.verifyHost(candidate) }
        }
    }

    @Test func aTamperedSealedInviteIsRefused() throws {
        let shared = try ShortCode.generate(nameplate: 7)
        let exchange = try Exchange(joinerCode: shared, hostCode: shared)
        let sealed = exchange.host.sealInvite(Array("cvp2:the room secret is in here".utf8))
        for index in sealed.indices {
            for bit in 0..<8 {
                var altered = sealed
                altered[index] ^= 1 << bit
                let error = expectCryptoError("byte \(index) bit \(bit)") { _ = try exchange.joiner.openInvite(altered) }
                #expect(error == .authenticationFailed)
            }
        }
        for length in [0, 1, ShortCodeKeys.sealOverhead - 1] {
            let cut = Array(sealed.prefix(length))
            let error = expectCryptoError("cut to \(length)") { _ = try exchange.joiner.openInvite(cut) }
            #expect(error == .invalidLength(what: "sealed invite", expected: ShortCodeKeys.sealOverhead, got: length))
        }
        let short = Array(sealed.dropLast())
        #expect(expectCryptoError("one byte short") { _ = try exchange.joiner.openInvite(short) } == .authenticationFailed)
        let oversized = [UInt8](repeating: 0, count: ShortCodeKeys.sealOverhead + ShortCodeKeys.maxInviteLength + 1)
        #expect(expectCryptoError("oversized") { _ = try exchange.joiner.openInvite(oversized) } != nil)
    }
}
