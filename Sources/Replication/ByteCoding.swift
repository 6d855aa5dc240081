import PeerCrypto

/// Appends the primitives every cvpeer encoding is built from.
///
/// Integers are unsigned LEB128 varints, so small numbers (most counters, indices and lengths)
/// take one byte; fixed-size fields are raw bytes.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func byte(_ value: UInt8) {
        bytes.append(value)
    }

    mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    mutating func varint(_ value: Int) {
        varint(UInt64(value))
    }

    mutating func raw(_ value: [UInt8]) {
        bytes.append(contentsOf: value)
    }

    mutating func uint32(_ value: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func lengthPrefixed(_ value: [UInt8]) {
        varint(value.count)
        bytes.append(contentsOf: value)
    }

    mutating func string(_ value: String) {
        varint(value.utf8.count)
        bytes.append(contentsOf: value.utf8)
    }
}

/// Reads the primitives of `ByteWriter` from untrusted bytes.
///
/// Every read checks the remaining length first and throws instead of trapping; every length is
/// checked against a caller-given bound before anything is allocated. Varints must be minimal,
/// so each value has exactly one encoding.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        offset = 0
    }

    var remaining: Int { bytes.count - offset }

    mutating func byte(_ what: String) throws(ReplicationError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(what) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint(_ what: String) throws(ReplicationError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte(what)
            // The tenth byte holds only bit 63; anything more overflows 64 bits.
            if shift == 63, b > 1 { throw .invalidValue(what + " (varint overflows 64 bits)") }
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 {
                if b == 0, shift > 0 { throw .invalidValue(what + " (varint not minimal)") }
                return value
            }
            shift += 7
        }
    }

    /// A varint in `range`, as an Int for use as a count or index.
    mutating func count(_ what: String, max: Int, min: Int = 0) throws(ReplicationError) -> Int {
        let value = try varint(what)
        guard value <= UInt64(max) else { throw .limitExceeded(what, limit: max) }
        guard value >= UInt64(min) else { throw .invalidValue(what) }
        return Int(value)
    }

    /// A varint in `range`.
    mutating func varint(_ what: String, in range: ClosedRange<UInt64>) throws(ReplicationError) -> UInt64 {
        let value = try varint(what)
        guard range.contains(value) else { throw .invalidValue(what) }
        return value
    }

    mutating func uint32(_ what: String) throws(ReplicationError) -> UInt32 {
        guard remaining >= 4 else { throw .truncated(what) }
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    /// Exactly `count` bytes; the caller has bounded `count` by a constant.
    mutating func raw(_ count: Int, _ what: String) throws(ReplicationError) -> ArraySlice<UInt8> {
        guard count <= remaining else { throw .truncated(what) }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    mutating func lengthPrefixed(_ what: String, max: Int, min: Int = 0) throws(ReplicationError) -> [UInt8] {
        let count = try count(what + " length", max: max, min: min)
        return Array(try raw(count, what))
    }

    /// A length-prefixed UTF-8 string of at most `maxBytes` bytes; invalid UTF-8 is an error, not repaired.
    mutating func string(_ what: String, maxBytes: Int, minBytes: Int = 0) throws(ReplicationError) -> String {
        let count = try count(what + " length", max: maxBytes, min: minBytes)
        let slice = try raw(count, what)
        guard let text = String(validating: slice, as: UTF8.self) else { throw .invalidValue(what + " (not UTF-8)") }
        return text
    }

    func finish() throws(ReplicationError) {
        guard remaining == 0 else { throw .trailingBytes(remaining) }
    }
}

/// Lower-case hexadecimal, for ids in canonical JSON and logs.
func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.underestimatedCount * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
