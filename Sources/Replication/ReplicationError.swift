/// Every failure of the Replication module.
///
/// Decoding errors name the field that failed but never echo the input bytes: a hostile peer's
/// bytes do not belong in logs.
public enum ReplicationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The input ended inside the named field.
    case truncated(String)
    /// A count or length in the named field exceeds its limit.
    case limitExceeded(String, limit: Int)
    /// The named field holds a value outside its domain (bad UTF-8, coordinate above 1, unknown tag…).
    case invalidValue(String)
    /// The encoding's version byte names a format this build does not know.
    case unsupportedFormat(UInt8)
    /// Bytes were left over after a complete value.
    case trailingBytes(Int)
    /// A batch was sealed with an identity other than the draft's author.
    case identityMismatch
    /// A document's internal consistency check failed (a bug, never a peer's fault).
    case invariantViolated(String)

    public var description: String {
        switch self {
        case let .truncated(what): "input ends inside \(what)"
        case let .limitExceeded(what, limit): "\(what) exceeds its limit of \(limit)"
        case let .invalidValue(what): "invalid \(what)"
        case let .unsupportedFormat(version): "unsupported format version \(version)"
        case let .trailingBytes(count): "\(count) unexpected trailing bytes"
        case .identityMismatch: "the sealing identity is not the batch's author"
        case let .invariantViolated(what): "document invariant violated: \(what)"
        }
    }
}
