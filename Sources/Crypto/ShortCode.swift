import CSodium

/// A short spoken code, `N-word-word` (e.g. `7-orbit-lantern`), that lets a joiner fetch a room
/// invite from a host through an untrusted rendezvous.
///
/// The nameplate `N` (1…999) is public: it tells the rendezvous which host's mailbox to meet at.
/// The two words are the password: CPace's PRS is their lowercase spelling joined by `-`. The
/// host makes its CPace message before the rendezvous gives it a nameplate, so the nameplate is
/// bound into the keys afterwards (`ShortCodeKeys(isk:context:)` with `keyContext`): one code's
/// words confirm nothing at another nameplate. The joiner is CPace's initiator, the host its responder.
///
/// Immutable and thread-safe. `description` hides the words; `spoken` shows them, for the one
/// person who must read the code out.
public struct ShortCode: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Which end of the exchange a party is.
    public enum Side: Sendable, Equatable {
        /// The one who typed the code; speaks first (CPace initiator) and confirms first.
        case joiner
        /// The one who made the code and holds the invite (CPace responder).
        case host
    }

    /// Words per code.
    public static let wordCount = 2
    /// Bits of password per word: the list has 2^10 words.
    package static let bitsPerWord = 10
    /// Bits of password per code: 20, so one online guess succeeds with probability 2^-20 (one in
    /// about a million).
    ///
    /// That is enough because guesses can only be made online: CPace gives an attacker (a hostile
    /// rendezvous or someone racing the joiner) one guess per run and nothing to test offline, and
    /// a failed run burns the code: the host stops serving it and its agent must read out a fresh
    /// one, which the attacker's next guess faces anew. Even an attacker who tries every live code
    /// on a busy rendezvous wins with probability (codes tried) × 2^-20.
    package static let passwordBits = wordCount * bitsPerWord
    /// The nameplates a code may carry: at most three digits to say.
    public static let nameplateRange = 1...999
    /// The longest text `init(parsing:)` looks at: generous room for spaces around a 21-character code.
    public static let maxInputLength = 64
    /// The label at the start of every short code's CPace channel identifier.
    static let channelLabel = Array("cvpeer/2 short code".utf8)

    /// The public nameplate.
    public let nameplate: Int
    /// Positions in `wordList`; the secret part.
    let wordIndices: [Int]

    init(nameplate: Int, wordIndices: [Int]) {
        precondition(Self.nameplateRange.contains(nameplate) && wordIndices.count == Self.wordCount)
        precondition(wordIndices.allSatisfy { Self.wordList.indices.contains($0) })
        self.nameplate = nameplate
        self.wordIndices = wordIndices
    }

    /// A fresh code at `nameplate`, its words drawn uniformly with libsodium's generator.
    ///
    /// - Throws: `CryptoError.invalidShortCode` if the nameplate is outside 1…999.
    public static func generate(nameplate: Int) throws(CryptoError) -> ShortCode {
        guard nameplateRange.contains(nameplate) else { throw .invalidShortCode("the number must be 1 to 999") }
        _ = Sodium.ready
        let indices = (0..<wordCount).map { _ in Int(randombytes_uniform(UInt32(wordList.count))) }
        return ShortCode(nameplate: nameplate, wordIndices: indices)
    }

    /// Reads a code as a person typed it: case, spaces around it and `-` or spaces between the
    /// parts do not matter (`7-orbit-lantern`, ` 7 Orbit  LANTERN `, `007-orbit - lantern`).
    ///
    /// - Throws: `CryptoError.invalidShortCode` saying what is wrong (the shape, the number, or
    ///   which word is not in the list) without repeating the words.
    public init(parsing text: String) throws(CryptoError) {
        guard text.utf8.count <= Self.maxInputLength else { throw .invalidShortCode("too long for a short code") }
        let parts = text.split(whereSeparator: { $0 == "-" || $0.isWhitespace }).map { $0.lowercased() }
        guard parts.count == 1 + Self.wordCount else {
            throw .invalidShortCode("expected a number and \(Self.wordCount) words, like 7-orbit-lantern")
        }
        let digits = parts[0]
        guard (1...3).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }), let nameplate = Int(digits),
            Self.nameplateRange.contains(nameplate)
        else { throw .invalidShortCode("it must start with a number from 1 to 999") }
        var indices: [Int] = []
        for (position, word) in parts.dropFirst().enumerated() {
            guard let index = Self.wordIndex[word] else {
                throw .invalidShortCode("word \(position + 1) is not in the word list")
            }
            indices.append(index)
        }
        self.init(nameplate: nameplate, wordIndices: indices)
    }

    /// The same words at another nameplate: the host draws its words before the rendezvous
    /// tells it its number.
    ///
    /// - Throws: `CryptoError.invalidShortCode` if the nameplate is outside 1…999.
    public func at(nameplate: Int) throws(CryptoError) -> ShortCode {
        guard Self.nameplateRange.contains(nameplate) else { throw .invalidShortCode("the number must be 1 to 999") }
        return ShortCode(nameplate: nameplate, wordIndices: wordIndices)
    }

    /// What binds the nameplate into the confirmation and invite keys: its decimal digits.
    public var keyContext: [UInt8] { Array(String(nameplate).utf8) }

    /// Word → position, for parsing.
    static let wordIndex: [String: Int] = Dictionary(uniqueKeysWithValues: wordList.enumerated().map { ($1, $0) })

    /// The words, lowercase.
    public var words: [String] { wordIndices.map { Self.wordList[$0] } }

    /// The code to read out: `7-orbit-lantern`. Secret until used; show it only to the agent.
    public var spoken: String { ([String(nameplate)] + words).joined(separator: "-") }

    /// CPace's PRS: the words, lowercase, joined by `-`, in UTF-8. The nameplate is not in it:
    /// it is public and goes into the channel identifier instead.
    package var password: [UInt8] { Array(words.joined(separator: "-").utf8) }

    /// CPace's CI: `lv_cat("cvpeer/2 short code", "joiner", "host")`.
    ///
    /// The protocol label keeps these runs apart from any other use of CPace, and the roles name
    /// the initiator first, as the draft asks. The nameplate is not in it: the host's message
    /// exists before its nameplate does (it is bound into the keys instead, `keyContext`).
    package var channelIdentifier: [UInt8] {
        CPace.lvCat(Self.channelLabel, Array("joiner".utf8), Array("host".utf8))
    }

    /// Starts this side's CPace run for the code.
    ///
    /// - Parameters:
    ///   - side: Joiner (initiator) or host (responder).
    ///   - sessionID: CPace's sid: public bytes both sides know before the run and that are fresh
    ///     for each claim of the nameplate (e.g. the mailbox's id from the rendezvous), or empty.
    ///   - ad: This side's associated data, sent in clear and authenticated.
    /// - Returns: The state whose `message` goes to the peer.
    public func startCPace(side: Side, sessionID: [UInt8], ad: [UInt8] = []) -> CPace {
        CPace.start(
            prs: password, ci: channelIdentifier, sid: sessionID, ad: ad, role: side == .joiner ? .initiator : .responder)
    }

    public var description: String { "ShortCode(\(nameplate)-…, words redacted)" }
    public var debugDescription: String { description }
}

