import Primitives

/// The byte reader of every replication encoding, throwing `ReplicationError`.
typealias ByteReader = Primitives.ByteReader<ReplicationError>

extension ReplicationError: ByteReadError {
    /// The replication error for a byte-reading fault, worded as the codecs always worded it.
    public init(_ fault: ByteReadFault) {
        switch fault {
        case let .truncated(what): self = .truncated(what)
        case let .varintOverflow(what): self = .invalidValue(what + " (varint overflows 64 bits)")
        case let .varintNotMinimal(what): self = .invalidValue(what + " (varint not minimal)")
        case let .tooLarge(what, limit): self = .limitExceeded(what, limit: limit)
        case let .tooSmall(what), let .outOfRange(what): self = .invalidValue(what)
        case let .notUTF8(what): self = .invalidValue(what + " (not UTF-8)")
        case let .trailingBytes(count): self = .trailingBytes(count)
        }
    }
}
