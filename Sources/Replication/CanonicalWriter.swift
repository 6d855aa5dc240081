import PeerCrypto
import Primitives

/// Writes canonical JSON bytes directly, for documents too large to build as a `CanonicalJSON`
/// tree first: the caller writes object members in canonical (UTF-8 byte) key order itself.
///
/// Produces exactly the bytes `CanonicalJSON.bytes` would for the same value: integers in
/// decimal, strings escaped the same way. With a hasher, bytes are handed to it in chunks and
/// never held whole.
struct CanonicalWriter {
    private(set) var bytes: [UInt8] = []
    private let hasher: Blake2b.Hasher?
    /// Lower-case hex of replica ids already written.
    private var hexCache: [ReplicaID: [UInt8]] = [:]
    private var lastHex: (replica: ReplicaID, hex: [UInt8])?

    /// How many bytes to collect before handing them to the hasher.
    private static let chunk = 1 << 16
    private static let digits = Array("0123456789abcdef".utf8)

    init(hasher: Blake2b.Hasher? = nil) {
        self.hasher = hasher
        if hasher != nil { bytes.reserveCapacity(Self.chunk + 8192) }
    }

    /// Hands what is collected to the hasher once it is a chunk's worth; call between values.
    mutating func flushIfLarge() {
        guard let hasher, bytes.count >= Self.chunk else { return }
        hasher.update(bytes)
        bytes.removeAll(keepingCapacity: true)
    }

    /// Hands everything left to the hasher.
    mutating func finish() {
        guard let hasher else { return }
        hasher.update(bytes)
        bytes.removeAll()
    }

    /// Literal JSON text: punctuation and keys, which need no escaping.
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func byte(_ value: UInt8) {
        bytes.append(value)
    }

    /// A comma before every element but the first.
    mutating func separator(_ index: Int) {
        if index > 0 { bytes.append(UInt8(ascii: ",")) }
    }

    /// A non-negative integer in decimal, as `String(value)` spells it.
    mutating func integer(_ value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var rest = value
            var start = 20
            while rest > 0 {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<20]))
        }
    }

    /// A string, quoted and escaped as `CanonicalJSON` does: `"`, `\` and control characters only.
    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        if value.utf8.withContiguousStorageIfAvailable({ escaped($0) }) == nil {
            Array(value.utf8).withUnsafeBufferPointer { escaped($0) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func escaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        var start = 0
        for index in 0..<utf8.count {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
            start = index + 1
            switch byte {
            case UInt8(ascii: "\""): raw(#"\""#)
            case UInt8(ascii: "\\"): raw(#"\\"#)
            case 0x08: raw(#"\b"#)
            case 0x0C: raw(#"\f"#)
            case 0x0A: raw(#"\n"#)
            case 0x0D: raw(#"\r"#)
            case 0x09: raw(#"\t"#)
            default:
                raw(#"\u00"#)
                bytes.append(Self.digits[Int(byte >> 4)])
                bytes.append(Self.digits[Int(byte & 0x0F)])
            }
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<utf8.count]))
    }

    mutating func append(_ values: [UInt8]) {
        bytes.append(contentsOf: values)
    }

    /// A 32-bit value's big-endian bytes in lower-case hex, unquoted.
    mutating func hex32(_ value: UInt32) {
        var shift: UInt32 = 32
        while shift > 0 {
            shift -= 4
            bytes.append(Self.digits[Int((value >> shift) & 0x0F)])
        }
    }

    /// Bytes in lower-case hex, unquoted.
    mutating func hex(_ value: some Sequence<UInt8>) {
        Hex.append(value, to: &bytes)
    }

    /// The lower-case hex of a replica id, computed once per replica.
    mutating func hexBytes(of replica: ReplicaID) -> [UInt8] {
        if let lastHex, lastHex.replica == replica { return lastHex.hex }
        let hex: [UInt8]
        if let cached = hexCache[replica] {
            hex = cached
        } else {
            hex = Array(replica.hex.utf8)
            hexCache[replica] = hex
        }
        lastHex = (replica, hex)
        return hex
    }

    /// A replica id as a quoted hex string.
    mutating func replica(_ replica: ReplicaID) {
        let hex = hexBytes(of: replica)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: hex)
        bytes.append(UInt8(ascii: "\""))
    }

    /// An operation id as a quoted `counter-authorhex` string, given its author's hex.
    mutating func id(counter: UInt64, hex: [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        integer(counter)
        bytes.append(UInt8(ascii: "-"))
        bytes.append(contentsOf: hex)
        bytes.append(UInt8(ascii: "\""))
    }

    /// An operation id as a quoted `counter-authorhex` string.
    mutating func id(_ id: OpID) {
        self.id(counter: id.counter, hex: hexBytes(of: id.replica))
    }

    /// `{"logical":…,"millis":…}`.
    mutating func time(_ time: HLC) {
        raw(#"{"logical":"#)
        integer(UInt64(time.logical))
        raw(#","millis":"#)
        integer(time.millis)
        bytes.append(UInt8(ascii: "}"))
    }

    /// `{"x":…,"y":…}`.
    mutating func point(_ point: UnitPoint) {
        raw(#"{"x":"#)
        integer(UInt64(point.x))
        raw(#","y":"#)
        integer(UInt64(point.y))
        bytes.append(UInt8(ascii: "}"))
    }
}

// The names canonical JSON gives enum cases, as static text for `CanonicalWriter.raw`; each
// spells exactly what the type's `name` does.

extension ItemKind {
    var staticName: StaticString {
        switch self {
        case .image: "image"
        case .video: "video"
        case .productCard: "productCard"
        case .note: "note"
        }
    }
}

extension ItemFieldKey {
    var staticName: StaticString {
        switch self {
        case .title: "title"
        case .text: "text"
        case .price: "price"
        case .url: "url"
        case .media: "media"
        }
    }
}

extension Role {
    var staticName: StaticString {
        switch self {
        case .agent: "agent"
        case .customer: "customer"
        case .guest: "guest"
        case .archive: "archive"
        }
    }
}

extension CommerceAction {
    var staticName: StaticString {
        switch self {
        case .recommend: "recommend"
        case .addToCart: "addToCart"
        case .purchase: "purchase"
        }
    }
}
