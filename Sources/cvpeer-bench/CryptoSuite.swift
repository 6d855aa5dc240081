import CBenchRef
import PeerCrypto
import Replication

/// `cvpeer-bench crypto`: BatchSealer and the bare AEAD against the same libsodium calls made from C.
///
/// The Ed25519 signature dominates small batches, so the bare AEAD rows show the per-call overhead
/// of the Swift wrapper where it is most visible.
enum CryptoSuite {
    static let suite = Suite(
        name: "crypto", summary: "BatchSealer seal/open and bare XChaCha20-Poly1305 vs the same calls from C",
        run: run)

    /// Payload sizes: one typical operation batch (fits one datagram), and a large catch-up batch.
    static let payloadSizes = [1_200, 64 << 10]
    /// The epoch every benchmark batch is sealed under.
    static let epoch: UInt32 = 1

    /// Both sides' keys, derived from the same bytes so each can open the other's batches.
    struct Keys {
        let identity: Identity
        let contentKey: SecretBytes
        let contentKeyBytes: [UInt8]
        /// Heap-allocated so that escaping closures can hand C a stable pointer.
        let c: UnsafeMutablePointer<cbenchref_keys>
    }

    static func run(_ options: BenchOptions) -> Bool {
        // Fixed seed: the numbers do not depend on the key, and a fixed key keeps runs comparable.
        let seed = (0..<32).map { UInt8($0) }
        let contentKeyBytes = Sodium.randomBytes(aeadKeyLength)
        let c = UnsafeMutablePointer<cbenchref_keys>.allocate(capacity: 1)
        defer { c.deallocate() }
        guard cbenchref_keys_init(c, seed, contentKeyBytes) == 0 else {
            print("crypto: libsodium failed to initialise from C")
            return false
        }
        let keys = Keys(
            identity: try! Identity(seed: SecretBytes(copying: seed)), contentKey: SecretBytes(copying: contentKeyBytes),
            contentKeyBytes: contentKeyBytes, c: c)

        if let problem = crossCheck(keys) {
            print("crypto: the C reference does not match PeerCrypto, so its numbers would mean nothing: \(problem)")
            return false
        }

        print("crypto: PeerCrypto vs the same libsodium \(String(cString: cbenchref_sodium_version())) calls from C, same process")
        print(
            "median of \(options.rounds) alternating rounds of ~\(Int(options.roundSeconds * 1000)) ms per side;"
                + " MB/s = payload bytes (10^6) per second\(options.quick ? "; --quick: smoke run only" : "")")
        print("noise = half the spread of one side's rounds over its median (the noisier side); ratio = Swift/C median time")
        print()
        var results: [ComparisonResult] = []
        // Each case owns its buffers for the whole measurement; freed when the case is done.
        for make in [sealComparison, openComparison, aeadComparison] {
            for size in payloadSizes {
                let (comparison, release) = make(keys, size)
                defer { release() }
                do {
                    results.append(try measure(comparison, options: options))
                } catch {
                    print("crypto: \(error.name) failed during measurement")
                    return false
                }
            }
        }
        printTable(results)
        return true
    }

    /// BatchSealer.seal through the array API, as Replication calls it: one new array per batch
    /// (the C reference mallocs and zero-fills one too).
    static func sealComparison(_ keys: Keys, _ size: Int) -> (Comparison, () -> Void) {
        let payload = Sodium.randomBytes(size)
        let comparison = Comparison(
            name: "BatchSealer.seal \(label(size))", bytesPerOperation: size,
            swift: { iterations in
                var checksum: UInt64 = 0
                for i in 0..<iterations {
                    let sealed = BatchSealer.seal(
                        payload: payload, sequence: UInt64(i) + 1, epoch: epoch, previous: BatchSealer.noPrevious,
                        room: RoomAuthority.open.roomID, identity: keys.identity, contentKey: keys.contentKey
                    ).sealed
                    checksum &+= UInt64(sealed[sealed.count - 1])
                }
                return checksum
            },
            c: { iterations in
                payload.withUnsafeBufferPointer { cbenchref_seal_loop(keys.c, $0.baseAddress, $0.count, iterations) }
            })
        return (comparison, {})
    }

