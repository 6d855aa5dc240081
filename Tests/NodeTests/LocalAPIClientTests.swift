import Foundation
import LocalAPI
import Testing

@testable import Node

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite struct LocalAPIClientTests {
    private struct Status: Codable, Equatable {
        var state: String
        var peers: Int
    }

    private struct Say: Codable, Equatable {
        var text: String
    }

    private static let routes = [
        LocalAPIRoute(.get, "/status") { _ in try .json(Status(state: "in room", peers: 2)) },
        LocalAPIRoute(.post, "/say") { request in
            let say: Say = try request.decode()
            return try .json(Say(text: "said: " + say.text))
        },
        LocalAPIRoute(.post, "/buy") { _ in throw LocalAPIError.notFound("no product 7 in this room") },
    ]

    @Test func aControlCommandRoundTripsThroughTheRunningNode() async throws {
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await withLocalAPIServer(routes: Self.routes, dataFolder: folder) { _, _ in
            let client = LocalAPIClient(dataFolderPath: folder)
            #expect(try await client.get("/status", as: Status.self) == Status(state: "in room", peers: 2))
            #expect(try await client.send(.post, "/say", json: Say(text: "hi"), as: Say.self) == Say(text: "said: hi"))
            await #expect(throws: LocalAPIError.requestFailed(status: 404, message: "no product 7 in this room")) {
                try await client.send(.post, "/buy", json: Say(text: "7"), as: Say.self)
            }
            let raw = try await client.send(.get, "/nowhere")
            #expect(raw.status == 404)
        }
    }

    @Test func theClientNeverGoesThroughAnHTTPProxy() async throws {
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await withLocalAPIServer(routes: Self.routes, dataFolder: folder) { _, _ in
            // Port 9 (discard) has no listener here: a client that used the proxy would fail.
            setenv("http_proxy", "http://127.0.0.1:9", 1)
            setenv("HTTP_PROXY", "http://127.0.0.1:9", 1)
            defer {
                unsetenv("http_proxy")
                unsetenv("HTTP_PROXY")
            }
            let status = try await LocalAPIClient(dataFolderPath: folder).get("/status", as: Status.self)
            #expect(status.peers == 2)
        }
    }

    @Test func withoutAPIFileTheErrorSaysNoNodeIsRunning() async throws {
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let client = LocalAPIClient(dataFolderPath: folder)
        await #expect(throws: LocalAPIError.nodeNotRunning(dataFolder: folder)) {
            try await client.get("/status", as: Status.self)
        }
        #expect(
            LocalAPIError.nodeNotRunning(dataFolder: folder).description
                == "no cvpeer node is running with data folder \(folder) — start it with `cvpeer host` or `cvpeer join`"
        )
        await #expect(throws: LocalAPIError.nodeNotRunning(dataFolder: "/no/such/folder")) {
            try await LocalAPIClient(dataFolderPath: "/no/such/folder").send(.get, "/status")
        }
    }

    @Test func anAPIFileLeftByAKilledNodeGivesTheSameError() async throws {
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // A port nobody listens on: bound by a server that is then stopped.
        let server = try LocalAPIServer(routes: [])
        let port = try await server.start().port
        await server.stop()
        try LocalAPIFile(pid: 1, port: port, token: LocalAPIToken.random().text).save(to: folder + "/api.json")
        await #expect(throws: LocalAPIError.nodeNotRunning(dataFolder: folder)) {
            try await LocalAPIClient(dataFolderPath: folder).get("/status", as: Status.self)
        }
        // A damaged file too.
        try Data("{\"port\":".utf8).write(to: URL(fileURLWithPath: folder + "/api.json"))
        await #expect(throws: LocalAPIError.nodeNotRunning(dataFolder: folder)) {
            try await LocalAPIClient(dataFolderPath: folder).get("/status", as: Status.self)
        }
    }

    @Test func aNodeThatNeverAnswersTimesOut() async throws {
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let slow = LocalAPIRoute(.get, "/slow") { _ in
            try await Task.sleep(for: .seconds(30))
            return .noContent
        }
        let server = try LocalAPIServer(
            configuration: .init(dataFolderPath: folder, shutdownGracePeriod: .milliseconds(200)), routes: [slow])
        _ = try await server.start()
        await #expect(throws: LocalAPIError.timedOut(seconds: 1)) {
            try await LocalAPIClient(dataFolderPath: folder, timeout: .seconds(1)).send(.get, "/slow")
        }
        await server.stop()
    }
}
