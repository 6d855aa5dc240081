import Primitives
import Sockets
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `cvpeer-bench transport`: a reliable 100 MB transfer between two PeerTransports on loopback
/// against raw UDP blasted over the same loopback in the same run; the handshake time; the
/// rendezvous server's registration rate and memory with 10,000 rooms; its signed registrations
/// per second on one core against bare libsodium Ed25519 checks, and its memory for 100,000
/// rooms (`RendezvousBench`). `--workload rendezvous` runs only those two, for a profiler.
///
/// The transport side runs in `TransportProbe bench …` child processes (built beside this
/// program), so each node has a process of its own and the measuring one stays out of the way.
/// The raw UDP reference runs here:
/// one thread sends 1,200-byte datagrams as fast as it can, another counts what arrives. It is
/// measured three ways: one `sendto` per datagram (the plain reference); with the send offload
/// the transport uses (UDP GSO, 48 datagrams per `sendmsg`) and one `recv` per datagram; and with
/// GRO on the receiver too, which is the kernel's ceiling (64 KiB per `recv`, no per-datagram
/// work at all) rather than anything a transport that decrypts each datagram can approach.
///
/// SwiftNIO is measured beside them (`NIOUDPReference`): `DatagramBootstrap` channels on a
/// two-thread event loop group, the sender writing 64 envelopes per flush (`sendmmsg`), the
/// receiver reading 64 per `recvmmsg`, run until the volume the `sendto` reference delivered in
/// the same round has arrived — paced by an in-flight window, and unpaced.
enum TransportSuite {
    static let suite = Suite(
        name: "transport",
        summary:
            "reliable 100 MB over PeerTransport vs raw UDP on loopback; handshake time; rendezvous registrations/s and 100k rooms",
        run: run)