    /// BatchSealer.open of one batch over and over; allocations per open: author key, decryption
    /// buffer and payload copy on both sides.
    static func openComparison(_ keys: Keys, _ size: Int) -> (Comparison, () -> Void) {
        let sealed = BatchSealer.seal(
            payload: Sodium.randomBytes(size), sequence: 1, epoch: epoch, previous: BatchSealer.noPrevious,
            room: RoomAuthority.open.roomID, identity: keys.identity, contentKey: keys.contentKey
        ).sealed
        let comparison = Comparison(
            name: "BatchSealer.open \(label(size))", bytesPerOperation: size,
            swift: { iterations in
                var checksum: UInt64 = 0
                for _ in 0..<iterations {
                    guard let opened = try? BatchSealer.open(sealed, room: RoomAuthority.open.roomID, contentKey: { $0 == epoch ? keys.contentKey : nil })
                    else { return .max }
                    checksum &+= UInt64(opened.payload.count) &+ opened.sequence
                }
                return checksum
            },
            c: { iterations in
                sealed.withUnsafeBufferPointer { cbenchref_open_loop(keys.c, $0.baseAddress, $0.count, iterations) }
            })
        return (comparison, {})
    }

    /// XChaCha20-Poly1305 alone, through the pointer API into a preallocated buffer: no
    /// allocation on either side, with the batch format's 48 bytes of associated data.
    static func aeadComparison(_ keys: Keys, _ size: Int) -> (Comparison, () -> Void) {
        let buffers = AEADBuffers(size: size)
        let comparison = Comparison(
            name: "XChaCha20-Poly1305 \(label(size))", bytesPerOperation: size,
            swift: { iterations in
                let plaintext = UnsafeRawBufferPointer(buffers.plaintext)
                let ad = UnsafeRawBufferPointer(buffers.ad)
                let nonce = UnsafeRawBufferPointer(buffers.nonce)
                var checksum: UInt64 = 0
                for _ in 0..<iterations {
                    XChaCha20Poly1305.seal(into: buffers.out, plaintext: plaintext, ad: ad, nonce: nonce, key: keys.contentKey)
                    checksum &+= UInt64(buffers.out[buffers.out.count - 1])
                }
                return checksum
            },
            c: { iterations in
                keys.contentKeyBytes.withUnsafeBufferPointer { key in
                    cbenchref_aead_loop(
                        buffers.outBytes, buffers.plaintextBytes, size, buffers.adBytes, buffers.ad.count,
                        buffers.nonceBytes, key.baseAddress, iterations)
                }
            })
        return (comparison, buffers.deallocate)
    }

    /// Preallocated AEAD inputs and output, shared by both sides.
    struct AEADBuffers {
        let plaintext: UnsafeMutableRawBufferPointer
        let out: UnsafeMutableRawBufferPointer
        let ad: UnsafeMutableRawBufferPointer
        let nonce: UnsafeMutableRawBufferPointer

        init(size: Int) {
            plaintext = .allocate(byteCount: size, alignment: 16)
            out = .allocate(byteCount: size + aeadTagLength, alignment: 16)
            ad = .allocate(byteCount: 48, alignment: 16)
            nonce = .allocate(byteCount: XChaCha20Poly1305.nonceLength, alignment: 16)
            for buffer in [plaintext, ad, nonce] {
                buffer.copyBytes(from: Sodium.randomBytes(buffer.count))
            }
            out.initializeMemory(as: UInt8.self, repeating: 0)
        }

        var plaintextBytes: UnsafePointer<UInt8> { UnsafePointer(plaintext.assumingMemoryBound(to: UInt8.self).baseAddress!) }
        var outBytes: UnsafeMutablePointer<UInt8> { out.assumingMemoryBound(to: UInt8.self).baseAddress! }
        var adBytes: UnsafePointer<UInt8> { UnsafePointer(ad.assumingMemoryBound(to: UInt8.self).baseAddress!) }
        var nonceBytes: UnsafePointer<UInt8> { UnsafePointer(nonce.assumingMemoryBound(to: UInt8.self).baseAddress!) }

