import Foundation
import HummingbirdCore
import LocalAPI
import NIOCore

/// One JSON (or file) endpoint of the local API: a method, a path and a handler.
///
/// The node core registers its endpoints with these values and never sees an HTTP library type; the
/// server puts each on Hummingbird's router. A path is literal segments and `:name` segments, e.g.
/// `/items/:id/marks`; each `:name` segment matches one non-empty segment, a literal one wins over it
/// whatever the order of registration, and its percent-decoded text appears in
/// `LocalAPIRequest.parameters`. Access control (token, Host, Origin) has already happened when a
/// handler runs.
package struct LocalAPIRoute: Sendable {
    /// The HTTP methods a route can answer (the contract's, which the client sends).
    package typealias Method = LocalAPIMethod

    /// How the request body reaches the handler.
    package enum Body: Sendable {
        /// Read whole into `LocalAPIRequest.body` before the handler runs; a larger body is answered 413.
        case buffered(limit: Int)
        /// Handed to the handler as `LocalAPIRequest.bodyStream`, chunk by chunk, for uploads; the stream
        /// throws `LocalAPIError.payloadTooLarge` past the limit.
        case streamed(limit: Int)
    }

    /// The body limit of a JSON endpoint: far above any command's JSON, far below what would hurt memory.
    package static let jsonBodyLimit = 1 << 20

    /// The method.
    public let method: Method
    /// The path pattern, starting with `/`.
    public let path: String
    /// How the body is read.
    public let body: Body
    /// Answers a request; may throw `LocalAPIError.badRequest`, `.notFound` or `.payloadTooLarge`,
    /// and any other error is answered 500 without detail.
    package let handler: @Sendable (LocalAPIRequest) async throws -> LocalAPIResponse

    /// Makes a route; a pattern not starting with `/` is a programming error.
    ///
    /// - Parameters:
    ///   - method: The HTTP method.
    ///   - path: The pattern, e.g. `/status` or `/items/:id`.
    ///   - body: How the body is read; JSON endpoints keep the default 1 MiB buffer.
    ///   - handler: Called for each allowed request that matches.
    public init(
        _ method: Method, _ path: String, body: Body = .buffered(limit: jsonBodyLimit),
        handler: @escaping @Sendable (LocalAPIRequest) async throws -> LocalAPIResponse
    ) {
        precondition(path.hasPrefix("/"), "a local API route path starts with /: \(path)")
        self.method = method
        self.path = path
        self.body = body
        self.handler = handler
    }

    /// A streamed upload endpoint (POST): the body reaches the handler in chunks, up to `limit` bytes,
    /// by default the node's one blob limit (`RoomEngine.maxBlobSize`), so no upload passes the route
    /// only to be refused by the engine.
    public static func upload(
        _ path: String, limit: Int = RoomEngine.maxBlobSize,
        handler: @escaping @Sendable (LocalAPIRequest) async throws -> LocalAPIResponse
    ) -> LocalAPIRoute {
        LocalAPIRoute(.post, path, body: .streamed(limit: limit), handler: handler)
    }
}

/// A request as a route handler sees it: no token, no cookie, no HTTP library types.
package struct LocalAPIRequest: Sendable {
    /// The method.
    public let method: LocalAPIRoute.Method
    /// The path as sent, without the query.
    public let path: String
    /// The values of the route's `:name` segments, percent-decoded.
    public let parameters: [String: String]
    /// The query parameters, percent-decoded; `token` is never among them.
    public let query: [String: String]
    /// The headers by lowercase name (repeated headers joined with `, `); Authorization and Cookie are
    /// left out so a handler that logs its request cannot leak the token.
    public let headers: [String: String]
    /// The body of a `.buffered` route; empty for `.streamed` routes.
    public let body: [UInt8]
    /// The body of a `.streamed` route, readable once; nil for `.buffered` routes.
    package let bodyStream: LocalAPIBodyStream?

    /// Makes a request by hand, for tests of handlers that need no server.
    public init(
        method: LocalAPIRoute.Method, path: String, parameters: [String: String] = [:], query: [String: String] = [:],
        headers: [String: String] = [:], body: [UInt8] = [], bodyStream: LocalAPIBodyStream? = nil
    ) {
        self.method = method
        self.path = path
        self.parameters = parameters
        self.query = query
        self.headers = headers
        self.body = body
        self.bodyStream = bodyStream
    }

    /// Decodes the body as JSON.
    ///
    /// - Throws: `LocalAPIError.badRequest` naming the problem, so the caller gets a 400 that says why.
    public func decode<Value: Decodable>(_ type: Value.Type = Value.self) throws(LocalAPIError) -> Value {
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch let DecodingError.keyNotFound(key, _) {
            throw .badRequest("the JSON body lacks \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, context) {
            throw .badRequest("the JSON body has the wrong type at \(Self.describe(context.codingPath))")
        } catch let DecodingError.valueNotFound(_, context) {
            throw .badRequest("the JSON body lacks a value at \(Self.describe(context.codingPath))")
        } catch {
            throw .badRequest("the body is not valid JSON")
        }
    }

    private static func describe(_ path: [any CodingKey]) -> String {
        path.isEmpty ? "the top level" : "\"" + path.map(\.stringValue).joined(separator: ".") + "\""
    }
}

/// The chunks of a streamed request body, as they arrive; throws `LocalAPIError.payloadTooLarge` past the limit.
///
/// Can be iterated once. Back-pressure is end to end: the next chunk is read from the socket only
/// when the handler asks for it.
package struct LocalAPIBodyStream: AsyncSequence, Sendable {
    /// A chunk of the body.
    package typealias Element = [UInt8]

    let base: RequestBody
    let limit: Int

    /// Reads the next chunk.
    package struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let limit: Int
        var received = 0

        /// The next chunk, or nil at the end of the body.
        public mutating func next() async throws -> [UInt8]? {
            guard let buffer = try await base.next() else { return nil }
            received += buffer.readableBytes
            guard received <= limit else { throw LocalAPIError.payloadTooLarge(limit: limit) }
            return Array(buffer.readableBytesView)
        }
    }

    /// Starts reading the body.
    package func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), limit: limit)
    }
}

