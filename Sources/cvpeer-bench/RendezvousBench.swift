import CBenchRef
import PeerCrypto
import Primitives
import Rendezvous

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The rendezvous server's figures in `cvpeer-bench transport`: signed registrations per second
/// on one core against bare libsodium Ed25519 checks, and the memory 100,000 rooms take.
///
/// Both drive `RendezvousServer` directly (the state machine the service's loop thread runs, with
/// no socket), with signed registers prepared beforehand: each from its own IPv4 address (one
/// room per address, 256 per /24, so no per-source or per-prefix limit cuts them), each creating
/// a room of its own under its own registration key, each carrying the cookie the server's
/// (seeded) secret gives its address, so every one takes the full path: header, source buckets,
/// decode, cookie, tag–key binding, Ed25519 check, table insert, `registered` encoded.
enum RendezvousBench {
    /// The server's cookie secret: fixed, so a fresh server accepts the prepared cookies.
    static let secret: RendezvousServer.RandomSource = { [UInt8](repeating: 0x5C, count: $0) }

    /// Signed registers ready to feed, and what the C reference verifies for the same ones.
    struct Prepared {
        var datagrams: [[UInt8]] = []
        var sources: [UDPEndpoint] = []
        /// The bytes each register's signature covers (label and body), end to end, all one length.
        var signed: [UInt8] = []
        var signedLength = 0
        var signatures: [UInt8] = []
        var keys: [UInt8] = []
        var count: Int { datagrams.count }
    }

    /// A configuration that holds `rooms` rooms.
    static func configuration(rooms: Int) -> RendezvousServer.Configuration {
        var configuration = RendezvousServer.Configuration()
        configuration.maxRooms = max(rooms, configuration.maxRooms)
        configuration.maxPeers = max(rooms, configuration.maxPeers)
        return configuration
    }

    /// `count` registers from `count` addresses (10.0.0.1 on), with valid cookies for `secret`.
    static func prepare(count: Int, withReference: Bool) -> Prepared {
        let now = ContinuousClock.now
        var issuer = RendezvousServer(configuration: configuration(rooms: count), now: now, randomSource: secret)
        var prepared = Prepared()
        prepared.datagrams.reserveCapacity(count)
        for index in 0..<count {
            let source = UDPEndpoint(address: .v4(0x0A00_0001 + UInt32(index)), port: 40_000)
            let key = try! Identity(seed: SecretBytes(copying: UInt64(index).bigEndianBytes + [UInt8](repeating: 0x33, count: 24)))
            func register(_ cookie: RendezvousCookie) -> [UInt8] {
                RendezvousMessage.register(
                    RendezvousMessage.Register(
                        roomTag: RoomTag(registrationKey: key.publicKey), peerID: RendezvousPeerID(rawValue: UInt64(index) + 1),
                        clientNonce: UInt64(index) &* 0x9E37_79B9_7F4A_7C15, cookie: cookie,
                        registrationKey: key.publicKey, candidates: [source]
                    ).signed(by: key)
                ).encoded()
            }
            // The request for a cookie goes unsigned: the server answers it before any signature
            // check, and skipping the signing halves the preparation.
            let request = RendezvousMessage.register(
                RendezvousMessage.Register(
                    roomTag: RoomTag(registrationKey: key.publicKey), peerID: RendezvousPeerID(rawValue: UInt64(index) + 1),
                    clientNonce: UInt64(index) &* 0x9E37_79B9_7F4A_7C15, registrationKey: key.publicKey, candidates: [source])
            ).encoded()
            var cookie = RendezvousCookie.none
            for case .send(let reply, _) in issuer.received(datagram: request, from: source, now: now) {
                if case .cookieChallenge(let challenge)? = try? RendezvousMessage.decode(reply) { cookie = challenge.cookie }
            }
            precondition(!cookie.isNone, "the server did not issue a cookie")
            let datagram = register(cookie)
            prepared.datagrams.append(datagram)
            prepared.sources.append(source)
            guard withReference else { continue }
            let split = datagram.count - RendezvousWire.signatureSize
            let message = RendezvousWire.registerSignatureLabel + datagram[..<split]
            if prepared.signedLength == 0 { prepared.signedLength = message.count }
            precondition(message.count == prepared.signedLength, "every prepared register is one length")
            prepared.signed += message
            prepared.signatures += datagram[split...]
            prepared.keys += key.publicKey.bytes
        }
        return prepared
    }

    /// Feeds every prepared register to `server`; returns how many were answered `registered`.
    static func feed(_ prepared: Prepared, into server: inout RendezvousServer, now: ContinuousClock.Instant) -> Int {
        var answered = 0
        for index in 0..<prepared.count {
            let actions = server.received(datagram: prepared.datagrams[index], from: prepared.sources[index], now: now)
            // A registered reply is the only send for a new one-member room.
            if actions.contains(where: { if case .send = $0 { true } else { false } }) { answered += 1 }
        }
        return answered
    }

