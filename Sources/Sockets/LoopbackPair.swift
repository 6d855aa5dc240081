#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension UDPSocket {
    /// Two UDP sockets bound to 127.0.0.1 and connected to each other, with a 1 s receive timeout.
    package static func connectedLoopbackPair() -> (Int32, Int32)? {
        var sockets: [(fd: Int32, address: sockaddr_in)] = []
        for _ in 0..<2 {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { break }
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
            }
            sockets.append((fd, address))
            guard bound else { break }
        }
        var connected = sockets.count == 2
        if connected {
            for (index, side) in sockets.enumerated() {
                var peer = sockets[1 - index].address
                let done = withUnsafePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(side.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                    }
                }
                connected = connected && done
            }
        }
        guard connected else {
            for side in sockets { SystemCall.close(side.fd) }
            return nil
        }
        return (sockets[0].fd, sockets[1].fd)
    }
}
