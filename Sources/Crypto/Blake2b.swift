import CSodium

/// BLAKE2b (RFC 7693) through libsodium's `crypto_generichash`, plain or keyed.
public enum Blake2b {
    /// The shortest output libsodium allows.
    package static let minOutputLength = Int(crypto_generichash_BYTES_MIN)
    /// The longest output (64 bytes), which is Noise's HASHLEN for BLAKE2b.
    package static let maxOutputLength = Int(crypto_generichash_BYTES_MAX)
    /// The longest key.
    package static let maxKeyLength = Int(crypto_generichash_KEYBYTES_MAX)

    /// Hashes `data` to `outputLength` bytes (16…64), keyed with `key` (0…64 bytes) if given.
    public static func hash(_ data: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer? = nil, outputLength: Int = 32)
        -> [UInt8]
    {
        _ = Sodium.ready
        precondition((minOutputLength...maxOutputLength).contains(outputLength), "BLAKE2b output length out of range")
        precondition((key?.count ?? 0) <= maxKeyLength, "BLAKE2b key too long")
        var out = [UInt8](repeating: 0, count: outputLength)
        out.withUnsafeMutableBytes { o in
            _ = crypto_generichash(
                o.baseAddress!, o.count,
                data.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(data.count),
                key?.baseAddress?.assumingMemoryBound(to: UInt8.self), key?.count ?? 0)
        }
        return out
    }

    /// Hashes a byte array, unkeyed.
    public static func hash(_ data: [UInt8], outputLength: Int = 32) -> [UInt8] {
        data.withUnsafeBytes { hash($0, outputLength: outputLength) }
    }

    /// Hashes a byte array keyed with public (non-secret) key bytes, as the reference KAT does.
    public static func hash(_ data: [UInt8], publicKey key: [UInt8], outputLength: Int = 32) -> [UInt8] {
        data.withUnsafeBytes { d in key.withUnsafeBytes { hash(d, key: $0, outputLength: outputLength) } }
    }

    /// Keyed hash under a secret key, returning a secret (for key derivation).
    public static func derive(key: SecretBytes, label: [UInt8], outputLength: Int = 32) -> SecretBytes {
        precondition((minOutputLength...maxOutputLength).contains(outputLength), "BLAKE2b output length out of range")
        // libsodium refuses a longer key and leaves the output untouched: it would be all zeros.
        precondition(key.count <= maxKeyLength, "BLAKE2b key too long")
        return SecretBytes(count: outputLength) { out in
            key.withUnsafeBytes { k in
                label.withUnsafeBytes { l in
                    _ = crypto_generichash(
                        out.baseAddress!.assumingMemoryBound(to: UInt8.self), out.count,
                        l.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(l.count),
                        k.baseAddress?.assumingMemoryBound(to: UInt8.self), k.count)
                }
            }
        }
    }

    /// An incremental BLAKE2b hasher, for inputs that arrive in pieces.
    ///
    /// Not thread-safe; owned by one caller at a time. libsodium's state struct is 64-byte aligned,
    /// which Swift cannot import, so it lives in memory allocated here with that alignment.
    public final class Hasher {
        private let state: UnsafeMutableRawPointer
        private let stateSize = crypto_generichash_statebytes()
        private let outputLength: Int
        private var finished = false

        /// Starts a hash with `outputLength` bytes of output, keyed with `key` if given.
        public init(outputLength: Int = 64, key: UnsafeRawBufferPointer? = nil) {
            _ = Sodium.ready
            precondition((minOutputLength...maxOutputLength).contains(outputLength), "BLAKE2b output length out of range")
            // libsodium refuses a longer key and leaves the state uninitialised.
            precondition((key?.count ?? 0) <= maxKeyLength, "BLAKE2b key too long")
            self.outputLength = outputLength
            state = .allocate(byteCount: stateSize, alignment: 64)
            _ = crypto_generichash_init(
                OpaquePointer(state), key?.baseAddress?.assumingMemoryBound(to: UInt8.self), key?.count ?? 0, outputLength)
        }

        deinit {
            Sodium.zero(UnsafeMutableRawBufferPointer(start: state, count: stateSize))
            state.deallocate()
        }

        /// Adds bytes to the hash.
        public func update(_ data: UnsafeRawBufferPointer) {
            precondition(!finished, "Hasher used after finalize")
            _ = crypto_generichash_update(
                OpaquePointer(state), data.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(data.count))
        }

        /// Adds a byte array to the hash.
        public func update(_ data: [UInt8]) {
            data.withUnsafeBytes { update($0) }
        }

        /// Finishes the hash, writing `outputLength` bytes into `out`.
        public func finalize(into out: UnsafeMutableRawBufferPointer) {
            precondition(!finished && out.count >= outputLength)
            finished = true
            _ = crypto_generichash_final(OpaquePointer(state), out.baseAddress!.assumingMemoryBound(to: UInt8.self), outputLength)
        }

        /// Finishes the hash and returns it.
        public func finalize() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: outputLength)
            out.withUnsafeMutableBytes { finalize(into: $0) }
            return out
        }
    }
}
