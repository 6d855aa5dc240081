// Taking in a packet: frames are decoded first (a bad packet changes nothing), then applied.
// A MESSAGE fragment that would exceed a receive bound is not buffered, and its whole packet
// is then left unacknowledged (and its datagrams undelivered), so a well-behaved sender
// retransmits the data later instead of losing it, and a duplicate of the packet cannot
// deliver a datagram twice.

extension ReliableLink {
    /// Takes in the plaintext of an authenticated data packet.
    ///
    /// - Parameters:
    ///   - packetNumber: The packet's AEAD counter.
    ///   - plaintext: The decrypted frames.
    ///   - now: Monotonic nanoseconds.
    /// - Returns: Messages completed in order, datagrams, or the peer's close.
    /// - Throws: `ReliabilityError` if the frames do not decode; the packet then changed nothing.
    public mutating func received(packetNumber: UInt64, plaintext: [UInt8], now: UInt64) throws(ReliabilityError)
        -> [Delivery]
    {
        let frames = try LinkFrame.decode(plaintext)
        guard case .open = state else { return [] }
        guard !receivedPackets.contains(packetNumber) else {
            counters.duplicatePackets += 1
            return []
        }
        var deliveries: [Delivery] = []
        var datagrams: [[UInt8]] = []
        var refused = false
        var ackEliciting = false
        for frame in frames {
            if frame.isAckEliciting { ackEliciting = true }
            switch frame {
            case .padding, .ping:
                break
            case .ack(let ack):
                processAck(ack, now: now)
            case .message(let fragment):
                if !accept(fragment, into: &deliveries) { refused = true }
            case .unreliable(let datagram):
                datagrams.append(datagram)
            case .close(let reason):
                state = .closed
                deliveries.append(.closed(reason: reason))
                return deliveries
            case .maxData(let maxData, let maxMessageID):
                peerCredit.maxData = max(peerCredit.maxData, maxData)
                peerCredit.maxMessageID = max(peerCredit.maxMessageID, maxMessageID)
            }
        }
        if refused {
            counters.refusedPackets += 1
            return deliveries
        }
        let previousLargest = receivedPackets.largest
        receivedPackets.insert(packetNumber)
        counters.packetsReceived += 1
        if previousLargest.map({ packetNumber > $0 }) ?? true { largestReceivedTime = now }
        if ackEliciting {
            ackElicitingSinceAck += 1
            // A gap or a late packet is acked at once so the sender's loss detection sees it.
            let reordered = previousLargest.map { packetNumber != $0 &+ 1 } ?? false
            if ackElicitingSinceAck >= Reliability.ackElicitingThreshold || reordered {
                ackDeadline = min(ackDeadline ?? now, now)
            } else if ackDeadline == nil {
                ackDeadline = now &+ Reliability.maxAckDelay
            }
        }
        counters.unreliableDelivered += datagrams.count
        deliveries += datagrams.map { .unreliable($0) }
        return deliveries
    }

    /// Buffers a fragment if it is within bounds; false if it was refused.
    private mutating func accept(_ fragment: MessageFragment, into deliveries: inout [Delivery]) -> Bool {
        let id = fragment.messageID
        guard id >= nextDeliverID else { return true }
        guard id - nextDeliverID < Wire.linkMessageWindow else { return false }
        let range = fragment.offset..<(fragment.offset + fragment.bytes.count)
        // Read what the checks need without keeping a copy of the entry, so the buffer is then
        // written in place rather than copied.
        let existing = reassemblies[id].map {
            (total: $0.totalLength, added: $0.received.countAfterInserting(range) - $0.received.ranges.count)
        }
        if let existing {
            guard existing.total == fragment.totalLength else { return false }
            guard existing.added <= 0 || reassemblyRangeCount + existing.added <= Reliability.maxReassemblyRanges
            else { return false }
        } else {
            guard reservedBytes + fragment.totalLength <= Int(Wire.linkReceiveWindow) else { return false }
            guard range.isEmpty || reassemblyRangeCount < Reliability.maxReassemblyRanges else { return false }
            reassemblies[id] = Reassembly(
                totalLength: fragment.totalLength, buffer: [UInt8](repeating: 0, count: fragment.totalLength))
            reservedBytes += fragment.totalLength
        }
        reassemblyRangeCount += reassemblies[id]!.absorb(fragment)
        deliverReady(into: &deliveries)
        return true
    }

    private mutating func deliverReady(into deliveries: inout [Delivery]) {
        while reassemblies[nextDeliverID]?.isComplete == true {
            let entry = reassemblies.removeValue(forKey: nextDeliverID)!
            deliveries.append(.message(entry.buffer))
            reservedBytes -= entry.totalLength
            reassemblyRangeCount -= entry.received.ranges.count
            deliveredBytes += UInt64(entry.totalLength)
            nextDeliverID += 1
            counters.messagesDelivered += 1
        }
        let fresh = FlowCredit(
            maxData: deliveredBytes + Wire.linkReceiveWindow, maxMessageID: nextDeliverID + Wire.linkMessageWindow)
        if fresh.maxData - advertisedCredit.maxData >= Wire.linkReceiveWindow / Reliability.flowControlUpdateDivisor
            || fresh.maxMessageID - advertisedCredit.maxMessageID
                >= Wire.linkMessageWindow / Reliability.flowControlUpdateDivisor
        {
            advertisedCredit = fresh
            creditPending = true
        }
    }
}
