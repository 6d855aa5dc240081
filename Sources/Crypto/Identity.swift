import CSodium
import Primitives

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An Ed25519 public key: a participant's identity as others see it.
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    /// Length of an Ed25519 public key.
    public static let length = Int(crypto_sign_PUBLICKEYBYTES)
    /// Length of an Ed25519 signature.
    public static let signatureLength = Int(crypto_sign_BYTES)

    /// The 32 raw bytes.
    public let bytes: [UInt8]

    /// Wraps 32 raw bytes.
    ///
    /// - Throws: `CryptoError.invalidLength` for any other length.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.length else {
            throw CryptoError.invalidLength(what: "Ed25519 public key", expected: Self.length, got: bytes.count)
        }
        self.bytes = bytes
    }

    /// Hashes the 32 bytes in one call: the synthesized form feeds the hasher a byte at a time,
    /// and the transport looks a peer up in a dictionary for every packet.
    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// Two keys are equal when their 32 bytes are.
    public static func == (a: PublicKey, b: PublicKey) -> Bool { a.bytes == b.bytes }

    /// True if `signature` is this key's signature of `message`.
    public func isValidSignature(_ signature: UnsafeRawBufferPointer, for message: UnsafeRawBufferPointer) -> Bool {
        _ = Sodium.ready
        guard signature.count == Self.signatureLength else { return false }
        return bytes.withUnsafeBytes { pk in
            crypto_sign_verify_detached(
                signature.baseAddress!.assumingMemoryBound(to: UInt8.self),
                message.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(message.count),
                pk.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
        }
    }

    /// True if `signature` is this key's signature of `message`.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        signature.withUnsafeBytes { s in message.withUnsafeBytes { isValidSignature(s, for: $0) } }
    }

    /// The X25519 public key that corresponds to this Ed25519 key.
    ///
    /// - Throws: `CryptoError.weakPublicKey` if the point is not a valid Ed25519 key.
    package func x25519PublicKey() throws -> [UInt8] {
        _ = Sodium.ready
        var out = [UInt8](repeating: 0, count: X25519.keyLength)
        let rc = out.withUnsafeMutableBytes { o in
            bytes.withUnsafeBytes { pk in
                crypto_sign_ed25519_pk_to_curve25519(
                    o.baseAddress!.assumingMemoryBound(to: UInt8.self), pk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard rc == 0 else { throw CryptoError.weakPublicKey }
        return out
    }

    /// The printable fingerprint: base32 of a BLAKE2b hash of the key, four groups of four.
    ///
    /// 80 bits: enough that nobody can make a second key with the same fingerprint, short enough
    /// to read aloud.
    public var fingerprint: String {
        let digest = Blake2b.hash(bytes, publicKey: Array("cvpeer/1 fingerprint".utf8), outputLength: 16)
        let text = Array(Base32.encode(Array(digest.prefix(10))))
        return stride(from: 0, to: 16, by: 4).map { String(text[$0..<$0 + 4]) }.joined(separator: "-")
    }

    /// The first 5 bytes in hex, for log lines.
    public var shortDescription: String {
        Hex.string(bytes.prefix(5))
    }

    public var description: String { "PublicKey(\(shortDescription))" }

    /// A number two people read to each other to confirm they share a room with each other's keys.
    ///
    /// Symmetric in the two keys, and different for every room (it hashes the room tag in), so
    /// numbers from one room say nothing in another. Five groups of four digits.
    public static func safetyNumber(roomTag: [UInt8], _ a: PublicKey, _ b: PublicKey) -> String {
        let (first, second) = a.bytes.lexicographicallyPrecedes(b.bytes) ? (a, b) : (b, a)
        let digest = Blake2b.hash(
            Array("cvpeer/1 safety".utf8) + roomTag + first.bytes + second.bytes, outputLength: 32)
        return (0..<5).map { group in
            let value = digest[(group * 5)..<(group * 5 + 5)].reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
            let digits = String(value % 10_000)
            return String(repeating: "0", count: 4 - digits.count) + digits
        }.joined(separator: " ")
    }
}

/// A node's long-term Ed25519 signing identity.
///
/// Immutable and thread-safe. The secret half is zeroed when the last copy is released and is
/// never printed.
public struct Identity: Sendable, CustomStringConvertible {
    /// Length of the seed that determines the key pair.
    package static let seedLength = Int(crypto_sign_SEEDBYTES)

    /// The public half.
    public let publicKey: PublicKey
    private let seed: SecretBytes
    /// libsodium's 64-byte secret key (seed followed by public key).
    private let secretKey: SecretBytes

    /// Generates a new random identity.
    public static func generate() -> Identity {
        // Seed construction cannot fail for a 32-byte seed.
        try! Identity(seed: SecretBytes(randomCount: seedLength))
    }

    /// Derives the key pair from a 32-byte seed (RFC 8032's secret key).
    ///
    /// - Throws: `CryptoError.invalidLength` for a seed of another length.
    public init(seed: SecretBytes) throws {
        _ = Sodium.ready
        guard seed.count == Self.seedLength else {
            throw CryptoError.invalidLength(what: "Ed25519 seed", expected: Self.seedLength, got: seed.count)
        }
        var pk = [UInt8](repeating: 0, count: PublicKey.length)
        secretKey = SecretBytes(count: Int(crypto_sign_SECRETKEYBYTES)) { sk in
            pk.withUnsafeMutableBytes { p in
                seed.withUnsafeBytes { s in
                    _ = crypto_sign_seed_keypair(
                        p.baseAddress!.assumingMemoryBound(to: UInt8.self), sk.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        s.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        self.seed = seed
        publicKey = try PublicKey(bytes: pk)
    }

    /// Signs `message`, writing the 64-byte signature into `signature`.
    public func sign(_ message: UnsafeRawBufferPointer, into signature: UnsafeMutableRawBufferPointer) {
        precondition(signature.count >= PublicKey.signatureLength)
        secretKey.withUnsafeBytes { sk in
            _ = crypto_sign_detached(
                signature.baseAddress!.assumingMemoryBound(to: UInt8.self), nil,
                message.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(message.count),
                sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Signs `message` and returns the 64-byte signature.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: PublicKey.signatureLength)
        signature.withUnsafeMutableBytes { s in message.withUnsafeBytes { sign($0, into: s) } }
        return signature
    }

    /// The X25519 key pair for handshakes, derived from this identity.
    package func x25519KeyPair() -> X25519.KeyPair {
        let secret = SecretBytes(count: X25519.keyLength) { out in
            secretKey.withUnsafeBytes { sk in
                _ = crypto_sign_ed25519_sk_to_curve25519(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return X25519.KeyPair(secretKey: secret)
    }

    public var description: String { "Identity(\(publicKey.shortDescription), secret redacted)" }
}

extension Identity {
    /// The key file's first bytes: names the format so a wrong file is recognised.
    static let fileMagic = Array("cvpeerK1".utf8)
    /// Magic, seed, public key.
    static let fileLength = 8 + 32 + 32

    /// The key file's bytes: magic, seed, public key. Secret: the caller writes them to a private
    /// file (the node's `DataFolder` does, through `Sockets.PrivateFile`) and zeroes its copy.
    public func keyFileContents() -> [UInt8] {
        Self.fileMagic + seed.unsafeCopy() + publicKey.bytes
    }

    /// Reads an identity from `path`.
    ///
    /// - Throws: `CryptoError.keyFileTooOpen` if group or others may read the file;
    ///   `CryptoError.keyFile` if it is missing, truncated, not a cvpeer key or corrupt.
    public static func load(from path: String) throws -> Identity {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw CryptoError.keyFile(path: path, reason: errnoText()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CryptoError.keyFile(path: path, reason: errnoText()) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw CryptoError.keyFile(path: path, reason: "not a regular file")
        }
        if info.st_mode & 0o077 != 0 { throw CryptoError.keyFileTooOpen(path: path, mode: UInt32(info.st_mode)) }
        // Read one byte more than expected so that an over-long file is noticed.
        var contents = [UInt8](repeating: 0, count: fileLength + 1)
        defer { Sodium.zero(&contents) }
        var total = 0
        while total < contents.count {
            let n = contents.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, $0.count - total) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CryptoError.keyFile(path: path, reason: errnoText())
            }
            if n == 0 { break }
            total += n
        }
        if total >= fileMagic.count, Array(contents[0..<fileMagic.count]) != fileMagic {
            throw CryptoError.keyFile(path: path, reason: "not a cvpeer identity key")
        }
        if total < fileLength {
            throw CryptoError.keyFile(path: path, reason: "truncated (\(total) of \(fileLength) bytes)")
        }
        if total > fileLength {
            throw CryptoError.keyFile(path: path, reason: "longer than a cvpeer identity key (\(fileLength) bytes)")
        }
        let seed = SecretBytes(copying: contents[8..<40])
        let identity = try Identity(seed: seed)
        guard identity.publicKey.bytes == Array(contents[40..<72]) else {
            throw CryptoError.keyFile(path: path, reason: "corrupt (its public key does not match its secret key)")
        }
        return identity
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
