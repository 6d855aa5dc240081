import Primitives
import Sockets
import Synchronization

/// A non-blocking UDP socket on 127.0.0.1 with large buffers, for tests that play a peer, a
/// victim or a client by hand; peers are named by port only.
public final class LoopbackSocket: Sendable {
    private let socket: NodeSocket
    private let closed = Atomic(false)
    /// The bound port.
    public let port: UInt16

    /// Binds a free port on 127.0.0.1.
    public init() throws {
        socket = try NodeSocket.open(listen: HostPort(host: "127.0.0.1", port: 0), bufferSize: 4 << 20)
        port = try socket.socket.localEndpoint().port
    }

    deinit {
        close()
    }

    /// The file descriptor, for `poll(2)`.
    public var descriptor: Int32 { socket.descriptor }

    /// 127.0.0.1 and the bound port.
    public var endpoint: UDPEndpoint { .ipv4(127, 0, 0, 1, port: port) }

    /// Sends one datagram to 127.0.0.1:`port`; true if the kernel took all of it.
    @discardableResult
    public func send(_ bytes: [UInt8], to port: UInt16) -> Bool {
        socket.socket.send(bytes, to: .ipv4(127, 0, 0, 1, port: port)) == nil
    }

    /// One waiting datagram and its source port, or nil.
    public func receive() -> ([UInt8], UInt16)? {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        guard case .datagram(let count, let source) = socket.socket.receive(into: &buffer) else { return nil }
        return (Array(buffer[0..<count]), source.port)
    }

    /// The next datagram within `milliseconds`, or nil.
    public func receive(within milliseconds: Int) -> [UInt8]? {
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(milliseconds)
        while true {
            if let (datagram, _) = receive() { return datagram }
            guard clock.now < deadline, (try? Poll.readable([socket.descriptor], until: deadline, clock: clock)) != nil
            else { return nil }
        }
    }

    /// Closes the socket; later calls do nothing.
    public func close() {
        if !closed.exchange(true, ordering: .relaxed) { socket.close() }
    }
}
