import PeerCrypto

// Data packets and paths. Receive: find the session by index → decrypt with the packet's counter
// as nonce and its header as associated data → only then record the counter in the replay window
// (a forgery cannot move it) → the packet is authenticated: confirm the session if it was the
// initiator's first, note the path, maybe move the link to it, deliver. Send: the link's next
// packet number is the nonce under the sending session's key; numbers never repeat on a link, so
// no key ever sees a nonce twice.

extension LinkEndpoint {
    mutating func receivedData(_ packet: LinkPacket.DataPacket, from path: Path, now: UInt64) -> [LinkAction<Path>] {
        let index = packet.receiverIndex
        guard let session = sessions[index] else {
            stats.drop(.unknownIndex)
            return []
        }
        guard Self.elapsed(from: session.createdAt, to: now) < Wire.linkRejectAfterTime else {
            stats.drop(.expiredSession)
            return []
        }
        guard packet.counter < Wire.linkRejectAfterMessages else {
            stats.drop(.counterTooHigh)
            return []
        }
        // A working copy: receiving never produces a nonce, and the nonce is set from the packet,
        // so the copy cannot cause reuse; it is stored back only if the packet authenticates.
        var receive = session.receive
        receive.setNonce(packet.counter)
        let plaintext: [UInt8]
        do {
            plaintext = try receive.decrypt(packet.ciphertext, ad: packet.header)
        } catch {
            stats.drop(.decryptionFailed)
            return []
        }
        guard sessions[index]!.replay.check(packet.counter) else {
            stats.drop(.replayed)
            return []
        }
        sessions[index]!.receive = receive
        stats.dataPacketsReceived += 1
        lastDatagramAuthenticated = true

        var actions: [LinkAction<Path>] = []
        if !session.confirmed {
            sessions[index]!.confirmedAt = now
            let attempt = attempts.removeValue(forKey: index)
            actions += installConfirmed(index, path: path, candidates: attempt?.paths ?? [path], now: now)
        }
        let peer = session.peer
        guard var link = links[peer], link.sessions.contains(index) else {
            // Only a session that lost its link (torn down meanwhile) gets here; drop it too.
            forgetSession(index)
            return actions
        }
        let lastOnCurrentPath = link.lastReceivedOn[link.path]
        link.lastReceived = now
        recordReceipt(on: path, at: now, in: &link)
        if !plaintext.isEmpty { link.lastNonEmptyReceived = now }
        let newest = link.highestReceivedNumber.map { packet.counter > $0 } ?? true
        if newest { link.highestReceivedNumber = packet.counter }
        if path.isRelayed { link.relayPath = path }

        var switched = false
        if path == link.path {
            link.unansweredSince = nil
        } else if newest {
            let silence = Self.elapsed(from: lastOnCurrentPath ?? link.establishedAt, to: now)
            // Direct beats relay; among equals the latest path wins (roaming); the relay takes
            // over from a direct path only once that has gone quiet.
            if !path.isRelayed || link.path.isRelayed || silence >= Wire.linkDirectSilenceTimeout {
                link.path = path
                link.unansweredSince = nil
                switched = true
            }
        }
        links[peer] = link

        if plaintext == [Wire.linkCloseNotice] {
            tearDown(peer)
            actions.append(.linkDown(peer, reason: .closedByPeer))
            return actions
        }
        if switched {
            stats.pathChanges += 1
            actions.append(.pathChanged(peer, path: path, isDirect: !path.isRelayed))
            // Tell the peer at once, so it moves too (this is what answers a probe).
            if let keepalive = sendPacket(to: peer, plaintext: [], on: nil, now: now) {
                stats.keepalivesSent += 1
                actions.append(keepalive)
            }
        }
        if !plaintext.isEmpty {
            actions.append(.deliver(plaintext, from: peer, packetNumber: packet.counter))
        }
        return actions
    }

    /// Notes an authenticated arrival on `path`, keeping the table bounded (the current path and
    /// the most recent others).
    func recordReceipt(on path: Path, at now: UInt64, in link: inout LinkRecord<Path>) {
        link.lastReceivedOn[path] = now
        while link.lastReceivedOn.count > Wire.linkMaxCandidatePaths,
            let stalest = link.lastReceivedOn.filter({ $0.key != link.path && $0.key != path })
                .min(by: { $0.value < $1.value })
        {
            link.lastReceivedOn[stalest.key] = nil
        }
    }

    /// The session packets to `peer` go out on: the current one unless it has expired (before
    /// the timer removed it), then the newest confirmed one that has not.
    func sendingSession(of link: LinkRecord<Path>, now: UInt64) -> UInt32? {
        let usable: (UInt32) -> Bool = { index in
            guard let session = self.sessions[index] else { return false }
            return Self.elapsed(from: session.createdAt, to: now) < Wire.linkRejectAfterTime
        }
        if usable(link.current) { return link.current }
        return link.sessions.filter(usable).max { sessions[$0]!.createdAt < sessions[$1]!.createdAt }
    }

    /// Encrypts one packet to `peer` with the link's next packet number, on `path` (default: the
    /// link's) and `session` (default: the sending session); nil if the link cannot send.
    mutating func sendPacket(
        to peer: PublicKey, plaintext: [UInt8], on path: Path?, session: UInt32? = nil, now: UInt64
    ) -> LinkAction<Path>? {
        guard var link = links[peer], link.nextPacketNumber < Wire.linkRejectAfterMessages,
            let index = session ?? sendingSession(of: link, now: now), let remoteIndex = sessions[index]?.remoteIndex
        else { return nil }
        let counter = link.nextPacketNumber
        let header = LinkPacket.DataPacket.header(receiverIndex: remoteIndex, counter: counter)
        let ciphertext: [UInt8]
        do {
            // The one live copy of the send cipher, mutated in place.
            sessions[index]!.send.setNonce(counter)
            ciphertext = try sessions[index]!.send.encrypt(plaintext, ad: header)
        } catch {
            return nil
        }
        let target = path ?? link.path
        link.nextPacketNumber = counter + 1
        link.lastSent = now
        if !plaintext.isEmpty, target == link.path, !target.isRelayed, link.unansweredSince == nil {
            link.unansweredSince = now
        }
        links[peer] = link
        stats.dataPacketsSent += 1
        return .send(header + ciphertext, to: target)
    }
}
