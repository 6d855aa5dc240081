import PeerCrypto
import Primitives

/// The access token of one run of the local API: 32 random bytes as lowercase base32 (52 characters).
///
/// A new token is made at every start, so a token that leaked from an old run (a shell history, a
/// screenshot of the URL) is useless once the node restarts. Base32 rather than hex keeps the viewer
/// URL short and needs no escaping in a URL, a cookie or JSON. `description` is redacted; `text` is
/// the secret itself. Immutable and thread-safe.
public struct LocalAPIToken: Sendable, CustomStringConvertible {
    /// Random bytes per token: 256 bits, beyond guessing even at millions of local requests a second.
    public static let byteCount = 32

    /// The token as sent by clients: in `Authorization: Bearer …`, the cookie, `?token=` and `api.json`.
    public let text: String

    /// Makes a fresh random token.
    package static func random() -> LocalAPIToken {
        LocalAPIToken(text: Base32.encode(Sodium.randomBytes(byteCount)))
    }

    /// Wraps a token read back from `api.json`.
    package init(text: String) {
        self.text = text
    }

    /// True if `candidate` is this token; takes the same time wherever the first difference is.
    ///
    /// Only the length may end the comparison early: it is the same for every token and so tells
    /// an attacker nothing.
    package func matches(_ candidate: some StringProtocol) -> Bool {
        let expected = Array(text.utf8)
        let given = Array(candidate.utf8)
        guard expected.count == given.count, !expected.isEmpty else { return false }
        var difference: UInt8 = 0
        for index in expected.indices { difference |= expected[index] ^ given[index] }
        return difference == 0
    }

    public var description: String { "LocalAPIToken(redacted)" }
}
