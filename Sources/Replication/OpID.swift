import PeerCrypto
import Primitives

/// A participant (and the replica it runs): its Ed25519 public key in a fixed-size, comparable form.
///
/// The whole key, not a prefix, so two participants can never share a replica id and every tie
/// between their operations breaks the same way on every node. Ordering is the key's byte order;
/// `prefix` (the first 8 bytes, big-endian) is the short form for logs.
public struct ReplicaID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Bytes in a replica id: an Ed25519 public key.
    public static let byteCount = 32

    // Four big-endian words compare in the same order as the 32 bytes, without touching the heap.
    private let w0, w1, w2, w3: UInt64

    /// The replica id of the participant with this key.
    public init(_ key: PublicKey) {
        self.init(bytes: key.bytes[...])!
    }

    /// Reads 32 key bytes; nil for any other length.
    init?(bytes: ArraySlice<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        func word(_ index: Int) -> UInt64 {
            let start = bytes.startIndex + index * 8
            return bytes[start..<(start + 8)].reduce(0) { ($0 << 8) | UInt64($1) }
        }
        w0 = word(0)
        w1 = word(1)
        w2 = word(2)
        w3 = word(3)
    }

    /// The 32 key bytes.
    public var bytes: [UInt8] { w0.bigEndianBytes + w1.bigEndianBytes + w2.bigEndianBytes + w3.bigEndianBytes }

    /// The participant's public key.
    public var publicKey: PublicKey {
        // 32 bytes always make a PublicKey; whether they are a valid curve point was settled by
        // the signature that introduced this id.
        try! PublicKey(bytes: bytes)
    }

    /// The first 8 key bytes as a number: short, and almost always unique, for logs.
    public var prefix: UInt64 { w0 }

    /// The key in lower-case hex: the participant's name in canonical JSON.
    public var hex: String { Hex.string(bytes) }

    /// Orders by key bytes.
    public static func < (lhs: ReplicaID, rhs: ReplicaID) -> Bool {
        (lhs.w0, lhs.w1, lhs.w2, lhs.w3) < (rhs.w0, rhs.w1, rhs.w2, rhs.w3)
    }

    public var description: String { Hex.string(w0.bigEndianBytes.prefix(5)) }
}

/// An operation's id: its author's Lamport counter and its author.
///
/// Operation ids order all operations of a room the same way on every node: first by Lamport
/// counter, then by replica id, so concurrent operations are ordered deterministically. The
/// document accepts an author's operations only with strictly increasing counters, so an id
/// names exactly one operation.
public struct OpID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The Lamport counter: greater than every counter the author had seen when it made the op.
    public var counter: UInt64
    /// The author.
    public var replica: ReplicaID

    /// Creates an operation id.
    public init(counter: UInt64, replica: ReplicaID) {
        self.counter = counter
        self.replica = replica
    }

    /// Orders by counter, then by replica id (ties between replicas are broken by replica id).
    public static func < (lhs: OpID, rhs: OpID) -> Bool {
        (lhs.counter, lhs.replica) < (rhs.counter, rhs.replica)
    }

    /// The id as canonical JSON writes it: counter, a dash, the author's key in hex.
    public var canonicalString: String { "\(counter)-\(replica.hex)" }

    public var description: String { "\(counter)@\(replica)" }
}
