import CVPeerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The viewer in a real browser, and the local API's guard, against `cvpeer demo` and `cvpeer host`.
@Suite("Viewer and local API of a running node", .serialized)
struct ViewerTests {
    /// Chromium, its driver and selenium: Debian's packages, which `./dev test` installs.
    static var browserAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
            && FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/selenium")
    }

    /// The repository's `artefacts/` folder (git-ignored), where screenshots are kept.
    static var artefacts: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("artefacts").path
    }

    /// The two viewer URLs `cvpeer demo` prints, with the artefact folder made; nil (recorded) if it printed none.
    static func viewers(of demo: ChildProcess) throws -> (agent: String, customer: String)? {
        guard let agent = demo.line("  Agent's viewer:", timeout: 60)?.split(separator: " ").last,
            let customer = demo.line("  Customer's viewer:", timeout: 10)?.split(separator: " ").last
        else {
            Issue.record("the demo did not print its viewers:\n\(demo.output.joined(separator: "\n"))")
            return nil
        }
        try FileManager.default.createDirectory(atPath: artefacts, withIntermediateDirectories: true)
        return (String(agent), String(customer))
    }

    /// A script of Tests/Browser.
    static func browserScript(_ name: String, file: String = #filePath) -> URL {
        URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Browser/" + name)
    }

    @Test(
        "two viewers of cvpeer demo in headless Chromium: marks, separate zooms with outlines, pointers and an upload cross between them; each offers only what its role may do",
        .enabled(if: browserAvailable, "chromium, chromium-driver and python3-selenium are needed; ./dev test installs them"))
    func browser() throws {
        let demo = try ChildProcess(BuiltBinary.url("cvpeer"), ["demo"], name: "demo")
        defer { demo.stop() }
        guard let (agent, customer) = try Self.viewers(of: demo) else { return }
        let script = Self.browserScript("viewer_test.py")
        var photo = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { photo.deleteLastPathComponent() }
        photo.appendPathComponent("Sources/Node/Samples/armchair.jpg")
        let browser = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/python3"), [script.path, agent, customer, Self.artefacts, photo.path],
            name: "viewer_test.py")
        defer { browser.stop() }
        let status = browser.waitForExit(timeout: 180)
        let transcript = browser.output.joined(separator: "\n")
        #expect(status == 0, "the browser checks failed:\n\(transcript)\n--- demo\n\(demo.output.joined(separator: "\n"))")
        for check in ["(a)", "(b)", "(c)", "(d)", "(e)", "(f)", "(g)", "(h)", "(i)"] {
            #expect(browser.output.contains { $0.hasPrefix("ok   \(check)") }, "check \(check) did not pass:\n\(transcript)")
        }
        #expect(FileManager.default.fileExists(atPath: Self.artefacts + "/viewer-agent.png"))
        #expect(FileManager.default.fileExists(atPath: Self.artefacts + "/viewer-customer.png"))
    }

    @Test(
        "watching together in two viewers of cvpeer demo: B's player follows A's play within 150 ms, a seek in A moves B, B detaches, seeks alone and rejoins, A's pause pauses B; a mark at a moment of the video shows only around it",
        .enabled(
            if: browserAvailable && FileManager.default.isExecutableFile(atPath: "/usr/bin/ffmpeg"),
            "chromium, chromium-driver, python3-selenium and ffmpeg are needed; ./dev test installs them"))
    func watchingTogether() throws {
        let demo = try ChildProcess(BuiltBinary.url("cvpeer"), ["demo"], name: "demo")
        defer { demo.stop() }
        guard let (agent, customer) = try Self.viewers(of: demo) else { return }
        let script = Self.browserScript("watch_test.py")
        let browser = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/python3"), [script.path, agent, customer, Self.artefacts], name: "watch_test.py")
        defer { browser.stop() }
        let status = browser.waitForExit(timeout: 240)
        let transcript = browser.output.joined(separator: "\n")
        #expect(status == 0, "the watching-together checks failed:\n\(transcript)\n--- demo\n\(demo.output.joined(separator: "\n"))")
        for check in ["(setup)", "(w1)", "(w2)", "(w3)", "(w4)", "(w5)", "(w6)"] {
            #expect(browser.output.contains { $0.hasPrefix("ok   \(check)") }, "check \(check) did not pass:\n\(transcript)")
        }
        print(transcript)
    }

    @Test("the running node's API refuses requests without the token, with a foreign Origin or Host, on HTTP and WebSocket alike, and is not reachable off loopback")
    func apiGuard() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (host, _) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        guard let line = host.line("Your viewer", timeout: 10), let url = line.split(separator: " ").last,
            let components = URLComponents(string: String(url)), let port = components.port,
            let token = components.queryItems?.first(where: { $0.name == "token" })?.value
        else {
            Issue.record("no viewer URL:\n\(host.output)")
            return
        }
        let hostHeader = "127.0.0.1:\(port)"
        func status(_ request: String) throws -> Int { try RawHTTP.status(port: UInt16(port), request: request) }
        let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

        #expect(try status("GET /api/status HTTP/1.1\r\nHost: \(hostHeader)\r\nAuthorization: Bearer \(token)\r\n\r\n") == 200)
        #expect(try status("GET /api/status HTTP/1.1\r\nHost: \(hostHeader)\r\n\r\n") == 403)
        #expect(try status("GET /api/status HTTP/1.1\r\nHost: \(hostHeader)\r\nAuthorization: Bearer \(String(token.reversed()))\r\n\r\n") == 403)
        #expect(try status("GET /api/status HTTP/1.1\r\nHost: evil.example:\(port)\r\nAuthorization: Bearer \(token)\r\n\r\n") == 403)
        #expect(
            try status("GET /api/status HTTP/1.1\r\nHost: \(hostHeader)\r\nOrigin: http://evil.example\r\nAuthorization: Bearer \(token)\r\n\r\n")
                == 403)
        #expect(
            try status("POST /api/say HTTP/1.1\r\nHost: \(hostHeader)\r\nOrigin: http://evil.example\r\nCookie: cvpeer_token_\(port)=\(token)\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"text\":\"x\"}")
                == 403)
        #expect(try status("GET /api/live HTTP/1.1\r\nHost: \(hostHeader)\r\nCookie: cvpeer_token_\(port)=\(token)\r\n\(upgrade)\r\n") == 101)
        #expect(try status("GET /api/live HTTP/1.1\r\nHost: \(hostHeader)\r\n\(upgrade)\r\n") == 403)
        #expect(
            try status("GET /api/live HTTP/1.1\r\nHost: \(hostHeader)\r\nOrigin: http://evil.example\r\nCookie: cvpeer_token_\(port)=\(token)\r\n\(upgrade)\r\n") == 403)
        #expect(try status("GET /api/live HTTP/1.1\r\nHost: evil.example\r\nCookie: cvpeer_token_\(port)=\(token)\r\n\(upgrade)\r\n") == 403)
        // Nothing was said through the refused requests.
        let chat = (try lab.json("agent", ["export", "--json"])["document"] as? [String: Any])?["chat"] as? [Any]
        #expect(chat?.isEmpty == true)

        // Every non-loopback IPv4 address of this machine refuses the viewer's port.
        let others = RawHTTP.nonLoopbackAddresses()
        for address in others {
            #expect(RawHTTP.connects(address: address, port: UInt16(port)) == false, "the viewer port answers on \(address)")
        }
    }
}

