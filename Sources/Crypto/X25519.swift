import CSodium

/// X25519 Diffie-Hellman (RFC 7748), Noise's `25519`.
public enum X25519 {
    /// Length of public keys, secret keys and shared secrets.
    package static let keyLength = Int(crypto_scalarmult_BYTES)

    /// An X25519 key pair; the secret half is zeroed on release.
    public struct KeyPair: Sendable {
        /// The secret scalar (32 bytes).
        package let secretKey: SecretBytes
        /// The public key (32 bytes).
        public let publicKey: [UInt8]

        /// Generates a fresh random key pair.
        public static func generate() -> KeyPair {
            KeyPair(secretKey: SecretBytes(randomCount: keyLength))
        }

        /// Rebuilds a key pair from its secret half, computing the public key.
        public init(secretKey: SecretBytes) {
            precondition(secretKey.count == keyLength, "X25519 secret key must be 32 bytes")
            self.secretKey = secretKey
            self.publicKey = X25519.publicKey(for: secretKey)
        }
    }

    /// Computes the public key of a secret scalar.
    public static func publicKey(for secretKey: SecretBytes) -> [UInt8] {
        // libsodium reads 32 bytes whatever the secret's length.
        precondition(secretKey.count == keyLength, "X25519 secret key must be 32 bytes")
        var out = [UInt8](repeating: 0, count: keyLength)
        out.withUnsafeMutableBytes { o in
            secretKey.withUnsafeBytes { s in
                _ = crypto_scalarmult_base(o.baseAddress!.assumingMemoryBound(to: UInt8.self), s.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return out
    }

    /// The shared secret of `secretKey` and a peer's `publicKey`.
    ///
    /// - Throws: `invalidLength` for a key that is not 32 bytes; `weakPublicKey` if the
    ///   result is all zeros (libsodium refuses low-order points).
    package static func sharedSecret(secretKey: SecretBytes, publicKey: [UInt8]) throws -> SecretBytes {
        guard publicKey.count == keyLength else {
            throw CryptoError.invalidLength(what: "X25519 public key", expected: keyLength, got: publicKey.count)
        }
        guard secretKey.count == keyLength else {
            throw CryptoError.invalidLength(what: "X25519 secret key", expected: keyLength, got: secretKey.count)
        }
        return try publicKey.withUnsafeBytes { p in
            try secretKey.withUnsafeBytes { s in
                try SecretBytes(count: keyLength) { o in
                    let rc = crypto_scalarmult(
                        o.baseAddress!.assumingMemoryBound(to: UInt8.self), s.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        p.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    if rc != 0 { throw CryptoError.weakPublicKey }
                }
            }
        }
    }
}
