import Foundation
import Node
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs blocking socket code on a thread of its own, so the tests never block Swift's cooperative
/// pool, which the server's handlers need (two threads on a two-core machine).
func runOnOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

/// A socket failure in a test helper.
struct RawHTTPSocketError: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = "\(what): \(String(cString: strerror(errno)))" }
}

/// A blocking TCP connection to 127.0.0.1 that sends bytes exactly as written: the tests need
/// foreign Host and Origin headers, hand-made WebSocket handshakes and bodies without a length.
final class RawHTTPConnection {
    private let fd: Int32
    private var buffered: [UInt8] = []

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTPSocketError("socket") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw RawHTTPSocketError("connect")
        }
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let result = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            guard result > 0 else { throw RawHTTPSocketError("send") }
            sent += result
        }
    }

    func write(_ text: String) throws { try write(Array(text.utf8)) }

    /// Reads until `count` bytes are buffered; false at end of stream.
    private func fill(to count: Int) throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while buffered.count < count {
            let result = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if result == 0 { return false }
            guard result > 0 else { throw RawHTTPSocketError("recv") }
            buffered += chunk[..<result]
        }
        return true
    }

    private func take(_ count: Int) throws -> [UInt8] {
        guard try fill(to: count) else { throw RawHTTPSocketError("connection closed early") }
        defer { buffered.removeFirst(count) }
        return Array(buffered[..<count])
    }

    /// Reads one HTTP response: status line, headers and (by Content-Length) body.
    func readResponse() throws -> RawHTTPResponse {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var end: Int?
        while end == nil {
            if let found = (0..<max(0, buffered.count - 3)).first(where: { Array(buffered[$0..<$0 + 4]) == separator })
            {
                end = found
            } else if try !fill(to: buffered.count + 1) {
                throw RawHTTPSocketError("connection closed before the response head")
            }
        }
        let headText = String(decoding: try take(end! + 4), as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        let statusLine = lines.removeFirst().split(separator: " ")
        let status = Int(statusLine[1]) ?? 0
        let headers = lines.map { line -> (String, String) in
            let colon = line.firstIndex(of: ":")!
            return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = headers.first { $0.0 == "content-length" }.flatMap { Int($0.1) } ?? 0
        let body = status == 101 ? [] : try take(length)
        return RawHTTPResponse(status: status, headers: headers, body: body)
    }

    /// Sends one masked WebSocket text frame, as a client must.
    func sendWebSocketText(_ text: String) throws {
        let payload = Array(text.utf8)
        precondition(payload.count < 126, "test frames stay small")
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        var frame: [UInt8] = [0x81, 0x80 | UInt8(payload.count)] + mask
        for (index, byte) in payload.enumerated() { frame.append(byte ^ mask[index % 4]) }
        try write(frame)
    }

    /// Reads WebSocket frames until a text frame arrives and returns its text (server frames are unmasked).
    func readWebSocketText() throws -> String {
        while true {
            let header = try take(2)
            var length = Int(header[1] & 0x7f)
            if length == 126 {
                let extended = try take(2)
                length = Int(extended[0]) << 8 | Int(extended[1])
            }
            let payload = try take(length)
            switch header[0] & 0x0f {
            case 0x1: return String(decoding: payload, as: UTF8.self)
            case 0x8: throw RawHTTPSocketError("the server closed the WebSocket")
            default: continue
            }
        }
    }
}

/// A response as read off the socket.
struct RawHTTPResponse: Sendable {
    let status: Int
    let headers: [(String, String)]
    let body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.0 == name.lowercased() }?.1 }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// Sends one request on a fresh connection and reads the response.
func rawHTTPRequest(port: Int, _ request: String, body: [UInt8] = []) async throws -> RawHTTPResponse {
    try await runOnOwnThread {
        let connection = try RawHTTPConnection(port: port)
        try connection.write(Array(request.utf8) + body)
        return try connection.readResponse()
    }
}

/// A request head with the given lines; `Connection: close` (but not on handshakes) keeps reads simple.
func httpHead(_ requestLine: String, _ lines: [String], close: Bool = true) -> String {
    ([requestLine] + lines + (close ? ["Connection: close"] : []) + ["", ""]).joined(separator: "\r\n")
}

/// The headers of a WebSocket handshake (RFC 6455's sample key).
let webSocketHandshakeLines = [
    "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
]

/// A fresh private temporary folder, removed by the caller.
func localAPITemporaryFolder() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cvpeer-api-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Counts calls from concurrent handlers.
final class LocalAPICallLog: Sendable {
    private let entries = Mutex<[String]>([])
    func record(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}
