import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// How a control command talks to the node running with the same data folder.
///
/// Each request reads `api.json` afresh (so a restarted node, with its new port and token, is found)
/// and sends the bearer token to 127.0.0.1 over its own connection. It is a small HTTP/1.1 client on
/// SwiftNIO rather than Foundation's URLSession: on Linux URLSession goes through libcurl, which obeys
/// `http_proxy` even for 127.0.0.1 and would hand the token to whatever proxy the environment names,
/// and would add libcurl to the libraries a static `cvpeer` binary needs at run time.
///
/// Immutable and thread-safe.
public struct LocalAPIClient: Sendable {
    /// A node's answer: its status and body.
    public struct Response: Sendable {
        /// The HTTP status.
        public let status: Int
        /// The body.
        public let body: [UInt8]

        /// Decodes the body as JSON.
        ///
        /// - Throws: `LocalAPIError.malformedResponse` if it is not the expected JSON.
        public func decode<Value: Decodable>(_ type: Value.Type = Value.self) throws(LocalAPIError) -> Value {
            do {
                return try JSONDecoder().decode(type, from: Data(body))
            } catch {
                throw .malformedResponse("expected \(type) as JSON, got \(body.count) bytes that are not")
            }
        }

        /// The node's `{"error": …}` message, or a short placeholder when the body has none.
        var errorMessage: String {
            struct ErrorBody: Decodable { var error: String }
            return (try? JSONDecoder().decode(ErrorBody.self, from: Data(body)))?.error ?? "no explanation given"
        }
    }

    /// The largest answer read: a full `export` fits many times over.
    public static let defaultMaxResponseSize = 256 << 20

    /// The data folder whose node this client talks to.
    public let dataFolderPath: String
    /// How long one request may take, connection included.
    public let timeout: Duration
    /// The largest answer accepted.
    public let maxResponseSize: Int

    /// Makes a client for the node of a data folder; nothing is read or connected until a request.
    public init(dataFolderPath: String, timeout: Duration = .seconds(30), maxResponseSize: Int = defaultMaxResponseSize)
    {
        self.dataFolderPath = dataFolderPath
        self.timeout = timeout
        self.maxResponseSize = maxResponseSize
    }

    /// GETs `path` and decodes the JSON answer.
    ///
    /// - Throws: `LocalAPIError.nodeNotRunning`, `.requestFailed` for an error status, `.malformedResponse`,
    ///   `.timedOut`.
    public func get<Value: Decodable>(_ path: String, as type: Value.Type = Value.self) async throws(LocalAPIError)
        -> Value
    {
        try await send(.get, path).successful().decode(type)
    }

    /// Sends `body` as JSON with `method` (POST by default) and decodes the JSON answer.
    ///
    /// - Throws: as `get(_:as:)`; `.badRequest` if `body` cannot be encoded.
    public func send<Value: Decodable>(
        _ method: LocalAPIRoute.Method = .post, _ path: String, json body: some Encodable,
        as type: Value.Type = Value.self
    ) async throws(LocalAPIError) -> Value {
        let bytes: [UInt8]
        do {
            bytes = Array(try JSONEncoder().encode(body))
        } catch {
            throw .badRequest("the request could not be encoded as JSON: \(error)")
        }
        return try await send(method, path, body: bytes).successful().decode(type)
    }

    /// Sends one request and returns the answer whatever its status.
    ///
    /// - Parameters:
    ///   - method: The method.
    ///   - path: The path and query, starting with `/`.
    ///   - body: The body; nil sends none.
    ///   - contentType: The body's media type.
    /// - Throws: `LocalAPIError.nodeNotRunning` when `api.json` is missing or nobody listens on its port,
    ///   `.malformedResponse` or `.timedOut`.
    public func send(
        _ method: LocalAPIRoute.Method, _ path: String, body: [UInt8]? = nil, contentType: String = "application/json"
    ) async throws(LocalAPIError) -> Response {
        precondition(path.hasPrefix("/"), "a local API path starts with /: \(path)")
        guard let file = LocalAPIFile.read(from: LocalAPIFile.path(inDataFolder: dataFolderPath)) else {
            throw .nodeNotRunning(dataFolder: dataFolderPath)
        }
        var headers = HTTPHeaders()
        headers.add(name: "host", value: "127.0.0.1:\(file.port)")
        headers.add(name: "authorization", value: "Bearer \(file.token)")
        headers.add(name: "connection", value: "close")
        if let body {
            headers.add(name: "content-type", value: contentType)
            headers.add(name: "content-length", value: String(body.count))
        }
        let head = HTTPRequestHead(
            version: .http1_1, method: HTTPMethod(rawValue: method.rawValue), uri: path, headers: headers)
        return try await exchange(port: file.port, head: head, body: body)
    }

    private func exchange(port: Int, head: HTTPRequestHead, body: [UInt8]?) async throws(LocalAPIError) -> Response {
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(timeout))
                .connect(to: address) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                            wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            // api.json outlived its node (killed, or the machine rebooted): nobody listens on that port.
            throw .nodeNotRunning(dataFolder: dataFolderPath)
        }

        let expired = Expiry()
        let seconds = Int(timeout.components.seconds)
        let deadline = channel.channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            expired.fire()
            channel.channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        let limit = maxResponseSize
        do {
            return try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(.head(head))
                if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                try await outbound.write(.end(nil))
                var status: Int?
                var collected = ByteBuffer()
                for try await part in inbound {
                    switch part {
                    case .head(let responseHead):
                        // 1xx answers (100 Continue) come before the real one.
                        if responseHead.status.code >= 200 { status = Int(responseHead.status.code) }
                    case .body(var chunk):
                        guard collected.readableBytes + chunk.readableBytes <= limit else {
                            throw LocalAPIError.malformedResponse("the answer is larger than \(limit) bytes")
                        }
                        collected.writeBuffer(&chunk)
                    case .end:
                        guard let status else { continue }
                        return Response(status: status, body: Array(collected.readableBytesView))
                    }
                }
                throw LocalAPIError.malformedResponse("the connection closed before the answer was complete")
            }
        } catch let error as LocalAPIError {
            throw expired.hasFired ? .timedOut(seconds: seconds) : error
        } catch {
            throw expired.hasFired ? .timedOut(seconds: seconds) : .malformedResponse("\(error)")
        }
    }

    /// Set when a request's deadline passes, so the resulting channel error is reported as a timeout.
    private final class Expiry: Sendable {
        private let fired = Atomic(false)
        var hasFired: Bool { fired.load(ordering: .acquiring) }
        func fire() { fired.store(true, ordering: .releasing) }
    }
}

extension LocalAPIClient.Response {
    /// Self for a 2xx status; otherwise the node's refusal as an error.
    func successful() throws(LocalAPIError) -> Self {
        guard (200..<300).contains(status) else { throw .requestFailed(status: status, message: errorMessage) }
        return self
    }
}
