import Node
import PeerCrypto
import Primitives
import Replication
import Store
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Issue 15's "engine latency while a viewer streams a video": the node benchmark's latency run
/// again, on A while a client reads a 200 MB video A shared through A's local API, 1 MiB `Range`
/// requests one after the other in a loop, as a player does.
extension NodeSuite {
    /// Runs the streaming case on a fresh pair in the default temp directory and prints it next to
    /// the idle figures of the same run; false (after saying why) on failure.
    static func streaming(_ options: BenchOptions, idle: (run: LatencyRun, sqlite: [Double], udp: [Double]), warmup: Int) async -> Bool {
        let size = options.quick ? 20_000_000 : 200_000_000
        let count = options.quick ? 200 : operationsPerPair
        guard let root = makeTemporaryFolder(in: temporaryBase()) else {
            print("node: cannot create a temporary folder in \(temporaryBase())")
            return false
        }
        defer { removeTree(root) }
        print(
            "streaming: the same latency run (\(count) ops, one pair) while a client reads a \(size / 1_000_000) MB video "
                + "A shared through A's local API (GET /api/blobs/ID, 1 MiB `Range` requests one after the other, in a loop); "
                + "data folders in \(root) (\(describe(fileSystemType(root)))), B's on tmpfs as above"
                + (options.quick ? "; --quick: 20 MB, a smoke run only" : ""))
        let joiner = fileSystemType(root) == "tmpfs" ? nil : separateJoinerFolder()
        defer { if let joiner { removeTree(joiner) } }
        guard let (a, b) = await startPair(in: root, joiner: joiner) else { return false }
        let run = await streaming(a, b, size: size, count: count, warmup: warmup, probe: root + "/probe.sqlite")
        await stopPair(a, b)
        guard let (run, rate, requests) = run else { return false }
        printLatency(idle.run, sqlite: idle.sqlite, reference: idle.udp, label: "node, idle (the run above)")
        print("the same while the viewer streams (its bare SQLite commits interleaved the same way):")
        printLatency(run, sqlite: run.sqlite, reference: idle.udp, label: "node, while a viewer streams")
        let idle50 = percentile(idle.run.total, 0.5) * 1e3
        let idle99 = percentile(idle.run.total, 0.99) * 1e3
        let p50 = percentile(run.total, 0.5) * 1e3
        let p99 = percentile(run.total, 0.99) * 1e3
        print(
            "the viewer read \(fixed(rate, decimals: 1)) MB/s meanwhile (\(requests) range requests in all); "
                + "streaming vs idle: p50 \(fixed(p50, decimals: 3)) vs \(fixed(idle50, decimals: 3)) ms "
                + "(\(fixed(p50 / idle50, decimals: 2))x), p99 \(fixed(p99, decimals: 3)) vs \(fixed(idle99, decimals: 3)) ms "
                + "(\(fixed(p99 / idle99, decimals: 2))x)")
        print(
            "aim: within the node benchmark's own figures (p50 within 0.15 ms of the bare SQLite commit, p99 under 1 ms): "
                + verdict(run, sqlite: run.sqlite, type: fileSystemType(root)))
        return true
    }

    /// The streaming run on a linked pair: the latency run, the viewer's MB/s and its request count.
    static func streaming(
        _ a: NodeRuntime, _ b: NodeRuntime, size: Int, count: Int, warmup: Int, probe path: String
    ) async -> (LatencyRun, Double, Int)? {
        let probe: CommitProbe
        do {
            probe = try CommitProbe(path: path)
        } catch {
            print("node: cannot open the SQLite reference: \(error)")
            return nil
        }
        var bytes = Sodium.randomBytes(size)
        let header: [UInt8] = [0, 0, 0, 24] + Array("ftypisom".utf8) + [0, 0, 2, 0] + Array("isommp41".utf8)
        bytes.replaceSubrange(0..<header.count, with: header)
        let hex: String
        do {
            hex = Hex.string(try await a.engine.share(bytes: bytes, mime: "video/mp4", title: "streamed", price: nil).blob.id)
        } catch {
            print("node: share failed: \(error)")
            return nil
        }
        // B fetches the blob in the background; that transfer is over before measuring, so the
        // only load besides the edits is the viewer's reads.
        let (subscription, stream) = await b.engine.subscribe()
        var feed = stream.makeAsyncIterator()
        while !(await b.engine.holdsWhole(blobHex: hex)) {
            guard await feed.next() != nil else {
                print("node: B's live feed ended before the blob arrived")
                return nil
            }
        }
        await b.engine.unsubscribe(subscription)
        guard let token = a.viewerURL.split(separator: "token=").last.map(String.init) else {
            print("node: no token in A's viewer URL")
            return nil
        }
        let reader = RangeReader(port: a.apiPort, token: token, hex: hex, size: size)
        let thread = BenchThread { reader.loop() }
        thread.start()
        // Measured only once the reads are flowing (bounded: 10 s).
        for _ in 0..<10_000 where reader.requests.load(ordering: .relaxed) < 3 && reader.failure.withLock({ $0 }) == nil {
            try? await Task.sleep(for: .milliseconds(1))
        }
        let clock = ContinuousClock()
        let start = clock.now
        let before = reader.bytes.load(ordering: .relaxed)
        let run = await latency(a, b, count: count, warmup: warmup, probe: probe)
        let read = reader.bytes.load(ordering: .relaxed) - before
        let elapsed = seconds(clock.now - start)
        reader.stop.store(true, ordering: .relaxed)
        thread.join()
        if let failure = reader.failure.withLock({ $0 }) {
            print("node: the streaming client failed: \(failure)")
            return nil
        }
        guard let run else { return nil }
        return (run, Double(read) / elapsed / 1e6, reader.requests.load(ordering: .relaxed))
    }
}

