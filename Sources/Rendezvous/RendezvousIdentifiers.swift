import PeerCrypto
import Primitives

/// The public 16-byte room identifier, the only thing the rendezvous learns about a room.
public struct RoomTag: Hashable, Sendable, CustomStringConvertible {
    /// The first 8 bytes, big-endian.
    public let high: UInt64
    /// The last 8 bytes, big-endian.
    public let low: UInt64

    /// Creates a tag from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// A tag from exactly `RendezvousWire.roomTagSize` bytes; nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == RendezvousWire.roomTagSize else { return nil }
        high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The rendezvous tag of a room (in the keys' epoch) whose keys the caller holds:
    /// `RoomKeys.rendezvousTag`, not the room's own `RoomKeys.tag`.
    public init(roomKeys: RoomKeys) {
        // RoomKeys.rendezvousTag is RoomKeys.tagLength (16) bytes by construction.
        self.init(bytes: roomKeys.rendezvousTag)!
    }

    /// The tag bound to a room's registration key, as the rendezvous checks it.
    public init(registrationKey: PublicKey) {
        self.init(bytes: RoomKeys.rendezvousTag(for: registrationKey))!
    }

    /// The 16 tag bytes.
    public var bytes: [UInt8] { high.bigEndianBytes + low.bigEndianBytes }

    /// The first 5 bytes in hex: enough to tell rooms apart in logs.
    public var shortDescription: String { Hex.prefix(high, bytes: 5) }

    /// The short form, for logs.
    public var description: String { "RoomTag(\(shortDescription))" }
}

/// A node's identity within one room at the rendezvous: 8 random bytes the node picks and keeps
/// across refreshes.
///
/// Deliberately not the node's public key: the rendezvous must not learn who is in a room.
public struct RendezvousPeerID: Hashable, Sendable, CustomStringConvertible {
    /// The 8 bytes as a big-endian integer.
    public let rawValue: UInt64

    /// Wraps a raw value.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// A fresh random id from the system's secure generator.
    public static func random() -> RendezvousPeerID {
        RendezvousPeerID(rawValue: Sodium.randomBytes(RendezvousWire.peerIDSize).reduce(0) { $0 << 8 | UInt64($1) })
    }

    /// The 8 bytes, big-endian.
    public var bytes: [UInt8] { rawValue.bigEndianBytes }

    /// The first 5 bytes in hex, for logs.
    public var shortDescription: String { Hex.prefix(rawValue, bytes: 5) }

    /// The short form, for logs.
    public var description: String { "RendezvousPeerID(\(shortDescription))" }
}

/// The 16-byte stateless cookie that proves a node receives datagrams at its source address.
package struct RendezvousCookie: Hashable, Sendable, CustomStringConvertible {
    /// The first 8 bytes, big-endian.
    public let high: UInt64
    /// The last 8 bytes, big-endian.
    public let low: UInt64

    /// The all-zero cookie a node sends while it has none.
    public static let none = RendezvousCookie(high: 0, low: 0)

    /// Creates a cookie from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// A cookie from exactly `RendezvousWire.cookieSize` bytes; nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == RendezvousWire.cookieSize else { return nil }
        high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The 16 cookie bytes.
    public var bytes: [UInt8] { high.bigEndianBytes + low.bigEndianBytes }

    /// True for the all-zero "no cookie yet" value.
    package var isNone: Bool { (high | low) == 0 }

    /// Compares without an early exit, so response timing does not reveal matching prefixes.
    package func constantTimeEquals(_ other: RendezvousCookie) -> Bool {
        ((high ^ other.high) | (low ^ other.low)) == 0
    }

    /// A 4-byte prefix only: enough to debug with, and a cookie is only valid for one address anyway.
    public var description: String { "RendezvousCookie(\(Hex.prefix(high, bytes: 4))…)" }
}

/// The number part of a short code (`7` in `7-orbit-lantern`): a mailbox at the rendezvous,
/// 1 … `RendezvousWire.maxNameplate`.
///
/// The rendezvous allocates it; the words after it are a password the rendezvous never sees.
public struct CodeNameplate: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The number, 1 … 999.
    public let rawValue: UInt16

    /// A nameplate from its number; nil for 0 or above `RendezvousWire.maxNameplate`.
    public init?(rawValue: UInt16) {
        guard (1...RendezvousWire.maxNameplate).contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// A nameplate from its decimal text as people type it (`7`, `42`, `007`): one to three ASCII
    /// digits naming 1 … 999; nil for anything else.
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard (1...3).contains(utf8.count), utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        self.init(rawValue: utf8.reduce(0) { $0 * 10 + UInt16($1 - 0x30) })
    }

    /// Orders by number.
    public static func < (lhs: CodeNameplate, rhs: CodeNameplate) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The number in decimal, as it is read out.
    public var description: String { String(rawValue) }
}
