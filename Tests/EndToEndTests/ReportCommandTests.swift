import Foundation
import PeerCrypto
import Replication
import Store
import Testing

/// `cvpeer report` run as a user runs it, on a real store written through the Store API.
@Suite struct ReportCommandTests {
    @Test func helpGivesExamples() throws {
        let result = try CLIProcess.run(["report", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Examples:"))
        #expect(result.stdout.contains("cvpeer report --all --format html --out report.html"))
        #expect(result.stdout.contains("--format <format>"))
        let root = try CLIProcess.run(["--help"])
        #expect(root.stdout.contains("report"))
    }

    @Test func aFolderWithoutAStoreIsOneLineAndCreatesNothing() throws {
        let data = ReportDataFolder.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let missing = try CLIProcess.run(["report", "--data", data])
        #expect(missing.status != 0)
        #expect(missing.stderr.split(separator: "\n").count == 1)
        #expect(missing.stderr.contains("no store in \(data)"))
        #expect(!FileManager.default.fileExists(atPath: data), "the report must not create the data folder")

        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
        let empty = try CLIProcess.run(["report", "--data", data, "--format", "json"])
        #expect(empty.status != 0)
        #expect(empty.stderr.split(separator: "\n").count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: data).isEmpty, "nor an empty store")
    }

    @Test func theTextReportOfARealStore() throws {
        let folder = try ReportDataFolder()
        defer { folder.remove() }
        let result = try CLIProcess.run(["report", "--data", folder.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        #expect(result.stdout.hasPrefix("cvpeer report: 2 sessions, 1 agent, 2 products\n"))
        #expect(result.stdout.contains("Session \(folder.shop.short): 2026-03-01 10:00:00 UTC, 3m 00s\n"))
        #expect(result.stdout.contains("Ben bought 1 × Red shoes: influenced by Ana's recommendation 1m 00s before\n"))
        #expect(result.stdout.contains("Rooms with no activity yet (not counted): \(folder.idle.short)\n"))
    }

    @Test func theJSONReportOfOneRoom() throws {
        let folder = try ReportDataFolder()
        defer { folder.remove() }
        let result = try CLIProcess.run([
            "report", "--data", folder.path, "--room", folder.shop.short, "--format", "json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let sessions = try #require(json["sessions"] as? [[String: Any]])
        #expect(sessions.count == 1)
        #expect(sessions[0]["roomTag"] as? String == folder.shop.hex)
        #expect(sessions[0]["durationMillis"] as? Int == 180_000)
        let views = try #require(sessions[0]["views"] as? [[String: Any]])
        #expect(views.map { $0["dwellMillis"] as? Int } == [90_000])
        let purchases = try #require(sessions[0]["purchases"] as? [[String: Any]])
        #expect(purchases.map { $0["recommendationToPurchaseMillis"] as? Int } == [60_000])
        let agents = try #require(json["agents"] as? [[String: Any]])
        #expect(agents.map { $0["conversionRate"] as? Double } == [1])
    }

    @Test func csvAndHTMLToAFileWithMode0600() throws {
        let folder = try ReportDataFolder()
        defer { folder.remove() }
        for format in ["csv", "html"] {
            let out = folder.path + "/report.\(format)"
            let result = try CLIProcess.run([
                "report", "--data", folder.path, "--all", "--format", format, "--out", out,
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "report written to \(out) (2 sessions)\n")
            let mode = try FileManager.default.attributesOfItem(atPath: out)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let text = try String(contentsOfFile: out, encoding: .utf8)
            #expect(text.contains(format == "csv" ? "\(folder.shop.short),purchase," : "<svg class=\"timeline\""))
            // No temporary file (".report.csv.cvpeer-PID-N.part") is left beside it.
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).allSatisfy { !$0.hasSuffix(".part") })
        }
    }

    @Test func roomSelectionErrorsAreOneLine() throws {
        let folder = try ReportDataFolder()
        defer { folder.remove() }
        let unknown = folder.shop.hex.first == "0" ? "1" : "0"
        let noMatch = try CLIProcess.run([
            "report", "--data", folder.path, "--room", String(repeating: unknown, count: 32),
        ])
        #expect(noMatch.status != 0)
        #expect(noMatch.stderr.split(separator: "\n").count == 1)
        #expect(noMatch.stderr.contains("no room in the store has a tag starting with"))
        let both = try CLIProcess.run(["report", "--data", folder.path, "--room", folder.shop.short, "--all"])
        #expect(both.status != 0)
        #expect(both.stderr.contains("give --room or --all, not both"))
        let notHex = try CLIProcess.run(["report", "--data", folder.path, "--room", "xyz"])
        #expect(notHex.status != 0)
        #expect(notHex.stderr.contains("hex digits"))
        let format = try CLIProcess.run(["report", "--data", folder.path, "--format", "pdf"])
        #expect(format.status != 0)
    }

    @Test func anAmbiguousPrefixIsRefused() throws {
        // Rooms whose tags share a first hex digit: among 17 rooms two always do.
        var byDigit: [Character: [RoomKeys]] = [:]
        var shared: Character?
        while shared == nil {
            let keys = RoomKeys.generate(owner: Identity.generate().publicKey)
            let digit = ReportDataFolder.hex(keys.tag).first!
            byDigit[digit, default: []].append(keys)
            if byDigit[digit]!.count == 2 { shared = digit }
        }
        let folder = try ReportDataFolder(extraRooms: byDigit[shared!]!)
        defer { folder.remove() }
        let result = try CLIProcess.run(["report", "--data", folder.path, "--room", String(shared!)])
        #expect(result.status != 0)
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains("rooms have a tag starting with \(shared!); give more hex digits"))
    }

    @Test func aStoredBatchThatNoLongerOpensIsReportedAndLeftOut() throws {
        let folder = try ReportDataFolder(tamperLastBatch: true)
        defer { folder.remove() }
        let result = try CLIProcess.run([
            "report", "--data", folder.path, "--room", folder.shop.short, "--format", "json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "warning: room \(folder.shop.short): 1 stored batches do not open; left out\n")
        // The last batch (Ana's goodbye) is gone, so the session ends at the purchase.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((json["sessions"] as? [[String: Any]])?.first?["durationMillis"] as? Int == 150_000)
    }

    @Test(.enabled(if: ReportTools.strace != nil, "strace is not installed (./dev test installs it)"))
    func theReportOpensNoSocket() throws {
        let folder = try ReportDataFolder()
        defer { folder.remove() }
        let strace = try #require(ReportTools.strace)
        // The check must be able to fail: a shell opening a TCP connection to a closed loopback port is seen.
        let control = try ReportTools.socketCalls(
            strace: strace, ["/bin/bash", "-c", ": 2>/dev/null </dev/tcp/127.0.0.1/9 || true"])
        #expect(!control.isEmpty, "strace saw no socket() call from a shell that opens one")

        for format in ["text", "json", "csv", "html"] {
            let out = folder.path + "/traced.\(format)"
            let calls = try ReportTools.socketCalls(
                strace: strace,
                [CLIProcess.binary.path, "report", "--data", folder.path, "--format", format, "--out", out])
            #expect(calls.isEmpty, "cvpeer report --format \(format) called: \(calls)")
            #expect(FileManager.default.fileExists(atPath: out), "the traced report ran")
        }
    }

    @Test(.enabled(if: ReportTools.chromium != nil, "Chromium is not installed (./dev test installs it)"))
    func theHTMLReportRendersInChromiumWithoutAnyRequest() throws {
        let folder = try ReportDataFolder()
        defer { folder.remove() }
        let chromium = try #require(ReportTools.chromium)
        let page = folder.path + "/report.html"
        let made = try CLIProcess.run(["report", "--data", folder.path, "--format", "html", "--out", page])
        #expect(made.status == 0, "\(made.stderr)")

        // The check must be able to fail: a page that loads an image is seen asking for it.
        let probe = folder.path + "/probe.html"
        try "<!DOCTYPE html><p>probe</p><img src=\"http://127.0.0.1:40404/probe.png\">".write(
            toFile: probe, atomically: true, encoding: .utf8)
        // Headless Chromium quits once it has done what it was asked (here: print the DOM after the page loaded).
        let probeRequests = try ReportTools.pageRequests(
            chromium: chromium, page: probe, scratch: folder.path, extra: ["--dump-dom"])
        #expect(probeRequests.contains { $0.contains("127.0.0.1:40404/probe.png") }, "saw: \(probeRequests)")

        let artefacts = ReportTools.repositoryRoot.appendingPathComponent("artefacts")
        try FileManager.default.createDirectory(at: artefacts, withIntermediateDirectories: true)
        let screenshot = artefacts.appendingPathComponent("report.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        let requests = try ReportTools.pageRequests(
            chromium: chromium, page: page, scratch: folder.path,
            extra: ["--screenshot=\(screenshot)", "--window-size=1280,2200"])
        #expect(requests.isEmpty, "the report made requests: \(requests)")
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG screenshot")
        #expect(png.count > 20_000, "a screenshot with something drawn in it")
        try? FileManager.default.removeItem(at: artefacts.appendingPathComponent("report.html"))
        try FileManager.default.copyItem(atPath: page, toPath: artefacts.appendingPathComponent("report.html").path)

        // What Chromium built from the page: the charts and tables are there.
        let dom = try ReportTools.runChromium(
            chromium, page: page, scratch: folder.path, extra: ["--dump-dom"], proxyPort: nil)
        #expect(dom.components(separatedBy: "<svg class=\"timeline\"").count - 1 == 2)
        #expect(dom.components(separatedBy: "<svg class=\"bars\"").count - 1 == 1)
        #expect(dom.contains("<td>Red shoes<div class=\"url\">https://shop.example/red-shoes</div></td>"))
    }
}

/// A data folder (0700) whose store (written through the Store API) holds two scripted sessions
/// and a room with no operation yet.
///
/// Shop session, ms after 2026-03-01T10:00:00Z: Ana (agent) joins at 0, Ben (customer) at 1 000;
/// Ana shares Red shoes at 2 000 and a scarf at 3 000; Ben opens the shoes at 30 000; Ana
/// recommends them at 90 000; Ben closes them at 120 000 and buys them at 150 000; Ana says bye
/// at 180 000. Second session, a day later: Ana alone shares the scarf for 60 s.
private struct ReportDataFolder {
    let path: String
    let shop: Name
    let idle: Name

    struct Name {
        let hex: String
        var short: String { String(hex.prefix(8)) }
    }

    static let base: UInt64 = 1_772_359_200_000

    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("cvpeer-report-\(UUID().uuidString)").path
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    init(extraRooms: [RoomKeys] = [], tamperLastBatch: Bool = false) throws {
        path = Self.temporaryPath()
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let store = try Store(path: path + "/store.sqlite")
        let ana = Identity.generate()
        let ben = Identity.generate()

        // Ana hosts, so she owns her rooms and admits Ben.
        let shopKeys = RoomKeys.generate(owner: ana.publicKey)
        var shopRoom = Room(keys: shopKeys, start: Self.base)
        try shopRoom.act(
            ana, .setProfile(participant: ReplicaID(ana.publicKey), Profile(name: "Ana", requestedRole: .agent)), at: 0)
        try shopRoom.act(ana, .grantRole(member: ReplicaID(ben.publicKey), role: .customer, fromSequence: 1), at: 500)
        try shopRoom.act(
            ben, .setProfile(participant: ReplicaID(ben.publicKey), Profile(name: "Ben", requestedRole: .customer)), at: 1_000)
        let shoes = try shopRoom.act(
            ana,
            .createItem(
                kind: .productCard, position: .middle,
                fields: [
                    .title("Red shoes"), .price(Price(currency: "EUR", minorUnits: 4_990)),
                    .url("https://shop.example/red-shoes"),
                ]),
            at: 2_000)
        try shopRoom.act(
            ana, .createItem(kind: .productCard, position: .middle, fields: [.title("Green scarf")]), at: 3_000)
        try shopRoom.act(ben, .setFocus(participant: ReplicaID(ben.publicKey), item: shoes), at: 30_000)
        try shopRoom.act(ana, .commerce(.recommend(item: shoes, note: "Fits you")), at: 90_000)
        try shopRoom.act(ben, .setFocus(participant: ReplicaID(ben.publicKey), item: nil), at: 120_000)
        try shopRoom.act(ben, .commerce(.purchase(item: shoes, quantity: 1)), at: 150_000)
        try shopRoom.act(ana, .say("bye"), at: 180_000)
        if tamperLastBatch, let last = shopRoom.stored.popLast() {
            var sealed = last.sealed
            sealed[sealed.count - 1] ^= 1  // the signature no longer verifies
            shopRoom.stored.append(
                StoredBatch(author: last.author, sequence: last.sequence, epoch: last.epoch, sealed: sealed))
        }

        let otherKeys = RoomKeys.generate(owner: ana.publicKey)
        var other = Room(keys: otherKeys, start: Self.base + 86_400_000)
        try other.act(
            ana, .setProfile(participant: ReplicaID(ana.publicKey), Profile(name: "Ana", requestedRole: .agent)), at: 0)
        try other.act(
            ana, .createItem(kind: .productCard, position: .middle, fields: [.title("Green scarf")]), at: 60_000)

        let idleKeys = RoomKeys.generate(owner: ana.publicKey)
        for room in [shopRoom, other] {
            try store.addRoom(room.keys, createdMillis: Int64(room.start))
            try store.append(room.stored, room: room.keys.tag)
        }
        for keys in [idleKeys] + extraRooms { try store.addRoom(keys, createdMillis: Int64(Self.base)) }
        shop = Name(hex: Self.hex(shopKeys.tag))
        idle = Name(hex: Self.hex(idleKeys.tag))
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// One room's authors, each with its own replica; every action is one sealed batch.
    struct Room {
        let keys: RoomKeys
        let start: UInt64
        var replica: Replica
        var stored: [StoredBatch] = []

        init(keys: RoomKeys, start: UInt64) {
            self.keys = keys
            self.start = start
            replica = Replica(document: Document(authority: RoomAuthority(room: keys)))
        }

        @discardableResult
        mutating func act(_ identity: Identity, _ edit: Edit, at offset: UInt64) throws -> OpID {
            let author = ReplicaID(identity.publicKey)
            var draft = replica.draft(author: author)
            let id = try draft.append(edit, at: HLC(millis: start + offset, logical: 0))
            let batch = try draft.seal(identity: identity, epoch: 0, contentKey: keys.contentKey(epoch: 0), room: keys.roomID)
            _ = replica.receive(batch)
            stored.append(
                StoredBatch(
                    author: identity.publicKey.bytes, sequence: batch.batch.sequence, epoch: 0, sealed: batch.sealed))
            return id
        }
    }
}

/// Finding and running the tools the report's checks need; every child is waited for with a bound and killed at the end.
private enum ReportTools {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    static var strace: String? { executable(["/usr/bin/strace", "/bin/strace"]) }

    /// Debian's Chromium binary itself, not its wrapper script: the wrapper turns on remote
    /// extensions and API keys, whose traffic would only blur what the page itself asks for.
    static var chromium: String? {
        executable([
            "/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome",
        ])
    }

    private static func executable(_ candidates: [String]) -> String? {
        candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The socket(2) and socketpair(2) calls `command` and its children make, as strace reports them.
    static func socketCalls(strace: String, _ command: [String]) throws -> [String] {
        let log = temporaryFile("strace")
        defer { try? FileManager.default.removeItem(atPath: log) }
        let result = try run(strace, ["-f", "-qq", "-e", "trace=socket,socketpair", "-o", log] + command, timeout: 60)
        #expect(result.exited, "strace \(command) did not finish")
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init).filter { $0.contains("socket") }
    }

    /// The requests Chromium sends while showing `page`: every one goes to a proxy this test owns,
    /// which answers none, so nothing leaves the machine.
    ///
    /// Chromium's own housekeeping (component updates, account checks) still asks Google's
    /// hosts even with background networking off; those requests come from the browser, not from
    /// the page, and are left out. Anything else is the page's.
    static func pageRequests(chromium: String, page: String, scratch: String, extra: [String] = []) throws -> [String] {
        let proxy = try RequestRecorder()
        proxy.start()
        _ = try runChromium(chromium, page: page, scratch: scratch, extra: extra, proxyPort: proxy.port)
        return proxy.stop().filter { !isBrowserHousekeeping($0) }
    }

    static func isBrowserHousekeeping(_ request: String) -> Bool {
        let parts = request.split(separator: " ")
        guard parts.count >= 2 else { return false }
        var target = String(parts[1])
        if let scheme = target.range(of: "://") { target = String(target[scheme.upperBound...]) }
        let host = String(target.prefix { $0 != "/" && $0 != ":" })
        return ["google.com", "googleapis.com", "gvt1.com"].contains { host == $0 || host.hasSuffix("." + $0) }
    }

    /// Runs headless Chromium on `page` (a file) and returns what it printed on standard output.
    static func runChromium(_ chromium: String, page: String, scratch: String, extra: [String], proxyPort: UInt16?)
        throws -> String
    {
        let profile = scratch + "/chromium-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        var arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
            "--disable-extensions", "--no-pings", "--disable-domain-reliability", "--disable-breakpad",
            "--disable-client-side-phishing-detection", "--metrics-recording-only", "--password-store=basic",
            "--disable-features=NetworkTimeServiceQuerying,Translate,OptimizationHints,MediaRouter",
            "--user-data-dir=\(profile)",
        ]
        if let proxyPort {
            // `<-loopback>` sends even loopback requests through the proxy, so none escapes the count.
            arguments += ["--proxy-server=http://127.0.0.1:\(proxyPort)", "--proxy-bypass-list=<-loopback>"]
        } else {
            // No proxy to catch requests here, so there must be nowhere to send them.
            arguments += ["--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
        }
        let result = try run(
            chromium, arguments + extra + [URL(fileURLWithPath: page).absoluteString], timeout: 90,
            environment: ["HOME": profile, "XDG_CONFIG_HOME": profile, "XDG_CACHE_HOME": profile])
        #expect(result.exited, "Chromium did not finish within 90 s")
        return result.stdout
    }

    static func temporaryFile(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("cvpeer-\(name)-\(UUID().uuidString)").path
    }

    /// Runs a tool, waiting at most `timeout` seconds; then it and every process it started are killed, by pid.
    static func run(
        _ tool: String, _ arguments: [String], timeout: TimeInterval, environment: [String: String] = [:]
    ) throws -> (exited: Bool, stdout: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        nonisolated(unsafe) var data = Data()
        let reader = DispatchGroup()
        DispatchQueue.global().async(group: reader) { data = out.fileHandleForReading.readDataToEndOfFile() }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        let exited = !process.isRunning
        if !exited {
            for pid in [process.processIdentifier] + descendants(of: process.processIdentifier) { kill(pid, SIGKILL) }
        }
        process.waitUntilExit()
        // A grandchild still holding the pipe must not hang the test: the read gets a bound too.
        _ = reader.wait(timeout: .now() + 10)
        return (exited, String(decoding: data, as: UTF8.self))
    }

    /// The processes descended from `pid`, from /proc.
    static func descendants(of pid: Int32) -> [Int32] {
        var parents: [Int32: Int32] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = Int32(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // After "pid (name) ": state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = Int32(fields[1]) { parents[child] = parent }
        }
        var result: [Int32] = []
        var frontier = [pid]
        while let next = frontier.popLast() {
            let children = parents.filter { $0.value == next }.map(\.key)
            result += children
            frontier += children
        }
        return result
    }
}

/// A TCP listener on 127.0.0.1 that records the first line of every request sent to it and answers none.
private final class RequestRecorder: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let lock = NSLock()
    private var lines: [String] = []
    private var stopping = false
    private let done = DispatchSemaphore(value: 0)

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = fd
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw POSIXError(.EADDRNOTAVAIL)
        }
        port = UInt16(bigEndian: address.sin_port)
    }

    func start() {
        Thread.detachNewThread { [self] in
            while !lock.withLock({ stopping }) {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 100) > 0 else { continue }
                let client = accept(fd, nil, nil)
                guard client >= 0 else { continue }
                let line = Self.firstLine(client)
                close(client)
                lock.withLock { lines.append(line) }
            }
            done.signal()
        }
    }

    /// Stops listening and returns what was asked, in order.
    func stop() -> [String] {
        lock.withLock { stopping = true }
        _ = done.wait(timeout: .now() + 5)
        close(fd)
        return lock.withLock { lines }
    }

    /// The request line, read with a bound: a client that sends nothing within 2 s is recorded as such.
    private static func firstLine(_ client: Int32) -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        let deadline = Date().addingTimeInterval(2)
        while !bytes.contains(UInt8(ascii: "\n")), bytes.count < 8192, Date() < deadline {
            var poller = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = read(client, &buffer, buffer.count)
            guard count > 0 else { break }
            bytes += buffer[..<count]
        }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.isEmpty ? "(connected, sent nothing)" : String(text.prefix { $0 != "\r" && $0 != "\n" })
    }
}
