import Primitives

// The binary layout of frames; docs/PROTOCOL.md lists the same fields in the same order.

extension LinkFrame {
    /// Appends this frame's encoding to `bytes`.
    public func encode(into bytes: inout [UInt8]) {
        switch self {
        case .padding(let length):
            precondition(length >= 1, "padding is at least one byte")
            bytes.append(contentsOf: repeatElement(Wire.LinkFrameType.padding.rawValue, count: length))
        case .ping:
            bytes.append(Wire.LinkFrameType.ping.rawValue)
        case .ack(let ack):
            bytes.append(Wire.LinkFrameType.ack.rawValue)
            Varint.append(ack.largest, to: &bytes)
            Varint.append(ack.ackDelayMicros, to: &bytes)
            Varint.append(UInt64(ack.ranges.count - 1), to: &bytes)
            Varint.append(ack.ranges[0].upperBound - ack.ranges[0].lowerBound, to: &bytes)
            for index in ack.ranges.indices.dropFirst() {
                let range = ack.ranges[index]
                Varint.append(ack.ranges[index - 1].lowerBound - range.upperBound - 2, to: &bytes)
                Varint.append(range.upperBound - range.lowerBound, to: &bytes)
            }
        case .message(let fragment):
            MessageFragment.appendHeader(
                messageID: fragment.messageID, totalLength: fragment.totalLength, offset: fragment.offset,
                length: fragment.bytes.count, to: &bytes)
            bytes.append(contentsOf: fragment.bytes)
        case .unreliable(let datagram):
            bytes.append(Wire.LinkFrameType.unreliable.rawValue)
            Varint.append(UInt64(datagram.count), to: &bytes)
            bytes.append(contentsOf: datagram)
        case .close(let reason):
            bytes.append(Wire.LinkFrameType.close.rawValue)
            Varint.append(reason, to: &bytes)
        case .maxData(let maxData, let maxMessageID):
            bytes.append(Wire.LinkFrameType.maxData.rawValue)
            Varint.append(maxData, to: &bytes)
            Varint.append(maxMessageID, to: &bytes)
        }
    }

    /// The frames concatenated, as a packet's plaintext.
    public static func encode(_ frames: [LinkFrame]) -> [UInt8] {
        var bytes: [UInt8] = []
        for frame in frames { frame.encode(into: &bytes) }
        return bytes
    }

    /// Decodes a packet's plaintext into its frames.
    ///
    /// - Throws: `ReliabilityError` for anything this protocol never sends; nothing is partially
    ///   returned, so the caller drops the whole packet.
    public static func decode(_ bytes: [UInt8]) throws(ReliabilityError) -> [LinkFrame] {
        guard bytes.count <= Wire.maxFramesSize else { throw .packetTooLarge(bytes.count) }
        var reader = FrameReader(bytes)
        var frames: [LinkFrame] = []
        while reader.remaining > 0 {
            frames.append(try decodeOne(&reader))
        }
        return frames
    }

    private static func decodeOne(_ reader: inout FrameReader) throws(ReliabilityError) -> LinkFrame {
        let typeByte = try reader.byte("frame type")
        guard let type = Wire.LinkFrameType(rawValue: typeByte) else { throw .unknownFrameType(typeByte) }
        switch type {
        case .padding:
            var length = 1
            while reader.peek() == Wire.LinkFrameType.padding.rawValue {
                _ = try reader.byte("padding")
                length += 1
            }
            return .padding(length: length)
        case .ping:
            return .ping
        case .ack:
            return .ack(try decodeAck(&reader))
        case .message:
            let messageID = try reader.varint("message id")
            let total = try reader.count("message total length", max: Wire.maxMessageSize)
            let offset = try reader.count("message offset", max: total)
            let length = try reader.count("message data length", max: total - offset)
            return .message(MessageFragment(
                messageID: messageID, totalLength: total, offset: offset,
                bytes: try reader.bytes(length, "message data")))
        case .unreliable:
            let length = try reader.count("unreliable length", max: Wire.maxUnreliableSize)
            return .unreliable(try reader.bytes(length, "unreliable data"))
        case .close:
            return .close(reason: try reader.varint("close reason"))
        case .maxData:
            let maxData = try reader.varint("max data")
            let maxMessageID = try reader.varint("max message id")
            return .maxData(maxData: maxData, maxMessageID: maxMessageID)
        }
    }

    private static func decodeAck(_ reader: inout FrameReader) throws(ReliabilityError) -> AckFrame {
        let largest = try reader.varint("ack largest")
        let delay = try reader.varint("ack delay")
        let extraRanges = try reader.count("ack range count", max: Wire.maxAckRanges - 1)
        let firstLength = try reader.varint("ack first range")
        guard firstLength <= largest else { throw .invalidField("ack first range") }
        var ranges = [(largest - firstLength)...largest]
        ranges.reserveCapacity(extraRanges + 1)
        var smallest = largest - firstLength
        for _ in 0..<extraRanges {
            let gap = try reader.varint("ack gap")
            let length = try reader.varint("ack range length")
            // The next range's largest is smallest − gap − 2; it and its smallest must not wrap.
            guard smallest >= 2, gap <= smallest - 2 else { throw .invalidField("ack gap") }
            let high = smallest - 2 - gap
            guard length <= high else { throw .invalidField("ack range length") }
            smallest = high - length
            ranges.append(smallest...high)
        }
        return AckFrame(ranges: ranges, ackDelayMicros: delay)
    }
}

extension MessageFragment {
    /// Appends a MESSAGE frame's header; the caller appends `length` data bytes after it.
    static func appendHeader(messageID: UInt64, totalLength: Int, offset: Int, length: Int, to bytes: inout [UInt8]) {
        bytes.append(Wire.LinkFrameType.message.rawValue)
        Varint.append(messageID, to: &bytes)
        Varint.append(UInt64(totalLength), to: &bytes)
        Varint.append(UInt64(offset), to: &bytes)
        Varint.append(UInt64(length), to: &bytes)
    }

    /// The size of a MESSAGE frame's header.
    static func headerSize(messageID: UInt64, totalLength: Int, offset: Int, length: Int) -> Int {
        1 + Varint.size(messageID) + Varint.size(UInt64(totalLength)) + Varint.size(UInt64(offset))
            + Varint.size(UInt64(length))
    }
}

/// The frame reader: the shared byte reader, throwing `ReliabilityError`.
typealias FrameReader = ByteReader<ReliabilityError>

extension ReliabilityError: ByteReadError {
    /// The reliability error for a byte-reading fault, as frame decoding always reported it.
    public init(_ fault: ByteReadFault) {
        switch fault {
        case let .truncated(what): self = .truncated(what)
        case let .tooLarge(what, _): self = .limitExceeded(what)
        case let .varintOverflow(what), let .varintNotMinimal(what), let .tooSmall(what), let .outOfRange(what),
            let .notUTF8(what):
            self = .invalidField(what)
        case let .trailingBytes(count): self = .invalidField("\(count) trailing bytes")
        }
    }
}
