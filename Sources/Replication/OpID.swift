/// A replica: the author of operations, identified by a compact number local to the encoding.
///
/// Operation ids order all operations of a room the same way on every node: first by Lamport
/// counter, then by replica id, so concurrent operations are ordered deterministically.
public struct OpID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The Lamport counter: greater than every counter the author had seen when it made the op.
    public var counter: UInt64
    /// The author's replica id (the first 8 bytes of its public key, big-endian).
    public var replica: UInt64

    /// Creates an operation id.
    public init(counter: UInt64, replica: UInt64) {
        self.counter = counter
        self.replica = replica
    }

    /// Orders by counter, then by replica id (ties between replicas are broken by replica id).
    public static func < (lhs: OpID, rhs: OpID) -> Bool {
        (lhs.counter, lhs.replica) < (rhs.counter, rhs.replica)
    }

    public var description: String { "\(counter)@\(String(replica, radix: 16))" }
}
