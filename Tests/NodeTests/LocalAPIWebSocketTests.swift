import Foundation
import LocalAPI
import Synchronization
import Testing

@testable import Node

/// A WebSocket endpoint that greets each session, echoes its messages and records what happened.
func localAPIEchoWebSocket(_ calls: LocalAPICallLog) -> LocalAPIWebSocketRoute {
    let sessions = Mutex<[UInt64: AsyncStream<String>.Continuation]>([:])
    return LocalAPIWebSocketRoute(
        onConnect: { session in
            calls.record(
                "connect \(session.query["name"] ?? "-") token:\(session.query["token"] == nil ? "hidden" : "visible")")
            let (stream, continuation) = AsyncStream<String>.makeStream()
            sessions.withLock { $0[session.id] = continuation }
            continuation.yield("hello \(session.id)")
            return stream
        },
        onMessage: { session, text in
            calls.record("message \(text)")
            _ = sessions.withLock { $0[session.id]?.yield("echo: \(text)") }
        },
        onDisconnect: { session in
            calls.record("disconnect")
            sessions.withLock { $0.removeValue(forKey: session.id)?.finish() }
        })
}

@Suite struct LocalAPIWebSocketTests {
    /// Sends a handshake with `lines` and returns the response (the socket is closed afterwards).
    private func handshake(port: Int, target: String = "/ws", _ lines: [String]) async throws -> RawHTTPResponse {
        try await rawHTTPRequest(
            port: port, httpHead("GET \(target) HTTP/1.1", lines + webSocketHandshakeLines, close: false))
    }

    private func refusalCases(port: Int, token: String) -> [(String, String, [String])] {
        [
            ("no token", "/ws", ["Host: 127.0.0.1:\(port)", "Origin: http://127.0.0.1:\(port)"]),
            (
                "wrong token", "/ws?token=\(LocalAPIToken.random().text)",
                ["Host: 127.0.0.1:\(port)", "Origin: http://127.0.0.1:\(port)"]
            ),
            (
                "wrong cookie", "/ws",
                [
                    "Host: 127.0.0.1:\(port)", "Origin: http://127.0.0.1:\(port)",
                    "Cookie: cvpeer_token_\(port)=\(LocalAPIToken.random().text)",
                ]
            ),
            ("foreign origin", "/ws?token=\(token)", ["Host: 127.0.0.1:\(port)", "Origin: http://evil.example"]),
            ("foreign host", "/ws?token=\(token)", ["Host: evil.example:\(port)", "Origin: http://127.0.0.1:\(port)"]),
            (
                "foreign host with a matching origin", "/ws?token=\(token)",
                ["Host: evil.example:\(port)", "Origin: http://evil.example:\(port)"]
            ),
        ]
    }

    @Test func refusedHandshakesAreAnswered403AndNeverUpgraded() async throws {
        let calls = LocalAPICallLog()
        try await withLocalAPIServer(routes: localAPIRecordingRoutes(calls), webSocket: localAPIEchoWebSocket(calls)) {
            _, endpoint in
            for (name, target, lines) in refusalCases(port: endpoint.port, token: endpoint.token.text) {
                let response = try await handshake(port: endpoint.port, target: target, lines)
                #expect(response.status == 403, "\(name)")
                #expect(response.header("upgrade") == nil, "\(name)")
                #expect(response.text.hasPrefix(#"{"error":"forbidden"#), "\(name)")
            }
        }
        #expect(calls.all.isEmpty)
    }

    @Test func aGoodHandshakeOpensASessionBothWays() async throws {
        let calls = LocalAPICallLog()
        try await withLocalAPIServer(routes: [], webSocket: localAPIEchoWebSocket(calls)) { _, endpoint in
            let port = endpoint.port
            let transcript = try await runOnOwnThread { () -> [String] in
                let connection = try RawHTTPConnection(port: port)
                try connection.write(
                    httpHead(
                        "GET /ws?name=ana&token=\(endpoint.token.text) HTTP/1.1",
                        ["Host: localhost:\(port)", "Origin: http://localhost:\(port)"] + webSocketHandshakeLines,
                        close: false))
                let response = try connection.readResponse()
                guard response.status == 101 else { return ["status \(response.status)"] }
                // RFC 6455's sample key has this accept value.
                guard response.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" else {
                    return ["bad accept"]
                }
                var lines = [try connection.readWebSocketText()]
                try connection.sendWebSocketText("pointer 10,20")
                lines.append(try connection.readWebSocketText())
                return lines
            }
            #expect(transcript == ["hello 1", "echo: pointer 10,20"])
        }
        // The session ends when the server stops, at the latest.
        #expect(calls.all == ["connect ana token:hidden", "message pointer 10,20", "disconnect"])
    }

    @Test func theCookieAlsoOpensASession() async throws {
        let calls = LocalAPICallLog()
        try await withLocalAPIServer(routes: [], webSocket: localAPIEchoWebSocket(calls)) { _, endpoint in
            let port = endpoint.port
            let greeting = try await runOnOwnThread { () -> String in
                let connection = try RawHTTPConnection(port: port)
                try connection.write(
                    httpHead(
                        "GET /ws HTTP/1.1",
                        [
                            "Host: 127.0.0.1:\(port)", "Origin: http://127.0.0.1:\(port)",
                            "Cookie: cvpeer_token_\(port)=\(endpoint.token.text)",
                        ] + webSocketHandshakeLines, close: false))
                let response = try connection.readResponse()
                guard response.status == 101 else { return "status \(response.status)" }
                return try connection.readWebSocketText()
            }
            #expect(greeting == "hello 1")
        }
    }

    @Test func aHandshakeElsewhereThanTheWebSocketPathIsNotUpgraded() async throws {
        try await withLocalAPIServer(
            routes: localAPIRecordingRoutes(LocalAPICallLog()), webSocket: localAPIEchoWebSocket(LocalAPICallLog())
        ) { _, endpoint in
            let lines = ["Host: 127.0.0.1:\(endpoint.port)", "Authorization: Bearer \(endpoint.token.text)"]
            #expect(try await handshake(port: endpoint.port, target: "/elsewhere", lines).status == 404)
            // A plain GET on the socket's path says what it is.
            let plain = try await rawHTTPRequest(port: endpoint.port, httpHead("GET /ws HTTP/1.1", lines))
            #expect(plain.status == 426)
        }
    }
}
