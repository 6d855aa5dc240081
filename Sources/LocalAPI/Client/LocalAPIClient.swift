import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Sockets
import Synchronization

/// How a control command talks to the node running with the same data folder.
///
/// Each request reads `api.json` afresh (so a restarted node, with its new port and token, is found)
/// and sends the bearer token to 127.0.0.1 over its own connection. It is a small HTTP/1.1 client on
/// SwiftNIO rather than Foundation's URLSession: on Linux URLSession goes through libcurl, which obeys
/// `http_proxy` even for 127.0.0.1 and would hand the token to whatever proxy the environment names,
/// and would add libcurl to the libraries a static `cvpeer` binary needs at run time.
///
/// `upload` and `download` stream: a shared or saved video passes through in chunks and is never held
/// whole. While a body is still going out the answer is already being read, so a node that refuses an
/// upload early (413, 400) is heard rather than reported as a broken connection.
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
        package var errorMessage: String {
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
    package let maxResponseSize: Int

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
        _ method: LocalAPIMethod = .post, _ path: String, json body: some Encodable,
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
        _ method: LocalAPIMethod, _ path: String, body: [UInt8]? = nil, contentType: String = "application/json"
    ) async throws(LocalAPIError) -> Response {
        let outgoing: Outgoing = body.map { .bytes($0) } ?? .none
        return try await exchange(method, path, outgoing: outgoing, contentType: contentType, incoming: .collect)
    }

    /// POSTs the file at `filePath` as the body of `path`, read and sent in chunks of `chunkSize` bytes
    /// as the connection takes them, so the file's size never matters; returns the answer whatever its status.
    ///
    /// The file is opened before the node is contacted, and its size when opened is the body's length.
    /// `timeout` bounds each silence rather than the whole upload: a 4 GB video takes as long as it takes,
    /// but a node that stops reading or never answers is given up on.
    ///
    /// - Parameters:
    ///   - path: The path and query, starting with `/` (see `path(_:query:)`).
    ///   - filePath: A regular file.
    ///   - contentType: The body's media type.
    ///   - chunkSize: How much is read from the file at a time.
    ///   - progress: Called after each chunk is handed to the connection with the bytes sent so far and
    ///     the total, on some thread of the client's choosing.
    /// - Throws: `LocalAPIError.badRequest` when the file cannot be read or shrinks while it is sent,
    ///   and what `send(_:_:body:contentType:)` throws.
    public func upload(
        _ path: String, file filePath: String, contentType: String = "application/octet-stream",
        chunkSize: Int = defaultChunkSize,
        progress: @escaping @Sendable (_ sent: Int64, _ total: Int64) -> Void = { _, _ in }
    ) async throws(LocalAPIError) -> Response {
        precondition(chunkSize > 0, "an upload chunk holds at least one byte")
        let fd = open(filePath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .badRequest("cannot read \(filePath): \(Self.lastError())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .badRequest("cannot read \(filePath): \(Self.lastError())") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .badRequest("\(filePath) is not a regular file") }
        let file = UploadFile(
            fd: fd, path: filePath, size: Int64(info.st_size), chunkSize: chunkSize, progress: progress)
        return try await exchange(
            .post, path, outgoing: .file(file), contentType: contentType, incoming: .collect, idleTimeout: true)
    }

    /// GETs `path` and hands a successful answer's body to `sink` piece by piece as it arrives, so a
    /// blob of any size passes through without being held; returns the answer.
    ///
    /// For a 2xx status the returned body is empty (it went to `sink`); any other status's body is
    /// returned as `send` returns it, for its `{"error": …}`. `timeout` bounds each silence, as for
    /// `upload`.
    ///
    /// - Parameters:
    ///   - path: The path, starting with `/`.
    ///   - sink: Takes each piece of the body in order; what it throws ends the download.
    ///   - progress: Called after each piece with the bytes received so far and the announced length
    ///     (nil without a `Content-Length`).
    /// - Throws: what `sink` throws, and what `send(_:_:body:contentType:)` throws.
    public func download(
        _ path: String, to sink: @escaping @Sendable (UnsafeRawBufferPointer) throws(LocalAPIError) -> Void,
        progress: @escaping @Sendable (_ received: Int64, _ total: Int64?) -> Void = { _, _ in }
    ) async throws(LocalAPIError) -> Response {
        try await exchange(.get, path, outgoing: .none, incoming: .stream(sink, progress), idleTimeout: true)
    }

    /// The chunk size of `upload`: large enough that a system call per chunk costs nothing, small
    /// enough that a few chunks in flight are nothing either.
    public static let defaultChunkSize = 1 << 20

    /// `path` followed by a query of `items`, each name and value percent-encoded (everything but
    /// RFC 3986's unreserved characters); items with a nil value are left out.
    public static func path(_ path: String, query items: [(name: String, value: String?)]) -> String {
        let pairs = items.compactMap { item in item.value.map { percentEncoded(item.name) + "=" + percentEncoded($0) } }
        return pairs.isEmpty ? path : path + "?" + pairs.joined(separator: "&")
    }

    private static func percentEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: The exchange

    /// What a request sends after its head.
    private enum Outgoing: Sendable {
        case none
        case bytes([UInt8])
        case file(UploadFile)
    }

    /// What happens to the answer's body.
    private enum Incoming: Sendable {
        /// Collected whole, up to `maxResponseSize`.
        case collect
        /// A 2xx body goes to the sink as it arrives; other bodies are collected.
        case stream(
            @Sendable (UnsafeRawBufferPointer) throws(LocalAPIError) -> Void, @Sendable (Int64, Int64?) -> Void)
    }

    /// An open file being uploaded; the caller owns (and closes) the descriptor.
    private struct UploadFile: Sendable {
        package let fd: Int32
        package let path: String
        package let size: Int64
        package let chunkSize: Int
        package let progress: @Sendable (Int64, Int64) -> Void
    }

    /// How each half of the exchange ended.
    private enum Step: Sendable {
        case sent
        case sendFailed
        case answered(Response)
    }

    private func exchange(
        _ method: LocalAPIMethod, _ path: String, outgoing: Outgoing, contentType: String = "application/json",
        incoming: Incoming, idleTimeout: Bool = false
    ) async throws(LocalAPIError) -> Response {
        precondition(path.hasPrefix("/"), "a local API path starts with /: \(path)")
        guard let file = LocalAPIFile.read(from: LocalAPIFile.path(inDataFolder: dataFolderPath)) else {
            throw .nodeNotRunning(dataFolder: dataFolderPath)
        }
        var headers = HTTPHeaders()
        headers.add(name: "host", value: "127.0.0.1:\(file.port)")
        headers.add(name: "authorization", value: "Bearer \(file.token)")
        headers.add(name: "connection", value: "close")
        switch outgoing {
        case .none: break
        case .bytes(let body):
            headers.add(name: "content-type", value: contentType)
            headers.add(name: "content-length", value: String(body.count))
        case .file(let upload):
            headers.add(name: "content-type", value: contentType)
            headers.add(name: "content-length", value: String(upload.size))
        }
        let head = HTTPRequestHead(
            version: .http1_1, method: HTTPMethod(rawValue: method.rawValue), uri: path, headers: headers)

        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: file.port)
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

        let watchdog = Watchdog(timeout: timeout, resetByActivity: idleTimeout)
        let seconds = Int(timeout.components.seconds)
        let rawChannel = channel.channel
        let tick = TimeAmount(min(max(timeout / 10, .milliseconds(10)), .seconds(1)))
        let deadline = rawChannel.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { task in
            guard watchdog.isOverdue else { return }
            watchdog.fire()
            rawChannel.close(promise: nil)
            task.cancel()
        }
        defer { deadline.cancel() }
        let limit = maxResponseSize
        do {
            return try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Step.self) { group in
                    group.addTask {
                        do {
                            try await Self.transmit(
                                head, outgoing, to: outbound, allocator: rawChannel.allocator, watchdog)
                            return .sent
                        } catch let error as LocalAPIError {
                            throw error
                        } catch {
                            // The node may have answered early (a refusal) and closed: the answer tells.
                            return .sendFailed
                        }
                    }
                    group.addTask {
                        .answered(try await Self.receive(inbound, incoming, limit: limit, watchdog))
                    }
                    do {
                        var sending = true
                        while let step = try await group.next() {
                            switch step {
                            case .sent, .sendFailed:
                                sending = false
                            case .answered(let response):
                                // An early answer leaves the sender waiting for a node that stopped reading.
                                if sending { rawChannel.close(promise: nil) }
                                group.cancelAll()
                                return response
                            }
                        }
                    } catch {
                        // The group waits for both halves before it returns; closing wakes whichever still waits.
                        rawChannel.close(promise: nil)
                        throw error
                    }
                    throw LocalAPIError.malformedResponse("the connection closed before the answer was complete")
                }
            }
        } catch let error as LocalAPIError {
            throw watchdog.hasFired ? .timedOut(seconds: seconds) : error
        } catch {
            throw watchdog.hasFired ? .timedOut(seconds: seconds) : .malformedResponse("\(error)")
        }
    }

    /// Writes the request: head, body, end.
    private static func transmit(
        _ head: HTTPRequestHead, _ outgoing: Outgoing,
        to outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>,
        allocator: ByteBufferAllocator, _ watchdog: Watchdog
    ) async throws {
        try await outbound.write(.head(head))
        switch outgoing {
        case .none: break
        case .bytes(let body): try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
        case .file(let file):
            var sent: Int64 = 0
            while sent < file.size {
                try Task.checkCancellation()
                let wanted = Int(min(Int64(file.chunkSize), file.size - sent))
                var buffer = allocator.buffer(capacity: wanted)
                var failure: Int32 = 0
                let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { space in
                    let result = SystemCall.retrying { read(file.fd, space.baseAddress, wanted) }
                    if result >= 0 { return result }
                    failure = errno
                    return 0
                }
                if failure != 0 {
                    throw LocalAPIError.badRequest("cannot read \(file.path): \(SystemCall.errorText(failure))")
                }
                // Sending fewer bytes than the Content-Length announced would leave the node waiting.
                guard got > 0 else { throw LocalAPIError.badRequest("\(file.path) became shorter while it was sent") }
                try await outbound.write(.body(.byteBuffer(buffer)))
                sent += Int64(got)
                watchdog.touch()
                file.progress(sent, file.size)
            }
        }
        try await outbound.write(.end(nil))
    }

    /// Reads the answer, handing a streamed 2xx body to its sink.
    private static func receive(
        _ inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>, _ incoming: Incoming, limit: Int,
        _ watchdog: Watchdog
    ) async throws -> Response {
        var status: Int?
        var announced: Int64?
        var received: Int64 = 0
        var collected = ByteBuffer()
        for try await part in inbound {
            watchdog.touch()
            switch part {
            case .head(let responseHead):
                // 1xx answers (100 Continue) come before the real one.
                guard responseHead.status.code >= 200 else { continue }
                status = Int(responseHead.status.code)
                announced = responseHead.headers.first(name: "content-length").flatMap { Int64($0) }
            case .body(var chunk):
                if case .stream(let sink, let progress) = incoming, let status, (200..<300).contains(status) {
                    try chunk.withUnsafeReadableBytes { bytes throws(LocalAPIError) in try sink(bytes) }
                    received += Int64(chunk.readableBytes)
                    progress(received, announced)
                    continue
                }
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

    private static func lastError() -> String { String(cString: strerror(errno)) }

    /// Ends a request that has been silent too long (or, without `resetByActivity`, that has taken too
    /// long), so the resulting channel error is reported as a timeout.
    private final class Watchdog: Sendable {
        private let fired = Atomic(false)
        private let lastActivity: Atomic<UInt64>
        private let timeoutNanoseconds: UInt64
        private let resetByActivity: Bool

        package init(timeout: Duration, resetByActivity: Bool) {
            let components = timeout.components
            timeoutNanoseconds =
                UInt64(components.seconds) * 1_000_000_000 + UInt64(components.attoseconds / 1_000_000_000)
            self.resetByActivity = resetByActivity
            lastActivity = Atomic(NIODeadline.now().uptimeNanoseconds)
        }

        package var hasFired: Bool { fired.load(ordering: .acquiring) }
        package var isOverdue: Bool {
            // Read before the clock, and compared without subtracting past zero: a touch from another
            // thread may land between the two reads.
            let last = lastActivity.load(ordering: .relaxed)
            let now = NIODeadline.now().uptimeNanoseconds
            return now > last && now - last >= timeoutNanoseconds
        }
        package func fire() { fired.store(true, ordering: .releasing) }
        package func touch() {
            if resetByActivity { lastActivity.store(NIODeadline.now().uptimeNanoseconds, ordering: .relaxed) }
        }
    }
}

extension LocalAPIClient.Response {
    /// Self for a 2xx status; otherwise the node's refusal as an error.
    ///
    /// - Throws: `LocalAPIError.requestFailed` with the status and the node's message.
    public func successful() throws(LocalAPIError) -> Self {
        guard (200..<300).contains(status) else { throw .requestFailed(status: status, message: errorMessage) }
        return self
    }
}
