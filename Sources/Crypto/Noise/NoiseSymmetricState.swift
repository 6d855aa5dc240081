/// The handshake's running key and transcript (Noise rev 34, §5.2), with HASH = BLAKE2b.
///
/// Not thread-safe; owned by one `NoiseHandshakeState`. The chaining key never leaves this value;
/// `split` hands out the transport keys and forgets it.
public struct NoiseSymmetricState: Sendable {
    /// HASHLEN of BLAKE2b: its full 64-byte output.
    public static let hashLength = 64
    /// BLOCKLEN of BLAKE2b, the block HMAC pads its key to (RFC 2104).
    package static let blockLength = 128

    /// The cipher used for handshake payloads and static keys.
    package private(set) var cipher: NoiseCipherState
    /// ck: the secret every DH result and PSK is folded into.
    private var chainingKey: SecretBytes
    /// h: the hash of everything sent and received so far; the channel binding once done.
    package private(set) var handshakeHash: [UInt8]

    /// Starts from the protocol name, so two parties with different names can never agree (InitializeSymmetric).
    public init(protocolName: [UInt8]) {
        if protocolName.count <= Self.hashLength {
            handshakeHash = protocolName + [UInt8](repeating: 0, count: Self.hashLength - protocolName.count)
        } else {
            handshakeHash = Blake2b.hash(protocolName, outputLength: Self.hashLength)
        }
        chainingKey = SecretBytes(copying: handshakeHash)
        cipher = NoiseCipherState()
    }

    /// Folds key material (a DH result, an ephemeral key in PSK mode) into ck and rekeys the cipher.
    package mutating func mixKey(_ inputKeyMaterial: SecretBytes) {
        inputKeyMaterial.withUnsafeBytes { mixKey($0) }
    }

    /// Folds public bytes into ck and rekeys the cipher; PSK handshakes do this with each ephemeral.
    package mutating func mixKey(_ inputKeyMaterial: [UInt8]) {
        inputKeyMaterial.withUnsafeBytes { mixKey($0) }
    }

    private mutating func mixKey(_ inputKeyMaterial: UnsafeRawBufferPointer) {
        let outputs = Self.hkdf(chainingKey: chainingKey, inputKeyMaterial: inputKeyMaterial, outputs: 2)
        chainingKey = outputs[0]
        cipher = NoiseCipherState(key: Self.truncatedKey(outputs[1]))
    }

    /// Appends `data` to the transcript: h = HASH(h || data).
    package mutating func mixHash(_ data: [UInt8]) {
        let hasher = Blake2b.Hasher(outputLength: Self.hashLength)
        hasher.update(handshakeHash)
        hasher.update(data)
        handshakeHash = hasher.finalize()
    }

    /// Folds a pre-shared key into both ck and the transcript (MixKeyAndHash), as the "psk" token does.
    package mutating func mixKeyAndHash(_ inputKeyMaterial: SecretBytes) {
        let outputs = inputKeyMaterial.withUnsafeBytes {
            Self.hkdf(chainingKey: chainingKey, inputKeyMaterial: $0, outputs: 3)
        }
        chainingKey = outputs[0]
        // temp_h is public by design: it goes into h, which is sent as associated data.
        mixHash(outputs[1].unsafeCopy())
        cipher = NoiseCipherState(key: Self.truncatedKey(outputs[2]))
    }

    /// Encrypts with h as associated data and hashes the ciphertext, binding it to the transcript.
    package mutating func encryptAndHash(_ plaintext: [UInt8]) throws -> [UInt8] {
        let ciphertext = try cipher.encrypt(plaintext, ad: handshakeHash)
        mixHash(ciphertext)
        return ciphertext
    }

    /// Decrypts with h as associated data and hashes the ciphertext, so any alteration is caught.
    ///
    /// - Throws: `CryptoError.authenticationFailed` if the bytes were altered or the keys differ.
    package mutating func decryptAndHash(_ ciphertext: [UInt8]) throws -> [UInt8] {
        let plaintext = try cipher.decrypt(ciphertext, ad: handshakeHash)
        mixHash(ciphertext)
        return plaintext
    }

    /// Derives the two transport ciphers (initiator→responder first) and forgets ck (Split).
    public mutating func split() -> (NoiseCipherState, NoiseCipherState) {
        let outputs = Self.hkdf(
            chainingKey: chainingKey, inputKeyMaterial: UnsafeRawBufferPointer(start: nil, count: 0), outputs: 2)
        chainingKey = SecretBytes(count: 0) { _ in }
        cipher = NoiseCipherState()
        return (
            NoiseCipherState(key: Self.truncatedKey(outputs[0])), NoiseCipherState(key: Self.truncatedKey(outputs[1]))
        )
    }

    /// ChaChaPoly takes 32-byte keys, so HASHLEN-long HKDF outputs are cut to their first 32 bytes (§5.2).
    private static func truncatedKey(_ output: SecretBytes) -> SecretBytes {
        SecretBytes(count: aeadKeyLength) { out in
            output.withUnsafeBytes { out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<aeadKeyLength])) }
        }
    }

    /// HKDF exactly as Noise §4.3 defines it (not RFC 5869's info/length form): 2 or 3 outputs of HASHLEN.
    static func hkdf(chainingKey: SecretBytes, inputKeyMaterial: UnsafeRawBufferPointer, outputs: Int) -> [SecretBytes] {
        precondition(outputs == 2 || outputs == 3, "Noise HKDF makes two or three outputs")
        let tempKey = chainingKey.withUnsafeBytes { hmac(key: $0, data: [inputKeyMaterial]) }
        var results: [SecretBytes] = []
        var previous = SecretBytes(count: 0) { _ in }
        for index in 1...outputs {
            let counter = UInt8(index)
            let output = tempKey.withUnsafeBytes { key in
                previous.withUnsafeBytes { prev in
                    withUnsafeBytes(of: counter) { hmac(key: key, data: [prev, $0]) }
                }
            }
            results.append(output)
            previous = output
        }
        return results
    }

    /// HMAC (RFC 2104) over plain BLAKE2b, as Noise requires; BLAKE2b's own keyed mode would give other keys.
    static func hmac(key: UnsafeRawBufferPointer, data: [UnsafeRawBufferPointer]) -> SecretBytes {
        // The key padded with zeros to one block; a longer key is hashed first.
        var block = [UInt8](repeating: 0, count: blockLength)
        defer { Sodium.zero(&block) }
        if key.count > blockLength {
            var digest = Blake2b.hash(key, outputLength: hashLength)
            block.replaceSubrange(0..<hashLength, with: digest)
            Sodium.zero(&digest)
        } else if key.count > 0 {
            block.withUnsafeMutableBytes { $0.copyMemory(from: key) }
        }

        var pad = block.map { $0 ^ 0x36 }
        defer { Sodium.zero(&pad) }
        let inner = Blake2b.Hasher(outputLength: hashLength)
        inner.update(pad)
        for part in data { inner.update(part) }
        var innerDigest = inner.finalize()
        defer { Sodium.zero(&innerDigest) }

        for index in pad.indices { pad[index] = block[index] ^ 0x5c }
        let outer = Blake2b.Hasher(outputLength: hashLength)
        outer.update(pad)
        outer.update(innerDigest)
        return SecretBytes(count: hashLength) { outer.finalize(into: $0) }
    }
}
