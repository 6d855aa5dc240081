import Primitives
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The node's one UDP socket: a `UDPSocket` with large kernel buffers, a sub-millisecond wait,
/// segmented sends and coalesced receives, and the addresses worth announcing.
///
/// A value over a file descriptor; the transport's loop owns it and closes it once its thread is done.
public struct NodeSocket: Sendable {
    /// The socket underneath.
    public let socket: UDPSocket
    /// Whether segmented sends are still tried on this socket: shared by every copy, and off for
    /// good once the kernel refused one.
    private let offload = OffloadFlag(NodeSocket.segmentationAvailable)

    init(socket: UDPSocket) {
        self.socket = socket
    }

    /// Binds `listen` and raises both kernel buffers towards `bufferSize` (best effort).
    ///
    /// - Throws: `SocketError.cannotResolve` or `.system`.
    public static func open(listen: HostPort, bufferSize: Int) throws(SocketError) -> NodeSocket {
        let socket = try UDPSocket.open(boundTo: listen)
        var size = Int32(clamping: bufferSize)
        let length = socklen_t(MemoryLayout<Int32>.size)
        for (option, force) in [(SO_RCVBUF, Self.receiveBufferForce), (SO_SNDBUF, Self.sendBufferForce)] {
            // Unprivileged sockets are capped at rmem_max / wmem_max; the FORCE variants (root
            // only) pass the cap, so try them first and fall back silently.
            if let force, setsockopt(socket.descriptor, SOL_SOCKET, force, &size, length) == 0 { continue }
            _ = setsockopt(socket.descriptor, SOL_SOCKET, option, &size, length)
        }
        return NodeSocket(socket: socket)
    }

    #if os(Linux)
        private static let receiveBufferForce: Int32? = SO_RCVBUFFORCE
        private static let sendBufferForce: Int32? = SO_SNDBUFFORCE
    #else
        private static let receiveBufferForce: Int32? = nil
        private static let sendBufferForce: Int32? = nil
    #endif

    /// The file descriptor.
    public var descriptor: Int32 { socket.descriptor }

    /// The kernel's receive and send buffer sizes (Linux reports twice what was set: it counts overhead).
    public var bufferSizes: (receive: Int, send: Int) {
        func read(_ option: Int32) -> Int {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(socket.descriptor, SOL_SOCKET, option, &value, &length) == 0 ? Int(value) : 0
        }
        return (read(SO_RCVBUF), read(SO_SNDBUF))
    }

    /// True if `endpoint` can be reached from this socket's address family.
    public func canReach(_ endpoint: UDPEndpoint) -> Bool {
        switch endpoint.address {
        case .v4: true
        case .v6: socket.isIPv6
        }
    }

    /// The addresses to announce for a socket bound to `local`: that address itself, or for a
    /// wildcard every non-loopback address of the host's interfaces up (loopback only if there is none).
    public static func candidates(for local: UDPEndpoint, limit: Int) -> [UDPEndpoint] {
        guard local.isWildcard else { return [local] }
        var found: [UDPEndpoint] = []
        var loopback: [UDPEndpoint] = []
        for interface in NetworkInterfaces.addresses() {
            var endpoint = interface.endpoint
            if case .v6(let high, _) = endpoint.address {
                // An IPv4 socket cannot use it, and fe80::/10 needs a scope id.
                guard case .v6 = local.address, high >> 54 != 0x3FA else { continue }
            }
            endpoint.port = local.port
            if interface.isLoopback {
                loopback.append(endpoint)
            } else if !found.contains(endpoint) {
                found.append(endpoint)
            }
        }
        return Array((found.isEmpty ? loopback : found).prefix(limit))
    }

