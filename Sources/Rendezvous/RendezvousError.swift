import Sockets

/// Every failure of the Rendezvous module: undecodable datagrams, service start-up problems, and
/// how a short-code exchange ended when it did not succeed.
///
/// Decoding errors describe the shape of the bytes only; they never echo the bytes themselves.
/// Short-code errors never name the code's words, which this module never sees.
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
    /// A nameplate field outside 1 … `RendezvousWire.maxNameplate` where one is required (the value).
    case invalidNameplate(UInt16)
    /// A codeError reason byte that names no `RendezvousWire.CodeErrorReason` (the byte).
    case unknownCodeErrorReason(UInt8)
    /// A registerRefused carried a reason byte outside `RendezvousWire.RegisterRefusalReason`.
    case unknownRefusalReason(UInt8)
    /// A knock's PAKE message length outside 1 … `RendezvousWire.maxPakeMessageSize` (the length).
    case pakeMessageSize(Int)
    /// The zero padding of a codeLookup or codeKnock is not zero (type).
    case paddingNotZero(RendezvousWire.MessageType)
    /// The rendezvous refused the short-code request (its reason).
    case codeRefused(RendezvousWire.CodeErrorReason)
    /// The rendezvous did not reply to a short-code request in time.
    case codeNoReply
    /// The joiner knocked but the host sent no answer in time.
    case codeNoAnswer
    /// The host's code expired before the exchange finished.
    case codeExpired
    /// The exchange's overall deadline passed.
    case codeDeadline
    /// The caller cancelled the exchange.
    case codeCancelled

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
        case .socket(let call, let code): SocketError.system(call: call, errno: code).description
        case .alreadyRunning: "the rendezvous service is already running"
        case .invalidNameplate(let value): "nameplate \(value) is outside 1…\(RendezvousWire.maxNameplate)"
        case .unknownCodeErrorReason(let byte): "unknown code error reason \(byte)"
        case .unknownRefusalReason(let byte): "unknown register refusal reason \(byte)"
        case .pakeMessageSize(let length):
            "PAKE message of \(length) bytes (expected 1…\(RendezvousWire.maxPakeMessageSize))"
        case .paddingNotZero(let type): "\(type) padding is not zero"
        case .codeRefused(let reason): "the rendezvous refused the code: \(reason)"
        case .codeNoReply: "the rendezvous did not reply"
        case .codeNoAnswer: "the host did not answer (it may have stopped)"
        case .codeExpired: "the code expired"
        case .codeDeadline: "the code exchange took too long"
        case .codeCancelled: "the code exchange was cancelled"
        }
    }
}

extension RendezvousError {
    /// The rendezvous's error for a failure of the socket layer, worded as before.
    init(_ error: SocketError) {
        switch error {
        case .system(let call, let code): self = .socket(call: call, errno: code)
        case .cannotResolve(let host, let reason): self = .cannotResolve(host: host, reason: reason)
        }
    }
}
