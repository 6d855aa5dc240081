/// CRC-32 as PNG, zlib and Ethernet use it (reflected polynomial 0xEDB88320): PNG chunks and invites carry it.
///
/// Not for security: it detects accidents, never tampering.
public struct CRC32: Sendable {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// An empty checksum.
    public init() {}

    private var state: UInt32 = 0xFFFF_FFFF

    /// Adds `bytes` to the checksum.
    public mutating func update(_ bytes: ArraySlice<UInt8>) {
        let table = Self.table
        var c = state
        for byte in bytes { c = table[Int((c ^ UInt32(byte)) & 0xff)] ^ (c >> 8) }
        state = c
    }

    /// The checksum of everything added so far.
    public var value: UInt32 { state ^ 0xFFFF_FFFF }

    /// The checksum of `bytes` alone.
    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}
