import CSodium

/// An AEAD construction from libsodium with a 32-byte key and a 16-byte tag.
///
/// Both conforming types are stateless; the caller owns nonce uniqueness.
public protocol AEADCipher {
    /// Nonce length in bytes.
    static var nonceLength: Int { get }
    /// Raw libsodium encrypt: writes `plaintext.count + tagLength` bytes to `out`.
    static func rawSeal(
        out: UnsafeMutablePointer<UInt8>, plaintext: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer)
    /// Raw libsodium decrypt: writes `ciphertext.count - tagLength` bytes to `out`; false if forged.
    static func rawOpen(
        out: UnsafeMutablePointer<UInt8>, ciphertext: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer) -> Bool
}

/// The key length of both AEADs.
package let aeadKeyLength = 32
/// The tag length of both AEADs.
package let aeadTagLength = 16

extension AEADCipher {
    /// Encrypts `plaintext` into `out` (which must hold `plaintext.count + 16` bytes).
    ///
    /// The hot-path form: no allocation. `out` may not overlap `plaintext` partially.
    public static func seal(
        into out: UnsafeMutableRawBufferPointer, plaintext: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer, key: SecretBytes
    ) {
        precondition(nonce.count == nonceLength && key.count == aeadKeyLength)
        precondition(out.count >= plaintext.count + aeadTagLength)
        key.withUnsafeBytes { k in
            rawSeal(
                out: out.baseAddress!.assumingMemoryBound(to: UInt8.self), plaintext: plaintext, ad: ad, nonce: nonce,
                key: k)
        }
    }

    /// Decrypts `ciphertext` into `out` (which must hold `ciphertext.count - 16` bytes).
    ///
    /// - Throws: `CryptoError.authenticationFailed` if anything was altered; `invalidLength` if too short.
    public static func open(
        into out: UnsafeMutableRawBufferPointer, ciphertext: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer, key: SecretBytes
    ) throws {
        guard ciphertext.count >= aeadTagLength else {
            throw CryptoError.invalidLength(what: "ciphertext", expected: aeadTagLength, got: ciphertext.count)
        }
        precondition(nonce.count == nonceLength && key.count == aeadKeyLength)
        precondition(out.count >= ciphertext.count - aeadTagLength)
        var scratch: UInt8 = 0
        let ok = key.withUnsafeBytes { k in
            // libsodium wants a valid pointer even for an empty plaintext.
            rawOpen(
                out: out.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? withUnsafeMutablePointer(to: &scratch) { $0 },
                ciphertext: ciphertext, ad: ad, nonce: nonce, key: k)
        }
        guard ok else { throw CryptoError.authenticationFailed }
    }

    /// Encrypts a byte array, returning ciphertext followed by the tag.
    public static func seal(_ plaintext: [UInt8], ad: [UInt8] = [], nonce: [UInt8], key: SecretBytes) throws -> [UInt8] {
        guard nonce.count == nonceLength else {
            throw CryptoError.invalidLength(what: "nonce", expected: nonceLength, got: nonce.count)
        }
        guard key.count == aeadKeyLength else {
            throw CryptoError.invalidLength(what: "key", expected: aeadKeyLength, got: key.count)
        }
        var out = [UInt8](repeating: 0, count: plaintext.count + aeadTagLength)
        out.withUnsafeMutableBytes { o in
            plaintext.withUnsafeBytes { p in
                ad.withUnsafeBytes { a in nonce.withUnsafeBytes { n in seal(into: o, plaintext: p, ad: a, nonce: n, key: key) } }
            }
        }
        return out
    }

    /// Decrypts a byte array (ciphertext followed by tag).
    ///
    /// - Throws: `CryptoError.authenticationFailed` if anything was altered.
    public static func open(_ ciphertext: [UInt8], ad: [UInt8] = [], nonce: [UInt8], key: SecretBytes) throws -> [UInt8] {
        guard nonce.count == nonceLength else {
            throw CryptoError.invalidLength(what: "nonce", expected: nonceLength, got: nonce.count)
        }
        guard key.count == aeadKeyLength else {
            throw CryptoError.invalidLength(what: "key", expected: aeadKeyLength, got: key.count)
        }
        guard ciphertext.count >= aeadTagLength else { throw CryptoError.authenticationFailed }
        var out = [UInt8](repeating: 0, count: ciphertext.count - aeadTagLength)
        try out.withUnsafeMutableBytes { o in
            try ciphertext.withUnsafeBytes { c in
                try ad.withUnsafeBytes { a in
                    try nonce.withUnsafeBytes { n in try open(into: o, ciphertext: c, ad: a, nonce: n, key: key) }
                }
            }
        }
        return out
    }
}

/// ChaCha20-Poly1305 as in RFC 8439 (96-bit nonce); Noise's ChaChaPoly.
public enum ChaCha20Poly1305: AEADCipher {
    public static let nonceLength = Int(crypto_aead_chacha20poly1305_ietf_NPUBBYTES)

    public static func rawSeal(
        out: UnsafeMutablePointer<UInt8>, plaintext: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer
    ) {
        _ = crypto_aead_chacha20poly1305_ietf_encrypt(
            out, nil, plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count),
            ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count), nil,
            nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), key.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }

    public static func rawOpen(
        out: UnsafeMutablePointer<UInt8>, ciphertext: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer
    ) -> Bool {
        crypto_aead_chacha20poly1305_ietf_decrypt(
            out, nil, nil, ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(ciphertext.count),
            ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count),
            nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), key.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
    }
}

/// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha): a 192-bit nonce, safe to choose at random.
public enum XChaCha20Poly1305: AEADCipher {
    public static let nonceLength = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)

    public static func rawSeal(
        out: UnsafeMutablePointer<UInt8>, plaintext: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer
    ) {
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
            out, nil, plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count),
            ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count), nil,
            nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), key.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }

    public static func rawOpen(
        out: UnsafeMutablePointer<UInt8>, ciphertext: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer
    ) -> Bool {
        crypto_aead_xchacha20poly1305_ietf_decrypt(
            out, nil, nil, ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(ciphertext.count),
            ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count),
            nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), key.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
    }
}