/// What a short code's CPace run yields: each side's confirmation tag and the key that seals the
/// invite, all keyed BLAKE2b-256 under the 64-byte ISK with their own labels.
///
/// The order of use: the joiner sends `joinerConfirmation` first; the host checks it with
/// `verifyJoiner` before it sends anything derived from the room, so a wrong guess is known
/// (and the code burnt) while the invite is still unsent. The host then sends
/// `hostConfirmation` and `sealInvite(invite)`; the joiner checks the first and opens the second.
/// Immutable and thread-safe.
public struct ShortCodeKeys: Sendable {
    /// Labels, one per derived value; changing one is an incompatible protocol change.
    enum Label {
        static let joinerConfirmation = Array("cvpeer/2 short code joiner confirmation".utf8)
        static let hostConfirmation = Array("cvpeer/2 short code host confirmation".utf8)
        static let inviteKey = Array("cvpeer/2 short code invite key".utf8)
        /// The AEAD's associated data.
        static let inviteAD = Array("cvpeer/2 short code invite".utf8)
    }

    /// Length of a confirmation tag: a full-strength MAC, since nothing is gained by shortening it.
    public static let confirmationLength = 32
    /// The longest invite that may be sealed; invites are a few hundred bytes, and the bound lets
    /// `openInvite` refuse oversized input before decrypting.
    package static let maxInviteLength = 1024
    /// Overhead of a sealed invite: a random 24-byte XChaCha20 nonce before the ciphertext, and the tag.
    package static let sealOverhead = XChaCha20Poly1305.nonceLength + aeadTagLength

