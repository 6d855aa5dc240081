import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import LocalAPI
import Logging
import NIOCore
import NIOHTTP1

// WebSocket flow: a handshake first meets `LocalAPIUpgradeGuard`, which applies the access policy
// before NIO's upgrader sees it. A refused handshake loses its `Upgrade` header and continues as an
// ordinary request, which the router's access middleware answers 403 like any other refused request.
// The guard stays although the WebSocket router has the same middleware in front: left to the
// upgrader, a refused handshake gets Hummingbird's bare 400 without a body (`writeFailedUpgrade`),
// and LocalAPIWebSocketTests pin the 403 and its JSON. An accepted handshake reaches the WebSocket
// router, whose middleware checks the policy again, so no path to the socket depends on the guard
// alone, and `LocalAPIWebSocketBridge` connects the socket to the node's callbacks.

/// Hummingbird's HTTP/1 + WebSocket channel with `LocalAPIUpgradeGuard` inserted behind the HTTP decoder.
struct LocalAPIGuardedChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value

    let base: HTTP1WebSocketUpgradeChannel
    let runtime: LocalAPIRuntime

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let runtime = self.runtime
        return base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try operations.addHandler(LocalAPIUpgradeGuard(runtime: runtime), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }

    /// The server builder for the local API: the guarded channel around Hummingbird's upgrade channel.
    static func builder(runtime: LocalAPIRuntime, webSocketRouter: Router<BasicWebSocketRequestContext>) -> HTTPServerBuilder {
        let maxMessageSize = runtime.webSocket?.maxMessageSize ?? LocalAPIWebSocketRoute.defaultMaxMessageSize
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(idleTimeout: .seconds(120)),
            // Frames up to the message limit, so one message never needs reassembly from many frames.
            ws: .init(maxFrameSize: max(maxMessageSize, 1 << 14), autoPing: .enabled(timePeriod: .seconds(30))))
        let webSocketResponder = webSocketRouter.buildResponder()
        return HTTPServerBuilder { responder in
            LocalAPIGuardedChannel(
                base: HTTP1WebSocketUpgradeChannel(
                    responder: responder, webSocketResponder: webSocketResponder, configuration: configuration),
                runtime: runtime)
        }
    }
}

/// Sits behind the HTTP decoder for a connection's first request, the only one NIO will upgrade,
/// and strips `Upgrade` from a handshake the access policy refuses; then leaves the pipeline.
///
/// Not thread-safe; lives on its channel's event loop.
final class LocalAPIUpgradeGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let runtime: LocalAPIRuntime

    init(runtime: LocalAPIRuntime) {
        self.runtime = runtime
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        if head.headers.contains(name: "upgrade"), !accepts(head) {
            head.headers.remove(name: "upgrade")
            let connection = head.headers[canonicalForm: "connection"].filter { $0.lowercased() != "upgrade" }
            head.headers.remove(name: "connection")
            if !connection.isEmpty { head.headers.add(name: "connection", value: connection.joined(separator: ", ")) }
            context.fireChannelRead(wrapInboundOut(.head(head)))
        } else {
            context.fireChannelRead(data)
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func accepts(_ head: HTTPRequestHead) -> Bool {
        guard let policy = runtime.policy, let webSocket = runtime.webSocket else { return false }
        let (path, query) = Self.splitTarget(head.uri)
        // The router's own reading of a path: empty segments (`//`, a trailing `/`) are skipped.
        guard path.split(separator: "/") == webSocket.path.split(separator: "/") else { return false }
        let hosts = head.headers["host"]
        let origins = head.headers["origin"]
        let authorizations = head.headers["authorization"]
        let request = LocalAPIAccessPolicy.Request(
            method: head.method.rawValue,
            host: hosts.count == 1 ? hosts[0] : nil,
            origin: origins.isEmpty ? nil : origins.joined(separator: ", "),
            authorization: authorizations.isEmpty ? nil : authorizations.joined(separator: ", "),
            cookieHeaders: head.headers["cookie"],
            path: path, query: query, isWebSocketUpgrade: true)
        switch policy.decide(request) {
        case .allow: return true
        case .deny, .setCookieAndRedirect: return false
        }
    }

    /// Splits a request target into its path and query.
    private static func splitTarget(_ target: String) -> (path: String, query: String?) {
        guard let mark = target.firstIndex(of: "?") else { return (target, nil) }
        return (String(target[..<mark]), String(target[target.index(after: mark)...]))
    }
}

/// Connects an accepted WebSocket to the node's `LocalAPIWebSocketRoute` callbacks.
enum LocalAPIWebSocketBridge {
    /// Runs one session until either side ends it, then tells the node.
    static func run(
        session: LocalAPIWebSocketSession, route: LocalAPIWebSocketRoute, inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter, logger: Logger
    ) async {
        let messages = await route.onConnect(session)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await text in messages { try await outbound.write(.text(text)) }
                }
                group.addTask {
                    for try await message in inbound.messages(maxSize: route.maxMessageSize) {
                        switch message {
                        case .text(let text): await route.onMessage(session, text)
                        case .binary: continue
                        }
                    }
                }
                // Whichever side ends first ends the session: the client closing, or the node
                // finishing the outbound stream.
                try await group.next()
                group.cancelAll()
            }
        } catch {
            logger.debug(
                "local API WebSocket session ended", metadata: ["session": "\(session.id)", "error": "\(error)"])
        }
        await route.onDisconnect(session)
    }
}
