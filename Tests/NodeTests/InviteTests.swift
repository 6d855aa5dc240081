import Node
import PeerCrypto
import Primitives
import Rendezvous
import Testing

@Suite struct InviteTests {
    /// A fixed secret keeps every code, and so every exhaustive check below, the same on each run.
    private static let secretBytes: [UInt8] = (0..<32).map { UInt8($0 * 7 + 3) }
    private var secret: SecretBytes { SecretBytes(copying: Self.secretBytes) }
    /// A fixed owner, for the same reason.
    private let owner = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0x33, count: Identity.seedLength))).publicKey
    private static let base32Alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")

    private func invite(_ address: String, route: Invite.Route = .rendezvous, name: String? = nil) throws -> Invite {
        try Invite(route: route, address: address, roomSecret: secret, owner: owner, displayName: name)
    }

    /// The invite error `text` is rejected with, or nil (recording an issue) if it was accepted.
    private func rejection(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> InviteError? {
        do {
            let accepted = try Invite(code: text)
            Issue.record("accepted a damaged invite as \(accepted)", sourceLocation: sourceLocation)
        } catch let NodeError.invalidInvite(error) {
            return error
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    // MARK: round trips

    @Test(arguments: [
        ("rv.shop.example:7700", "rv.shop.example", UInt16(7700)),
        ("127.0.0.1:7700", "127.0.0.1", 7700),
        ("203.0.113.9:1", "203.0.113.9", 1),
        ("[::1]:7700", "::1", 7700),
        ("[2001:db8::42]:65535", "2001:db8::42", 65535),
        ("[2001:DB8:0:0:0:0:0:42]:443", "2001:db8::42", 443),
        ("localhost:0", "localhost", 0),
        ("my_host.internal-net.example:9", "my_host.internal-net.example", 9),
    ])
    func roundTripsEveryAddressKind(text: String, host: String, port: UInt16) throws {
        for route in [Invite.Route.rendezvous, .direct] {
            for name in [nil, "Ana", "Zoë from Ökoladen 🛍️"] as [String?] {
                let original = try invite(text, route: route, name: name)
                #expect(original.address.host == host)
                #expect(original.address.port == port)
                let decoded = try Invite(code: original.code)
                #expect(decoded == original)
                #expect(decoded.route == route)
                #expect(decoded.displayName == name)
                #expect(decoded.roomSecret.unsafeCopy() == Self.secretBytes)
                #expect(decoded.code == original.code)
            }
        }
    }

    @Test func codeIsShortAndSafeInsideShellSingleQuotes() throws {
        let typical = try invite("rv.shop.example:7700", name: "Ana")
        #expect(typical.code.hasPrefix("cvp2:"))
        // The owner's key (32 bytes) makes it 52 characters longer than format 1's.
        #expect(typical.code.count <= 160, "\(typical.code.count) characters")
        let allowed = Set("abcdefghijklmnopqrstuvwxyz234567:2cvp")
        #expect(typical.code.allSatisfy { allowed.contains($0) })
        #expect(typical.joinCommand == "cvpeer join '\(typical.code)'")

        let longest = try invite(
            String(repeating: "a", count: Invite.maxDNSNameLength) + ":7700", route: .direct,
            name: String(repeating: "n", count: Invite.maxDisplayNameLength))
        #expect(longest.code.count <= Invite.maxCodeLength)
        #expect(try Invite(code: longest.code) == longest)
    }

    @Test func pastedVariantsStillRead() throws {
        let original = try invite("rv.shop.example:7700", name: "Ana")
        for pasted in [
            original.code.uppercased(), "  \(original.code)\n", "'\(original.code)'", "\"\(original.code)\"\r\n",
        ] {
            #expect(try Invite(code: pasted) == original)
        }
    }

    @Test func roomKeysComeFromTheSecret() throws {
        let decoded = try Invite(code: try invite("127.0.0.1:7700").code)
        let keys = try RoomKeys(secret: secret, owner: owner)
        #expect(decoded.roomKeys.tag == keys.tag)
    }

    // MARK: typo detection

    private func samples() throws -> [Invite] {
        [
            try invite("rv.shop.example:7700", name: "Ana"),
            try invite("[2001:db8::42]:7700", route: .direct),
            try invite("198.51.100.7:7700", name: "Bo"),
        ]
    }

    @Test func everySingleCharacterSubstitutionIsRejected() throws {
        for sample in try samples() {
            let code = Array(sample.code)
            for position in code.indices {
                for replacement in Self.base32Alphabet + [":"] where replacement != code[position] {
                    var typo = code
                    typo[position] = replacement
                    let error = rejection(String(typo))
                    if position >= Invite.prefix.count {
                        // Past the prefix a typo can only be caught by the checksum or the structure.
                        #expect(error == .damaged || error == .invalidCharacter(position: position + 1), "position \(position)")
                    }
                }
            }
        }
    }

    @Test func everyAdjacentTranspositionIsRejected() throws {
        for sample in try samples() {
            let code = Array(sample.code)
            for position in 0..<(code.count - 1) where code[position] != code[position + 1] {
                var swapped = code
                swapped.swapAt(position, position + 1)
                _ = rejection(String(swapped))
            }
        }
    }

    @Test func everyTruncationAndEveryDeletionIsRejected() throws {
        for sample in try samples() {
            let code = Array(sample.code)
            for length in 0..<code.count {
                _ = rejection(String(code[..<length]))
            }
            for position in code.indices {
                var shorter = code
                shorter.remove(at: position)
                _ = rejection(String(shorter))
            }
            // Text added at the end is not silently ignored either.
            for extra in ["a", "q", "aa", "7"] {
                _ = rejection(sample.code + extra)
            }
        }
    }

    // MARK: clear errors

    @Test func emptyInputIsRejected() {
        #expect(rejection("") == .empty)
        #expect(rejection("  \n\t") == .empty)
        #expect(rejection("''") == .empty)
    }

    @Test(arguments: ["cvp:abc", "cvp1abc", "https://example.com/", "cvq1:aaaa", "join cvp1:aaaa", "cvp", "cvp1"])
    func wrongPrefixIsRejected(text: String) {
        #expect(rejection(text) == .wrongPrefix)
    }

    @Test func newerFormatIsReportedAsSuch() throws {
        #expect(rejection("cvp3:aaaaaaaa") == .unsupportedVersion(3))
        #expect(rejection("cvp1:aaaaaaaa") == .unsupportedVersion(1))
        // Version byte 3 behind a correct checksum: a newer cvpeer made it, not a typo.
        var payload = Array(Self.validPayload())
        payload[0] = 3
        #expect(rejection(Invite._frame(payload: payload)) == .unsupportedVersion(3))
    }

    /// The payload of `invite("127.0.0.1:7700")`, built by hand from the documented layout.
    private static func validPayload() -> [UInt8] {
        [2, 0, 4, 127, 0, 0, 1, 0x1e, 0x14] + secretBytes + ownerBytes
    }

    private static let ownerBytes = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0x33, count: Identity.seedLength))).publicKey.bytes

    @Test func handBuiltPayloadMatchesTheDocumentedLayout() throws {
        let framed = Invite._frame(payload: Self.validPayload())
        #expect(framed == (try invite("127.0.0.1:7700")).code)
    }

    @Test func wellChecksummedButMalformedPayloadsAreRejected() {
        let valid = Self.validPayload()
        var reservedFlag = valid
        reservedFlag[1] = 0x80
        var unknownKind = valid
        unknownKind[2] = 5
        var nameFlagWithoutName = valid
        nameFlagWithoutName[1] = 2
        let badDNS: [UInt8] = [2, 0, 1, 3, 0x61, 0x20, 0x62, 0, 80] + Self.secretBytes + Self.ownerBytes
        let zeroLengthDNS: [UInt8] = [2, 0, 1, 0, 0, 80] + Self.secretBytes + Self.ownerBytes
        // An owner key that is not a point of the curve (all ones).
        var badOwner = valid
        badOwner.replaceSubrange((valid.count - 32)..., with: [UInt8](repeating: 0xFF, count: 32))
        let controlName = valid + [1, 1] + [3, 0x41, 0x1b, 0x42]
        var controlNameFlagged = controlName
        controlNameFlagged[1] = 2
        let badUTF8Name: [UInt8] = {
            var p = valid + [2, 0xc3, 0x28]
            p[1] = 2
            return p
        }()
        for payload in [
            reservedFlag, unknownKind, nameFlagWithoutName, badDNS, zeroLengthDNS, controlNameFlagged, badUTF8Name,
            valid + [0], Array(valid.dropLast()), [], [2], Array(valid.dropLast(32)),
        ] {
            #expect(rejection(Invite._frame(payload: payload)) == .damaged, "payload \(payload.prefix(12))")
        }
    }

    @Test func oversizedInputIsRefusedBeforeDecoding() {
        let huge = String(repeating: "a", count: Invite.maxInputLength + 1)
        #expect(rejection(huge) == .tooLong(length: Invite.maxInputLength + 1, limit: Invite.maxCodeLength))
        let long = "cvp1:" + String(repeating: "a", count: Invite.maxCodeLength)
        #expect(rejection(long) == .tooLong(length: long.utf8.count, limit: Invite.maxCodeLength))
        // Ten megabytes are refused as quickly as ten kilobytes.
        let enormous = String(repeating: "cvp1:", count: 2_000_000)
        #expect(rejection(enormous) == .tooLong(length: enormous.utf8.count, limit: Invite.maxCodeLength))
    }

    @Test func nonASCIIAndForeignCharactersArePinpointed() throws {
        let code = try invite("rv.shop.example:7700").code
        var chars = Array(code)
        chars[9] = "é"
        #expect(rejection(String(chars)) == .notASCII(position: 10))
        #expect(rejection("cvp1:\u{200B}abc") == .notASCII(position: 6))
        chars = Array(code)
        chars[9] = "0"
        #expect(rejection(String(chars)) == .invalidCharacter(position: 10))
        chars[9] = "-"
        #expect(rejection(String(chars)) == .invalidCharacter(position: 10))
    }

    @Test func errorsSayWhatToDoAndNeverEchoTheCode() throws {
        let code = try invite("rv.shop.example:7700", name: "Ana").code
        let body = Array(code.dropFirst(Invite.prefix.count))
        var typo = body
        typo[20] = typo[20] == "a" ? "b" : "a"
        let error = try #require(rejection(Invite.prefix + String(typo)))
        let message = NodeError.invalidInvite(error).description
        #expect(message == "this invite is damaged or mistyped — ask for it again")
        // No 8 consecutive characters of the code, nor the secret in any common spelling, appear.
        for start in 0...(body.count - 8) {
            #expect(!message.contains(String(body[start..<(start + 8)])))
        }
        #expect(!message.contains(Base32.encode(Self.secretBytes)))
        for error in [InviteError.empty, .wrongPrefix, .unsupportedVersion(2), .tooLong(length: 9999, limit: 600)] {
            #expect(!error.description.isEmpty)
        }
    }

    @Test func descriptionRedactsTheSecret() throws {
        let invite = try invite("rv.shop.example:7700", name: "Ana")
        let secretBase32 = Base32.encode(Self.secretBytes)
        let hex = Self.secretBytes.map { String($0, radix: 16) }.joined()
        var dumped = ""
        dump(invite, to: &dumped)
        for text in ["\(invite)", String(reflecting: invite), dumped] {
            #expect(text.contains("redacted") || !text.contains("secret"), "\(text)")
            #expect(!text.contains(invite.code.dropFirst(5).prefix(16)))
            #expect(!text.contains(secretBase32))
            #expect(!text.contains(hex))
        }
        #expect("\(invite)" == "Invite(rendezvous rv.shop.example:7700, from \"Ana\", secret redacted)")
    }

    // MARK: making invites

    @Test func invalidPartsAreRefusedWhenMakingAnInvite() {
        #expect(throws: NodeError.invalidInvite(.invalidAddress("no port here"))) {
            try invite("no port here")
        }
        #expect(throws: NodeError.invalidInvite(.invalidSecret(length: 16))) {
            try Invite(route: .direct, address: "127.0.0.1:1", roomSecret: SecretBytes(randomCount: 16), owner: owner)
        }
        for name in ["", String(repeating: "é", count: 25), "Ana\u{1b}[2J", "Ana\u{202E}evil", "two\nlines"] {
            let error = #expect(throws: NodeError.self) { try invite("127.0.0.1:7700", name: name) }
            guard case .invalidInvite(.invalidDisplayName) = error else {
                Issue.record("name \(name.debugDescription): \(String(describing: error))")
                continue
            }
        }
        let longestName = String(repeating: "n", count: Invite.maxDisplayNameLength)
        #expect((try? invite("127.0.0.1:7700", name: longestName)) != nil)
    }
}