    /// Waits until the socket or `wake` is readable, or `nanoseconds` pass; returns (socket, wake) readiness.
    public func wait(wake: Int32, nanoseconds: UInt64) -> (socket: Bool, wake: Bool) {
        var fds = [
            pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
        ]
        let result: Int32
        if let precisePoll = Self.precisePoll {
            // ppoll takes nanoseconds: pacing gaps on a fast path are microseconds, which poll's
            // milliseconds would round to a busy loop or to a stall.
            var timeout = timespec(
                tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
            result = fds.withUnsafeMutableBufferPointer { precisePoll($0.baseAddress, 2, &timeout, nil) }
        } else {
            result = poll(&fds, 2, Int32(clamping: (nanoseconds + 999_999) / 1_000_000))
        }
        guard result > 0 else { return (false, false) }
        let readable = Int16(POLLIN | POLLERR | POLLHUP)
        return (fds[0].revents & readable != 0, fds[1].revents & readable != 0)
    }

    private typealias PrecisePoll = @convention(c) (
        UnsafeMutablePointer<pollfd>?, nfds_t, UnsafePointer<timespec>?, UnsafeRawPointer?
    ) -> Int32

    /// `ppoll(2)`, looked up at run time: the C library has it, but Swift's Glibc module hides
    /// it behind `_GNU_SOURCE`; nil where it does not exist (then `poll` is used).
    private static let precisePoll: PrecisePoll? = {
        #if os(Linux)
            guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "ppoll") else { return nil }
            return unsafeBitCast(symbol, to: PrecisePoll.self)
        #else
            return nil
        #endif
    }()

    /// The outcome of one receive call.
    public enum Received {
        /// `length` bytes from `source`: one datagram, or with `segmentSize` back-to-back
        /// datagrams of that size (the last may be shorter) that the kernel coalesced.
        case datagrams(length: Int, segmentSize: Int?, source: UDPEndpoint)
        /// A read longer than the buffer, cut short by the kernel (MSG_TRUNC), from `source`.
        case truncated(source: UDPEndpoint)
        /// Nothing is waiting.
        case empty
        /// A transient error (an ICMP error reported on the socket, say); try again.
        case transient
        /// The socket is unusable.
        case failed(Int32)
    }

    /// Linux's UDP_GRO option: with it on, the kernel may hand over several datagrams of one
    /// sender in one receive (segment size in a cmsg), one pass through the stack for all of them.
    private static let udpGROOption: Int32 = 104

    /// Asks the kernel to coalesce datagrams (best effort; false where it cannot).
    public func enableCoalescing() -> Bool {
        #if os(Linux)
            var on: Int32 = 1
            return setsockopt(
                socket.descriptor, Self.udpLevel, Self.udpGROOption, &on, socklen_t(MemoryLayout<Int32>.size)) == 0
        #else
            return false
        #endif
    }

