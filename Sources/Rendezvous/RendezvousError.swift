/// Every failure of the Rendezvous module: undecodable datagrams and service start-up problems.
///
/// Decoding errors describe the shape of the bytes only; they never echo the bytes themselves.
public enum RendezvousError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The datagram is shorter than the 4-byte header (size).
    case truncatedHeader(size: Int)
    /// The datagram is larger than `RendezvousWire.maxDatagramSize` (size).
    case datagramTooLarge(size: Int)
    /// The type byte is not a rendezvous message type (type).
    case unknownType(UInt8)
    /// One of the 3 reserved header bytes is not zero.
    case reservedNotZero
    /// The datagram's size is outside what its type allows (type, allowed sizes, actual size).
    case wrongSize(RendezvousWire.MessageType, allowed: ClosedRange<Int>, got: Int)
    /// A field ran past the end of the datagram (type).
    case truncatedField(RendezvousWire.MessageType)
    /// Bytes are left over after the last field (type, how many).
    case trailingBytes(RendezvousWire.MessageType, count: Int)
    /// A candidate's family byte is neither 4 nor 6 (the byte).
    case unknownAddressFamily(UInt8)
    /// A candidate count above `RendezvousWire.maxCandidates` (the count).
    case tooManyCandidates(Int)
    /// The listen address could not be resolved (host, reason).
    case cannotResolve(host: String, reason: String)
    /// A socket call failed (which call, errno).
    case socket(call: String, errno: Int32)
    /// `start()` was called on a service that is already running.
    case alreadyRunning

    /// A one-line explanation for people, without the offending bytes.
    public var description: String {
        switch self {
        case .truncatedHeader(let size): "datagram of \(size) bytes is shorter than the rendezvous header"
        case .datagramTooLarge(let size):
            "datagram of \(size) bytes exceeds the \(RendezvousWire.maxDatagramSize)-byte limit"
        case .unknownType(let type): "unknown rendezvous message type 0x\(String(type, radix: 16))"
        case .reservedNotZero: "reserved header bytes are not zero"
        case .wrongSize(let type, let allowed, let got):
            "\(type) must be \(allowed.lowerBound)…\(allowed.upperBound) bytes, got \(got)"
        case .truncatedField(let type): "\(type) ends in the middle of a field"
        case .trailingBytes(let type, let count): "\(type) has \(count) unexpected trailing bytes"
        case .unknownAddressFamily(let family): "unknown address family \(family) (expected 4 or 6)"
        case .tooManyCandidates(let count): "\(count) candidates (at most \(RendezvousWire.maxCandidates))"
        case .cannotResolve(let host, let reason): "cannot resolve listen address \(host): \(reason)"
        case .socket(let call, let code): "\(call) failed: \(errnoDescription(code)) (errno \(code))"
        case .alreadyRunning: "the rendezvous service is already running"
        }
    }
}
