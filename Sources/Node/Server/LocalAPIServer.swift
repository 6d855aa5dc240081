import Hummingbird
import HummingbirdCore
import LocalAPI
import Logging
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The node's local HTTP API: the control commands' way in, and later the browser viewer's.
///
/// Security model. The server listens on 127.0.0.1 and nowhere else, so only this machine can
/// connect. Every start makes a new random token, which every request must carry (see
/// `LocalAPIAccessPolicy` for where and how); the token and the port go to `api.json` in the data
/// folder (mode 0600), which is how control commands run by the same user find them. Host and
/// Origin must name this server, so neither a DNS-rebinding page nor a cross-site form or socket
/// can reach it through the user's browser. WebSocket handshakes pass the same checks before any
/// upgrade.
///
/// Life cycle: `start()` binds, writes `api.json` and returns the endpoint; `stop()` removes the
/// file, lets requests in flight finish (closing WebSockets with "normal closure") for up to
/// `Configuration.shutdownGracePeriod`, then cancels what remains. A server can be started again
/// after `stop()`, with a new token. Thread-safe (an actor).
package actor LocalAPIServer {
    /// How and where the server listens.
    public struct Configuration: Sendable {
        /// The address to listen on; only `127.0.0.1` (or `localhost`, which means it) is accepted.
        public var host: String
        /// The port; 0 lets the system pick a free one, reported by `start()`.
        public var port: Int
        /// The data folder to write `api.json` into; nil writes none (tests, or a viewer-only embedding).
        public var dataFolderPath: String?
        /// How long `stop()` lets requests and sockets finish before cancelling them.
        package var shutdownGracePeriod: Duration
        /// Where the server logs; nil uses a `cvpeer.api` logger at warning level, quiet unless something is wrong.
        package var logger: Logger?

        /// Makes a configuration; the defaults listen on an ephemeral loopback port and write no `api.json`.
        public init(
            host: String = "127.0.0.1", port: Int = 0, dataFolderPath: String? = nil,
            shutdownGracePeriod: Duration = .seconds(3), logger: Logger? = nil
        ) {
            self.host = host
            self.port = port
            self.dataFolderPath = dataFolderPath
            self.shutdownGracePeriod = shutdownGracePeriod
            self.logger = logger
        }
    }

    private enum State {
        case idle
        /// Between the start of `start()` or `stop()` and its end.
        case changing
        case running(Running)
    }

    private struct Running {
        let endpoint: LocalAPIEndpoint
        let group: ServiceGroup
        let task: Task<Void, Never>
        let apiFilePath: String?
    }

    private let configuration: Configuration
    private let runtime: LocalAPIRuntime
    private var state = State.idle

    /// Makes a server that has not started yet.
    ///
    /// Two routes with the same method and pattern, or a route on the WebSocket path, are programming
    /// errors and stop the process when the server starts.
    ///
    /// - Parameters:
    ///   - configuration: Where to listen and where to write `api.json`.
    ///   - routes: The JSON and file endpoints.
    ///   - webSocket: The live channel, if any.
    /// - Throws: `LocalAPIError.nonLoopbackHost` for any address but 127.0.0.1, `.invalidPort` for a port
    ///   outside 0…65535.
    public init(
        configuration: Configuration = Configuration(), routes: [LocalAPIRoute],
        webSocket: LocalAPIWebSocketRoute? = nil
    ) throws(LocalAPIError) {
        guard configuration.host == "127.0.0.1" || configuration.host.lowercased() == "localhost" else {
            throw .nonLoopbackHost(configuration.host)
        }
        guard (0...65535).contains(configuration.port) else { throw .invalidPort(configuration.port) }
        var logger = configuration.logger ?? Logger(label: "cvpeer.api")
        if configuration.logger == nil { logger.logLevel = .warning }
        self.configuration = configuration
        self.runtime = LocalAPIRuntime(routes: routes, webSocket: webSocket, logger: logger)
    }

    /// Where the running server is reached; nil when it is not running.
    public var endpoint: LocalAPIEndpoint? {
        switch state {
        case .running(let running): running.endpoint
        case .idle, .changing: nil
        }
    }

    /// Binds 127.0.0.1, makes a new token, writes `api.json` and starts serving.
    ///
    /// Calling it while the server is starting or running is a programming error.
    ///
    /// - Returns: The port, the token and the viewer URL.
    /// - Throws: `LocalAPIError.listenFailed` if the port cannot be bound, `.apiFileUnwritable` if `api.json`
    ///   cannot be written (the server is stopped again before this throws).
    public func start() async throws(LocalAPIError) -> LocalAPIEndpoint {
        switch state {
        case .idle: break
        case .changing, .running: preconditionFailure("LocalAPIServer.start() called while the server is running")
        }
        state = .changing
        let token = LocalAPIToken.random()
        let runtime = self.runtime
        runtime.policy = nil
        let (bound, boundContinuation) = AsyncStream<Result<Int, LocalAPIError>>.makeStream()

        let application = Application(
            router: LocalAPIHTTP.router(runtime),
            server: LocalAPIGuardedChannel.builder(runtime: runtime, webSocketRouter: LocalAPIHTTP.webSocketRouter(runtime)),
            configuration: ApplicationConfiguration(
                address: .hostname("127.0.0.1", port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                boundContinuation.yield(.success(channel.localAddress?.port ?? 0))
            },
            logger: runtime.logger)
        let group = ServiceGroup(services: [application], logger: runtime.logger)
        let requestedPort = configuration.port
        // Detached: a plain Task would inherit the command's ServiceLifecycle shutdown (a task-local),
        // and the server would close the moment a signal arrived, even mid-start, instead of when
        // the node's orderly `stop()` says so.
        let task = Task.detached {
            do {
                try await group.run()
                boundContinuation.yield(
                    .failure(.listenFailed(port: requestedPort, reason: "the server stopped at once")))
            } catch {
                boundContinuation.yield(.failure(.listenFailed(port: requestedPort, reason: Self.reason(error))))
            }
            boundContinuation.finish()
        }

        var results = bound.makeAsyncIterator()
        let port: Int
        switch await results.next() {
        case .success(let value)?: port = value
        case .failure(let error)?:
            state = .idle
            throw error
        case nil:
            state = .idle
            throw .listenFailed(port: requestedPort, reason: "the server stopped at once")
        }
        runtime.policy = LocalAPIAccessPolicy(port: port, token: token)
        let endpoint = LocalAPIEndpoint(port: port, token: token)
        let apiFilePath = configuration.dataFolderPath.map { LocalAPIFile.path(inDataFolder: $0) }
        if let apiFilePath {
            do {
                try LocalAPIFile(pid: getpid(), port: port, token: token.text).save(to: apiFilePath)
            } catch {
                await Self.shutDown(group: group, task: task, grace: configuration.shutdownGracePeriod)
                state = .idle
                throw error
            }
        }
        runtime.logger.info("local API listening", metadata: ["port": "\(port)"])
        state = .running(Running(endpoint: endpoint, group: group, task: task, apiFilePath: apiFilePath))
        return endpoint
    }

    /// Removes `api.json`, then stops serving; does nothing if the server is not running.
    public func stop() async {
        guard case .running(let running) = state else { return }
        state = .changing
        if let path = running.apiFilePath { LocalAPIFile.remove(at: path, ifTokenIs: running.endpoint.token.text) }
        runtime.policy = nil
        await Self.shutDown(group: running.group, task: running.task, grace: configuration.shutdownGracePeriod)
        runtime.logger.info("local API stopped")
        state = .idle
    }

    /// Graceful shutdown, then cancellation if the grace period passes first.
    private static func shutDown(group: ServiceGroup, task: Task<Void, Never>, grace: Duration) async {
        await group.triggerGracefulShutdown()
        let watchdog = Task {
            try await Task.sleep(for: grace)
            task.cancel()
        }
        await task.value
        watchdog.cancel()
    }

    private static func reason(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }
}

/// Where a running local API is reached. `description` hides the token; `viewerURL` contains it.
package struct LocalAPIEndpoint: Sendable, CustomStringConvertible {
    /// The port on 127.0.0.1.
    public let port: Int
    /// The token of this run.
    public let token: LocalAPIToken

    /// `http://127.0.0.1:PORT`, the base of every request.
    package var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The URL to print for the user: the viewer's page with the token, which the browser trades for a cookie.
    package var viewerURL: String { baseURL + "/?" + LocalAPIAccessPolicy.queryTokenName + "=" + token.text }

    public var description: String { "LocalAPIEndpoint(\(baseURL), token redacted)" }
}
