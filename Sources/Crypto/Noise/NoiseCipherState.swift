/// One direction of a Noise channel: a ChaChaPoly key and its counter nonce (Noise rev 34, §5.1).
///
/// Not thread-safe; owned by one link. A value type, so copying it copies the counter: encrypting
/// with two copies would reuse nonces, so keep exactly one live copy per direction.
public struct NoiseCipherState: Sendable {
    /// The largest Noise message (§3): stream transports frame messages with a 16-bit length.
    package static let maxMessageLength = 65535
    /// The largest plaintext one message can carry once the 16-byte tag is added.
    package static let maxPlaintextLength = maxMessageLength - aeadTagLength
    /// The nonce §5.1 reserves for `rekey`; a counter that reaches it has used its key up.
    package static let reservedNonce = UInt64.max

    /// The key, or nil before the handshake has mixed any key in (then data passes in the clear).
    private var key: SecretBytes?
    /// The nonce the next `encrypt` or `decrypt` uses.
    public private(set) var nonce: UInt64

    /// A cipher state without a key, as a handshake starts.
    public init() {
        key = nil
        nonce = 0
    }

    /// A cipher state under a 32-byte key with the counter at zero (spec: InitializeKey).
    init(key: SecretBytes) {
        precondition(key.count == aeadKeyLength, "Noise cipher keys are 32 bytes")
        self.key = key
        nonce = 0
    }

    /// Whether a key is set: without one, the handshake's payloads are plaintext.
    package var hasKey: Bool { key != nil }

    /// Moves the counter, for transports that carry an explicit nonce and receive out of order.
    public mutating func setNonce(_ nonce: UInt64) {
        self.nonce = nonce
    }

    /// Encrypts `plaintext` bound to `ad` under the current nonce, then advances it (EncryptWithAd).
    ///
    /// Without a key the plaintext is returned unchanged, as the spec requires during a handshake.
    /// - Precondition: `plaintext.count <= maxPlaintextLength`.
    /// - Throws: `CryptoError.nonceExhausted` once the counter reaches `reservedNonce`.
    public mutating func encrypt(_ plaintext: [UInt8], ad: [UInt8] = []) throws -> [UInt8] {
        guard let key else { return plaintext }
        precondition(plaintext.count <= Self.maxPlaintextLength, "Noise messages are at most 65535 bytes")
        guard nonce != Self.reservedNonce else { throw CryptoError.nonceExhausted }
        let out = try ChaCha20Poly1305.seal(plaintext, ad: ad, nonce: Self.nonceBytes(nonce), key: key)
        nonce += 1
        return out
    }

    /// Decrypts `ciphertext` bound to `ad` under the current nonce, advancing it only on success.
    ///
    /// Without a key the bytes are returned unchanged, as the spec requires during a handshake.
    /// - Throws: `CryptoError.authenticationFailed` for anything forged, truncated or over-long;
    ///   `CryptoError.nonceExhausted` once the counter reaches `reservedNonce`.
    public mutating func decrypt(_ ciphertext: [UInt8], ad: [UInt8] = []) throws -> [UInt8] {
        guard let key else { return ciphertext }
        guard nonce != Self.reservedNonce else { throw CryptoError.nonceExhausted }
        guard ciphertext.count >= aeadTagLength, ciphertext.count <= Self.maxMessageLength else {
            throw CryptoError.authenticationFailed
        }
        let out = try ChaCha20Poly1305.open(ciphertext, ad: ad, nonce: Self.nonceBytes(nonce), key: key)
        nonce += 1
        return out
    }

    /// Encrypts `plaintext` bound to `ad` under the explicit `nonce` into `out` (plaintext + 16
    /// bytes), without allocating and without touching the state's counter: the data path of a
    /// transport that carries the nonce in each packet seals a run of packets in one go.
    ///
    /// - Returns: false without a key or for the reserved nonce (nothing is written then).
    package func seal(
        into out: UnsafeMutableRawBufferPointer, plaintext: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer,
        nonce: UInt64
    ) -> Bool {
        guard let key, nonce != Self.reservedNonce, plaintext.count <= Self.maxPlaintextLength,
            out.count >= plaintext.count + aeadTagLength
        else { return false }
        return Self.withNonce(nonce) { n in
            ChaCha20Poly1305.seal(into: out, plaintext: plaintext, ad: ad, nonce: n, key: key)
            return true
        }
    }

    /// Decrypts `ciphertext` bound to `ad` under the explicit `nonce` into `out` (ciphertext − 16
    /// bytes), without allocating and without touching the state's counter.
    ///
    /// - Returns: false without a key, for the reserved nonce, a short or over-long ciphertext,
    ///   or anything forged.
    package func open(
        into out: UnsafeMutableRawBufferPointer, ciphertext: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer,
        nonce: UInt64
    ) -> Bool {
        guard let key, nonce != Self.reservedNonce, ciphertext.count >= aeadTagLength,
            ciphertext.count <= Self.maxMessageLength, out.count >= ciphertext.count - aeadTagLength
        else { return false }
        return Self.withNonce(nonce) { n in
            (try? ChaCha20Poly1305.open(into: out, ciphertext: ciphertext, ad: ad, nonce: n, key: key)) != nil
        }
    }

    /// Runs `body` with ChaChaPoly's 12-byte nonce for counter `n` (as `nonceBytes`) on the stack.
    private static func withNonce<R>(_ n: UInt64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        var packed: (UInt64, UInt64) = (0, 0)
        return withUnsafeMutableBytes(of: &packed) { p in
            p.storeBytes(of: n.littleEndian, toByteOffset: 4, as: UInt64.self)
            return body(UnsafeRawBufferPointer(rebasing: p[0..<ChaCha20Poly1305.nonceLength]))
        }
    }

    /// Replaces the key with one derived from it (§4.2 REKEY), so old traffic stays safe if the new key leaks.
    ///
    /// The counter is left as it is, as §5.1 says. Without a key this does nothing.
    package mutating func rekey() {
        guard let old = key else { return }
        key = SecretBytes(count: aeadKeyLength) { out in
            // REKEY(k) = the first 32 bytes of ENCRYPT(k, 2^64-1, empty, 32 zero bytes).
            var sealed = [UInt8](repeating: 0, count: aeadKeyLength + aeadTagLength)
            defer { Sodium.zero(&sealed) }
            let zeros = [UInt8](repeating: 0, count: aeadKeyLength)
            let nonce = Self.nonceBytes(Self.reservedNonce)
            sealed.withUnsafeMutableBytes { s in
                zeros.withUnsafeBytes { z in
                    nonce.withUnsafeBytes { n in
                        ChaCha20Poly1305.seal(
                            into: s, plaintext: z, ad: UnsafeRawBufferPointer(start: nil, count: 0), nonce: n, key: old)
                    }
                }
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: s[0..<aeadKeyLength]))
            }
        }
    }

    /// ChaChaPoly's 96-bit nonce for counter `n` (§12.3): four zero bytes, then `n` little-endian.
    static func nonceBytes(_ n: UInt64) -> [UInt8] {
        [0, 0, 0, 0] + withUnsafeBytes(of: n.littleEndian) { Array($0) }
    }
}