    static func run(_ options: BenchOptions) -> Bool {
        switch options.workload {
        case "rendezvous-rooms": return RendezvousBench.roomsChild(rooms: options.quick ? 20_000 : 100_000)
        case "rendezvous": return rendezvousFigures(options)
        case nil: break
        case let other?:
            print("transport: unknown workload '\(other)'")
            return false
        }
        guard let probe = probePath() else {
            print("transport: TransportProbe not found beside this program; build everything with `swift build -c release`")
            return false
        }
        let rounds = options.quick ? 1 : 3
        let transferBytes = options.quick ? 20_000_000 : 100_000_000
        let blastSeconds = options.quick ? 0.5 : 2.0
        print("transport: PeerTransport (POSIX UDP socket, one loop thread per node) vs raw UDP on 127.0.0.1, same run")
        print(
            "median of \(rounds) alternating round\(rounds == 1 ? "" : "s"); MB = 10^6 bytes"
                + "\(options.quick ? "; --quick: 20 MB, a smoke run only" : "")")
        print()

        var plain: [Double] = []
        var segmented: [Double] = []
        var coalesced: [Double] = []
        var nioPaced: [Double] = []
        var nioUnpaced: [Double] = []
        var nioDetail: [NIOUDPReference.Result] = []
        var transfers: [JSONValue] = []
        for _ in 0..<rounds {
            guard let sendto = blast(seconds: blastSeconds, segment: false, coalesce: false),
                let gso = blast(seconds: blastSeconds, segment: true, coalesce: false),
                let gro = blast(seconds: blastSeconds, segment: true, coalesce: true)
            else {
                print("transport: the raw UDP blaster could not run")
                return false
            }
            plain.append(sendto.mbPerSecond)
            segmented.append(gso.mbPerSecond)
            coalesced.append(gro.mbPerSecond)
            let timeout = blastSeconds * 3 + 1
            guard
                let paced = NIOUDPReference.blast(targetBytes: sendto.bytes, window: nioWindow, timeoutSeconds: timeout),
                let unpaced = NIOUDPReference.blast(targetBytes: sendto.bytes, window: nil, timeoutSeconds: timeout)
            else {
                print("transport: the NIO UDP blaster could not run")
                return false
            }
            nioPaced.append(paced.mbPerSecond)
            nioUnpaced.append(unpaced.mbPerSecond)
            nioDetail += [paced, unpaced]
            guard let transfer = child(probe, ["bench", "transfer", "--bytes", String(transferBytes)]) else { return false }
            transfers.append(transfer)
        }
        let transportRates = transfers.compactMap { $0["mb_per_s"]?.double }
        guard transportRates.count == rounds else {
            print("transport: the transfer printed no rate")
            return false
        }
        let raw = median(plain)
        let rawSegmented = median(segmented)
        let rawCoalesced = median(coalesced)
        let transport = median(transportRates)
        let nio = median(nioPaced)
        let nioBlast = median(nioUnpaced)
        let rows: [[String]] = [
            ["raw UDP: one sendto per 1,200-byte datagram (the reference)", fixed(raw, decimals: 1), "1.00", "—"],
            [
                "raw UDP: GSO sends of 48 x 1,200, one recv per datagram", fixed(rawSegmented, decimals: 1),
                fixed(rawSegmented / raw, decimals: 2), "1.00",
            ],
            [
                "raw UDP: GSO sends, GRO receives (kernel ceiling, no per-datagram work)", fixed(rawCoalesced, decimals: 1),
                fixed(rawCoalesced / raw, decimals: 2), fixed(rawCoalesced / rawSegmented, decimals: 2),
            ],
            [
                "NIO DatagramBootstrap: 64 writes/flush (sendmmsg), recvmmsg x64, ≤\(nioWindow) in flight",
                fixed(nio, decimals: 1), fixed(nio / raw, decimals: 2), fixed(nio / rawSegmented, decimals: 2),
            ],
            [
                "NIO DatagramBootstrap: same, unpaced (writes while writable)", fixed(nioBlast, decimals: 1),
                fixed(nioBlast / raw, decimals: 2), fixed(nioBlast / rawSegmented, decimals: 2),
            ],
            [
                "PeerTransport: reliable \(transferBytes / 1_000_000) MB, 1 MiB messages, encrypted", fixed(transport, decimals: 1),
                fixed(transport / raw, decimals: 2), fixed(transport / rawSegmented, decimals: 2),
            ],
        ]
        printRows(["case", "MB/s", "vs sendto", "vs GSO"], rows)
        let middle = transfers.sorted { ($0["mb_per_s"]?.double ?? 0) < ($1["mb_per_s"]?.double ?? 0) }[rounds / 2]
        print(
            "transfer detail (median round): \(integer(middle["datagrams_sent"])) datagrams sent, "
                + "\(integer(middle["packets_lost"])) declared lost, \(integer(middle["retransmitted_bytes"])) bytes "
                + "retransmitted, \(integer(middle["congestion_events"])) congestion events, final cwnd "
                + "\(integer(middle["cwnd"])) B, srtt \(integer(middle["srtt_us"])) us")
        let sentNIO = nioDetail.reduce(0) { $0 + $1.sent }
        let arrivedNIO = nioDetail.reduce(0) { $0 + $1.datagrams }
        print(
            "NIO detail (all rounds): each NIO run stops once the bytes the sendto reference delivered that round have "
                + "arrived; \(grouped(arrivedNIO)) of \(grouped(sentNIO)) datagrams written arrived"
                + "\(nioDetail.allSatisfy(\.completed) ? "" : "; some runs hit the timeout and report what arrived by then")")
        let bestNIO = max(nio, nioBlast)
        let verdict =
            bestNIO < raw
            ? "NIO delivers less than one sendto per datagram, and far less than the GSO path the transport sends with"
            : bestNIO < rawSegmented
                ? "NIO's sendmmsg beats plain sendto but not the GSO path the transport sends with"
                : "NIO keeps up with GSO here; POSIX stays for the transport's own loop and direct control of GSO"
        print(
            "project uses POSIX UDP on its own thread: POSIX \(fixed(raw, decimals: 1)) MB/s (sendto), "
                + "\(fixed(rawSegmented, decimals: 1)) MB/s (GSO) vs NIO \(fixed(bestNIO, decimals: 1)) MB/s "
                + "(\(fixed(bestNIO / raw, decimals: 2))x sendto) — \(verdict)")
        print(
            "offload in the transfer: send \(middle["send_offload"]?.bool == true ? "segmented (GSO)" : "one datagram per call"), "
                + "receive \(middle["receive_offload"]?.bool == true ? "coalesced (GRO)" : "one datagram per read")")
        print(
            "aim: at least 0.50 of raw UDP with GSO: \(fixed(transport / rawSegmented, decimals: 2)) — "
                + "\(transport / rawSegmented >= 0.5 ? "met" : "NOT met"); "
                + "of one sendto per datagram: \(fixed(transport / raw, decimals: 2))")
        print()

        guard let handshake = child(probe, ["bench", "handshake", "--count", options.quick ? "5" : "21"]) else {
            return false
        }
        print(
            "handshake (connect → link up both ways, fresh transports each time, median of "
                + "\(integer(handshake["count"]))): \(fixed(handshake["median_ms"]?.double ?? 0, decimals: 3)) ms "
                + "(min \(fixed(handshake["min_ms"]?.double ?? 0, decimals: 3)), max "
                + "\(fixed(handshake["max_ms"]?.double ?? 0, decimals: 3)))")
        print("aim: handshake median at most 0.5 ms: \((handshake["median_ms"]?.double ?? .infinity) <= 0.5 ? "met" : "NOT met")")

        let rooms = options.quick ? 2_000 : 10_000
        guard let rendezvous = child(probe, ["bench", "rendezvous", "--rooms", String(rooms)]) else { return false }
        let registrations = integer(rendezvous["registrations"])
        print(
            "rendezvous (RendezvousServer driven directly, \(integer(rendezvous["rooms"])) rooms x 2 members): "
                + "\(registrations) registrations with the cookie round trip in "
                + "\(fixed(rendezvous["seconds"]?.double ?? 0, decimals: 3)) s = "
                + "\(grouped(Int(rendezvous["registrations_per_s"]?.double ?? 0)))/s; memory +"
                + "\(grouped(Int(rendezvous["rss_delta_kib"]?.double ?? 0))) KiB RSS "
                + "(~\(grouped(Int(rendezvous["bytes_per_room"]?.double ?? 0))) bytes per room)")
        return rendezvousFigures(options)
    }

