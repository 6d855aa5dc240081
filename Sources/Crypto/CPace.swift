import CSodium

/// CPace (draft-irtf-cfrg-cpace-21), suite CPACE-RISTR255-SHA512, initiator-responder mode.
///
/// Two parties who share a low-entropy password string (PRS) each send one message, the
/// length-value encoding `lv_cat(Y, AD)` of a ristretto255 point and their associated data, and
/// derive the same 64-byte intermediate session key (ISK) only if their PRS, channel identifier
/// (CI), session id (sid) and views of both messages match. An active attacker gets one password
/// guess per run; a passive one gets none. All group arithmetic is libsodium's.
///
/// The initiator (A) speaks first; the ISK hashes `transcript_ir = msgA ‖ msgB`, so the two
/// roles are not interchangeable and a message reflected back to its sender gives a key nobody
/// else has. The ISK is not for direct use: derive labelled keys from it (see `ShortCodeKeys`).
///
/// Not thread-safe and single-use: `finish` consumes the state, and the secret scalar is held in
/// `SecretBytes`, which zeroes it when the state is released, finished or not.
public struct CPace: ~Copyable {
    /// Which side of the exchange this state is: the initiator (A) sends first.
    public enum Role: Sendable, Equatable {
        /// Party A: its message comes first in the transcript.
        case initiator
        /// Party B: its message comes second in the transcript.
        case responder
    }

    /// The draft's domain-separation identifier for ristretto255, `G.DSI`.
    static let dsi = Array("CPaceRistretto255".utf8)
    /// `G.DSI ‖ "_ISK"`, the first field of the ISK hash.
    static let iskDSI = Array("CPaceRistretto255_ISK".utf8)
    /// SHA-512's input block size `H.s_in_bytes`, which sets the generator string's zero padding.
    static let hashBlockSize = 128
    /// Length of an encoded ristretto255 point.
    package static let pointLength = Int(crypto_core_ristretto255_BYTES)
    /// Length of a scalar.
    static let scalarLength = Int(crypto_core_ristretto255_SCALARBYTES)
    /// Length of the ISK: all of SHA-512's output, as the draft's vectors use.
    package static let iskLength = Int(crypto_hash_sha512_BYTES)
    /// The longest associated data a message may carry: small, so a hostile peer cannot make us
    /// hash megabytes, and below 2^14 so its length prefix is at most two LEB128 bytes.
    package static let maxADLength = 1024
    /// The longest acceptable message: `0x20 ‖ Y ‖ len(AD) ‖ AD`.
    package static let maxMessageLength = 1 + pointLength + 2 + maxADLength

    /// This party's role.
    public let role: Role
    /// This party's message, `lv_cat(Y, AD)`, to send to the peer as it is.
    public let message: [UInt8]
    /// The secret scalar `y`; zeroed by `SecretBytes` when this state goes away.
    private let scalar: SecretBytes
    private let sid: [UInt8]

