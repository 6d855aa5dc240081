import PeerCrypto

// Timers as data. Per attempt: the next retry and the give-up time. Per session: its expiry
// (`Wire.linkRejectAfterTime`). Per link: dead after `Wire.linkDeadAfter` of silence, the rekey
// (`Wire.linkRekeyAfterTime`, by the current session's initiator), the keepalive, and the fallback
// from a silent direct path to the relay (`Wire.linkDirectSilenceTimeout`). Half-open responder
// states expire lazily (they are bounded in number anyway).

extension LinkEndpoint {
    /// When `timerFired(now:)` should next be called, or nil if nothing is pending.
    public var nextTimer: UInt64? {
        var earliest: UInt64?
        func consider(_ time: UInt64?) {
            guard let time else { return }
            earliest = min(earliest ?? time, time)
        }
        for attempt in attempts.values {
            consider(min(attempt.nextRetryAt, attempt.startedAt + Wire.linkHandshakeTimeout))
        }
        for session in sessions.values { consider(session.createdAt + Wire.linkRejectAfterTime) }
        for link in links.values {
            consider(link.lastReceived + Wire.linkDeadAfter)
            if link.nextPacketNumber >= Wire.linkRejectAfterMessages { consider(0) }
            if let current = sessions[link.current], current.isLocalInitiator, !rekeyInProgress(link) {
                consider(current.createdAt + Wire.linkRekeyAfterTime)
            }
            consider(fallbackDue(link))
            consider(keepaliveDue(link))
        }
        return earliest
    }

    /// Runs every timer that is due at `now`: retries, give-ups, expiries, dead links, rekeys,
    /// fallbacks and keepalives.
    public mutating func timerFired(now: UInt64) -> [LinkAction<Path>] {
        var actions: [LinkAction<Path>] = []
        for index in attempts.keys.sorted() {
            guard var attempt = attempts[index] else { continue }
            if Self.elapsed(from: attempt.startedAt, to: now) >= Wire.linkHandshakeTimeout {
                attempts[index] = nil
                if sessions[index]?.confirmed == false { forgetSession(index) }
                stats.handshakesFailed += 1
                if attempt.rekeyOf == nil { actions.append(.handshakeFailed(paths: attempt.paths)) }
                continue
            }
            guard now >= attempt.nextRetryAt else { continue }
            switch attempt.phase {
            case .awaitingResponse:
                let paths = attempt.rekeyOf.flatMap { links[$0]?.path }.map { [$0] } ?? attempt.paths
                actions += paths.map { .send(attempt.initiation(on: $0, now: now), to: $0) }
            case .awaitingConfirmation(_, let message3Packet, let path):
                actions.append(.send(message3Packet, to: path))
            }
            attempt.nextRetryAt = now + retryDelay()
            attempts[index] = attempt
        }

        for (index, session) in sessions
        where Self.elapsed(from: session.createdAt, to: now) >= Wire.linkRejectAfterTime {
            forgetSession(index)
            guard var link = links[session.peer], link.sessions.contains(index) else { continue }
            link.sessions.removeAll { $0 == index }
            if link.current == index, let newest = link.sessions.max(by: {
                sessions[$0]!.createdAt < sessions[$1]!.createdAt
            }) {
                link.current = newest
            }
            links[session.peer] = link
        }

        for peer in links.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            guard let link = links[peer] else { continue }
            let reason: LinkDownReason? =
                Self.elapsed(from: link.lastReceived, to: now) >= Wire.linkDeadAfter ? .timeout
                : link.sessions.isEmpty ? .expired
                : link.nextPacketNumber >= Wire.linkRejectAfterMessages ? .exhausted : nil
            if let reason {
                tearDown(peer)
                actions.append(.linkDown(peer, reason: reason))
                continue
            }
            actions += maybeStartRekey(peer, now: now)
            if let due = fallbackDue(link), now >= due, let relay = link.relayPath {
                links[peer]?.path = relay
                links[peer]?.unansweredSince = nil
                stats.pathChanges += 1
                actions.append(.pathChanged(peer, path: relay, isDirect: false))
                if let keepalive = sendPacket(to: peer, plaintext: [], on: nil, now: now) {
                    stats.keepalivesSent += 1
                    actions.append(keepalive)
                }
            }
            if let updated = links[peer], let due = keepaliveDue(updated), now >= due,
                let keepalive = sendPacket(to: peer, plaintext: [], on: nil, now: now)
            {
                stats.keepalivesSent += 1
                actions.append(keepalive)
            }
        }
        pruneHalfOpen(now: now)
        return actions
    }

    /// When a silent direct path gives way to the relay: only while packets with content go
    /// unanswered on it and a relay path is known.
    func fallbackDue(_ link: LinkRecord<Path>) -> UInt64? {
        guard !link.path.isRelayed, link.relayPath != nil, let since = link.unansweredSince else { return nil }
        return since + Wire.linkDirectSilenceTimeout
    }

    /// When the next keepalive is due: after a quiet interval, if packets with content arrived
    /// since we last sent (or always, with persistent keepalives).
    func keepaliveDue(_ link: LinkRecord<Path>) -> UInt64? {
        let lastSent = link.lastSent ?? link.establishedAt
        if configuration.persistentKeepalive { return lastSent + Wire.linkKeepaliveInterval }
        guard let received = link.lastNonEmptyReceived, link.lastSent.map({ received > $0 }) ?? true else { return nil }
        return lastSent + Wire.linkKeepaliveInterval
    }
}