    /// The tag the joiner sends to prove it derived the same ISK.
    public let joinerConfirmation: [UInt8]
    /// The tag the host sends, after checking the joiner's, to prove the same.
    public let hostConfirmation: [UInt8]
    private let inviteKey: SecretBytes

    /// Derives the keys from a CPace ISK (64 bytes) and the exchange's context (the code's
    /// `keyContext`), appended to each label.
    public init(isk: SecretBytes, context: [UInt8] = []) {
        precondition(isk.count == CPace.iskLength, "a CPace ISK is 64 bytes")
        let length = Self.confirmationLength
        joinerConfirmation = Blake2b.derive(key: isk, label: Label.joinerConfirmation + context, outputLength: length).unsafeCopy()
        hostConfirmation = Blake2b.derive(key: isk, label: Label.hostConfirmation + context, outputLength: length).unsafeCopy()
        inviteKey = Blake2b.derive(key: isk, label: Label.inviteKey + context, outputLength: aeadKeyLength)
    }

    /// Checks the joiner's tag in constant time.
    ///
    /// - Throws: `CryptoError.authenticationFailed` if it is not this ISK's (a wrong code, most likely).
    public func verifyJoiner(_ tag: [UInt8]) throws(CryptoError) {
        guard Self.equal(tag, joinerConfirmation) else { throw .authenticationFailed }
    }

    /// Checks the host's tag in constant time.
    ///
    /// - Throws: `CryptoError.authenticationFailed` if it is not this ISK's.
    public func verifyHost(_ tag: [UInt8]) throws(CryptoError) {
        guard Self.equal(tag, hostConfirmation) else { throw .authenticationFailed }
    }

    private static func equal(_ received: [UInt8], _ expected: [UInt8]) -> Bool {
        received.count == expected.count
            && received.withUnsafeBytes { r in
                expected.withUnsafeBytes { sodium_memcmp(r.baseAddress!, $0.baseAddress!, expected.count) == 0 }
            }
    }

    /// Seals the invite's bytes for the joiner: nonce (24) ‖ XChaCha20-Poly1305 ciphertext and tag.
    ///
    /// - Parameter invite: At most `maxInviteLength` bytes.
    public func sealInvite(_ invite: [UInt8]) -> [UInt8] {
        precondition(invite.count <= Self.maxInviteLength, "invite longer than ShortCodeKeys.maxInviteLength")
        let nonce = Sodium.randomBytes(XChaCha20Poly1305.nonceLength)
        var out = nonce + [UInt8](repeating: 0, count: invite.count + aeadTagLength)
        out.withUnsafeMutableBytes { o in
            invite.withUnsafeBytes { p in
                Label.inviteAD.withUnsafeBytes { a in
                    nonce.withUnsafeBytes { n in
                        XChaCha20Poly1305.seal(
                            into: UnsafeMutableRawBufferPointer(rebasing: o[nonce.count...]), plaintext: p, ad: a, nonce: n,
                            key: inviteKey)
                    }
                }
            }
        }
        return out
    }

    /// Opens a sealed invite into secret memory (it holds the room secret).
    ///
    /// - Throws: `CryptoError.invalidLength` if it is shorter than the overhead or longer than a
    ///   sealed `maxInviteLength`; `.authenticationFailed` if it was altered or sealed under another key.
    public func openInvite(_ sealed: [UInt8]) throws(CryptoError) -> SecretBytes {
        guard sealed.count >= Self.sealOverhead else {
            throw .invalidLength(what: "sealed invite", expected: Self.sealOverhead, got: sealed.count)
        }
        guard sealed.count <= Self.sealOverhead + Self.maxInviteLength else {
            throw .invalidLength(what: "sealed invite", expected: Self.sealOverhead + Self.maxInviteLength, got: sealed.count)
        }
        let nonceLength = XChaCha20Poly1305.nonceLength
        var opened = true
        let invite = SecretBytes(count: sealed.count - Self.sealOverhead) { out in
            sealed.withUnsafeBytes { s in
                Label.inviteAD.withUnsafeBytes { a in
                    do {
                        try XChaCha20Poly1305.open(
                            into: out, ciphertext: UnsafeRawBufferPointer(rebasing: s[nonceLength...]), ad: a,
                            nonce: UnsafeRawBufferPointer(rebasing: s[..<nonceLength]), key: inviteKey)
                    } catch {
                        opened = false
                    }
                }
            }
        }
        guard opened else { throw .authenticationFailed }
        return invite
    }
}
