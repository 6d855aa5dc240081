import Foundation
import LocalAPI
import Logging
import Node
import ServiceLifecycle
import Testing

/// A signal that arrives while a node is starting must not break the start: the command's
/// ServiceLifecycle group is already shutting down, and the local API's own group must not follow it
/// before the node has had the chance to stop in order.
@Suite struct ShutdownDuringStartTests {
    /// The command's work as one service: it says it runs, waits for the shutdown, then starts a
    /// server and asks it for its status, as the node's start would before its own orderly stop.
    private struct StartAfterShutdown: Service {
        let folder: String
        let running: AsyncStream<Void>.Continuation
        let outcome: AsyncStream<String>.Continuation

        func run() async throws {
            running.yield()
            try? await gracefulShutdown()
            let routes = [LocalAPIRoute(.get, "/status") { _ in try .json(["state": "running"]) }]
            let server = try LocalAPIServer(configuration: .init(dataFolderPath: folder), routes: routes)
            do {
                _ = try await server.start()
                // Long enough for a server that follows the command's shutdown to have closed.
                try? await Task.sleep(for: .milliseconds(300))
                let answer: [String: String] = try await LocalAPIClient(dataFolderPath: folder, timeout: .seconds(5)).get("/status")
                outcome.yield(answer["state"] ?? "no state")
            } catch {
                outcome.yield("failed: \(error)")
            }
            await server.stop()
            outcome.finish()
        }
    }

    @Test func theLocalAPIStartsWhileTheCommandIsShuttingDown() async throws {
        let (running, runningContinuation) = AsyncStream<Void>.makeStream()
        let (outcome, outcomeContinuation) = AsyncStream<String>.makeStream()
        let folder = NSTemporaryDirectory() + "cvpeer-early-signal-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let group = ServiceGroup(
            services: [StartAfterShutdown(folder: folder, running: runningContinuation, outcome: outcomeContinuation)],
            logger: .init(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let task = Task { try await group.run() }
        var started = running.makeAsyncIterator()
        _ = await started.next()
        await group.triggerGracefulShutdown()
        var outcomes = outcome.makeAsyncIterator()
        let result = await outcomes.next()
        _ = try? await task.value
        #expect(result == "running")
    }
}
