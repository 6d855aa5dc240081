/// Why a packet's plaintext was rejected or a local request refused by the reliability layer.
///
/// Decoding errors mean the whole packet is dropped with no state change; the shell counts them
/// and logs at debug, and never replies. The details name fields, never contents.
public enum ReliabilityError: Error, Equatable, Sendable {
    /// The plaintext is longer than any packet this protocol sends (`Wire.maxFramesSize`).
    case packetTooLarge(Int)
    /// The plaintext ended inside the named field.
    case truncated(String)
    /// A frame started with a type byte this protocol does not define.
    case unknownFrameType(UInt8)
    /// The named field holds a value this protocol never sends (non-minimal varint, bad range).
    case invalidField(String)
    /// The named field is above its bound.
    case limitExceeded(String)
    /// `enqueue(message:)` was given more than `Wire.maxMessageSize` bytes.
    case messageTooLarge(Int)
    /// `enqueueUnreliable(_:)` was given more than `Wire.maxUnreliableSize` bytes.
    case datagramTooLarge(Int)
    /// The link is closed (by either side); nothing more is sent.
    case linkClosed
}
