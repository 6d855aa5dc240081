import LocalAPI
import Node
import PeerCrypto
import Primitives
import Rendezvous
import Replication
import Sockets
import Store
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `cvpeer-bench node`: two real nodes (`NodeRuntime`: SQLite store, UDP transport, room engine,
/// local API) in this process, the second joining the first's invite directly over 127.0.0.1,
/// against raw UDP on the same loopback in the same run.
///
/// Latency: sequential `say` operations committed on A, each timed until B's change handler
/// sees B's vector include A's new batch, i.e. until B has applied it (B shows it before writing
/// it; A writes it durably before sending). Run with the data folders on the default temp
/// directory (a disk) and on /dev/shm (tmpfs), because each operation waits for A's fsync and
/// that cost depends on the medium. Reference:
/// one-way UDP latency, half the round trip of a small datagram ping-ponged between two
/// blocking threads. (The 100 MB share is `ShareSuite`.)
enum NodeSuite {
    static let suite = Suite(
        name: "node",
        summary: "two in-process nodes on loopback: op latency (disk and tmpfs, idle and while a viewer streams); vs a bare SQLite commit and raw UDP",
        run: run)

    /// Size of the ping-pong reference's datagram: about what one sealed `say` batch is on the wire.
    static let pingSize = 64

    /// Operations one pair of nodes commits while measured: A's own edit quota (`AuthorQuota.Limits.local`,
    /// a burst of 600, then 10 a second) is not lifted for the benchmark, so a run of more
    /// operations is measured on several fresh pairs, each a new member with a full quota,
    /// staying under the burst with its warm-up and the few edits joining makes.
    static let operationsPerPair = 500

    /// Both parts in turn; false if either could not produce trustworthy numbers.
    static func run(_ options: BenchOptions) async -> Bool {
        let count = options.quick ? 200 : 2_000
        let warmup = options.quick ? 10 : 25
        let pairs = (count + operationsPerPair - 1) / operationsPerPair
        print(
            "node: two NodeRuntimes in this process (SQLite store, UDP transport, engine), linked directly on 127.0.0.1; "
                + "vs a bare SQLite commit and raw UDP on loopback, same run")
        print(
            "latency: \(grouped(count)) sequential `say` ops on \(pairs) fresh pair\(pairs == 1 ? "" : "s") of nodes "
                + "(A's own edit quota, a burst of 600, is kept: at most \(operationsPerPair) measured ops per pair, after "
                + "\(warmup) unmeasured), each from just before commit on A until B's change handler sees it applied; "
                + "references: a bare SQLite commit (one single-row INSERT of 256 bytes per transaction, the store's "
                + "pragmas: WAL, synchronous=FULL) in the same folder just before each op, and raw UDP one-way = half the round trip of a "
                + "\(pingSize)-byte datagram ping-ponged between two blocking threads, same count"
                + (options.quick ? "; --quick: a smoke run only" : ""))

        // The default temp directory (normally a disk), then memory, unless the first already was.
        var bases = [temporaryBase()]
        if access("/dev/shm", W_OK) == 0, fileSystemType(bases[0]) != "tmpfs" { bases.append("/dev/shm") }
        var verdicts: [String] = []
        var idle: (run: LatencyRun, sqlite: [Double], udp: [Double])?
        for base in bases {
            print()
            guard let root = makeTemporaryFolder(in: base) else {
                print("node: cannot create a temporary folder in \(base)")
                return false
            }
            defer { removeTree(root) }
            let type = fileSystemType(root)
            // B stands for another machine: on a disk, its data folder goes to memory, or its own
            // fsync of each batch would queue on the disk A is being timed on.
            let joiner = type == "tmpfs" ? nil : separateJoinerFolder()
            defer { if let joiner { removeTree(joiner) } }
            print("data folders in \(root) (\(describe(type)))" + (joiner.map { "; B's in \($0) (tmpfs: B stands for another machine)" } ?? ""))
            guard let reference = udpPingPong(count: count, warmup: warmup) else {
                print("node: the raw UDP ping-pong could not run")
                return false
            }
            var run = LatencyRun()
            var sqlite: [Double] = []
            for pair in 0..<pairs {
                let measured = min(operationsPerPair, count - pair * operationsPerPair)
                // The reference in the same folder, one bare commit before each operation, so
                // the load of this shared machine hits both alike.
                let probe: CommitProbe
                do {
                    probe = try CommitProbe(path: root + "/probe\(pair).sqlite")
                } catch {
                    print("node: cannot open the SQLite reference: \(error)")
                    return false
                }
                guard let part = await latency(in: root + "/pair\(pair)", joiner: joiner.map { $0 + "/pair\(pair)" }, count: measured, warmup: warmup, probe: probe) else {
                    return false
                }
                run.append(part)
                sqlite += part.sqlite
            }
            printLatency(run, sqlite: sqlite, reference: reference)
            if base == bases[0] { idle = (run, sqlite, reference) }
            verdicts.append(verdict(run, sqlite: sqlite, type: type))
        }
        print("aims: " + verdicts.joined(separator: "; "))
        print()
        guard let idle, await streaming(options, idle: idle, warmup: warmup) else { return false }
        return true
    }

    /// The aims of issue 17 for one medium: on tmpfs p50 under 0.15 ms; on a disk p50 within
    /// 0.15 ms of the bare SQLite commit's p50, and p99 under 1 ms.
    static func verdict(_ run: LatencyRun, sqlite: [Double], type: String) -> String {
        let p50 = percentile(run.total, 0.5) * 1e3
        let p99 = percentile(run.total, 0.99) * 1e3
        if type == "tmpfs" {
            return "tmpfs p50 \(fixed(p50, decimals: 3)) ms under 0.15 ms: \(p50 < 0.15 ? "met" : "NOT met")"
        }
        let floor = percentile(sqlite, 0.5) * 1e3
        let over = p50 - floor
        return "\(type) p50 \(fixed(p50, decimals: 3)) ms = bare SQLite commit \(fixed(floor, decimals: 3)) ms + "
            + "\(fixed(over, decimals: 3)) ms, within 0.15 ms: \(over <= 0.15 ? "met" : "NOT met"); "
            + "p99 \(fixed(p99, decimals: 3)) ms under 1 ms: \(p99 < 1 ? "met" : "NOT met")"
    }

    /// A private folder on /dev/shm for B's data, or nil if there is none.
    static func separateJoinerFolder() -> String? {
        access("/dev/shm", W_OK) == 0 ? makeTemporaryFolder(in: "/dev/shm") : nil
    }

    // MARK: Latency

    /// Per-operation seconds: the whole way, A's commit alone, and what follows it.
    struct LatencyRun {
        var total: [Double] = []
        var commit: [Double] = []
        var rest: [Double] = []
        /// The bare SQLite commit made just before each operation (the reference), if any.
        var sqlite: [Double] = []

        mutating func append(_ other: LatencyRun) {
            total += other.total
            commit += other.commit
            rest += other.rest
            sqlite += other.sqlite
        }
    }

    /// One latency run on a fresh pair of nodes with their data folders in `root`; nil (after saying why) on failure.
    static func latency(in root: String, joiner: String? = nil, count: Int, warmup: Int, probe: CommitProbe? = nil) async -> LatencyRun? {
        guard let (a, b) = await startPair(in: root, joiner: joiner) else { return nil }
        let run = await latency(a, b, count: count, warmup: warmup, probe: probe)
        await stopPair(a, b)
        return run
    }

    /// `count` timed operations (after `warmup`) committed on A of a linked pair.
    static func latency(_ a: NodeRuntime, _ b: NodeRuntime, count: Int, warmup: Int, probe: CommitProbe? = nil) async -> LatencyRun? {
        let arrival = Arrival()
        await b.engine.setChangeHandler { arrival.observe($0) }
        let author = a.engine.me
        // Only this loop commits on A, so A's next batch number is known before each commit; the
        // waiter is armed with it first, since B may apply the batch before `commit` returns here.
        var sequence = await a.engine.vector[author]
        var run = LatencyRun()
        let clock = ContinuousClock()
        var failure: String?
        let row = [UInt8](repeating: 0x5A, count: 256)
        for index in 0..<(warmup + count) {
            if let probe {
                let start = clock.now
                do {
                    try probe.insert(key: Int64(index), value: row)
                } catch {
                    failure = "the SQLite reference failed: \(error)"
                    break
                }
                if index >= warmup { run.sqlite.append(seconds(clock.now - start)) }
            }
            sequence += 1
            arrival.expect(author: author, sequence: sequence)
            let start = clock.now
            let committed: (finished: ContinuousClock.Instant, sequence: UInt64)
            do {
                committed = try await a.engine.benchCommit([.say("latency \(index)")])
            } catch {
                failure = "commit failed: \(error)"
                break
            }
            guard committed.sequence == sequence else {
                failure = "A's batch took sequence \(committed.sequence), expected \(sequence)"
                break
            }
            let applied = await arrival.wait()
            guard index >= warmup else { continue }
            run.total.append(seconds(applied - start))
            run.commit.append(seconds(committed.finished - start))
            run.rest.append(seconds(applied - committed.finished))
        }
        await b.engine.setChangeHandler(nil)
        if let failure {
            print("node: \(failure)")
            return nil
        }
        return run
    }

    /// The latency table: percentiles of each part, and their ratios to the UDP reference's.
    static func printLatency(_ run: LatencyRun, sqlite: [Double], reference: [Double], label: String = "node: commit on A → applied on B") {
        let sqlite50 = percentile(sqlite, 0.5)
        let udp50 = percentile(reference, 0.5)
        func row(_ label: String, _ values: [Double]) -> [String] {
            let p50 = percentile(values, 0.5)
            return [
                label, fixed(p50 * 1e3, decimals: 3), fixed(percentile(values, 0.9) * 1e3, decimals: 3),
                fixed(percentile(values, 0.99) * 1e3, decimals: 3), fixed((values.max() ?? 0) * 1e3, decimals: 3),
                fixed((p50 - sqlite50) * 1e3, decimals: 3), fixed(p50 / udp50, decimals: 1) + "x",
            ]
        }
        TransportSuite.printRows(
            ["case", "p50 ms", "p90 ms", "p99 ms", "max ms", "p50 − SQLite p50 ms", "p50 vs UDP"],
            [
                row("bare SQLite commit: 1-row INSERT, WAL, synchronous=FULL (reference)", sqlite),
                row("raw UDP one-way, \(pingSize) B (reference)", reference),
                row(label, run.total),
                row("  of which A's commit (seal, SQLite write + fsync, apply, send)", run.commit),
                row("  of which the rest (UDP, B opens and applies)", run.rest),
            ])
    }

    /// What B's change handler reports, and the one task waiting for a given batch of A's.
    final class Arrival: Sendable {
        /// The batch expected, when B applied it, and who waits for it.
        struct State {
            var author: ReplicaID?
            var sequence: UInt64 = 0
            var at: ContinuousClock.Instant?
            var waiter: CheckedContinuation<ContinuousClock.Instant, Never>?
        }

        let state = Mutex(State())

        /// Arms the waiter for A's batch `sequence`; called before that batch is committed.
        func expect(author: ReplicaID, sequence: UInt64) {
            state.withLock { $0 = State(author: author, sequence: sequence) }
        }

        /// B's change handler: runs on B's engine right after the change was stored, so the time is taken here.
        func observe(_ vector: VersionVector) {
            let now = ContinuousClock.now
            let waiter = state.withLock { state -> CheckedContinuation<ContinuousClock.Instant, Never>? in
                guard let author = state.author, state.at == nil, vector[author] >= state.sequence else { return nil }
                state.at = now
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: now)
        }

        /// When B applied the expected batch (at once if it already has).
        func wait() async -> ContinuousClock.Instant {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> ContinuousClock.Instant? in
                    if let at = state.at { return at }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }

    // MARK: Nodes

    /// A hosts a new room with its data folder in `root`/a; B joins A's invite from `root`/b; both
    /// bound to 127.0.0.1. Returns once each sees the other linked and both hold the same batches.
    static func startPair(in root: String, joiner: String? = nil) async -> (a: NodeRuntime, b: NodeRuntime)? {
        let a: NodeRuntime
        let b: NodeRuntime
        do {
            let loopback = HostPort(host: "127.0.0.1", port: 0)
            a = try await NodeRuntime.host(
                NodeOptions(dataFolder: try DataFolder(path: root + "/a"), role: .agent, name: "A", listen: loopback))
            do {
                let options = NodeOptions(
                    dataFolder: try DataFolder(path: (joiner ?? root) + "/b"), role: .customer, name: "B", listen: loopback)
                b = try await NodeRuntime.join(a.invite, options: options)
            } catch {
                await a.stop()
                throw error
            }
        } catch {
            print("node: cannot start the two nodes: \(error)")
            return nil
        }
        // Set-up, not measured: polled, with a generous bound so a broken link fails the suite
        // instead of hanging it.
        for _ in 0..<1_000 {
            let linkedA = await a.engine.summary().peers.count == 1
            let linkedB = await b.engine.summary().peers.count == 1
            if linkedA, linkedB, await a.engine.vector == b.engine.vector { return (a, b) }
            try? await Task.sleep(for: .milliseconds(10))
        }
        print("node: the two nodes did not link and sync within 10 s")
        await stopPair(a, b)
        return nil
    }

    /// Stops both nodes, the joiner first, so it does not knock again at a host that is gone.
    static func stopPair(_ a: NodeRuntime, _ b: NodeRuntime) async {
        await b.stop()
        await a.stop()
    }

    // MARK: Raw UDP reference

    /// One-way seconds of `count` ping-pongs (after `warmup`) of a `pingSize`-byte datagram between
    /// two connected sockets on 127.0.0.1, the echo on its own thread, both sides blocked in `recv`
    /// as the node's transport thread is; nil if a socket call failed or a datagram went missing.
    static func udpPingPong(count: Int, warmup: Int) -> [Double]? {
        guard let (pinger, echoer) = UDPSocket.connectedLoopbackPair() else { return nil }
        defer {
            SystemCall.close(pinger)
            SystemCall.close(echoer)
        }
        let total = warmup + count
        let echo = BenchThread {
            var buffer = [UInt8](repeating: 0, count: 2_048)
            for _ in 0..<total {
                let received = buffer.withUnsafeMutableBytes { recv(echoer, $0.baseAddress, $0.count, 0) }
                guard received > 0 else { return }
                _ = buffer.withUnsafeBytes { send(echoer, $0.baseAddress, received, 0) }
            }
        }
        echo.start()
        defer { echo.join() }
        let payload = [UInt8](repeating: 0x5A, count: pingSize)
        var buffer = [UInt8](repeating: 0, count: 2_048)
        var oneWay: [Double] = []
        oneWay.reserveCapacity(count)
        let clock = ContinuousClock()
        for index in 0..<total {
            let start = clock.now
            let sent = payload.withUnsafeBytes { send(pinger, $0.baseAddress, $0.count, 0) }
            let received = buffer.withUnsafeMutableBytes { recv(pinger, $0.baseAddress, $0.count, 0) }
            let end = clock.now
            // A lost datagram times both receivers out (1 s), which also ends the echo thread.
            guard sent == pingSize, received == pingSize else { return nil }
            if index >= warmup { oneWay.append(seconds(end - start) / 2) }
        }
        return oneWay
    }

    // MARK: Helpers

    /// Nearest-rank percentile of unsorted values (p in 0…1).
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    /// A duration in seconds.
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    /// `$TMPDIR`, else /tmp: where a user's temporary data folders would go.
    static func temporaryBase() -> String {
        if let value = getenv("TMPDIR").map({ String(cString: $0) }), value.hasPrefix("/") {
            return value.count > 1 && value.hasSuffix("/") ? String(value.dropLast()) : value
        }
        return "/tmp"
    }

    /// A new private folder under `base` (mkdtemp), or nil.
    static func makeTemporaryFolder(in base: String) -> String? {
        var template = Array((base + "/cvpeer-bench-node.XXXXXX").utf8CString)
        return template.withUnsafeMutableBufferPointer { buffer in
            mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
        }
    }

    /// Deletes a folder and everything in it (the bench does not use Foundation's file manager).
    static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            _ = unlink(path)
            return
        }
        if let directory = opendir(path) {
            var names: [String] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != ".", name != ".." { names.append(name) }
            }
            closedir(directory)
            for name in names { removeTree(path + "/" + name) }
        }
        _ = rmdir(path)
    }

    /// The type of the file system `path` is on (that of the longest mount point containing it in
    /// /proc/self/mounts), so the report says whether fsync reached a disk.
    static func fileSystemType(_ path: String) -> String {
        let fd = open("/proc/self/mounts", O_RDONLY)
        guard fd >= 0 else { return "unknown file system" }
        defer { SystemCall.close(fd) }
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            text += buffer[0..<count]
        }
        var best: (mount: String, type: String)?
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
            // device mountpoint type options…; spaces in a mount point are written \040.
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let mount = String(fields[1].replacing("\\040", with: " "))
            let inside = mount == "/" || path == mount || path.hasPrefix(mount + "/")
            if inside, mount.count >= (best?.mount.count ?? 0) { best = (mount, String(fields[2])) }
        }
        return best?.type ?? "unknown file system"
    }

    /// A file system type as the report shows it.
    static func describe(_ type: String) -> String {
        type == "tmpfs" ? "tmpfs: memory, fsync costs nothing" : type
    }
}

extension RoomEngine {
    /// `commit`, timed on the engine itself: when it finished and which batch number it took (the
    /// caller's own clock would also count the hop back from the actor).
    func benchCommit(_ edits: [Edit]) throws -> (finished: ContinuousClock.Instant, sequence: UInt64) {
        try commit(edits)
        let finished = ContinuousClock.now
        return (finished, vector[me])
    }
}