    /// Signed registrations per second against bare Ed25519 checks, and memory for 100,000 rooms.
    static func rendezvousFigures(_ options: BenchOptions) -> Bool {
        guard let rate = RendezvousBench.registrationRate(options) else {
            print("transport: a prepared register was refused; the rendezvous figures would describe the wrong work")
            return false
        }
        print(
            "rendezvous signed registrations on one core (RendezvousServer.received: header, source buckets, decode, cookie, "
                + "tag-key binding, Ed25519 check, table insert, registered encoded; \(grouped(rate.count)) prepared registers "
                + "from as many addresses, median of \(options.rounds) rounds, noise ±\(fixed(rate.noise * 100, decimals: 1))%): "
                + "\(grouped(Int(rate.server)))/s; bare crypto_sign_verify_detached from C over the same registers: "
                + "\(grouped(Int(rate.verify)))/s; server time / verify time \(fixed(rate.verify / rate.server, decimals: 2))x")
        print(
            "aim: at least 20,000 signed registrations/s: \(rate.server >= 20_000 ? "met" : "NOT met") (each new register "
                + "needs one Ed25519 check, which alone runs at \(grouped(Int(rate.verify)))/s on this core)")
        let rooms = options.quick ? 20_000 : 100_000
        let arguments = ["transport", "--workload", "rendezvous-rooms"] + (options.quick ? ["--quick"] : [])
        guard let finished = Subprocess.run(Subprocess.ownExecutable, arguments), finished.succeeded,
            let line = finished.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
            let json = JSONValue.parse(String(line)), let resident = json["rss_delta_bytes"]?.double,
            let heap = json["heap_delta_bytes"]?.double
        else {
            print("transport: the rendezvous memory child failed")
            return false
        }
        let mebibyte = 1_048_576.0
        print(
            "rendezvous memory for \(grouped(rooms)) rooms (one signed registration each, in a child process): resident set "
                + "+\(fixed(resident / mebibyte, decimals: 1)) MiB (/proc/self/statm), heap in use "
                + "+\(fixed(heap / mebibyte, decimals: 1)) MiB (mallinfo2), ~\(grouped(Int(resident) / rooms)) bytes per room")
        if !options.quick {
            print("aim: under 150 MiB for 100,000 rooms: \(resident < 150 * mebibyte ? "met" : "NOT met")")
        }
        return true
    }

    // MARK: Children

    static func probePath() -> String? {
        guard let folder = Subprocess.executableFolder else { return nil }
        let path = folder + "/TransportProbe"
        return access(path, X_OK) == 0 ? path : nil
    }

