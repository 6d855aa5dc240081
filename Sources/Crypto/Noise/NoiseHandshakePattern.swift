/// A Noise handshake pattern with its modifiers applied (Noise rev 34, §7 and §9).
///
/// Immutable and thread-safe. Patterns come only from the table below, written in the spec's own
/// notation so each can be checked against the spec by eye; anything else is refused.
public struct NoiseHandshakePattern: Sendable, Hashable, CustomStringConvertible {
    /// One step of a message pattern.
    public enum Token: String, Sendable, Hashable {
        case e, s, ee, es, se, ss, psk
    }

    /// The pattern's name with modifiers, e.g. `XXpsk3`; it is hashed into the handshake as part of the protocol name.
    public let name: String
    /// Keys the initiator is known to hold before the handshake (only `s` in the supported patterns).
    package let initiatorPreMessage: [Token]
    /// Keys the responder is known to hold before the handshake.
    package let responderPreMessage: [Token]
    /// The messages in order; even indices go initiator→responder, odd ones back.
    public let messages: [[Token]]
    /// True for N, K and X: one message, and only the initiator may send afterwards (§7).
    package let isOneWay: Bool

    /// How many pre-shared keys each party must supply.
    package var pskCount: Int { messages.reduce(0) { $0 + $1.filter { $0 == .psk }.count } }

    public var description: String { name }

    /// Looks up a pattern name such as `XX`, `X1K1` or `NNpsk0+psk2`.
    ///
    /// - Throws: `CryptoError.unsupportedProtocol` for an unknown pattern or modifier, a repeated
    ///   or out-of-order psk modifier, or a psk position past the last message.
    public init(name: String) throws {
        // The base is the uppercase-and-digit prefix; modifiers start at the first lowercase letter.
        let baseEnd = name.firstIndex { $0.isLowercase } ?? name.endIndex
        let base = String(name[..<baseEnd])
        guard let definition = Self.table[base] else { throw CryptoError.unsupportedProtocol(name) }
        var messages = definition.messages
        if baseEnd < name.endIndex {
            var lastPosition = -1
            for modifier in name[baseEnd...].split(separator: "+", omittingEmptySubsequences: false) {
                guard let position = Self.pskPosition(modifier), position > lastPosition, position <= messages.count
                else { throw CryptoError.unsupportedProtocol(name) }
                lastPosition = position
                // psk0 opens the first message; pskN (N ≥ 1) closes message N (§9).
                if position == 0 {
                    messages[0].insert(.psk, at: 0)
                } else {
                    messages[position - 1].append(.psk)
                }
            }
        }
        self.name = name
        initiatorPreMessage = definition.initiatorPreMessage
        responderPreMessage = definition.responderPreMessage
        self.messages = messages
        isOneWay = ["N", "K", "X"].contains(base)
    }

    /// The N of a `pskN` modifier, accepting only canonical decimal (no `psk01`, no sign).
    private static func pskPosition(_ modifier: Substring) -> Int? {
        guard modifier.hasPrefix("psk") else { return nil }
        let digits = modifier.dropFirst(3)
        guard !digits.isEmpty, digits.count <= 2, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            digits == "0" || !digits.hasPrefix("0")
        else { return nil }
        return Int(digits)
    }

    private struct Definition {
        var initiatorPreMessage: [Token] = []
        var responderPreMessage: [Token] = []
        var messages: [[Token]] = []
    }

    /// Every supported pattern, parsed once from the spec's notation (§7).
    private static let table: [String: Definition] = notation.mapValues(parse)

    /// Reads the spec's notation: optional pre-message lines, `...`, then `->`/`<-` lines alternating.
    private static func parse(_ text: String) -> Definition {
        var definition = Definition()
        let lines = text.split(separator: "\n").map { $0.trimmingWhitespace() }
        let hasPreMessages = lines.contains("...")
        var inPreMessages = hasPreMessages
        for line in lines {
            if line == "..." {
                inPreMessages = false
                continue
            }
            let fromInitiator = line.hasPrefix("->")
            precondition(fromInitiator || line.hasPrefix("<-"), "bad pattern line \(line)")
            let tokens = line.dropFirst(2).split(separator: ",").map { word -> Token in
                guard let token = Token(rawValue: String(word.trimmingWhitespace())) else {
                    preconditionFailure("bad token in pattern line \(line)")
                }
                return token
            }
            if inPreMessages {
                precondition(tokens == [.s], "only static keys are supported in pre-messages")
                if fromInitiator { definition.initiatorPreMessage = tokens } else { definition.responderPreMessage = tokens }
            } else {
                precondition(fromInitiator == definition.messages.count.isMultiple(of: 2), "messages must alternate")
                definition.messages.append(tokens)
            }
        }
        return definition
    }