@Suite("Installed binaries")
struct InstalledBinaryTests {
    @Test("a cvpeer binary copied alone into an empty folder and run from there runs the demo and serves every viewer file and sample byte for byte")
    func aloneInAnEmptyFolder() throws {
        let folder = NSTemporaryDirectory() + "cvpeer-alone-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: BuiltBinary.url("cvpeer").path, toPath: folder + "/cvpeer")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["cvpeer"])

        // Started from inside the folder (`./cvpeer demo`), as a customer runs the downloaded file.
        let demo = try ChildProcess(
            URL(fileURLWithPath: "/bin/sh"), ["-c", "cd \"$0\" && exec ./cvpeer demo", folder], name: "demo alone")
        defer { demo.stop() }
        let urls = ["  Agent's viewer:", "  Customer's viewer:"].compactMap { demo.line($0, timeout: 90) }
        try #require(urls.count == 2, "the demo did not print both viewers:\n\(demo.output.joined(separator: "\n"))")
        let viewer = RawHTTP.packageRoot.appendingPathComponent("Sources/Node/Viewer")
        for line in urls {
            let (port, token) = try RawHTTP.viewerAddress(in: line)
            let page = try RawHTTP.get(port: port, token: token, path: "/")
            #expect(page.status == 200)
            #expect(page.body == Array(try Data(contentsOf: viewer.appendingPathComponent("index.html"))))
            // Every file of the viewer's folder, whichever were added since: the build embeds the whole folder.
            for name in try FileManager.default.contentsOfDirectory(atPath: viewer.path) where name != "index.html" {
                let file = try RawHTTP.get(port: port, token: token, path: "/viewer/" + name)
                #expect(file.status == 200, "\(name)")
                #expect(file.body == Array(try Data(contentsOf: viewer.appendingPathComponent(name))), "\(name)")
            }
        }
        #expect(demo.output.allSatisfy { !$0.hasPrefix("error") && !$0.contains("warning") }, "\(demo.output)")
    }
}