    /// Runs the probe and parses its one JSON line; nil (after saying why) on failure.
    static func child(_ probe: String, _ arguments: [String]) -> JSONValue? {
        guard let finished = Subprocess.run(probe, arguments) else {
            print("transport: cannot start \(probe)")
            return nil
        }
        guard finished.succeeded,
            let line = finished.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
            let json = JSONValue.parse(String(line))
        else {
            print("transport: `TransportProbe \(arguments.joined(separator: " "))` failed (\(finished.ending))")
            return nil
        }
        return json
    }

    static func integer(_ value: JSONValue?) -> String { grouped(Int(value?.double ?? 0)) }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }

    static func printRows(_ headers: [String], _ rows: [[String]]) {
        let widths = headers.indices.map { column in ([headers[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.indices.map { column in
                column == 0 ? cells[column].padding(to: widths[column]) : cells[column].leftPadding(to: widths[column])
            }.joined(separator: "  ")
        }
        print(line(headers))
        print(String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1)))
        for row in rows { print(line(row)) }
    }

    // MARK: Raw UDP blaster

    /// Datagram size of the reference: the transport's own largest datagram is 1,188 bytes, so
    /// this flatters the reference slightly.
    static let datagramSize = 1_200
    /// Datagrams per segmented send (below the kernel's 64 and the 64 KiB IP limit).
    static let segments = 48
    /// Most datagrams the paced NIO sender leaves unaccounted for (about 600 KB).
    static let nioWindow = 512

    /// Sends 1,200-byte datagrams on loopback for `seconds` (in GSO runs of 48 if `segment`, to a
    /// receiver with GRO if `coalesce`); returns the MB/s and the bytes that arrived.
    static func blast(seconds: Double, segment: Bool, coalesce: Bool) -> (mbPerSecond: Double, bytes: Int)? {
        let loopback = HostPort(host: "127.0.0.1", port: 0)
        guard let receiver = try? NodeSocket.open(listen: loopback, bufferSize: 4 << 20),
            let sender = try? NodeSocket.open(listen: loopback, bufferSize: 4 << 20),
            let receiverPort = try? receiver.socket.localEndpoint().port
        else { return nil }
        defer {
            receiver.close()
            sender.close()
        }
        if coalesce { _ = receiver.enableCoalescing() }
        let counter = BlastCounter()
        let thread = BenchThread {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 8)
            defer { buffer.deallocate() }
            while !counter.stop.load(ordering: .acquiring) {
                // The socket does not block: wait (100 ms at most, to notice the stop), then drain.
                guard receiver.wait(wake: -1, nanoseconds: 100_000_000).socket else { continue }
                while case .datagrams(let length, _, _) = receiver.receive(into: buffer) {
                    counter.received.add(length, ordering: .relaxed)
                }
            }
        }
        thread.start()
        let payload = [UInt8](repeating: 0xA5, count: segment ? datagramSize * segments : datagramSize)
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + .milliseconds(Int(seconds * 1000))
        while clock.now < end {
            for _ in 0..<64 {
                _ = payload.withUnsafeBytes {
                    sender.send($0, segmentSize: segment ? datagramSize : nil, to: .ipv4(127, 0, 0, 1, port: receiverPort))
                }
            }
        }
        let elapsed = clock.now - start
        let arrived = counter.received.load(ordering: .relaxed)
        counter.stop.store(true, ordering: .releasing)
        thread.join()
        let secondsElapsed = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (Double(arrived) / secondsElapsed / 1e6, arrived)
    }
}

/// What the blaster's receiver thread counts.
private final class BlastCounter: Sendable {
    let received = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
}

/// A joinable pthread for the blaster's receiver and the node suite's echo side.
final class BenchThread: @unchecked Sendable {
    private let body: @Sendable () -> Void
    private var handle = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    func start() {
        let box = Unmanaged.passRetained(self)
        let created = pthread_create(
            &handle, nil,
            { raw in
                #if canImport(Darwin)
                    let thread = Unmanaged<BenchThread>.fromOpaque(raw).takeRetainedValue()
                #else
                    let thread = Unmanaged<BenchThread>.fromOpaque(raw!).takeRetainedValue()
                #endif
                thread.body()
                return nil
            }, box.toOpaque())
        precondition(created == 0, "pthread_create failed")
    }

    func join() { pthread_join(handle, nil) }
}