        func deallocate() {
            for buffer in [plaintext, out, ad, nonce] { buffer.deallocate() }
        }
    }

    /// Proves the C reference does exactly what PeerCrypto does: each side opens the other's
    /// batches, and the bare AEADs agree byte for byte. Returns what differs, or nil.
    static func crossCheck(_ keys: Keys) -> String? {
        let cPublicKey = withUnsafeBytes(of: keys.c.pointee.public_key) { Array($0) }
        guard cPublicKey == keys.identity.publicKey.bytes else { return "public keys differ" }
        for size in [0] + payloadSizes {
            let payload = Sodium.randomBytes(size)
            let sequence = UInt64(size) + 7
            let swiftSealed = BatchSealer.seal(
                payload: payload, sequence: sequence, epoch: epoch, previous: BatchSealer.noPrevious,
                room: RoomAuthority.open.roomID, identity: keys.identity, contentKey: keys.contentKey
            ).sealed
            var cLength = 0
            guard
                let cPointer = payload.withUnsafeBufferPointer({
                    cbenchref_seal(keys.c, $0.baseAddress, $0.count, sequence, epoch, &cLength)
                })
            else { return "C seal failed (\(size) B)" }
            let cSealed = Array(UnsafeBufferPointer(start: cPointer, count: cLength))
            cbenchref_free(cPointer)
            guard cSealed.count == swiftSealed.count else { return "sealed lengths differ (\(size) B)" }
            // Everything before the random nonce is deterministic.
            guard cSealed[..<80] == swiftSealed[..<80] else { return "headers differ (\(size) B)" }

            guard let opened = try? BatchSealer.open(cSealed, room: RoomAuthority.open.roomID, contentKey: { $0 == epoch ? keys.contentKey : nil }),
                opened.payload == payload, opened.sequence == sequence, opened.epoch == epoch,
                opened.author == keys.identity.publicKey
            else { return "Swift cannot open a C batch (\(size) B)" }

            var cOpened = cbenchref_opened()
            guard swiftSealed.withUnsafeBufferPointer({ cbenchref_open(keys.c, $0.baseAddress, $0.count, &cOpened) }) == 0
            else { return "C cannot open a Swift batch (\(size) B)" }
            defer { cbenchref_opened_free(&cOpened) }
            let cPayload = Array(UnsafeBufferPointer(start: cOpened.payload, count: cOpened.payload_length))
            let cAuthor = Array(UnsafeBufferPointer(start: cOpened.author, count: PublicKey.length))
            guard cPayload == payload, cOpened.sequence == sequence, cOpened.epoch == epoch, cAuthor == cPublicKey
            else { return "C opened a Swift batch wrongly (\(size) B)" }
        }
        for size in payloadSizes {
            let buffers = AEADBuffers(size: size)
            defer { buffers.deallocate() }
            XChaCha20Poly1305.seal(
                into: buffers.out, plaintext: UnsafeRawBufferPointer(buffers.plaintext), ad: UnsafeRawBufferPointer(buffers.ad),
                nonce: UnsafeRawBufferPointer(buffers.nonce), key: keys.contentKey)
            let swiftOut = Array(buffers.out)
            _ = keys.contentKeyBytes.withUnsafeBufferPointer { key in
                cbenchref_aead_loop(
                    buffers.outBytes, buffers.plaintextBytes, size, buffers.adBytes, buffers.ad.count, buffers.nonceBytes,
                    key.baseAddress, 1)
            }
            guard Array(buffers.out) == swiftOut else { return "AEAD outputs differ (\(size) B)" }
        }
        return nil
    }

    /// "1,200 B" or "64 KiB".
    static func label(_ size: Int) -> String {
        size >= 1024 && size % 1024 == 0 ? "\(size / 1024) KiB" : "\(grouped(size)) B"
    }
}