    /// Registrations per second (median round) for the server's full path and for bare
    /// `crypto_sign_verify_detached` from C over the same registers; nil if any was refused.
    static func registrationRate(_ options: BenchOptions) -> (server: Double, verify: Double, count: Int, noise: Double)? {
        let count = options.quick ? 4_000 : 40_000
        let prepared = prepare(count: count, withReference: true)
        let clock = ContinuousClock()
        let start = clock.now
        var server = RendezvousServer(configuration: configuration(rooms: count), now: start, randomSource: secret)
        // A server that has run a while: its tables have grown to hold the load once (untimed), as
        // they have on any rendezvous that saw a busy hour; they keep that capacity when emptied.
        guard feed(prepared, into: &server, now: start) == count else { return nil }
        var serverRounds: [Double] = []
        var verifyRounds: [Double] = []
        for round in 1...options.rounds {
            func serverRound() -> Double? {
                // A minute later every registration has expired and every source bucket refilled
                // (untimed), so each register creates its room again. The secret rotates to the
                // same bytes, so the prepared cookies stay valid.
                let now = start + .seconds(60 * round)
                _ = server.timerFired(now: now)
                guard server.stats.rooms == 0 else { return nil }
                let begin = clock.now
                let answered = feed(prepared, into: &server, now: now)
                let seconds = seconds(clock.now - begin)
                return answered == count ? seconds : nil
            }
            func verifyRound() -> Double? {
                let begin = clock.now
                let verified = prepared.signed.withUnsafeBufferPointer { messages in
                    prepared.signatures.withUnsafeBufferPointer { signatures in
                        prepared.keys.withUnsafeBufferPointer { keys in
                            cbenchref_verify_loop(
                                messages.baseAddress, prepared.signedLength, signatures.baseAddress, keys.baseAddress, count)
                        }
                    }
                }
                let seconds = seconds(clock.now - begin)
                return verified == UInt64(count) ? seconds : nil
            }
            // Alternate who goes first, so drift in clock speed or load hits both alike.
            var serverSeconds: Double?
            var verifySeconds: Double?
            if round % 2 == 0 {
                serverSeconds = serverRound()
                verifySeconds = verifyRound()
            } else {
                verifySeconds = verifyRound()
                serverSeconds = serverRound()
            }
            guard let serverSeconds, let verifySeconds else { return nil }
            serverRounds.append(serverSeconds)
            verifyRounds.append(verifySeconds)
        }
        let noise = max(spread(serverRounds), spread(verifyRounds))
        return (Double(count) / median(serverRounds), Double(count) / median(verifyRounds), count, noise)
    }

    /// The child's work (`cvpeer-bench transport --workload rendezvous-rooms`): the memory `rooms`
    /// one-member rooms take in the server, printed as one JSON line.
    static func roomsChild(rooms: Int) -> Bool {
        let prepared = prepare(count: rooms, withReference: false)
        let now = ContinuousClock.now
        var server = RendezvousServer(configuration: configuration(rooms: rooms), now: now, randomSource: secret)
        // Touch the server's empty tables first, so the baseline is the server at rest; and give
        // malloc's free memory back, so the rooms cannot hide in pages the preparation left.
        _ = server.timerFired(now: now)
        cbenchref_heap_trim()
        let residentBefore = residentBytes()
        let heapBefore = heapInUse()
        let answered = feed(prepared, into: &server, now: now)
        let residentAfter = residentBytes()
        let heapAfter = heapInUse()
        let stats = server.stats
        // Both held to here: released any earlier, their memory would come off the rooms' figure.
        withExtendedLifetime(server) {}
        withExtendedLifetime(prepared) {}
        print(
            "{\"rooms\":\(stats.rooms),\"peers\":\(stats.peers),\"answered\":\(answered),"
                + "\"rss_delta_bytes\":\(residentAfter - residentBefore),\"heap_delta_bytes\":\(heapAfter - heapBefore)}")
        return stats.rooms == rooms && answered == rooms
    }

    /// Resident set size from /proc/self/statm (its second field, in pages); 0 where there is none.
    static func residentBytes() -> Int {
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        guard fgets(&line, Int32(line.count), file) != nil else { return 0 }
        let fields = String(cString: line).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 2, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Bytes malloc has handed out and not had back, mapped blocks included (glibc's `mallinfo2()`); 0 elsewhere.
    static func heapInUse() -> Int { Int(cbenchref_heap_in_use()) }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }

    /// Half of (max − min) over the median.
    static func spread(_ values: [Double]) -> Double {
        guard let low = values.min(), let high = values.max() else { return 0 }
        return (high - low) / 2 / median(values)
    }
}
