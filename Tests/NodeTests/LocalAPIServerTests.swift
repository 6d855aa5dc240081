import Foundation
import LocalAPI
import Testing

@testable import Node

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Starts a server on an ephemeral port, runs `body`, and stops the server whatever happens.
func withLocalAPIServer<T>(
    routes: [LocalAPIRoute], webSocket: LocalAPIWebSocketRoute? = nil, dataFolder: String? = nil,
    _ body: (LocalAPIServer, LocalAPIEndpoint) async throws -> T
) async throws -> T {
    let server = try LocalAPIServer(
        configuration: .init(dataFolderPath: dataFolder), routes: routes, webSocket: webSocket)
    let endpoint = try await server.start()
    do {
        let result = try await body(server, endpoint)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

/// Routes that record each call, so a test can tell a refused request never reached a handler.
func localAPIRecordingRoutes(_ calls: LocalAPICallLog) -> [LocalAPIRoute] {
    [
        LocalAPIRoute(.get, "/status") { request in
            calls.record("status")
            return try .json(["state": "running"])
        },
        LocalAPIRoute(.get, "/") { _ in
            calls.record("page")
            return .bytes(Array("<!doctype html><title>viewer</title>".utf8), contentType: "text/html; charset=utf-8")
        },
        LocalAPIRoute(.post, "/items/:id/marks") { request in
            calls.record("mark \(request.parameters["id"] ?? "?")")
            struct Mark: Codable { var text: String }
            let mark: Mark = try request.decode()
            return try .json(
                [
                    "id": request.parameters["id"] ?? "", "text": mark.text, "color": request.query["color"] ?? "",
                    "sawAuthorization": request.headers["authorization"] == nil ? "no" : "yes",
                    "sawTokenInQuery": request.query["token"] == nil ? "no" : "yes",
                ])
        },
        LocalAPIRoute(.post, "/small", body: .buffered(limit: 1000)) { request in
            calls.record("small \(request.body.count)")
            return .noContent
        },
        LocalAPIRoute.upload("/upload", limit: 1000) { request in
            var total = 0
            for try await chunk in request.bodyStream! { total += chunk.count }
            calls.record("upload \(total)")
            return try .json(["bytes": total])
        },
        LocalAPIRoute(.post, "/fails") { _ in throw LocalAPIError.badRequest("the mark needs a colour") },
        LocalAPIRoute(.post, "/crashes") { _ in throw CocoaError(.fileNoSuchFile) },
    ]
}

@Suite struct LocalAPIServerTests {
    private func get(_ path: String, _ lines: [String]) -> String {
        httpHead("GET \(path) HTTP/1.1", lines)
    }

    @Test func aRequestWithoutTheTokenIsForbidden() async throws {
        let calls = LocalAPICallLog()
        try await withLocalAPIServer(routes: localAPIRecordingRoutes(calls)) { _, endpoint in
            let response = try await rawHTTPRequest(
                port: endpoint.port, get("/status", ["Host: 127.0.0.1:\(endpoint.port)"]))
            #expect(response.status == 403)
            #expect(response.header("content-type") == "application/json")
            #expect(response.text.contains("token is missing"))
            #expect(!response.text.contains(endpoint.token.text))
        }
        #expect(calls.all.isEmpty)
    }

    @Test func aRequestWithAWrongTokenIsForbidden() async throws {
        let calls = LocalAPICallLog()
        try await withLocalAPIServer(routes: localAPIRecordingRoutes(calls)) { _, endpoint in
            let wrong = LocalAPIToken.random().text
            let response = try await rawHTTPRequest(
                port: endpoint.port,
                get("/status", ["Host: 127.0.0.1:\(endpoint.port)", "Authorization: Bearer \(wrong)"]))
            #expect(response.status == 403)
            #expect(response.text.contains("token is wrong"))
            // A wrong bearer header is not rescued by a right cookie.
            let mixed = try await rawHTTPRequest(
                port: endpoint.port,
                get(
                    "/status",
                    [
                        "Host: 127.0.0.1:\(endpoint.port)", "Authorization: Bearer \(wrong)",
                        "Cookie: cvpeer_token_\(endpoint.port)=\(endpoint.token.text)",
                    ]))
            #expect(mixed.status == 403)
        }
        #expect(calls.all.isEmpty)
    }

    @Test func aForeignOriginIsForbiddenEvenWithTheToken() async throws {
        let calls = LocalAPICallLog()
        try await withLocalAPIServer(routes: localAPIRecordingRoutes(calls)) { _, endpoint in
            let response = try await rawHTTPRequest(
                port: endpoint.port,
                get(
                    "/status",
                    [
                        "Host: 127.0.0.1:\(endpoint.port)", "Origin: http://evil.example",
                        "Authorization: Bearer \(endpoint.token.text)",
                    ]))
            #expect(response.status == 403)
            #expect(response.text.contains("another site"))
        }
        #expect(calls.all.isEmpty)
    }

    @Test func aForeignHostIsForbiddenEvenWithTheToken() async throws {
        let calls = LocalAPICallLog()
        try await withLocalAPIServer(routes: localAPIRecordingRoutes(calls)) { _, endpoint in
            for host in ["evil.example:\(endpoint.port)", "127.0.0.1:1", "127.0.0.1", "192.0.2.2:\(endpoint.port)"] {
                let response = try await rawHTTPRequest(
                    port: endpoint.port,
                    get("/status", ["Host: \(host)", "Authorization: Bearer \(endpoint.token.text)"]))
                #expect(response.status == 403, "Host: \(host)")
                #expect(response.text.contains("Host header"))
            }
            let twoHosts = try await rawHTTPRequest(
                port: endpoint.port,
                get(
                    "/status",
                    [
                        "Host: 127.0.0.1:\(endpoint.port)", "Host: evil.example",
                        "Authorization: Bearer \(endpoint.token.text)",
                    ]))
            #expect(twoHosts.status == 403)
        }
        #expect(calls.all.isEmpty)
    }

    @Test func aGoodRequestReachesItsHandler() async throws {
        let calls = LocalAPICallLog()
        try await withLocalAPIServer(routes: localAPIRecordingRoutes(calls)) { _, endpoint in
            let body = Array(#"{"text":"nice lamp"}"#.utf8)
            for host in ["127.0.0.1:\(endpoint.port)", "localhost:\(endpoint.port)"] {
                let response = try await rawHTTPRequest(
                    port: endpoint.port,
                    httpHead(
                        "POST /items/lamp%2042/marks?color=red&token=\(endpoint.token.text) HTTP/1.1",
                        [
                            "Host: \(host)", "Authorization: Bearer \(endpoint.token.text)",
                            "Content-Type: application/json", "Content-Length: \(body.count)",
                        ]), body: body)
                #expect(response.status == 200)
                let answer = try JSONDecoder().decode([String: String].self, from: Data(response.body))
                #expect(answer["id"] == "lamp 42")
                #expect(answer["text"] == "nice lamp")
                #expect(answer["color"] == "red")
                #expect(answer["sawAuthorization"] == "no")
                #expect(answer["sawTokenInQuery"] == "no")
                #expect(response.header("x-content-type-options") == "nosniff")
            }
        }
        #expect(calls.all == ["mark lamp 42", "mark lamp 42"])
    }

    @Test func unknownPathsAndMethodsAreAnsweredOnlyAfterTheTokenCheck() async throws {
        let calls = LocalAPICallLog()
        try await withLocalAPIServer(routes: localAPIRecordingRoutes(calls)) { _, endpoint in
            let host = "Host: 127.0.0.1:\(endpoint.port)"
            let bearer = "Authorization: Bearer \(endpoint.token.text)"
            #expect(try await rawHTTPRequest(port: endpoint.port, get("/nothing", [host])).status == 403)
            #expect(try await rawHTTPRequest(port: endpoint.port, get("/nothing", [host, bearer])).status == 404)
            let wrongMethod = try await rawHTTPRequest(port: endpoint.port, get("/small", [host, bearer]))
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.header("allow") == "POST")
        }
    }

    @Test func aLiteralSegmentWinsOverAParameterWhateverTheOrder() async throws {
        let routes = [
            LocalAPIRoute(.get, "/items/:id") { request in try .json(["item": request.parameters["id"] ?? ""]) },
            LocalAPIRoute(.get, "/items/new") { _ in try .json(["item": "a new one"]) },
        ]
        try await withLocalAPIServer(routes: routes) { _, endpoint in
            let lines = ["Host: 127.0.0.1:\(endpoint.port)", "Authorization: Bearer \(endpoint.token.text)"]
            let literal = try await rawHTTPRequest(port: endpoint.port, get("/items/new", lines))
            #expect(literal.text == #"{"item":"a new one"}"#)
            let parameter = try await rawHTTPRequest(port: endpoint.port, get("/items/7/", lines))
            #expect(parameter.text == #"{"item":"7"}"#)
            let tooShort = try await rawHTTPRequest(port: endpoint.port, get("/items", lines))
            #expect(tooShort.status == 404)
        }
    }

    @Test func handlerErrorsBecomeStatusesWithoutDetailForUnexpectedOnes() async throws {
        try await withLocalAPIServer(routes: localAPIRecordingRoutes(LocalAPICallLog())) { _, endpoint in
            let lines = [
                "Host: 127.0.0.1:\(endpoint.port)", "Authorization: Bearer \(endpoint.token.text)", "Content-Length: 0",
            ]
            let refused = try await rawHTTPRequest(port: endpoint.port, httpHead("POST /fails HTTP/1.1", lines))
            #expect(refused.status == 400)
            #expect(refused.text == #"{"error":"the mark needs a colour"}"#)
            let crashed = try await rawHTTPRequest(port: endpoint.port, httpHead("POST /crashes HTTP/1.1", lines))
            #expect(crashed.status == 500)
            #expect(!crashed.text.contains("NoSuchFile"))
            let badJSON = try await rawHTTPRequest(
                port: endpoint.port,
                httpHead(
                    "POST /items/a/marks HTTP/1.1",
                    [
                        "Host: 127.0.0.1:\(endpoint.port)", "Authorization: Bearer \(endpoint.token.text)",
                        "Content-Length: 2",
                    ]),
                body: Array("{}".utf8))
            #expect(badJSON.status == 400)
            #expect(badJSON.text.contains("lacks"))
        }
    }

    @Test func aBodyOverTheLimitIsAnswered413() async throws {
        let calls = LocalAPICallLog()
        try await withLocalAPIServer(routes: localAPIRecordingRoutes(calls)) { _, endpoint in
            let lines = ["Host: 127.0.0.1:\(endpoint.port)", "Authorization: Bearer \(endpoint.token.text)"]
            // Declared too large: refused on the length alone.
            let declared = try await rawHTTPRequest(
                port: endpoint.port, httpHead("POST /small HTTP/1.1", lines + ["Content-Length: 1001"]),
                body: [UInt8](repeating: 65, count: 1001))
            #expect(declared.status == 413)
            // Chunked, so no length up front: refused while reading.
            let chunk = [UInt8]("3e8\r\n".utf8) + [UInt8](repeating: 65, count: 1000) + Array("\r\n".utf8)
            let chunked = try await rawHTTPRequest(
                port: endpoint.port, httpHead("POST /small HTTP/1.1", lines + ["Transfer-Encoding: chunked"]),
                body: chunk + chunk + Array("0\r\n\r\n".utf8))
            #expect(chunked.status == 413)
            // Exactly at the limit is fine.
            let atLimit = try await rawHTTPRequest(
                port: endpoint.port, httpHead("POST /small HTTP/1.1", lines + ["Content-Length: 1000"]),
                body: [UInt8](repeating: 65, count: 1000))
            #expect(atLimit.status == 204)
            // The default JSON limit is 1 MiB.
            let big = LocalAPIRoute.jsonBodyLimit + 1
            let overDefault = try await rawHTTPRequest(
                port: endpoint.port, httpHead("POST /items/a/marks HTTP/1.1", lines + ["Content-Length: \(big)"]),
                body: [UInt8](repeating: 32, count: big))
            #expect(overDefault.status == 413)
        }
        #expect(calls.all == ["small 1000"])
    }

    @Test func aStreamedUploadArrivesInChunksAndStopsAtItsLimit() async throws {
        let calls = LocalAPICallLog()
        try await withLocalAPIServer(routes: localAPIRecordingRoutes(calls)) { _, endpoint in
            let lines = [
                "Host: 127.0.0.1:\(endpoint.port)", "Authorization: Bearer \(endpoint.token.text)",
                "Transfer-Encoding: chunked",
            ]
            let chunk = [UInt8]("190\r\n".utf8) + [UInt8](repeating: 7, count: 400) + Array("\r\n".utf8)
            let within = try await rawHTTPRequest(
                port: endpoint.port, httpHead("POST /upload HTTP/1.1", lines),
                body: chunk + chunk + Array("0\r\n\r\n".utf8)
            )
            #expect(within.status == 200)
            #expect(within.text == #"{"bytes":800}"#)
            let beyond = try await rawHTTPRequest(
                port: endpoint.port, httpHead("POST /upload HTTP/1.1", lines),
                body: chunk + chunk + chunk + Array("0\r\n\r\n".utf8))
            #expect(beyond.status == 413)
        }
        #expect(calls.all == ["upload 800"])
    }

    @Test func theViewerTradesTheQueryTokenForACookieAndARedirect() async throws {
        let calls = LocalAPICallLog()
        try await withLocalAPIServer(routes: localAPIRecordingRoutes(calls)) { _, endpoint in
            let port = endpoint.port
            #expect(endpoint.viewerURL == "http://127.0.0.1:\(port)/?token=\(endpoint.token.text)")
            let first = try await rawHTTPRequest(
                port: port, get("/?room=main&token=\(endpoint.token.text)", ["Host: localhost:\(port)"]))
            #expect(first.status == 303)
            #expect(first.header("location") == "/?room=main")
            let cookie = try #require(first.header("set-cookie"))
            #expect(cookie == "cvpeer_token_\(port)=\(endpoint.token.text); HttpOnly; SameSite=Strict; Path=/")
            #expect(first.header("cache-control") == "no-store")
            #expect(first.header("referrer-policy") == "no-referrer")

            let cookieLine = "Cookie: theme=dark; " + String(cookie.prefix { $0 != ";" })
            let page = try await rawHTTPRequest(
                port: port, get("/?room=main", ["Host: localhost:\(port)", cookieLine]))
            #expect(page.status == 200)
            #expect(page.text.contains("viewer"))

            // A change with the cookie alone needs this node's Origin, which a browser always sends from the viewer.
            let body = Array(#"{"text":"x"}"#.utf8)
            let post = { (lines: [String]) in
                try await rawHTTPRequest(
                    port: port,
                    httpHead(
                        "POST /items/a/marks HTTP/1.1",
                        ["Host: localhost:\(port)", cookieLine, "Content-Length: \(body.count)"] + lines),
                    body: body)
            }
            #expect(try await post([]).status == 403)
            #expect(try await post(["Origin: http://localhost:\(port)"]).status == 200)
            #expect(try await post(["Origin: http://evil.example"]).status == 403)

            let wrongQuery = try await rawHTTPRequest(
                port: port, get("/?token=\(LocalAPIToken.random().text)", ["Host: localhost:\(port)"]))
            #expect(wrongQuery.status == 403)
            #expect(wrongQuery.header("set-cookie") == nil)
        }
        #expect(calls.all == ["page", "mark a"])
    }

    @Test(arguments: ["0.0.0.0", "192.0.2.2", "::", "::1", "example.com", "127.0.0.2"])
    func refusesToListenAnywhereButLoopback(host: String) {
        #expect(throws: LocalAPIError.nonLoopbackHost(host)) {
            try LocalAPIServer(configuration: .init(host: host), routes: [])
        }
        #expect(LocalAPIError.nonLoopbackHost(host).description.contains("127.0.0.1 only"))
    }

    @Test func refusesAnImpossiblePort() {
        #expect(throws: LocalAPIError.invalidPort(70000)) {
            try LocalAPIServer(configuration: .init(port: 70000), routes: [])
        }
    }

    @Test(
        .enabled(if: !LocalAPINetwork.nonLoopbackAddresses.isEmpty, "this machine has no non-loopback address to try"))
    func theAPIPortIsNotReachableOnANonLoopbackAddress() async throws {
        try await withLocalAPIServer(routes: localAPIRecordingRoutes(LocalAPICallLog())) { _, endpoint in
            // The server answers on loopback, so a refusal elsewhere is the bind address and not a dead server.
            let control = try await rawHTTPRequest(
                port: endpoint.port, get("/status", ["Host: 127.0.0.1:\(endpoint.port)"]))
            #expect(control.status == 403)
            for address in LocalAPINetwork.nonLoopbackAddresses {
                let outcome = try await runOnOwnThread { LocalAPINetwork.tryConnect(to: address, port: endpoint.port) }
                #expect(outcome == ECONNREFUSED, "connect to \(address.text):\(endpoint.port) gave errno \(outcome)")
            }
        }
    }

    @Test func apiFileIsPrivateMatchesTheEndpointAndIsRemovedOnStop() async throws {
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/api.json"
        let server = try LocalAPIServer(configuration: .init(dataFolderPath: folder), routes: [])
        let endpoint = try await server.start()
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let file = try #require(LocalAPIFile.read(from: path))
        #expect(file.port == endpoint.port)
        #expect(file.token == endpoint.token.text)
        #expect(file.pid == getpid())
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["api.json"])
        await server.stop()
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(await server.endpoint == nil)

        // A restart makes a new token; the old one is refused.
        let again = try await server.start()
        #expect(again.token.text != endpoint.token.text)
        let stale = try await rawHTTPRequest(
            port: again.port,
            httpHead(
                "GET /status HTTP/1.1",
                ["Host: 127.0.0.1:\(again.port)", "Authorization: Bearer \(endpoint.token.text)"]))
        #expect(stale.status == 403)
        await server.stop()
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func stopLeavesAnotherRunsAPIFileAlone() async throws {
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let server = try LocalAPIServer(configuration: .init(dataFolderPath: folder), routes: [])
        _ = try await server.start()
        // A second node on the same folder has since replaced the file.
        let other = LocalAPIFile(pid: 1, port: 9, token: LocalAPIToken.random().text)
        try other.save(to: folder + "/api.json")
        await server.stop()
        #expect(LocalAPIFile.read(from: folder + "/api.json") == other)
    }

    @Test func anUnwritableDataFolderFailsTheStartCleanly() async throws {
        let server = try LocalAPIServer(configuration: .init(dataFolderPath: "/no/such/folder"), routes: [])
        let error = await #expect(throws: LocalAPIError.self) { try await server.start() }
        #expect(error?.description.hasPrefix("cannot write /no/such/folder/api.json: ") == true)
        #expect(await server.endpoint == nil)
        // The failed start released everything: a later start on a usable configuration works.
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let usable = try LocalAPIServer(configuration: .init(dataFolderPath: folder), routes: [])
        _ = try await usable.start()
        await usable.stop()
    }

    @Test func aPortInUseIsAClearError() async throws {
        try await withLocalAPIServer(routes: []) { _, endpoint in
            let second = try LocalAPIServer(configuration: .init(port: endpoint.port), routes: [])
            let error = await #expect(throws: LocalAPIError.self) { try await second.start() }
            #expect(error?.description.hasPrefix("cannot listen on 127.0.0.1:\(endpoint.port): ") == true)
        }
    }
}

/// The machine's own addresses other than loopback, to prove the API is not reachable on them.
enum LocalAPINetwork {
    struct Address: Sendable {
        let family: Int32
        let bytes: [UInt8]
        let text: String
    }

    /// IPv4 and global IPv6 addresses of interfaces that are up; link-local IPv6 is skipped (it needs a scope).
    static let nonLoopbackAddresses: [Address] = {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var result: [Address] = []
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let address = entry.pointee.ifa_addr, entry.pointee.ifa_flags & UInt32(IFF_UP) != 0 else { continue }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                var ipv4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                let bytes = withUnsafeBytes(of: &ipv4) { Array($0) }
                guard bytes[0] != 127 else { continue }
                inet_ntop(AF_INET, &ipv4, &text, socklen_t(text.count))
                result.append(Address(family: AF_INET, bytes: bytes, text: Self.string(text)))
            case AF_INET6:
                var ipv6 = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                let bytes = withUnsafeBytes(of: &ipv6) { Array($0) }
                let isLoopback = bytes == [UInt8](repeating: 0, count: 15) + [1]
                let isLinkLocal = bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80
                guard !isLoopback, !isLinkLocal else { continue }
                inet_ntop(AF_INET6, &ipv6, &text, socklen_t(text.count))
                result.append(Address(family: AF_INET6, bytes: bytes, text: Self.string(text)))
            default: continue
            }
        }
        return result
    }()

    private static func string(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Connects to `address:port` and returns 0 on success or the errno of the failure.
    static func tryConnect(to address: Address, port: Int) -> Int32 {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result: Int32
        if address.family == AF_INET {
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = in_port_t(UInt16(port).bigEndian)
            withUnsafeMutableBytes(of: &socketAddress.sin_addr) { $0.copyBytes(from: address.bytes) }
            result = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        } else {
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_port = in_port_t(UInt16(port).bigEndian)
            withUnsafeMutableBytes(of: &socketAddress.sin6_addr) { $0.copyBytes(from: address.bytes) }
            result = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
        return result == 0 ? 0 : errno
    }
}