    /// Reads one datagram (or one coalesced run) into `buffer` without blocking.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) -> Received {
        var storage = sockaddr_storage()
        var vector = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
        // Room for one cmsghdr and an int, aligned: CMSG_SPACE(4) = 24; 64 leaves slack.
        var control: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        var segmentSize: Int?
        var truncated = false
        let count = withUnsafeMutablePointer(to: &storage) { address in
            withUnsafeMutablePointer(to: &vector) { vector in
                withUnsafeMutableBytes(of: &control) { control in
                    var message = msghdr()
                    message.msg_name = UnsafeMutableRawPointer(address)
                    message.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                    message.msg_iov = vector
                    message.msg_iovlen = 1
                    message.msg_control = control.baseAddress
                    message.msg_controllen = control.count
                    let count = recvmsg(socket.descriptor, &message, 0)
                    if count > 0 { segmentSize = Self.segmentSize(control, length: Int(message.msg_controllen)) }
                    truncated = message.msg_flags & Int32(MSG_TRUNC) != 0
                    return count
                }
            }
        }
        guard count >= 0 else {
            let code = errno
            switch code {
            case EAGAIN, EWOULDBLOCK: return .empty
            case EINTR, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EMSGSIZE: return .transient
            default: return .failed(code)
            }
        }
        guard let source = UDPSocket.endpoint(from: storage) else { return .transient }
        // More arrived than the buffer holds: what was read is not what was sent.
        guard !truncated else { return .truncated(source: source.unmapped) }
        return .datagrams(length: count, segmentSize: segmentSize, source: source.unmapped)
    }

    /// Datagrams a receive refused, by reason.
    package struct SegmentDrops: Equatable, Sendable {
        /// Reads the kernel cut short (MSG_TRUNC): the whole read is dropped.
        package var truncated = 0
        /// Datagrams (or segments of a coalesced run) above the size allowed.
        package var oversized = 0

        package init() {}
    }

    /// The outcome of `receiveSegments`.
    package enum SegmentsReceived: Equatable {
        /// One read: this many datagrams were handed over, from `source`.
        case datagrams(Int, source: UDPEndpoint)
        /// One read that was dropped whole or in part (counted in the drops), or a transient error.
        case dropped
        /// Nothing is waiting.
        case empty
        /// The socket is unusable.
        case failed(Int32)
    }

    /// Reads one datagram or coalesced run into `buffer` and hands `body` each datagram in it, in
    /// order (the bytes are valid only during the call). Input is hostile: a truncated read is
    /// dropped whole, a segment above `maxDatagram` bytes is dropped alone; both are counted in `drops`.
    package func receiveSegments(
        into buffer: UnsafeMutableRawBufferPointer, maxDatagram: Int, drops: inout SegmentDrops,
        _ body: (UnsafeRawBufferPointer, UDPEndpoint) -> Void
    ) -> SegmentsReceived {
        switch receive(into: buffer) {
        case .datagrams(let length, let segmentSize, let source):
            let size = min(segmentSize ?? length, length)
            guard size > 0 else {
                // An empty datagram: handed over as such.
                body(UnsafeRawBufferPointer(rebasing: buffer[0..<0]), source)
                return .datagrams(1, source: source)
            }
            var offset = 0
            var handed = 0
            while offset < length {
                let count = min(size, length - offset)
                if count > maxDatagram {
                    drops.oversized += 1
                } else {
                    body(UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + count)]), source)
                    handed += 1
                }
                offset += count
            }
            return handed > 0 ? .datagrams(handed, source: source) : .dropped
        case .truncated:
            drops.truncated += 1
            return .dropped
        case .transient:
            return .dropped
        case .empty:
            return .empty
        case .failed(let code):
            return .failed(code)
        }
    }

    /// The segment size in a UDP_GRO cmsg, if the control data holds one.
    private static func segmentSize(_ control: UnsafeMutableRawBufferPointer, length: Int) -> Int? {
        let header = MemoryLayout<cmsghdr>.size
        var offset = 0
        while offset + header <= min(length, control.count) {
            let cmsgLength = control.load(fromByteOffset: offset, as: Int.self)
            let level = control.load(fromByteOffset: offset + MemoryLayout<Int>.size, as: Int32.self)
            let type = control.load(fromByteOffset: offset + MemoryLayout<Int>.size + 4, as: Int32.self)
            guard cmsgLength >= header, offset + cmsgLength <= control.count else { return nil }
            if level == udpLevel, type == udpGROOption, cmsgLength >= header + 2 {
                // The kernel writes an int, or a u16 on some versions: the low 16 bits hold the size either way.
                let size = Int(control.load(fromByteOffset: offset + header, as: UInt16.self))
                return size > 0 ? size : nil
            }
            offset += (cmsgLength + 7) & ~7
        }
        return nil
    }

    /// The most datagrams one segmented send carries (the kernel's UDP_MAX_SEGMENTS is 64).
    public static let maxSegments = 48
    /// The most bytes one segmented send carries: an IPv4 datagram's 65,535 less IP and UDP headers.
    public static let maxSegmentedBytes = 65_507

    /// Sends the `length` bytes at `bytes` to `target`: as one datagram, or with `segmentSize`
    /// as back-to-back datagrams of that size (the last may be shorter) in one system call,
    /// which the kernel splits (UDP generic segmentation offload, Linux ≥ 4.18).
    ///
    /// - Returns: nil on success, else errno (the datagrams are then lost, as UDP may lose them).
    public func send(_ bytes: UnsafeRawBufferPointer, segmentSize: Int?, to target: UDPEndpoint) -> Int32? {
        var storage = sockaddr_storage()
        guard let addressLength = UDPSocket.socketAddress(target, ipv6Socket: socket.isIPv6, into: &storage) else {
            return EAFNOSUPPORT
        }
        var vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
        // cmsghdr (16 bytes: size_t length, int level, int type) and a 2-byte segment size,
        // padded to 8: CMSG_SPACE(2) = 24.
        var control: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let sent = withUnsafeMutablePointer(to: &storage) { address in
            withUnsafeMutablePointer(to: &vector) { vector in
                withUnsafeMutableBytes(of: &control) { control in
                    var message = msghdr()
                    message.msg_name = UnsafeMutableRawPointer(address)
                    message.msg_namelen = addressLength
                    message.msg_iov = vector
                    message.msg_iovlen = 1
                    if let segmentSize {
                        let header = MemoryLayout<cmsghdr>.size
                        control.storeBytes(of: header + 2, toByteOffset: 0, as: Int.self)
                        control.storeBytes(of: Self.udpLevel, toByteOffset: MemoryLayout<Int>.size, as: Int32.self)
                        control.storeBytes(
                            of: Self.udpSegmentOption, toByteOffset: MemoryLayout<Int>.size + 4, as: Int32.self)
                        control.storeBytes(of: UInt16(segmentSize), toByteOffset: header, as: UInt16.self)
                        message.msg_control = control.baseAddress
                        message.msg_controllen = control.count
                    }
                    return sendmsg(socket.descriptor, &message, 0)
                }
            }
        }
        return sent == bytes.count ? nil : (sent < 0 ? errno : EMSGSIZE)
    }

    /// True while this socket still sends segmented runs (see `sendSegments`).
    public var sendOffload: Bool { offload.value.load(ordering: .relaxed) }

    /// Sends `bytes` to `target` as back-to-back datagrams of `segmentSize` bytes (the last may be
    /// shorter): in one segmented send while the socket has send offload, else one datagram per
    /// call. A kernel or interface that refuses segmentation (EIO, EINVAL, ENOPROTOOPT,
    /// EOPNOTSUPP) turns offload off for this socket for good, and the run goes one by one.
    ///
    /// - Returns: datagrams sent, and datagrams lost to a send error (as UDP may lose them).
    public func sendSegments(_ bytes: UnsafeRawBufferPointer, segmentSize: Int, to target: UDPEndpoint) -> (
        sent: Int, failed: Int
    ) {
        precondition(segmentSize > 0, "a segment holds at least one byte")
        let datagrams = (bytes.count + segmentSize - 1) / segmentSize
        if datagrams > 1, sendOffload {
            guard let failure = send(bytes, segmentSize: segmentSize, to: target) else { return (datagrams, 0) }
            guard [EIO, EINVAL, ENOPROTOOPT, EOPNOTSUPP].contains(failure) else { return (0, datagrams) }
            offload.value.store(false, ordering: .relaxed)
        }
        var sent = 0
        var offset = 0
        while offset < bytes.count || (offset == 0 && bytes.isEmpty) {
            let length = min(segmentSize, bytes.count - offset)
            if send(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]), segmentSize: nil, to: target) == nil {
                sent += 1
            }
            offset += length
            if length == 0 { break }
        }
        return (sent, max(datagrams, 1) - sent)
    }

    /// IPPROTO_UDP as a socket option level (Linux's SOL_UDP).
    private static let udpLevel: Int32 = 17
    /// Linux's UDP_SEGMENT option: the cmsg carrying the segment size of a GSO send.
    private static let udpSegmentOption: Int32 = 103

    /// True where segmented sends may be tried at all.
    public static var segmentationAvailable: Bool {
        #if os(Linux)
            true
        #else
            false
        #endif
    }

    /// Closes the descriptor.
    public func close() {
        socket.close()
    }
}

/// A flag every copy of a `NodeSocket` shares.
private final class OffloadFlag: Sendable {
    let value: Atomic<Bool>

    init(_ value: Bool) {
        self.value = Atomic(value)
    }
}