/// A video player's reads on its own thread: 1 MiB ranges of the blob in order, wrapping round,
/// one HTTP/1.1 request per connection, until told to stop (or a bound of requests is reached).
final class RangeReader: Sendable {
    let port: Int
    let token: String
    let hex: String
    let size: Int
    let stop = Atomic<Bool>(false)
    let requests = Atomic<Int>(0)
    let bytes = Atomic<Int>(0)
    let failure = Mutex<String?>(nil)

    static let rangeBytes = 1 << 20
    /// A bound on the loop, far above what one latency run lasts.
    static let maxRequests = 1_000_000

    init(port: Int, token: String, hex: String, size: Int) {
        self.port = port
        self.token = token
        self.hex = hex
        self.size = size
    }

    func loop() {
        var offset = 0
        while !stop.load(ordering: .relaxed), requests.load(ordering: .relaxed) < Self.maxRequests {
            let last = min(offset + Self.rangeBytes, size) - 1
            switch get(first: offset, last: last) {
            case .success(let count) where count == last - offset + 1:
                bytes.add(count, ordering: .relaxed)
                requests.add(1, ordering: .relaxed)
            case .success(let count):
                failure.withLock { $0 = "a range of \(last - offset + 1) bytes answered with \(count)" }
                return
            case .failure(let error):
                failure.withLock { $0 = error.message }
                return
            }
            offset = last + 1 >= size ? 0 : last + 1
        }
    }

    /// One GET of `first...last`; the body's length, after checking the answer is a 206.
    func get(first: Int, last: Int) -> Result<Int, BenchFailure> {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failure(BenchFailure("socket: errno \(errno)")) }
        defer { close(fd) }
        // A stuck server fails the run instead of hanging it.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // struct sockaddr_in for 127.0.0.1:port, byte by byte: family (host order), port, address.
        let family = UInt16(AF_INET)
        let address: [UInt8] =
            [UInt8(family & 0xFF), UInt8(family >> 8), UInt8(port >> 8), UInt8(port & 0xFF), 127, 0, 0, 1]
            + [UInt8](repeating: 0, count: 8)
        let connected = address.withUnsafeBytes {
            connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(address.count))
        }
        guard connected == 0 else { return .failure(BenchFailure("connect: errno \(errno)")) }
        let request = Array(
            ("GET /api/blobs/\(hex) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer \(token)\r\n"
                + "Range: bytes=\(first)-\(last)\r\nConnection: close\r\n\r\n").utf8)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return .failure(BenchFailure("send: errno \(errno)")) }
            sent += n
        }
        var response: [UInt8] = []
        response.reserveCapacity(Self.rangeBytes + 4096)
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else { return .failure(BenchFailure("recv: errno \(errno)")) }
            response += buffer[0..<n]
            guard response.count <= 4 * Self.rangeBytes else { return .failure(BenchFailure("answer too long")) }
        }
        guard let end = Self.find([13, 10, 13, 10], in: response, from: 0) else {
            return .failure(BenchFailure("no end of headers in \(response.count) bytes"))
        }
        let head = String(decoding: response[0..<end], as: UTF8.self).lowercased()
        guard head.hasPrefix("http/1.1 206") else { return .failure(BenchFailure("answer: \(head.prefix(120))")) }
        let body = end + 4
        guard head.contains("transfer-encoding: chunked") else { return .success(response.count - body) }
        // Chunked: sum the chunks' sizes, skipping their framing.
        var position = body
        var total = 0
        while let line = Self.find([13, 10], in: response, from: position) {
            let sizeText = String(decoding: response[position..<line], as: UTF8.self).split(separator: ";").first ?? ""
            guard let chunk = Int(sizeText.trimmingCharacters(in: " "), radix: 16) else {
                return .failure(BenchFailure("bad chunk size"))
            }
            if chunk == 0 { return .success(total) }
            total += chunk
            position = line + 2 + chunk + 2
            guard position <= response.count else { return .failure(BenchFailure("truncated chunk")) }
        }
        return .failure(BenchFailure("chunked answer without its last chunk"))
    }

    /// The first index of `needle` in `haystack` from `start`, or nil.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = start
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0], Array(haystack[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> Substring {
        var text = self
        while text.first == set { text.removeFirst() }
        while text.last == set { text.removeLast() }
        return text
    }
}
