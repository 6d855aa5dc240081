import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import LocalAPI
import Logging
import NIOCore
import Synchronization

/// What the server's request handling shares across connections: the routes and, once the port is
/// known, the access policy. Thread-safe.
final class LocalAPIRuntime: Sendable {
    let routes: [LocalAPIRoute]
    let webSocket: LocalAPIWebSocketRoute?
    let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var policy: LocalAPIAccessPolicy?
        var lastSessionID: UInt64 = 0
    }

    init(routes: [LocalAPIRoute], webSocket: LocalAPIWebSocketRoute?, logger: Logger) {
        self.routes = routes
        self.webSocket = webSocket
        self.logger = logger
    }

    /// The policy of the current run; nil in the instant between binding and learning the port,
    /// when every request is refused.
    var policy: LocalAPIAccessPolicy? {
        get { state.withLock { $0.policy } }
        set { state.withLock { $0.policy = newValue } }
    }

    /// A new WebSocket session id.
    func nextSessionID() -> UInt64 {
        state.withLock {
            $0.lastSessionID += 1
            return $0.lastSessionID
        }
    }
}

/// The access policy as router middleware: it runs before routing, so unknown paths and WebSocket
/// upgrades are answered only after the token, Host and Origin checks, and a refused client learns
/// nothing about which paths exist. It also turns the router's "not found" into the API's JSON.
struct LocalAPIAccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let runtime: LocalAPIRuntime
    /// True on the WebSocket router, where a query token is accepted without the cookie redirect.
    let isWebSocketUpgrade: Bool

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let policy = runtime.policy else {
            return LocalAPIHTTP.response(.error(403, "forbidden: the local API is starting or stopping"))
        }
        switch policy.decide(LocalAPIHTTP.policyRequest(request, isWebSocketUpgrade: isWebSocketUpgrade)) {
        case .deny(let denial):
            runtime.logger.debug("local API refused a request", metadata: ["reason": "\(denial)"])
            return LocalAPIHTTP.response(.error(403, denial.message))
        case .setCookieAndRedirect(let location):
            var headers = LocalAPIHTTP.commonHeaders
            headers[.location] = location
            headers[.setCookie] = policy.setCookieValue
            return Response(status: .seeOther, headers: headers)
        case .allow:
            do {
                return try await next(request, context)
            } catch let error as HTTPError where error.status == .notFound {
                return LocalAPIHTTP.response(.error(404, "no such endpoint"))
            }
        }
    }
}

