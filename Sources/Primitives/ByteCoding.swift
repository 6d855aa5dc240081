/// Appends the primitives every cvpeer encoding is built from.
///
/// Integers are unsigned LEB128 varints, so small numbers (most counters, indices and lengths)
/// take one byte; fixed-size fields are raw bytes. Inlinable, because batch and frame encoding
/// run it per field on the hot path.
public struct ByteWriter: Sendable {
    /// The bytes written so far (public and settable so that inlined writes reach it directly).
    public var bytes: [UInt8] = []

    /// An empty writer.
    @inlinable public init() {}

    /// Appends one byte.
    @inlinable
    public mutating func byte(_ value: UInt8) {
        bytes.append(value)
    }

    /// Appends an unsigned LEB128 varint.
    @inlinable
    public mutating func varint(_ value: UInt64) {
        Varint.append(value, to: &bytes)
    }

    /// Appends a non-negative Int as a varint.
    @inlinable
    public mutating func varint(_ value: Int) {
        varint(UInt64(value))
    }

    /// Appends bytes as they are.
    @inlinable
    public mutating func raw(_ value: [UInt8]) {
        bytes.append(contentsOf: value)
    }

    /// Appends a big-endian UInt32.
    @inlinable
    public mutating func uint32(_ value: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    /// Appends a varint length, then the bytes.
    @inlinable
    public mutating func lengthPrefixed(_ value: [UInt8]) {
        varint(value.count)
        bytes.append(contentsOf: value)
    }

    /// Appends a varint length, then the string's UTF-8.
    @inlinable
    public mutating func string(_ value: String) {
        varint(value.utf8.count)
        bytes.append(contentsOf: value.utf8)
    }
}

/// Unsigned LEB128, the integer encoding of every cvpeer format.
public enum Varint {
    /// Appends `value` to `bytes`.
    @inlinable
    public static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// The encoded size of `value` in bytes.
    @inlinable
    public static func size(_ value: UInt64) -> Int {
        var size = 1
        var rest = value >> 7
        while rest != 0 {
            size += 1
            rest >>= 7
        }
        return size
    }
}

/// Why a `ByteReader` refused its input; each module's error type maps it to its own cases.
public enum ByteReadFault: Sendable, Equatable {
    /// The input ended inside the named field.
    case truncated(String)
    /// A varint longer than 64 bits.
    case varintOverflow(String)
    /// A varint with a redundant trailing zero group (every value has exactly one encoding).
    case varintNotMinimal(String)
    /// A count or length above the caller's bound.
    case tooLarge(String, limit: Int)
    /// A count or length below the caller's bound.
    case tooSmall(String)
    /// A varint outside the caller's range.
    case outOfRange(String)
    /// A string that is not valid UTF-8.
    case notUTF8(String)
    /// Bytes left over after the last field.
    case trailingBytes(Int)
}

/// An error a `ByteReader` can throw: made from a fault, so each module keeps its own error type.
public protocol ByteReadError: Error {
    /// The module's error for `fault`.
    init(_ fault: ByteReadFault)
}

/// Reads the primitives of `ByteWriter` (and big-endian fixed-width fields) from untrusted bytes.
///
/// Every read checks the remaining length first and throws instead of trapping; every length is
/// checked against a caller-given bound before anything is allocated. Varints must be minimal,
/// so each value has exactly one encoding. Generic over the error so that it specialises per
/// module (no existential, no boxing); inlinable because batch and frame decoding are hot paths.
public struct ByteReader<Failure: ByteReadError> {
    @usableFromInline let storage: [UInt8]
    /// How many bytes have been read (stored under another name so that inlined reads may advance it).
    @usableFromInline var position: Int

    /// How many bytes have been read.
    @inlinable public var offset: Int { position }

    /// A reader at the start of `bytes`.
    @inlinable
    public init(_ bytes: [UInt8]) {
        storage = bytes
        position = 0
    }

    /// Bytes not read yet.
    @inlinable public var remaining: Int { storage.count - offset }

    /// The next byte without consuming it, nil at the end.
    @inlinable
    public func peek() -> UInt8? { offset < storage.count ? storage[offset] : nil }

