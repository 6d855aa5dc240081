import Primitives

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The host's own addresses: what a node announces, or writes into an invite, when it is bound
/// to every interface.
public enum NetworkInterfaces {
    /// One IPv4 or IPv6 address of an interface that is up.
    public struct Address: Equatable, Sendable {
        /// The address, with port 0.
        public let endpoint: UDPEndpoint
        /// True for a loopback interface (127.0.0.1, ::1).
        public let isLoopback: Bool
    }

    /// Every IPv4 and IPv6 address of the interfaces that are up, in the system's order; empty
    /// if the system will not list them.
    public static func addresses() -> [Address] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var found: [Address] = []
        var cursor = list
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, entry.pointee.ifa_flags & UInt32(IFF_UP) != 0 else { continue }
            let size: Int
            switch Int32(address.pointee.sa_family) {
            case AF_INET: size = MemoryLayout<sockaddr_in>.size
            case AF_INET6: size = MemoryLayout<sockaddr_in6>.size
            default: continue
            }
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: address, count: size)) }
            guard let endpoint = UDPSocket.endpoint(from: storage) else { continue }
            found.append(Address(endpoint: endpoint, isLoopback: entry.pointee.ifa_flags & UInt32(IFF_LOOPBACK) != 0))
        }
        return found
    }
}
