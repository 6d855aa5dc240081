import Primitives

// Building packets. Order inside a packet: ACK, MAX_DATA, PING, UNRELIABLE, retransmitted
// MESSAGE data, new MESSAGE data. Lost data goes before new data so the receiver can deliver
// (and free) the head of line first; an ACK goes first so it is never starved by data.

extension ReliableLink {
    /// The plaintext of the next data packet, or nil when there is nothing to send now.
    ///
    /// The packet is recorded as sent at `now`, so the shell encrypts and sends it at once.
    /// Returns nil when nothing is queued, or when only ack-eliciting frames are waiting and the
    /// congestion window is full or pacing holds them back (see `nextSendTime`). ACK-only and
    /// probe packets ignore the window and pacing.
    /// - Parameters:
    ///   - packetNumber: The AEAD counter this packet will carry; greater than any passed before
    ///     for a packet this method returned.
    ///   - maxSize: The plaintext budget; `Wire.maxFramesSize` (the most allowed) unless the shell
    ///     needs room for something else.
    ///   - now: Monotonic nanoseconds.
    package mutating func nextPacket(packetNumber: UInt64, maxSize: Int = Wire.maxFramesSize, now: UInt64) -> [UInt8]? {
        if let largestSent { precondition(packetNumber > largestSent, "packet numbers must increase") }
        let budget = min(maxSize, Wire.maxFramesSize)
        switch state {
        case .closed:
            return nil
        case .closing(let reason, _):
            let close = LinkFrame.close(reason: reason)
            var closeBytes: [UInt8] = []
            close.encode(into: &closeBytes)
            guard closeBytes.count <= budget else { return nil }
            var out: [UInt8] = []
            if ackElicitingSinceAck > 0 { writeAck(into: &out, limit: budget - closeBytes.count, now: now) }
            out += closeBytes
            state = .closed
            largestSent = packetNumber
            counters.packetsSent += 1
            return out
        case .open:
            break
        }

        let ackDue = ackDeadline.map { $0 <= now } ?? false
        let probing = probesOwed > 0
        let mayElicit = probing || (congestion.windowAllowsSending
            && congestion.pacingReadyTime(smoothedRTT: rtt.smoothed) <= now)
        let elicitWork = mayElicit && hasAckElicitingWork
        guard ackDue || probing || elicitWork else { return nil }

        var out: [UInt8] = []
        // One allocation per packet: a full packet would otherwise grow the array several times.
        out.reserveCapacity(budget)
        if ackElicitingSinceAck > 0 {
            // Half the packet at most when data rides along, so an ACK with many ranges
            // cannot starve the data it is paired with.
            writeAck(into: &out, limit: probing || elicitWork ? budget / 2 : budget, now: now)
        }
        var record = SentPacket(packetNumber: packetNumber, timeSent: now, bytes: 0)
        var elicits = false
        if mayElicit {
            elicits = writeAckElicitingFrames(into: &out, budget: budget, record: &record)
            if probing && !elicits && out.count < budget {
                LinkFrame.ping.encode(into: &out)
                elicits = true
            }
        }
        guard !out.isEmpty else { return nil }
        largestSent = packetNumber
        counters.packetsSent += 1
        if elicits {
            record = SentPacket(
                packetNumber: packetNumber, timeSent: now, bytes: out.count + Wire.dataHeaderSize + Wire.aeadTagSize,
                fragments: record.fragments, credit: record.credit)
            sentPackets.append(record)
            congestion.packetSent(bytes: record.bytes, now: now, smoothedRTT: rtt.smoothed)
            lastAckElicitingSentTime = now
            counters.ackElicitingPacketsSent += 1
            if probing { probesOwed -= 1 }
        }
        return out
    }

    /// The earliest time `nextPacket` will return a packet if nothing else happens, or nil when
    /// it waits for an ACK (window full), for new messages, or for nothing (closed).
    package var nextSendTime: UInt64? {
        switch state {
        case .closed: return nil
        case .closing(_, let requestedAt): return requestedAt
        case .open: break
        }
        var time = ackDeadline
        if probesOwed > 0 { time = min(time ?? .max, probeDueTime) }
        if hasAckElicitingWork && congestion.windowAllowsSending {
            time = min(time ?? .max, congestion.pacingReadyTime(smoothedRTT: rtt.smoothed))
        }
        return time
    }

    /// True if something that needs a congestion-controlled packet is waiting.
    var hasAckElicitingWork: Bool {
        creditPending || pingPending || !unreliableQueue.isEmpty || hasSendableMessageData
    }

    /// True if lost bytes wait, or the next new message fits the peer's credit.
    var hasSendableMessageData: Bool {
        if !retransmitQueue.isEmpty { return true }
        guard newDataMessageID < nextMessageID, let message = outgoing[newDataMessageID] else { return false }
        return creditAllows(message, id: newDataMessageID)
    }

    /// A message may start only if all of it fits the peer's credit, since the receiver reserves
    /// its whole length at the first fragment.
    func creditAllows(_ message: OutgoingMessage, id: UInt64) -> Bool {
        id < peerCredit.maxMessageID && message.streamStart + UInt64(message.bytes.count) <= peerCredit.maxData
    }

