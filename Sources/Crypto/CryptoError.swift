/// Every failure of the PeerCrypto module.
///
/// Descriptions never contain key material, invite codes or plaintext.
public enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An input had the wrong length for its type (what, expected, got).
    case invalidLength(what: String, expected: Int, got: Int)
    /// An AEAD open failed: the data, nonce, key or associated data is not what was sealed.
    case authenticationFailed
    /// A signature did not verify under the claimed public key.
    case badSignature
    /// A Diffie-Hellman result was all zeros (a low-order public key).
    case weakPublicKey
    /// A key file could not be read or written (path, reason).
    case keyFile(path: String, reason: String)
    /// A key file may be read by group or others (path, mode); it is refused.
    case keyFileTooOpen(path: String, mode: UInt32)
    /// A handshake message or call arrived out of order, or the handshake failed.
    case handshake(String)
    /// A Noise protocol name that this implementation does not support.
    case unsupportedProtocol(String)
    /// A nonce counter reached its limit; the key must be replaced before more messages.
    case nonceExhausted
    /// A sealed batch is malformed before any decryption (reason).
    case malformedBatch(String)
    /// No content key is known for the batch's epoch.
    case unknownEpoch(UInt32)
    /// A CPace message is malformed: its length prefixes, size or trailing bytes are wrong (reason).
    case malformedPAKEMessage(String)
    /// A CPace peer's point is not a canonical ristretto255 encoding, or it gives the identity.
    case invalidPAKEPoint
    /// A short code is not a nameplate 1…999 and words from the list (reason; never the words).
    case invalidShortCode(String)

    public var description: String {
        switch self {
        case let .invalidLength(what, expected, got): "\(what) must be \(expected) bytes, got \(got)"
        case .authenticationFailed: "decryption failed: the data was altered or the key is wrong"
        case .badSignature: "signature does not verify"
        case .weakPublicKey: "the peer's public key is invalid (low order)"
        case let .keyFile(path, reason): "key file \(path): \(reason)"
        case let .keyFileTooOpen(path, mode):
            "key file \(path) has mode \(String(mode & 0o777, radix: 8)) and may be read by others; "
                + "run `chmod 600 \(path)` if it is yours"
        case let .handshake(reason): "handshake failed: \(reason)"
        case let .unsupportedProtocol(name): "unsupported Noise protocol \(name)"
        case .nonceExhausted: "nonce counter exhausted; the link must rekey"
        case let .malformedBatch(reason): "malformed sealed batch: \(reason)"
        case let .unknownEpoch(epoch): "no content key for epoch \(epoch)"
        case let .malformedPAKEMessage(reason): "malformed CPace message: \(reason)"
        case .invalidPAKEPoint: "the peer's CPace point is invalid"
        case let .invalidShortCode(reason): "not a valid short code: \(reason)"
        }
    }
}
