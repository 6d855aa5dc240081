/// An IP address and UDP port: a datagram's source, a send target, or a candidate in a message.
///
/// Held as fixed-width integers rather than byte arrays so that the server's tables hash and
/// compare endpoints without allocating.
public struct UDPEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 or IPv6 address.
    public enum Address: Hashable, Sendable {
        /// An IPv4 address as a big-endian integer: 127.0.0.1 is 0x7F00_0001.
        case v4(UInt32)
        /// An IPv6 address as two big-endian halves.
        case v6(high: UInt64, low: UInt64)
    }

    /// The IP address.
    public var address: Address
    /// The UDP port.
    public var port: UInt16

    /// Creates an endpoint from its parts.
    public init(address: Address, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// An IPv4 endpoint from its four dotted-quad parts.
    public static func ipv4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) -> UDPEndpoint {
        UDPEndpoint(address: .v4(UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)), port: port)
    }

    /// An endpoint from 4 (IPv4) or 16 (IPv6) address bytes in network order; nil for other lengths.
    public init?(addressBytes bytes: [UInt8], port: UInt16) {
        switch bytes.count {
        case 4:
            address = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            address = .v6(
                high: bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) },
                low: bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
            )
        default:
            return nil
        }
        self.port = port
    }

    /// The address in network byte order (4 or 16 bytes).
    public var addressBytes: [UInt8] {
        switch address {
        case .v4(let value): value.bigEndianBytes
        case .v6(let high, let low): high.bigEndianBytes + low.bigEndianBytes
        }
    }

    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4
    /// peers) as plain IPv4, so one host has one identity in the server's tables.
    public var unmapped: UDPEndpoint {
        switch address {
        case .v4:
            return self
        case .v6(let high, let low):
            guard high == 0, low >> 32 == 0xFFFF else { return self }
            return UDPEndpoint(address: .v4(UInt32(truncatingIfNeeded: low)), port: port)
        }
    }

    /// The rate-limiting identity of the sender: the IPv4 address, or the IPv6 /64 prefix,
    /// because one IPv6 host commonly owns a whole /64 and could otherwise multiply its budget.
    public var sourceKey: Address {
        switch address {
        case .v4: address
        case .v6(let high, _): .v6(high: high, low: 0)
        }
    }

    /// `a.b.c.d:port` or `[v6]:port`, IPv6 in the RFC 5952 shortened form.
    public var description: String {
        switch address {
        case .v4: "\(host):\(port)"
        case .v6: "[\(host)]:\(port)"
        }
    }

    /// The address alone, as `HostPort` takes it: `a.b.c.d`, or IPv6 without brackets.
    public var host: String {
        switch address {
        case .v4(let value): "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
        case .v6(let high, let low): Self.formatIPv6(high: high, low: low)
        }
    }

    /// True for the wildcard address (`0.0.0.0` or `::`): a socket bound to every interface.
    public var isWildcard: Bool {
        switch address {
        case .v4(let value): value == 0
        case .v6(let high, let low): high == 0 && low == 0
        }
    }

    private static func formatIPv6(high: UInt64, low: UInt64) -> String {
        let groups = (0..<8).map { i -> UInt16 in
            let half = i < 4 ? high : low
            return UInt16(truncatingIfNeeded: half >> (UInt64(3 - i % 4) * 16))
        }
        // RFC 5952: compress the longest run of two or more zero groups, the first if tied.
        var bestStart = -1
        var bestLength = 1
        var runStart = -1
        for i in 0...8 {
            if i < 8 && groups[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength {
                    bestStart = runStart
                    bestLength = i - runStart
                }
                runStart = -1
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestStart >= 0 else { return hex.joined(separator: ":") }
        let head = hex[0..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
        return head + "::" + tail
    }
}
