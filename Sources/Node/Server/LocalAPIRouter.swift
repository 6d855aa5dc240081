import HTTPTypes
import Hummingbird
import HummingbirdCore
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

/// Answers every HTTP request: access policy first, then routing, body limits and the handler.
///
/// A custom responder rather than Hummingbird's router: the policy must run before anything,
/// unknown paths included (a refused client learns nothing about which paths exist), and every
/// refusal has to be the same short JSON whatever the layer that refuses.
struct LocalAPIResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let runtime: LocalAPIRuntime

    func respond(to request: Request, context: Context) async throws -> Response {
        guard let policy = runtime.policy else {
            return Self.response(.error(403, "forbidden: the local API is starting or stopping"))
        }
        switch policy.decide(Self.policyRequest(request)) {
        case .deny(let denial):
            runtime.logger.debug("local API refused a request", metadata: ["reason": "\(denial)"])
            return Self.refusal(denial)
        case .setCookieAndRedirect(let location):
            var headers = Self.commonHeaders
            headers[.location] = location
            headers[.setCookie] = policy.setCookieValue
            return Response(status: .seeOther, headers: headers)
        case .allow:
            return await route(request)
        }
    }

    private func route(_ request: Request) async -> Response {
        let segments = LocalAPIRoute.split(request.uri.path)
        if let webSocket = runtime.webSocket, LocalAPIRoute.split(webSocket.path) == segments {
            return Self.response(.error(426, "this path is a WebSocket; connect with a WebSocket handshake"))
        }
        // The most literal pattern wins whatever the order of registration: `/items/new` before `/items/:id`.
        let matches = runtime.routes.compactMap { route in route.match(segments).map { (route, $0) } }
            .sorted { $0.0.literalCount > $1.0.literalCount }
        guard !matches.isEmpty else { return Self.response(.error(404, "no such endpoint")) }
        guard let method = LocalAPIRoute.Method(rawValue: request.method.rawValue),
            let (route, parameters) = matches.first(where: { $0.0.method == method })
        else {
            var response = Self.response(.error(405, "this endpoint does not answer \(request.method.rawValue)"))
            response.headers[.allow] = Set(matches.map(\.0.method.rawValue)).sorted().joined(separator: ", ")
            return response
        }

        var body: [UInt8] = []
        var bodyStream: LocalAPIBodyStream?
        let declaredLength = request.headers[.contentLength].flatMap { Int($0) }
        switch route.body {
        case .buffered(let limit):
            if let declaredLength, declaredLength > limit { return Self.tooLarge(limit) }
            do {
                body = Array(try await request.body.collect(upTo: limit).readableBytesView)
            } catch is NIOTooManyBytesError {
                return Self.tooLarge(limit)
            } catch {
                return Self.response(.error(400, "the request body could not be read"))
            }
        case .streamed(let limit):
            if let declaredLength, declaredLength > limit { return Self.tooLarge(limit) }
            bodyStream = LocalAPIBodyStream(base: request.body, limit: limit)
        }

        let apiRequest = LocalAPIRequest(
            method: method, path: request.uri.path, parameters: parameters, query: Self.visibleQuery(request.uri.query),
            headers: Self.visibleHeaders(request.headers), body: body, bodyStream: bodyStream)
        do {
            return Self.response(try await route.handler(apiRequest))
        } catch let error as LocalAPIError {
            let status = error.httpStatus
            if status >= 500 { return internalError(error, path: route.path) }
            return Self.response(.error(status, error.description))
        } catch is CancellationError {
            // The server is stopping and cancelled the handler: expected, not a failure.
            runtime.logger.debug("local API handler cancelled", metadata: ["route": "\(route.path)"])
            return Self.response(.error(503, "the node is shutting down"))
        } catch {
            return internalError(error, path: route.path)
        }
    }

    private func internalError(_ error: any Error, path: String) -> Response {
        // The detail stays in the node's log: the caller is local, but errors may name files or peers.
        runtime.logger.error("local API handler failed", metadata: ["route": "\(path)", "error": "\(error)"])
        return Self.response(.error(500, "internal error; see the node's log"))
    }

    /// The access policy's view of a request.
    static func policyRequest(_ request: Request) -> LocalAPIAccessPolicy.Request {
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
            isWebSocketUpgrade: false)
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

    static func refusal(_ denial: LocalAPIAccessPolicy.Denial) -> Response {
        response(.error(403, denial.message))
    }

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
        return Response(
            status: HTTPResponse.Status(code: status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}