    /// One byte.
    @inlinable
    public mutating func byte(_ what: String) throws(Failure) -> UInt8 {
        guard offset < storage.count else { throw Failure(.truncated(what)) }
        defer { position += 1 }
        return storage[offset]
    }

    /// A minimal unsigned LEB128 varint of at most 64 bits.
    @inlinable
    public mutating func varint(_ what: String) throws(Failure) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte(what)
            // The tenth byte holds only bit 63; anything more overflows 64 bits.
            if shift == 63, b > 1 { throw Failure(.varintOverflow(what)) }
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 {
                if b == 0, shift > 0 { throw Failure(.varintNotMinimal(what)) }
                return value
            }
            shift += 7
        }
    }

    /// A varint in `min...max`, as an Int for use as a count or index.
    @inlinable
    public mutating func count(_ what: String, max: Int, min: Int = 0) throws(Failure) -> Int {
        let value = try varint(what)
        guard value <= UInt64(max) else { throw Failure(.tooLarge(what, limit: max)) }
        guard value >= UInt64(min) else { throw Failure(.tooSmall(what)) }
        return Int(value)
    }

    /// A varint in `range`.
    @inlinable
    public mutating func varint(_ what: String, in range: ClosedRange<UInt64>) throws(Failure) -> UInt64 {
        let value = try varint(what)
        guard range.contains(value) else { throw Failure(.outOfRange(what)) }
        return value
    }

    /// A big-endian UInt32.
    @inlinable
    public mutating func uint32(_ what: String) throws(Failure) -> UInt32 {
        guard remaining >= 4 else { throw Failure(.truncated(what)) }
        defer { position += 4 }
        return UInt32(storage[offset]) << 24 | UInt32(storage[offset + 1]) << 16 | UInt32(storage[offset + 2]) << 8
            | UInt32(storage[offset + 3])
    }

    /// A big-endian integer of `T`'s width.
    @inlinable
    public mutating func bigEndian<T: FixedWidthInteger & UnsignedInteger>(
        _: T.Type = T.self, _ what: String
    ) throws(Failure) -> T {
        let size = T.bitWidth / 8
        guard remaining >= size else { throw Failure(.truncated(what)) }
        var value: T = 0
        for i in 0..<size { value = value << 8 | T(storage[offset + i]) }
        position += size
        return value
    }

    /// Exactly `count` bytes; the caller has bounded `count` by a constant.
    @inlinable
    public mutating func raw(_ count: Int, _ what: String) throws(Failure) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw Failure(.truncated(what)) }
        defer { position += count }
        return storage[offset..<(offset + count)]
    }

    /// Exactly `count` bytes, copied; the caller has bounded `count` by a constant.
    @inlinable
    public mutating func bytes(_ count: Int, _ what: String) throws(Failure) -> [UInt8] {
        Array(try raw(count, what))
    }

    /// Everything not read yet.
    @inlinable
    public mutating func rest() -> [UInt8] {
        defer { position = storage.count }
        return Array(storage[offset...])
    }

    /// A varint length in `min...max`, then that many bytes.
    @inlinable
    public mutating func lengthPrefixed(_ what: String, max: Int, min: Int = 0) throws(Failure) -> [UInt8] {
        let count = try count(what + " length", max: max, min: min)
        return Array(try raw(count, what))
    }

    /// A length-prefixed UTF-8 string of at most `maxBytes` bytes; invalid UTF-8 is an error, not repaired.
    @inlinable
    public mutating func string(_ what: String, maxBytes: Int, minBytes: Int = 0) throws(Failure) -> String {
        let count = try count(what + " length", max: maxBytes, min: minBytes)
        let slice = try raw(count, what)
        guard let text = String(validating: slice, as: UTF8.self) else { throw Failure(.notUTF8(what)) }
        return text
    }

    /// Throws unless every byte was read.
    @inlinable
    public func finish() throws(Failure) {
        guard remaining == 0 else { throw Failure(.trailingBytes(remaining)) }
    }
}

extension FixedWidthInteger {
    /// The value's bytes, most significant first.
    @inlinable
    public var bigEndianBytes: [UInt8] {
        withUnsafeBytes(of: self.bigEndian) { Array($0) }
    }
}
