import PeerCrypto

// Test hooks: an exact picture of the state (statistics excluded), so tests can assert that
// bad input changed nothing, and a way to jump the packet numbers towards their limit.

extension LinkEndpoint {
    /// Every field of the endpoint's state except `stats` and the random generator, in a fixed order.
    var _stateSnapshot: String {
        var lines: [String] = []
        for index in sessions.keys.sorted() {
            let s = sessions[index]!
            lines.append(
                "session \(index) remote \(s.remoteIndex) peer \(s.peer.shortDescription) init "
                    + "\(s.initiator.shortDescription) \(s.isLocalInitiator) created \(s.createdAt) started "
                    + "\(s.handshakeStartedAt) confirmed \(String(describing: s.confirmedAt)) send \(s.send.nonce) replay \(s.replay) "
                    + "m1 \(s.message1Packet ?? []) m3 \(s.message3Packet ?? [])")
        }
        for peer in links.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            let l = links[peer]!
            let received = l.lastReceivedOn.map { "\($0.key)=\($0.value)" }.sorted()
            lines.append(
                "link \(peer.shortDescription) current \(l.current) sessions \(l.sessions) path \(l.path) "
                    + "relay \(String(describing: l.relayPath)) on \(received) est \(l.establishedAt) "
                    + "rx \(l.lastReceived) tx \(String(describing: l.lastSent)) "
                    + "rxData \(String(describing: l.lastNonEmptyReceived)) "
                    + "unanswered \(String(describing: l.unansweredSince)) next \(l.nextPacketNumber) "
                    + "highest \(String(describing: l.highestReceivedNumber)) rekey \(String(describing: l.rekeyAttempt))")
        }
        for index in attempts.keys.sorted() {
            let a = attempts[index]!
            lines.append(
                "attempt \(index) paths \(a.paths) m1 \(a.message1Packet) started \(a.startedAt) retry "
                    + "\(a.nextRetryAt) rekey \(String(describing: a.rekeyOf)) phase \(a.phase)")
        }
        for index in halfOpen.keys.sorted() {
            let h = halfOpen[index]!
            lines.append(
                "halfOpen \(index) remote \(h.remoteIndex) m1 \(h.message1Packet) m2 \(h.message2Packet) "
                    + "created \(h.createdAt) seq \(h.sequence) paths \(h.paths)")
        }
        lines.append("byMessage1 \(halfOpenByMessage1.values.sorted()) \(sessionByMessage1.values.sorted())")
        lines.append("sequence \(halfOpenSequence) global \(rateLimiter.global) replayCache \(replayCache.count)")
        let buckets = rateLimiter.perPath.map { "\($0.key)=\($0.value)" }.sorted()
        lines.append("buckets \(buckets)")
        return lines.joined(separator: "\n")
    }

    /// Moves the link's packet numbers, to test the limit without sending 2^60 packets.
    mutating func _setNextPacketNumber(_ number: UInt64, for peer: PublicKey) {
        links[peer]?.nextPacketNumber = number
    }
}