/// What a route handler answers.
package struct LocalAPIResponse: Sendable {
    /// The HTTP status.
    public var status: Int
    /// Extra headers, e.g. `content-type`.
    public var headers: [String: String]
    /// The body.
    public var body: [UInt8]
    /// A body written piece by piece instead of `body` (a large blob), never held whole.
    package var streamed: LocalAPIStreamedBody?

    /// Makes a response from its parts.
    public init(status: Int = 200, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response with keys in a stable order, so control commands and tests see the same bytes each time.
    ///
    /// - Throws: the encoder's error if `value` cannot be encoded (a programming error, answered 500).
    public static func json(_ value: some Encodable, status: Int = 200) throws -> LocalAPIResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return LocalAPIResponse(
            status: status, headers: ["content-type": "application/json"], body: Array(try encoder.encode(value)))
    }

    /// An error answer: `{"error":"message"}` with the given status.
    public static func error(_ status: Int, _ message: String) -> LocalAPIResponse {
        let body =
            (try? JSONEncoder().encode(["error": message])).map { Array($0) } ?? Array(#"{"error":"error"}"#.utf8)
        return LocalAPIResponse(status: status, headers: ["content-type": "application/json"], body: body)
    }

    /// A response of raw bytes, e.g. a viewer file or an image.
    public static func bytes(_ body: [UInt8], contentType: String, status: Int = 200) -> LocalAPIResponse {
        LocalAPIResponse(status: status, headers: ["content-type": contentType], body: body)
    }

    /// 204: done, nothing to say.
    package static let noContent = LocalAPIResponse(status: 204)
}

/// A response body sent in pieces after the head, so a large one is never held whole: `length`
/// bytes in all, in `pieces` pieces asked for in order. A piece that throws ends the connection
/// (the head, with its length, has gone), which the client sees as a cut-short body.
package struct LocalAPIStreamedBody: Sendable {
    /// The body's length in bytes: the sum of the pieces' lengths.
    package var length: Int
    /// How many pieces.
    package var pieces: Int
    /// Piece `index` (0 ..< `pieces`).
    package var piece: @Sendable (_ index: Int) async throws -> [UInt8]

    /// Makes a streamed body from its parts.
    package init(length: Int, pieces: Int, piece: @escaping @Sendable (_ index: Int) async throws -> [UInt8]) {
        (self.length, self.pieces, self.piece) = (length, pieces, piece)
    }
}

/// The live channel of the viewer: one WebSocket path and the node's callbacks for its sessions.
///
/// Each accepted socket is a session. `onConnect` returns the session's outbound stream: every string
/// the node yields is sent as a text frame, and finishing the stream closes the socket. Inbound text
/// frames go to `onMessage` one at a time, in order; binary frames are ignored. `onDisconnect` runs
/// once when the socket is gone, whoever closed it; the outbound stream is cancelled by then.
package struct LocalAPIWebSocketRoute: Sendable {
    /// The largest inbound message: viewer messages are small JSON, a pointer move or a chat line.
    package static let defaultMaxMessageSize = 64 << 10

    /// The path, e.g. `/ws`.
    public let path: String
    /// The largest inbound message in bytes; a larger one closes the socket.
    public let maxMessageSize: Int
    /// A session opened; returns the text frames to send it.
    package let onConnect: @Sendable (LocalAPIWebSocketSession) async -> AsyncStream<String>
    /// A session sent a text message.
    package let onMessage: @Sendable (LocalAPIWebSocketSession, String) async -> Void
    /// A session ended.
    package let onDisconnect: @Sendable (LocalAPIWebSocketSession) async -> Void

    /// Makes the WebSocket endpoint; see the type's documentation for the callbacks' contract.
    public init(
        path: String = "/ws", maxMessageSize: Int = defaultMaxMessageSize,
        onConnect: @escaping @Sendable (LocalAPIWebSocketSession) async -> AsyncStream<String>,
        onMessage: @escaping @Sendable (LocalAPIWebSocketSession, String) async -> Void,
        onDisconnect: @escaping @Sendable (LocalAPIWebSocketSession) async -> Void = { _ in }
    ) {
        precondition(path.hasPrefix("/"), "a WebSocket path starts with /: \(path)")
        self.path = path
        self.maxMessageSize = maxMessageSize
        self.onConnect = onConnect
        self.onMessage = onMessage
        self.onDisconnect = onDisconnect
    }
}

/// One connected WebSocket: an id unique within the server's run, and the handshake's query.
package struct LocalAPIWebSocketSession: Sendable, Hashable {
    /// Unique among the sessions of one server run, counting from 1.
    public let id: UInt64
    /// The handshake URL's query parameters, percent-decoded; `token` is never among them.
    public let query: [String: String]
}