/// The local API's routes on Hummingbird's routers, and the conversions between its HTTP types and
/// the node's `LocalAPIRequest`/`LocalAPIResponse`.
enum LocalAPIHTTP {
    /// The methods a path answers 405 to when it has no handler for them: Hummingbird's router
    /// answers an unregistered method as an unknown path, and the API has always said 405 with `Allow`.
    private static let answeredMethods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options]

    /// The router of plain requests: the access middleware, then every route, each path's other
    /// methods answered 405 and the WebSocket path answered 426 to anything but a handshake.
    static func router(_ runtime: LocalAPIRuntime) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: LocalAPIAccessMiddleware(runtime: runtime, isWebSocketUpgrade: false))
        var methodsByPath: [(path: String, methods: Set<HTTPRequest.Method>)] = []
        for route in runtime.routes {
            let method = HTTPRequest.Method(route.method.rawValue)!
            router.on(RouterPath(route.path), method: method) { request, context in
                await answer(request, parameters: context.parameters, route: route, logger: runtime.logger)
            }
            if let index = methodsByPath.firstIndex(where: { $0.path == route.path }) {
                methodsByPath[index].methods.insert(method)
            } else {
                methodsByPath.append((route.path, [method]))
            }
        }
        for (path, methods) in methodsByPath {
            let allowed = methods.map(\.rawValue).sorted().joined(separator: ", ")
            for method in answeredMethods where !methods.contains(method) {
                router.on(RouterPath(path), method: method) { request, _ in
                    var refusal = response(.error(405, "this endpoint does not answer \(request.method.rawValue)"))
                    refusal.headers[.allow] = allowed
                    return refusal
                }
            }
        }
        if let webSocket = runtime.webSocket {
            for method in answeredMethods {
                router.on(RouterPath(webSocket.path), method: method) { _, _ in
                    response(.error(426, "this path is a WebSocket; connect with a WebSocket handshake"))
                }
            }
        }
        return router
    }

    /// The router of WebSocket handshakes: the same access middleware in front of the live channel.
    static func webSocketRouter(_ runtime: LocalAPIRuntime) -> Router<BasicWebSocketRequestContext> {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.add(middleware: LocalAPIAccessMiddleware(runtime: runtime, isWebSocketUpgrade: true))
        if let route = runtime.webSocket {
            router.ws(RouterPath(route.path)) { inbound, outbound, context in
                let session = LocalAPIWebSocketSession(
                    id: runtime.nextSessionID(), query: visibleQuery(context.request.uri.query))
                await LocalAPIWebSocketBridge.run(
                    session: session, route: route, inbound: inbound, outbound: outbound, logger: runtime.logger)
            }
        }
        return router
    }

    /// Reads the body as the route asks, calls its handler and converts the answer or the error.
    private static func answer(
        _ request: Request, parameters: Parameters, route: LocalAPIRoute, logger: Logger
    ) async -> Response {
        var body: [UInt8] = []
        var bodyStream: LocalAPIBodyStream?
        let declaredLength = request.headers[.contentLength].flatMap { Int($0) }
        switch route.body {
        case .buffered(let limit):
            if let declaredLength, declaredLength > limit { return tooLarge(limit) }
            do {
                body = Array(try await request.body.collect(upTo: limit).readableBytesView)
            } catch is NIOTooManyBytesError {
                return tooLarge(limit)
            } catch {
                return response(.error(400, "the request body could not be read"))
            }
        case .streamed(let limit):
            if let declaredLength, declaredLength > limit { return tooLarge(limit) }
            bodyStream = LocalAPIBodyStream(base: request.body, limit: limit)
        }

        var decoded: [String: String] = [:]
        for (name, value) in parameters { decoded[String(name)] = value.removingPercentEncoding ?? String(value) }
        let apiRequest = LocalAPIRequest(
            method: route.method, path: request.uri.path, parameters: decoded, query: visibleQuery(request.uri.query),
            headers: visibleHeaders(request.headers), body: body, bodyStream: bodyStream)
        do {
            return response(try await route.handler(apiRequest))
        } catch let error as LocalAPIError {
            let status = error.httpStatus
            if status >= 500 { return internalError(error, path: route.path, logger: logger) }
            return response(.error(status, error.description))
        } catch is CancellationError {
            // The server is stopping and cancelled the handler: expected, not a failure.
            logger.debug("local API handler cancelled", metadata: ["route": "\(route.path)"])
            return response(.error(503, "the node is shutting down"))
        } catch {
            return internalError(error, path: route.path, logger: logger)
        }
    }

    private static func internalError(_ error: any Error, path: String, logger: Logger) -> Response {
        // The detail stays in the node's log: the caller is local, but errors may name files or peers.
        logger.error("local API handler failed", metadata: ["route": "\(path)", "error": "\(error)"])
        return response(.error(500, "internal error; see the node's log"))
    }

    /// The access policy's view of a request.
    static func policyRequest(_ request: Request, isWebSocketUpgrade: Bool) -> LocalAPIAccessPolicy.Request {
        // HTTPTypes moves the first Host header into `authority`; any Host left among the fields was a
        // second one, and a request with two Host headers is refused rather than guessed at.
        let duplicateHost = request.headers[values: HTTPField.Name("host")!].isEmpty == false
        return LocalAPIAccessPolicy.Request(
            method: request.method.rawValue,
            host: duplicateHost ? nil : request.head.authority,
            origin: request.headers[.origin],
            authorization: request.headers[.authorization],
            cookieHeaders: request.headers[values: .cookie],
            path: request.uri.path,
            query: request.uri.query,
            isWebSocketUpgrade: isWebSocketUpgrade)
    }

    /// The query a handler sees: decoded, without the token.
    static func visibleQuery(_ query: String?) -> [String: String] {
        var parameters = LocalAPIQuery.parameters(query)
        parameters[LocalAPIAccessPolicy.queryTokenName] = nil
        return parameters
    }

    private static func visibleHeaders(_ fields: HTTPFields) -> [String: String] {
        var headers: [String: String] = [:]
        for field in fields where field.name != .authorization && field.name != .cookie {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
        }
        return headers
    }

    /// Headers on every answer: no MIME sniffing, no framing by other pages, no Referer carrying a
    /// `?token=` URL anywhere, no caching of answers that depend on the token.
    static let commonHeaders: HTTPFields = [
        HTTPField.Name("x-content-type-options")!: "nosniff",
        HTTPField.Name("x-frame-options")!: "DENY",
        HTTPField.Name("referrer-policy")!: "no-referrer",
        .cacheControl: "no-store",
    ]

    private static func tooLarge(_ limit: Int) -> Response {
        response(.error(413, LocalAPIError.payloadTooLarge(limit: limit).description))
    }

    /// Converts a handler's answer; a status outside 100…599 is a handler bug and becomes 500.
    static func response(_ answer: LocalAPIResponse) -> Response {
        var headers = commonHeaders
        for (name, value) in answer.headers {
            guard let fieldName = HTTPField.Name(name) else { continue }
            headers[fieldName] = value
        }
        let status = (100...599).contains(answer.status) ? answer.status : 500
        if let streamed = answer.streamed {
            let body = ResponseBody(contentLength: streamed.length) { writer in
                var written = 0
                for index in 0..<streamed.pieces {
                    let piece = try await streamed.piece(index)
                    written += piece.count
                    try await writer.write(ByteBuffer(bytes: piece))
                }
                // Fewer or more bytes than the head said would leave the client waiting or misread.
                guard written == streamed.length else { throw LocalAPIError.malformedResponse("a streamed body of \(written) bytes, not \(streamed.length)") }
                try await writer.finish(nil)
            }
            return Response(status: HTTPResponse.Status(code: status), headers: headers, body: body)
        }
        return Response(
            status: HTTPResponse.Status(code: status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}