    /// Starts a run: derives the password's generator and a fresh random scalar, and computes this
    /// party's message.
    ///
    /// - Parameters:
    ///   - prs: The shared password string.
    ///   - ci: The channel identifier, never sent; both sides must use the same.
    ///   - sid: The public session id, unique per run when the caller has one (may be empty).
    ///   - ad: This party's associated data, sent in clear and authenticated (at most `maxADLength`).
    ///   - role: Initiator or responder.
    /// - Returns: The state holding `message` to send, to be finished with the peer's message.
    public static func start(prs: [UInt8], ci: [UInt8], sid: [UInt8], ad: [UInt8], role: Role) -> CPace {
        _ = Sodium.ready
        // Uniform in [1, l-1]: one of the two samplings the draft allows (§8.3).
        let scalar = SecretBytes(count: scalarLength) {
            crypto_core_ristretto255_scalar_random($0.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return CPace(prs: prs, ci: ci, sid: sid, ad: ad, role: role, scalar: scalar)
    }

    /// Starts a run with a given scalar (32 bytes, little-endian), for the draft's known answers.
    ///
    /// Never for real use: a reused scalar breaks the protocol's security.
    static func start(prs: [UInt8], ci: [UInt8], sid: [UInt8], ad: [UInt8], role: Role, scalar: SecretBytes) -> CPace {
        precondition(scalar.count == scalarLength, "a CPace scalar is 32 bytes")
        return CPace(prs: prs, ci: ci, sid: sid, ad: ad, role: role, scalar: scalar)
    }

    private init(prs: [UInt8], ci: [UInt8], sid: [UInt8], ad: [UInt8], role: Role, scalar: SecretBytes) {
        precondition(ad.count <= Self.maxADLength, "CPace associated data longer than maxADLength")
        let generator = Self.generator(prs: prs, ci: ci, sid: sid)
        var point = [UInt8](repeating: 0, count: Self.pointLength)
        let rc = generator.withUnsafeBytes { g in
            scalar.withUnsafeBytes { y in
                crypto_scalarmult_ristretto255(
                    &point, y.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    g.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        // Only a generator that is the identity or a scalar that is 0 mod l fails: the first needs a
        // SHA-512 preimage, the second is 2^-252 with a random scalar, so this is a programmer error.
        precondition(rc == 0, "CPace scalar multiplication gave the identity")
        self.role = role
        self.scalar = scalar
        self.sid = sid
        message = Self.lvCat(point, ad)
    }

    /// Finishes the run with the peer's message: checks it, and derives the ISK.
    ///
    /// - Parameter peerMessage: The peer's `lv_cat(Y, AD)` as received.
    /// - Returns: The 64-byte ISK and the peer's associated data (now authenticated by the ISK:
    ///   a peer who sent other AD than the one returned here has another ISK).
    /// - Throws: `CryptoError.malformedPAKEMessage` if the message is not one 32-byte point and at
    ///   most `maxADLength` bytes of AD, in minimal length-value encoding with nothing after;
    ///   `.invalidPAKEPoint` if the point is not a canonical ristretto255 encoding (bit 255
    ///   included) or gives the identity.
    public consuming func finish(peerMessage: [UInt8]) throws(CryptoError) -> (isk: SecretBytes, peerAD: [UInt8]) {
        let (peerPoint, peerAD) = try Self.parse(peerMessage)
        let k = try Self.scalarMultVerified(scalar, peerPoint)
        let transcript: [UInt8] =
            switch role {
            case .initiator: message + Self.lvCat(peerPoint, peerAD)
            case .responder: Self.lvCat(peerPoint, peerAD) + message
            }
        let isk = SecretBytes(count: Self.iskLength) { out in
            let hash = SHA512Stream()
            // lv_cat(G.DSI ‖ "_ISK", sid, K) ‖ transcript_ir(Ya, ADa, Yb, ADb)
            hash.updateLV(Self.iskDSI)
            hash.updateLV(sid)
            k.withUnsafeBytes { hash.updateLV($0) }
            hash.update(transcript)
            hash.finalize(into: out)
        }
        return (isk, peerAD)
    }

    // MARK: - The draft's functions

    /// `prepend_len`'s prefix alone: the length as LEB128 (7 bits a byte, low bits first).
    static func lengthPrefix(_ length: Int) -> [UInt8] {
        precondition(length >= 0)
        var out: [UInt8] = []
        var rest = length
        repeat {
            let low = UInt8(rest & 0x7F)
            rest >>= 7
            out.append(rest == 0 ? low : low | 0x80)
        } while rest != 0
        return out
    }

    /// `prepend_len(data)`: the LEB128 length followed by the data.
    static func prependLen(_ data: [UInt8]) -> [UInt8] {
        lengthPrefix(data.count) + data
    }

    /// `lv_cat(a0, a1, …)`: each argument with its length prepended.
    static func lvCat(_ parts: [UInt8]...) -> [UInt8] {
        parts.flatMap(prependLen)
    }

    /// `transcript_ir(Ya, ADa, Yb, ADb) = lv_cat(Ya, ADa) ‖ lv_cat(Yb, ADb)`.
    static func transcriptIR(ya: [UInt8], ada: [UInt8], yb: [UInt8], adb: [UInt8]) -> [UInt8] {
        lvCat(ya, ada) + lvCat(yb, adb)
    }

    /// The zero padding that makes `prepend_len(DSI) ‖ prepend_len(PRS) ‖ len` fill SHA-512's first block.
    static func zeroPadLength(prsLength: Int) -> Int {
        max(0, hashBlockSize - 1 - (lengthPrefix(prsLength).count + prsLength) - (lengthPrefix(dsi.count).count + dsi.count))
    }

    /// Feeds `generator_string(G.DSI, PRS, CI, sid, 128)` to `sink` piece by piece, so the
    /// password never sits in a growing array whose old buffers are freed unzeroed.
    private static func feedGeneratorString(
        prs: [UInt8], ci: [UInt8], sid: [UInt8], into sink: (UnsafeRawBufferPointer) -> Void
    ) {
        func lv(_ bytes: UnsafeRawBufferPointer) {
            lengthPrefix(bytes.count).withUnsafeBytes(sink)
            sink(bytes)
        }
        dsi.withUnsafeBytes(lv)
        prs.withUnsafeBytes(lv)
        [UInt8](repeating: 0, count: zeroPadLength(prsLength: prs.count)).withUnsafeBytes(lv)
        ci.withUnsafeBytes(lv)
        sid.withUnsafeBytes(lv)
    }

    /// The generator string as bytes; for the known-answer test only (it contains the password).
    static func generatorString(prs: [UInt8], ci: [UInt8], sid: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        feedGeneratorString(prs: prs, ci: ci, sid: sid) { out.append(contentsOf: $0) }
        return out
    }

    /// `H.hash(generator_string, 64)`, the input of ristretto255's element derivation.
    static func generatorHash(prs: [UInt8], ci: [UInt8], sid: [UInt8]) -> SecretBytes {
        SecretBytes(count: Int(crypto_core_ristretto255_HASHBYTES)) { out in
            let hash = SHA512Stream()
            feedGeneratorString(prs: prs, ci: ci, sid: sid) { hash.update($0) }
            hash.finalize(into: out)
        }
    }

    /// `G.calculate_generator`: the encoded point RFC 9496's element derivation maps the hash to.
    ///
    /// Secret: whoever knows it can test passwords offline.
    static func generator(prs: [UInt8], ci: [UInt8], sid: [UInt8]) -> SecretBytes {
        let hash = generatorHash(prs: prs, ci: ci, sid: sid)
        return SecretBytes(count: pointLength) { out in
            hash.withUnsafeBytes { h in
                _ = crypto_core_ristretto255_from_hash(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), h.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
    }

    /// `G.scalar_mult_vfy(y, X)`, throwing where the draft returns `G.I`.
    ///
    /// - Throws: `CryptoError.invalidPAKEPoint` if `point` is not 32 bytes, has bit 255 set, is not
    ///   a canonical ristretto255 encoding, or the product is the identity.
    static func scalarMultVerified(_ scalar: SecretBytes, _ point: [UInt8]) throws(CryptoError) -> SecretBytes {
        guard point.count == pointLength else { throw .invalidPAKEPoint }
        // libsodium 1.0.18's decoder masks bit 255 before its canonicity check (fixed in 1.0.19),
        // so it would accept two encodings of one point; RFC 9496 allows only the one with it clear.
        guard point[pointLength - 1] & 0x80 == 0 else { throw .invalidPAKEPoint }
        guard crypto_core_ristretto255_is_valid_point(point) == 1 else { throw .invalidPAKEPoint }
        var failed = false
        let product = SecretBytes(count: pointLength) { out in
            let o = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
            // -1 if the point does not decode or the product is the identity (all-zero encoding).
            let rc = scalar.withUnsafeBytes {
                crypto_scalarmult_ristretto255(o, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), point)
            }
            failed = rc != 0 || sodium_is_zero(o, out.count) == 1
        }
        if failed { throw .invalidPAKEPoint }
        return product
    }

    /// Splits a message into its point and AD, checking the shape before anything else.
    static func parse(_ message: [UInt8]) throws(CryptoError) -> (point: [UInt8], ad: [UInt8]) {
        guard message.count <= maxMessageLength else { throw .malformedPAKEMessage("longer than \(maxMessageLength) bytes") }
        var offset = 0
        let pointLength = try readLength(message, &offset)
        guard pointLength == Self.pointLength else { throw .malformedPAKEMessage("the point is not \(Self.pointLength) bytes") }
        guard message.count - offset >= pointLength else { throw .malformedPAKEMessage("truncated point") }
        let point = Array(message[offset..<offset + pointLength])
        offset += pointLength
        let adLength = try readLength(message, &offset)
        guard adLength <= maxADLength else { throw .malformedPAKEMessage("associated data longer than \(maxADLength) bytes") }
        guard message.count - offset == adLength else {
            let reason = message.count - offset < adLength ? "truncated associated data" : "bytes after the associated data"
            throw .malformedPAKEMessage(reason)
        }
        return (point, Array(message[offset...]))
    }

    /// Reads a minimal LEB128 length of at most two bytes (all `maxADLength` needs).
    private static func readLength(_ bytes: [UInt8], _ offset: inout Int) throws(CryptoError) -> Int {
        guard offset < bytes.count else { throw .malformedPAKEMessage("missing length") }
        let first = bytes[offset]
        offset += 1
        if first & 0x80 == 0 { return Int(first) }
        guard offset < bytes.count else { throw .malformedPAKEMessage("truncated length") }
        let second = bytes[offset]
        offset += 1
        // A second byte of 0 would be a longer spelling of a length below 128; a set top bit would need a third.
        guard second != 0, second & 0x80 == 0 else { throw .malformedPAKEMessage("length is not minimal LEB128 below 2^14") }
        return Int(first & 0x7F) | Int(second) << 7
    }
}

/// Incremental SHA-512 whose state is zeroed when released, since it absorbs passwords and K.
///
/// Not thread-safe; one hash at a time.
private final class SHA512Stream {
    // On the heap at a fixed address, so no inout write-back leaves copies of it on the stack.
    private let state = UnsafeMutablePointer<crypto_hash_sha512_state>.allocate(capacity: 1)

    init() {
        _ = Sodium.ready
        _ = crypto_hash_sha512_init(state)
    }

    deinit {
        Sodium.zero(UnsafeMutableRawBufferPointer(start: state, count: MemoryLayout<crypto_hash_sha512_state>.size))
        state.deallocate()
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        _ = crypto_hash_sha512_update(state, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
    }

    func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Absorbs `prepend_len(bytes)`.
    func updateLV(_ bytes: UnsafeRawBufferPointer) {
        update(CPace.lengthPrefix(bytes.count))
        update(bytes)
    }

    func updateLV(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { updateLV($0) }
    }

    func finalize(into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= Int(crypto_hash_sha512_BYTES))
        _ = crypto_hash_sha512_final(state, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }
}
