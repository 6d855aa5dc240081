import Primitives

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A non-blocking POSIX UDP socket: the only I/O the rendezvous service and the short-code client do,
/// and the base of the node's `NodeSocket`.
///
/// A value type over a file descriptor: copies share the descriptor, and exactly one owner
/// (`RendezvousService`, or the transport's loop) closes it once its loop thread has finished with it.
public struct UDPSocket: Sendable {
    /// The file descriptor, for `poll(2)` and socket options.
    public let descriptor: Int32
    /// True for an IPv6 socket: IPv4 targets are then sent as IPv4-mapped addresses.
    package let isIPv6: Bool

    #if canImport(Glibc)
        private static let datagramType = Int32(SOCK_DGRAM.rawValue)
    #else
        private static let datagramType = SOCK_DGRAM
    #endif

    /// Opens a socket bound to `hostPort`; an IPv6 wildcard (`::`) also receives IPv4.
    ///
    /// - Throws: `SocketError.cannotResolve` or `.system`.
    public static func open(boundTo hostPort: HostPort) throws(SocketError) -> UDPSocket {
        var (storage, length) = try resolve(hostPort)
        let family = Int32(storage.ss_family)
        let descriptor = socket(family, datagramType, 0)
        guard descriptor >= 0 else { throw .system(call: "socket", errno: errno) }
        let socket = UDPSocket(descriptor: descriptor, isIPv6: family == AF_INET6)
        do throws(SocketError) {
            try socket.configure(
                wildcardIPv6: family == AF_INET6 && hostPort.host.allSatisfy { $0 == ":" || $0 == "0" }
            )
            let result = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bindDescriptor(descriptor, $0, length) }
            }
            guard result == 0 else { throw .system(call: "bind \(hostPort)", errno: errno) }
        } catch {
            socket.close()
            throw error
        }
        return socket
    }

    private func configure(wildcardIPv6: Bool) throws(SocketError) {
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw .system(call: "fcntl O_NONBLOCK", errno: errno)
        }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        // A larger receive buffer absorbs bursts between two polls; best effort.
        var receiveBuffer: Int32 = 1 << 20
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
        if wildcardIPv6 {
            var off: Int32 = 0
            _ = setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// The first endpoint `hostPort` resolves to, an IPv4-mapped IPv6 address as plain IPv4.
    ///
    /// - Throws: `SocketError.cannotResolve`.
    public static func resolveEndpoint(_ hostPort: HostPort) throws(SocketError) -> UDPEndpoint {
        let (storage, _) = try resolve(hostPort)
        guard let endpoint = endpoint(from: storage) else {
            throw .cannotResolve(host: hostPort.host, reason: "not an IPv4 or IPv6 address")
        }
        return endpoint.unmapped
    }

    /// The first address `hostPort` resolves to, as a socket address and its length.
    ///
    /// - Throws: `SocketError.cannotResolve`.
    static func resolve(_ hostPort: HostPort) throws(SocketError) -> (sockaddr_storage, socklen_t) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = datagramType
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(hostPort.host, String(hostPort.port), &hints, &list)
        guard status == 0, let first = list, let address = first.pointee.ai_addr else {
            let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
            throw .cannotResolve(host: hostPort.host, reason: reason)
        }
        defer { freeaddrinfo(list) }
        var storage = sockaddr_storage()
        let length = first.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &storage) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length)))
        }
        return (storage, length)
    }

    /// The address the socket is bound to (with the real port when bound to port 0).
    public func localEndpoint() throws(SocketError) -> UDPEndpoint {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard result == 0, let endpoint = Self.endpoint(from: storage) else {
            throw .system(call: "getsockname", errno: errno)
        }
        return endpoint
    }

    /// The outcome of one receive attempt.
    public enum Received: Sendable {
        /// A datagram of this many bytes (possibly truncated to the buffer) from this address.
        case datagram(Int, UDPEndpoint)
        /// Nothing is waiting.
        case empty
        /// A transient error (an ICMP error reported on the socket, say); try again.
        case transient(Int32)
        /// The socket is unusable.
        case failed(Int32)
    }

    /// Reads one datagram into `buffer` without blocking.
    public func receive(into buffer: inout [UInt8]) -> Received {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let count = buffer.withUnsafeMutableBytes { bytes in
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(descriptor, bytes.baseAddress, bytes.count, 0, $0, &length)
                }
            }
        }
        guard count >= 0 else {
            let code = errno
            switch code {
            case EAGAIN, EWOULDBLOCK: return .empty
            case EINTR, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EMSGSIZE: return .transient(code)
            default: return .failed(code)
            }
        }
        // An address family we cannot represent is skipped like any other unusable datagram.
        guard let source = Self.endpoint(from: storage) else { return .transient(EAFNOSUPPORT) }
        return .datagram(count, source.unmapped)
    }

    /// Sends one datagram; returns errno on failure (the datagram is then lost, as UDP may).
    public func send(_ datagram: [UInt8], to target: UDPEndpoint) -> Int32? {
        var storage = sockaddr_storage()
        guard let length = Self.socketAddress(target, ipv6Socket: isIPv6, into: &storage) else { return EAFNOSUPPORT }
        let sent = datagram.withUnsafeBytes { bytes in
            withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, length)
                }
            }
        }
        return sent == datagram.count ? nil : (sent < 0 ? errno : EMSGSIZE)
    }

    /// Fills `storage` with `target` (IPv4-mapped on an IPv6 socket); returns its length, or nil
    /// for an IPv6 target on an IPv4 socket.
    package static func socketAddress(_ target: UDPEndpoint, ipv6Socket: Bool, into storage: inout sockaddr_storage)
        -> socklen_t?
    {
        switch (target.address, ipv6Socket) {
        case (.v4(let address), false):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = target.port.bigEndian
            sin.sin_addr.s_addr = address.bigEndian
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sin, as: sockaddr_in.self) }
            return socklen_t(MemoryLayout<sockaddr_in>.size)
        case (.v4, true), (.v6, true):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = target.port.bigEndian
            let bytes: [UInt8]
            switch target.address {
            case .v4: bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + target.addressBytes
            case .v6: bytes = target.addressBytes
            }
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: bytes) }
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sin6, as: sockaddr_in6.self) }
            return socklen_t(MemoryLayout<sockaddr_in6>.size)
        case (.v6, false):
            return nil
        }
    }

    /// Closes the descriptor; every copy of this value is unusable afterwards.
    public func close() {
        SystemCall.close(descriptor)
    }

    /// The endpoint a socket address names; nil for a family other than IPv4 and IPv6.
    public static func endpoint(from storage: sockaddr_storage) -> UDPEndpoint? {
        switch Int32(storage.ss_family) {
        case AF_INET:
            let sin = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }
            return UDPEndpoint(
                address: .v4(UInt32(bigEndian: sin.sin_addr.s_addr)),
                port: UInt16(bigEndian: sin.sin_port)
            )
        case AF_INET6:
            let sin6 = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }
            let bytes = withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }
            return UDPEndpoint(addressBytes: bytes, port: UInt16(bigEndian: sin6.sin6_port))
        default:
            return nil
        }
    }
}

/// `bind(2)`, under a name the socket type's own members do not shadow.
private func bindDescriptor(_ descriptor: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    bind(descriptor, address, length)
}