    /// Writes an ACK frame of as many of the newest ranges as fit `limit` bytes.
    mutating func writeAck(into out: inout [UInt8], limit: Int, now: UInt64) {
        let all = receivedPackets.ranges
        guard let newest = all.last else { return }
        let delayMicros = (now >= largestReceivedTime ? now - largestReceivedTime : 0) / 1_000
        var size = 1 + Varint.size(newest.upperBound) + Varint.size(delayMicros) + 1
            + Varint.size(newest.upperBound - newest.lowerBound)
        guard out.count + size <= limit else { return }
        var ranges = [newest]
        var index = all.count - 2
        while index >= 0, ranges.count < Reliability.maxAckRangesSent {
            let range = all[index]
            let extra = Varint.size(ranges[ranges.count - 1].lowerBound - range.upperBound - 2)
                + Varint.size(range.upperBound - range.lowerBound)
            guard out.count + size + extra <= limit else { break }
            size += extra
            ranges.append(range)
            index -= 1
        }
        LinkFrame.ack(AckFrame(ranges: ranges, ackDelayMicros: delayMicros)).encode(into: &out)
        ackElicitingSinceAck = 0
        ackDeadline = nil
    }

    /// Writes MAX_DATA, PING, datagrams and message data that fit; true if any was written.
    private mutating func writeAckElicitingFrames(
        into out: inout [UInt8], budget: Int, record: inout SentPacket
    ) -> Bool {
        let start = out.count
        if creditPending {
            let frame = LinkFrame.maxData(maxData: advertisedCredit.maxData, maxMessageID: advertisedCredit.maxMessageID)
            var bytes: [UInt8] = []
            frame.encode(into: &bytes)
            if out.count + bytes.count <= budget {
                out += bytes
                record.credit = advertisedCredit
                creditPending = false
            }
        }
        if pingPending && out.count < budget {
            LinkFrame.ping.encode(into: &out)
            pingPending = false
        }
        while let datagram = unreliableQueue.first {
            let size = 1 + Varint.size(UInt64(datagram.count)) + datagram.count
            if out.count + size <= budget {
                LinkFrame.unreliable(datagram).encode(into: &out)
                counters.unreliableSent += 1
            } else if size > budget {
                counters.unreliableDropped += 1
            } else {
                break
            }
            unreliableQueue.removeFirst()
        }
        writeRetransmissions(into: &out, budget: budget, record: &record)
        writeNewData(into: &out, budget: budget, record: &record)
        return out.count > start
    }

    private mutating func writeRetransmissions(into out: inout [UInt8], budget: Int, record: inout SentPacket) {
        var consumed = 0
        defer { retransmitQueue.removeFirst(consumed) }
        while consumed < retransmitQueue.count {
            let ref = retransmitQueue[consumed]
            guard let message = outgoing[ref.messageID] else {
                consumed += 1
                continue
            }
            if ref.length == 0 {
                guard !message.anyFragmentAcked else {
                    consumed += 1
                    continue
                }
                guard writeFragment(message: message, id: ref.messageID, offset: 0, wanted: 0, into: &out, budget: budget) != nil
                else { return }
                record.fragments.append(ref)
                counters.retransmittedFragments += 1
                consumed += 1
                continue
            }
            let end = ref.offset + ref.length
            guard let gap = message.acked.firstGap(in: ref.offset..<end) else {
                consumed += 1
                continue
            }
            guard let length = writeFragment(
                message: message, id: ref.messageID, offset: gap.lowerBound, wanted: gap.count, into: &out,
                budget: budget)
            else { return }
            record.fragments.append(FragmentRef(messageID: ref.messageID, offset: gap.lowerBound, length: length))
            counters.retransmittedFragments += 1
            counters.retransmittedBytes += length
            let sentUpTo = gap.lowerBound + length
            if sentUpTo >= end {
                consumed += 1
            } else {
                retransmitQueue[consumed] = FragmentRef(messageID: ref.messageID, offset: sentUpTo, length: end - sentUpTo)
            }
        }
    }

    private mutating func writeNewData(into out: inout [UInt8], budget: Int, record: inout SentPacket) {
        while newDataMessageID < nextMessageID {
            guard let message = outgoing[newDataMessageID] else {
                // Unreachable: a message is freed only once all of it was sent and acknowledged.
                newDataMessageID += 1
                newDataOffset = 0
                continue
            }
            guard creditAllows(message, id: newDataMessageID) else { return }
            guard let length = writeFragment(
                message: message, id: newDataMessageID, offset: newDataOffset,
                wanted: message.bytes.count - newDataOffset, into: &out, budget: budget)
            else { return }
            record.fragments.append(FragmentRef(messageID: newDataMessageID, offset: newDataOffset, length: length))
            newDataOffset += length
            if newDataOffset == message.bytes.count {
                newDataMessageID += 1
                newDataOffset = 0
            }
        }
    }

    /// Writes a MESSAGE frame with as many of the `wanted` bytes at `offset` as fit; returns how
    /// many, or nil if not even one byte (or the empty message's header) fits.
    private func writeFragment(
        message: OutgoingMessage, id: UInt64, offset: Int, wanted: Int, into out: inout [UInt8], budget: Int
    ) -> Int? {
        let room = budget - out.count
        var length = min(wanted, room)
        while true {
            let header = MessageFragment.headerSize(
                messageID: id, totalLength: message.bytes.count, offset: offset, length: length)
            if header + length <= room { break }
            length = min(length - 1, room - header)
            if length <= 0 { return nil }
        }
        if wanted > 0 && length == 0 { return nil }
        MessageFragment.appendHeader(
            messageID: id, totalLength: message.bytes.count, offset: offset, length: length, to: &out)
        out += message.bytes[offset..<(offset + length)]
        return length
    }
}
