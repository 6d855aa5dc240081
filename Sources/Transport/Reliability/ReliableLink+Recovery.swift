// Loss detection and recovery after RFC 9002 §6: a packet is lost when a packet
// `Reliability.packetThreshold` numbers later was acked, or when it is older than the loss delay
// relative to an acked later packet; otherwise the probe timeout (PTO) sends probes. Lost
// message bytes are queued and go out again in new packets, never under the old number.

extension ReliableLink {
    /// Handles whichever timer is due: the loss timer, or else the probe timeout.
    ///
    /// Call it at `nextTimer` (calling early or late is harmless), then drain `nextPacket`.
    public mutating func timerFired(now: UInt64) {
        guard case .open = state else { return }
        if let lossTime, lossTime <= now {
            detectLostPackets(now: now)
            pruneRetransmitQueue()
            return
        }
        guard let deadline = timeoutDeadline, deadline <= now else { return }
        timeoutCount += 1
        counters.probeTimeouts += 1
        probesOwed = Reliability.probePacketsPerTimeout
        probeDueTime = now
        // With nothing new to send, a probe repeats the oldest unacknowledged data: if that was
        // lost too, the probe's ACK gets the transfer going again at once.
        if !hasSendableMessageData, let oldest = sentPackets.first(where: { !$0.fragments.isEmpty }) {
            retransmitQueue.append(contentsOf: oldest.fragments)
            pruneRetransmitQueue()
        }
    }

    /// The earliest time `timerFired` or `nextPacket` has something to do, or nil when the link
    /// waits only for the peer or the application.
    public var nextTimer: UInt64? {
        guard case .open = state else { return nextSendTime }
        let recovery = lossTime ?? timeoutDeadline
        switch (recovery, nextSendTime) {
        case (nil, nil): return nil
        case (let time?, nil), (nil, let time?): return time
        case (let first?, let second?): return min(first, second)
        }
    }

    /// When the probe timeout fires: PTO × 2^(timeouts in a row) after the last ack-eliciting packet.
    var timeoutDeadline: UInt64? {
        guard !sentPackets.isEmpty, let last = lastAckElicitingSentTime else { return nil }
        let exponent = min(timeoutCount, Reliability.maxTimeoutBackoffExponent)
        let base = rtt.probeTimeout
        guard base <= (UInt64.max >> UInt64(exponent)) else { return .max }
        let (deadline, overflow) = last.addingReportingOverflow(base << UInt64(exponent))
        return overflow ? .max : deadline
    }

    mutating func processAck(_ ack: AckFrame, now: UInt64) {
        guard let largestSent, ack.largest <= largestSent else {
            counters.invalidAcks += 1
            return
        }
        let flightBefore = congestion.bytesInFlight
        var newlyAcked: [SentPacket] = []
        // Ranges are descending, so removing a higher range never shifts a lower one's indices.
        for range in ack.ranges {
            let low = firstSentIndex(atLeast: range.lowerBound)
            let high = range.upperBound == .max ? sentPackets.count : firstSentIndex(atLeast: range.upperBound + 1)
            guard low < high else { continue }
            newlyAcked.append(contentsOf: sentPackets[low..<high])
            sentPackets.removeSubrange(low..<high)
        }
        guard !newlyAcked.isEmpty else { return }
        largestAcked = max(largestAcked ?? 0, ack.largest)
        if let newest = newlyAcked.first(where: { $0.packetNumber == ack.largest }) {
            // Capped before scaling, so a hostile delay cannot overflow.
            let ackDelay = min(ack.ackDelayMicros, Reliability.maxAckDelay / 1_000) * 1_000
            rtt.addSample(latest: now >= newest.timeSent ? now - newest.timeSent : 0, ackDelay: ackDelay)
        }
        let appLimited = flightBefore < congestion.window / 2
        for packet in newlyAcked {
            congestion.packetAcked(bytes: packet.bytes, timeSent: packet.timeSent, appLimited: appLimited)
            for fragment in packet.fragments { markAcked(fragment) }
        }
        timeoutCount = 0
        detectLostPackets(now: now)
        pruneRetransmitQueue()
    }

    private mutating func markAcked(_ fragment: FragmentRef) {
        guard outgoing[fragment.messageID] != nil else { return }
        outgoing[fragment.messageID]!.anyFragmentAcked = true
        outgoing[fragment.messageID]!.acked.insert(fragment.offset..<(fragment.offset + fragment.length))
        if outgoing[fragment.messageID]!.fullyAcked { outgoing.removeValue(forKey: fragment.messageID) }
    }

    private mutating func detectLostPackets(now: UInt64) {
        lossTime = nil
        guard let largestAcked else { return }
        let delay = rtt.lossDelay
        var lost: [SentPacket] = []
        var kept: [SentPacket] = []
        var index = 0
        while index < sentPackets.count, sentPackets[index].packetNumber < largestAcked {
            let packet = sentPackets[index]
            let lostAt = packet.timeSent &+ delay
            if largestAcked - packet.packetNumber >= Reliability.packetThreshold || lostAt <= now {
                lost.append(packet)
            } else {
                kept.append(packet)
                lossTime = min(lossTime ?? .max, lostAt)
            }
            index += 1
        }
        guard !lost.isEmpty else { return }
        sentPackets.replaceSubrange(0..<index, with: kept)
        for packet in lost {
            congestion.removeFromFlight(bytes: packet.bytes)
            counters.packetsLost += 1
            retransmitQueue.append(contentsOf: packet.fragments)
            if packet.credit == advertisedCredit { creditPending = true }
        }
        congestion.packetsLost(largestLostTimeSent: lost[lost.count - 1].timeSent, now: now)
    }

    /// Drops queued retransmissions whose bytes were acknowledged meanwhile, so "data waiting"
    /// never means "nothing to write" (the shell would spin).
    private mutating func pruneRetransmitQueue() {
        guard !retransmitQueue.isEmpty else { return }
        retransmitQueue.removeAll { ref in
            guard let message = outgoing[ref.messageID] else { return true }
            if ref.length == 0 { return message.anyFragmentAcked }
            return message.acked.firstGap(in: ref.offset..<(ref.offset + ref.length)) == nil
        }
    }

    private func firstSentIndex(atLeast number: UInt64) -> Int {
        var low = 0
        var high = sentPackets.count
        while low < high {
            let mid = (low + high) / 2
            if sentPackets[mid].packetNumber < number { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