    private static let notation: [String: String] = [
        // One-way patterns.
        "N": "<- s\n...\n-> e, es",
        "K": "-> s\n<- s\n...\n-> e, es, ss",
        "X": "<- s\n...\n-> e, es, s, ss",
        // Fundamental interactive patterns.
        "NN": "-> e\n<- e, ee",
        "NK": "<- s\n...\n-> e, es\n<- e, ee",
        "NX": "-> e\n<- e, ee, s, es",
        "KN": "-> s\n...\n-> e\n<- e, ee, se",
        "KK": "-> s\n<- s\n...\n-> e, es, ss\n<- e, ee, se",
        "KX": "-> s\n...\n-> e\n<- e, ee, se, s, es",
        "XN": "-> e\n<- e, ee\n-> s, se",
        "XK": "<- s\n...\n-> e, es\n<- e, ee\n-> s, se",
        "XX": "-> e\n<- e, ee, s, es\n-> s, se",
        "IN": "-> e, s\n<- e, ee, se",
        "IK": "<- s\n...\n-> e, es, s, ss\n<- e, ee, se",
        "IX": "-> e, s\n<- e, ee, se, s, es",
        // Deferred patterns: a "1" postpones that party's authentication by a message.
        "NK1": "<- s\n...\n-> e\n<- e, ee, es",
        "NX1": "-> e\n<- e, ee, s\n-> es",
        "X1N": "-> e\n<- e, ee\n-> s\n<- se",
        "X1K": "<- s\n...\n-> e, es\n<- e, ee\n-> s\n<- se",
        "XK1": "<- s\n...\n-> e\n<- e, ee, es\n-> s, se",
        "X1K1": "<- s\n...\n-> e\n<- e, ee, es\n-> s\n<- se",
        "X1X": "-> e\n<- e, ee, s, es\n-> s\n<- se",
        "XX1": "-> e\n<- e, ee, s\n-> es, s, se",
        "X1X1": "-> e\n<- e, ee, s\n-> es, s\n<- se",
        "K1N": "-> s\n...\n-> e\n<- e, ee\n-> se",
        "K1K": "-> s\n<- s\n...\n-> e, es\n<- e, ee\n-> se",
        "KK1": "-> s\n<- s\n...\n-> e\n<- e, ee, se, es",
        "K1K1": "-> s\n<- s\n...\n-> e\n<- e, ee, es\n-> se",
        "K1X": "-> s\n...\n-> e\n<- e, ee, s, es\n-> se",
        "KX1": "-> s\n...\n-> e\n<- e, ee, se, s\n-> es",
        "K1X1": "-> s\n...\n-> e\n<- e, ee, s\n-> se, es",
        "I1N": "-> e, s\n<- e, ee\n-> se",
        "I1K": "<- s\n...\n-> e, es, s\n<- e, ee\n-> se",
        "IK1": "<- s\n...\n-> e, s\n<- e, ee, se, es",
        "I1K1": "<- s\n...\n-> e, s\n<- e, ee, es\n-> se",
        "I1X": "-> e, s\n<- e, ee, s, es\n-> se",
        "IX1": "-> e, s\n<- e, ee, se, s\n-> es",
        "I1X1": "-> e, s\n<- e, ee, s\n-> se, es",
    ]
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map { index(after: $0) } ?? start
        return self[start..<end]
    }
}

/// A full Noise protocol name such as `Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b`, checked for support.
///
/// Immutable and thread-safe. The name is hashed into every handshake, so it is kept verbatim.
public struct NoiseProtocolName: Sendable, Hashable, CustomStringConvertible {
    /// The only DH function supported.
    package static let dh = "25519"
    /// The only cipher supported.
    package static let cipher = "ChaChaPoly"
    /// The only hash supported.
    public static let hash = "BLAKE2b"

    /// The name exactly as given.
    public let name: String
    /// Its handshake pattern.
    public let pattern: NoiseHandshakePattern

    public var description: String { name }

    /// Parses and checks a protocol name.
    ///
    /// - Throws: `CryptoError.unsupportedProtocol` unless it is `Noise_<pattern>_25519_ChaChaPoly_BLAKE2b`
    ///   with a supported pattern.
    public init(_ name: String) throws {
        let parts = name.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "Noise", parts[2] == Self.dh, parts[3] == Self.cipher, parts[4] == Self.hash
        else { throw CryptoError.unsupportedProtocol(name) }
        do {
            pattern = try NoiseHandshakePattern(name: String(parts[1]))
        } catch {
            throw CryptoError.unsupportedProtocol(name)
        }
        self.name = name
    }
}