/// A bare HTTP/1.1 exchange over a POSIX socket: the test controls every header byte.
enum RawHTTP {
    /// Sends `request` to 127.0.0.1:`port` and returns the status code of the answer.
    static func status(port: UInt16, request: String) throws -> Int {
        guard let fd = connected(to: "127.0.0.1", port: port, timeout: SO_RCVTIMEO, seconds: 10) else {
            throw LabFailure("connect to \(port) failed")
        }
        defer { close(fd) }
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count > 12 else { throw LabFailure("no answer") }
        let head = String(decoding: buffer.prefix(count), as: UTF8.self)
        guard let code = head.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { throw LabFailure("bad answer: \(head.prefix(80))") }
        return code
    }

    /// The package's folder (this file is Tests/EndToEndTests/ViewerTests.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The port and token of the `http://127.0.0.1:PORT/?token=TOKEN` address in a printed line.
    static func viewerAddress(in line: String) throws -> (port: UInt16, token: String) {
        guard let start = line.range(of: "http://127.0.0.1:"),
            let port = UInt16(line[start.upperBound...].prefix { $0.isNumber }),
            let token = line.range(of: "?token=").map({ String(line[$0.upperBound...].prefix { $0.isLetter || $0.isNumber }) })
        else { throw LabFailure("no viewer address in: \(line)") }
        return (port, token)
    }

    /// GET `path` from 127.0.0.1:`port` with the node's token (the connection closed after one
    /// answer); the status and the body.
    static func get(port: UInt16, token: String, path: String) throws -> (status: Int, body: [UInt8]) {
        guard let fd = connected(to: "127.0.0.1", port: port, timeout: SO_RCVTIMEO, seconds: 10) else {
            throw LabFailure("connect to \(port) failed")
        }
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        // Bounded: the viewer's files are small, and a stalled answer ends at the receive timeout.
        while answer.count < 64 << 20 {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            answer += buffer.prefix(count)
        }
        let separator = Array("\r\n\r\n".utf8)
        guard let end = (0..<max(0, answer.count - 3)).first(where: { Array(answer[$0..<($0 + 4)]) == separator }) else {
            throw LabFailure("no complete answer from \(port)\(path)")
        }
        let head = String(decoding: answer[..<end], as: UTF8.self)
        guard let code = head.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { throw LabFailure("bad answer: \(head.prefix(80))") }
        return (code, Array(answer[(end + 4)...]))
    }

    /// True if a TCP connection to address:port succeeds within a second.
    static func connects(address: String, port: UInt16) -> Bool {
        guard let fd = connected(to: address, port: port, timeout: SO_SNDTIMEO, seconds: 1) else { return false }
        close(fd)
        return true
    }

    /// A TCP socket connected to address:port with the `timeout` option set, or nil.
    private static func connected(to address: String, port: UInt16, timeout option: Int32, seconds: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, option, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = port.bigEndian
        target.sin_addr.s_addr = inet_addr(address)
        let result = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// This machine's IPv4 addresses other than loopback (they are our own: connecting stays local).
    static func nonLoopbackAddresses() -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var result: [String] = []
        var cursor = list
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                entry.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0
            else { continue }
            var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet in
                var addr = inet.pointee.sin_addr
                _ = inet_ntop(AF_INET, &addr, &buffer, socklen_t(INET_ADDRSTRLEN))
            }
            result.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return result
    }
}
