import PeerCrypto

// Handshakes. Initiator: message 1 out (the same bytes on every path and every retry) → message 2
// in, tried on a copy of the handshake → message 3 out, session created unconfirmed → the first
// packet from the responder decrypts → confirmed. Responder: message 1 in → message 2 out from a
// half-open state (copies of message 1 get the cached message 2) → message 3 in → session
// confirmed, and an empty packet goes out at once so the initiator can confirm too.

extension LinkEndpoint {
    /// The mac, checked first: a non-member's packet costs one hash per epoch held and nothing
    /// else. Returns the keys of the epoch whose mac it carries.
    mutating func admitHandshake(_ datagram: [UInt8], from path: Path, now: UInt64) -> RoomKeys? {
        if LinkMac.isValid(datagram, key: room.macKey) { return room }
        if let older = olderRooms.first(where: { LinkMac.isValid(datagram, key: $0.macKey) }) { return older }
        stats.drop(.badMac)
        return nil
    }

    /// The rate budget, charged just before a packet causes work or an answer (lookups that find
    /// nothing are free): a member's flood costs bounded Diffie-Hellman and bounded replies.
    mutating func chargeHandshake(from path: Path, now: UInt64) -> Bool {
        guard rateLimiter.allow(from: path, now: now) else {
            stats.drop(.rateLimited)
            return false
        }
        return true
    }

    mutating func startAttempt(paths: [Path], rekeyOf: PublicKey?, now: UInt64) -> (UInt32, [LinkAction<Path>]) {
        var handshake = CvpeerHandshake(
            role: .initiator, identity: identity, staticKeyPair: staticKeyPair, ephemeral: takeEphemeral(), room: room)
        let message: [UInt8]
        do {
            message = try handshake.writeMessage()
        } catch {
            preconditionFailure("a fresh initiator always writes message 1: \(error)")
        }
        let index = freshIndex()
        let packet = LinkPacket.initiation(
            .init(senderIndex: index, timestamp: wallClock.milliseconds(now), message: message)
        ).encoded(macKey: room.macKey)
        attempts[index] = InitiatorAttempt(
            localIndex: index, paths: paths, message1Packet: packet, handshake: handshake, epoch: room.epoch, startedAt: now,
            nextRetryAt: now + retryDelay(), rekeyOf: rekeyOf, phase: .awaitingResponse)
        stats.handshakesInitiated += 1
        return (index, paths.map { .send(packet, to: $0) })
    }

    mutating func receivedInitiation(
        _ initiation: LinkPacket.Initiation, packet: [UInt8], keys: RoomKeys, from path: Path, now: UInt64
    ) -> [LinkAction<Path>] {
        pruneHalfOpen(now: now)
        let message1 = LinkCookie.withoutMac2(packet)
        noteLoad(now: now)
        if let index = halfOpenByMessage1[message1], var state = halfOpen[index] {
            if needsCookie(packet, from: path, now: now) { return cookieReply(to: initiation, packet: packet, keys: keys, on: path) }
            guard chargeHandshake(from: path, now: now) else { return [] }
            // A copy (another path, a retry, the network): the same answer, no Diffie-Hellman.
            if !state.paths.contains(path), state.paths.count < Wire.linkMaxCandidatePaths {
                state.paths.append(path)
                halfOpen[index] = state
            }
            stats.duplicateInitiationsAnswered += 1
            return [.send(state.message2Packet, to: path)]
        }
        if sessionByMessage1[message1] != nil {
            stats.drop(.duplicateHandshake)
            return []
        }
        // A new initiation, or a harvested one replayed: its time and whether it was seen decide,
        // before any budget, Diffie-Hellman or answer. (Copies while the half-open state lives
        // were answered above, so a retry of the same bytes is never refused here.)
        replayCache.prune(now: now)
        let wallNow = wallClock.milliseconds(now)
        let distance = wallNow >= initiation.timestamp ? wallNow - initiation.timestamp : initiation.timestamp - wallNow
        guard distance <= Wire.linkInitiationWindow / 1_000_000 else {
            stats.drop(.initiationStale)
            return []
        }
        let replayKey = LinkReplayCache.Key(mac: initiation.mac[...])
        guard !replayCache.contains(replayKey, now: now) else {
            stats.drop(.initiationReplayed)
            return []
        }
        // Under load, the Diffie-Hellman and the 164-byte answer wait until the source has shown
        // it receives at its address; the initiation is not remembered, so its copy with mac2 is
        // taken as new.
        if needsCookie(packet, from: path, now: now) { return cookieReply(to: initiation, packet: packet, keys: keys, on: path) }
        guard chargeHandshake(from: path, now: now) else { return [] }
        replayCache.insert(replayKey, now: now)
        var handshake = CvpeerHandshake(
            role: .responder, identity: identity, staticKeyPair: staticKeyPair, ephemeral: takeEphemeral(), room: keys)
        let message2: [UInt8]
        do {
            _ = try handshake.readMessage(initiation.message)
            message2 = try handshake.writeMessage(payload: incarnation)
        } catch {
            stats.drop(.handshakeRejected)
            return []
        }
        precondition(message2.count == Wire.handshakeResponseMessageSize, "message 2 carries the incarnation only")
        if halfOpen.count >= Wire.linkMaxHalfOpen, let oldest = halfOpen.values.min(by: { $0.sequence < $1.sequence }) {
            removeHalfOpen(oldest.localIndex)
            // Its initiator may still be retrying the same bytes: let them in again (a flood that
            // evicts states is already bounded by the handshake budget).
            replayCache.remove(LinkReplayCache.Key(mac: oldest.message1Packet[(oldest.message1Packet.count - Wire.linkMacSize)...]))
            stats.halfOpenEvicted += 1
        }
        let index = freshIndex()
        let response = LinkPacket.response(
            .init(senderIndex: index, receiverIndex: initiation.senderIndex, message: message2)
        ).encoded(macKey: keys.macKey)
        halfOpenSequence += 1
        halfOpen[index] = HalfOpenResponder(
            localIndex: index, remoteIndex: initiation.senderIndex, message1Packet: message1, message2Packet: response,
            handshake: handshake, epoch: keys.epoch, createdAt: now,
            sequence: halfOpenSequence, paths: [path])
        halfOpenByMessage1[message1] = index
        return [.send(response, to: path)]
    }

    /// Marks the endpoint under load when half-open states pile up or the global handshake
    /// budget is half spent (WireGuard looks at its handshake queue the same way).
    mutating func noteLoad(now: UInt64) {
        if halfOpen.count >= Wire.linkLoadHalfOpen || rateLimiter.isGlobalHalfSpent(at: now) {
            underLoadUntil = now + Wire.linkLoadDuration
        }
    }

    /// True if an initiation must first earn a cookie: under load, on a direct path, without a
    /// valid mac2 for that path's address. The relay only carries between registered members,
    /// whose addresses the rendezvous checked, so it never needs one.
    mutating func needsCookie(_ packet: [UInt8], from path: Path, now: UInt64) -> Bool {
        guard isUnderLoad(now: now), !path.isRelayed else { return false }
        cookieSecrets.rotate(now: now, random: &random)
        return !cookieSecrets.admits(packet, from: path.cookieAddress)
    }

    /// The 64-byte cookie reply for the path an initiation came from, sealed to its mac1.
    mutating func cookieReply(
        to initiation: LinkPacket.Initiation, packet: [UInt8], keys: RoomKeys, on path: Path
    ) -> [LinkAction<Path>] {
        let cookie = LinkCookie.cookie(for: path.cookieAddress, secret: cookieSecrets.current)
        let nonce = (0..<Wire.cookieReplyNonceSize).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        guard
            let sealed = try? XChaCha20Poly1305.seal(
                cookie, ad: LinkCookie.mac1(of: packet), nonce: nonce, key: LinkCookie.sealingKey(keys))
        else { return [] }
        stats.cookieRepliesSent += 1
        let reply = LinkPacket.cookieReply(.init(receiverIndex: initiation.senderIndex, nonce: nonce, sealedCookie: sealed))
        return [.send(reply.encoded(macKey: keys.macKey), to: path)]
    }

    /// A responder under load sent a cookie for `path`: message 1 goes out there again with mac2
    /// at once (and on every retry while the cookie is fresh).
    mutating func receivedCookieReply(_ reply: LinkPacket.CookieReply, from path: Path, now: UInt64) -> [LinkAction<Path>] {
        guard var attempt = attempts[reply.receiverIndex], case .awaitingResponse = attempt.phase, !path.isRelayed else {
            stats.drop(.unknownIndex)
            return []
        }
        if let held = attempt.cookies[path], Self.elapsed(from: held.receivedAt, to: now) < Wire.linkHandshakeRetryInterval {
            // One resend per path per retry interval: a flood of (member-made) cookie replies
            // cannot turn this side into a sender.
            stats.drop(.badCookieReply)
            return []
        }
        let keys = attempt.epoch == room.epoch ? room : olderRooms.first { $0.epoch == attempt.epoch }
        guard let keys,
            let cookie = try? XChaCha20Poly1305.open(
                reply.sealedCookie, ad: LinkCookie.mac1(of: attempt.message1Packet), nonce: reply.nonce,
                key: LinkCookie.sealingKey(keys))
        else {
            stats.drop(.badCookieReply)
            return []
        }
        attempt.cookies[path] = (cookie, now)
        attempts[attempt.localIndex] = attempt
        stats.cookieRepliesReceived += 1
        lastDatagramAuthenticated = true
        return [.send(attempt.initiation(on: path, now: now), to: path)]
    }

    mutating func receivedResponse(
        _ response: LinkPacket.Response, packet: [UInt8], keys: RoomKeys, from path: Path, now: UInt64
    ) -> [LinkAction<Path>] {
        guard var attempt = attempts[response.receiverIndex] else {
            stats.drop(.unknownIndex)
            return []
        }
        switch attempt.phase {
        case .awaitingConfirmation(let message2Packet, _, _):
            stats.drop(message2Packet == packet ? .duplicateHandshake : .staleHandshake)
            return []
        case .awaitingResponse:
            break
        }
        guard chargeHandshake(from: path, now: now) else { return [] }
        var handshake = attempt.handshake
        let message3: [UInt8]
        let established: CvpeerHandshake.EstablishedLink
        let peerIncarnation: [UInt8]
        do {
            peerIncarnation = try handshake.readMessage(response.message)
            guard peerIncarnation.count == Wire.linkIncarnationSize else { throw CryptoError.handshake("no incarnation") }
            message3 = try handshake.writeMessage(payload: incarnation)
            established = try handshake.finish()
        } catch {
            stats.drop(.handshakeRejected)
            return []
        }
        precondition(message3.count == Wire.handshakeFinishMessageSize, "message 3 carries the incarnation only")
        if attempt.epoch < room.epoch, !olderEpochPeers.contains(established.peer) {
            // Started before a switch and answered by a key not let in on that epoch (a removed
            // member at the address tried): refused as a responder refuses it, and the attempt
            // ends, so the key gets no session to confirm even by ignoring the mac.
            attempts[attempt.localIndex] = nil
            stats.drop(.olderEpochRefused)
            return []
        }
        guard links[established.peer] != nil || links.count < Wire.linkMaxLinks else {
            stats.drop(.tooManyLinks)
            return []
        }
        // Message 3 carries the mac of the attempt's epoch (message 2's), which the responder
        // checks; a switch since message 1 must not strand a member still in that epoch.
        let finish = LinkPacket.finish(.init(receiverIndex: response.senderIndex, message: message3))
            .encoded(macKey: keys.macKey)
        sessions[attempt.localIndex] = LinkSession(
            localIndex: attempt.localIndex, remoteIndex: response.senderIndex, peer: established.peer,
            initiator: localKey, isLocalInitiator: true, send: established.send, receive: established.receive,
            createdAt: now, handshakeStartedAt: attempt.startedAt, confirmedAt: nil, message1Packet: nil,
            message3Packet: nil, peerIncarnation: peerIncarnation, epoch: attempt.epoch)
        stats.sessionsEstablished += 1
        lastDatagramAuthenticated = true
        attempt.phase = .awaitingConfirmation(message2Packet: packet, message3Packet: finish, path: path)
        attempt.nextRetryAt = now + retryDelay()
        attempts[attempt.localIndex] = attempt
        return [.send(finish, to: path)]
    }

    mutating func receivedFinish(
        _ finish: LinkPacket.Finish, packet: [UInt8], from path: Path, now: UInt64
    ) -> [LinkAction<Path>] {
        let index = finish.receiverIndex
        if let state = halfOpen[index] {
            guard chargeHandshake(from: path, now: now) else { return [] }
            var handshake = state.handshake
            let established: CvpeerHandshake.EstablishedLink
            let peerIncarnation: [UInt8]
            do {
                peerIncarnation = try handshake.readMessage(finish.message)
                guard peerIncarnation.count == Wire.linkIncarnationSize else { throw CryptoError.handshake("no incarnation") }
                established = try handshake.finish()
            } catch {
                stats.drop(.handshakeRejected)
                return []
            }
            guard links[established.peer] != nil || links.count < Wire.linkMaxLinks else {
                stats.drop(.tooManyLinks)
                return []
            }
            if state.epoch < room.epoch, !olderEpochPeers.contains(established.peer) {
                // Message 3 named the key: a removed member, or a new one with an old invite.
                removeHalfOpen(index)
                stats.drop(.olderEpochRefused)
                return []
            }
            removeHalfOpen(index)
            sessions[index] = LinkSession(
                localIndex: index, remoteIndex: state.remoteIndex, peer: established.peer,
                initiator: established.peer, isLocalInitiator: false, send: established.send,
                receive: established.receive, createdAt: now, handshakeStartedAt: state.createdAt, confirmedAt: now,
                message1Packet: state.message1Packet,
                message3Packet: packet, peerIncarnation: peerIncarnation, epoch: state.epoch)
            sessionByMessage1[state.message1Packet] = index
            stats.sessionsEstablished += 1
            lastDatagramAuthenticated = true
            var actions = installConfirmed(index, path: path, candidates: state.paths, now: now)
            if let confirmation = sendPacket(to: established.peer, plaintext: [], on: path, session: index, now: now) {
                stats.keepalivesSent += 1
                actions.append(confirmation)
            }
            return actions
        }
        if let session = sessions[index], !session.isLocalInitiator {
            guard session.message3Packet == packet else {
                stats.drop(.staleHandshake)
                return []
            }
            guard chargeHandshake(from: path, now: now) else { return [] }
            // Our confirmation was lost: confirm again, on a new packet number.
            guard let confirmation = sendPacket(to: session.peer, plaintext: [], on: path, session: index, now: now)
            else {
                stats.drop(.staleHandshake)
                return []
            }
            stats.duplicateFinishesAnswered += 1
            stats.keepalivesSent += 1
            return [confirmation]
        }
        stats.drop(.unknownIndex)
        return []
    }

    /// Adds a newly confirmed session to its peer's link (creating the link if needed) and decides
    /// whether packets go out on it from now on.
    mutating func installConfirmed(
        _ index: UInt32, path: Path, candidates: [Path], now: UInt64
    ) -> [LinkAction<Path>] {
        guard let session = sessions[index] else { return [] }
        let peer = session.peer
        if let old = links[peer], old.peerIncarnation != session.peerIncarnation {
            // The peer restarted: its reliable streams start again from nothing, so ours must too.
            // The old link goes down and this session starts a new one.
            tearDown(peer)
            sessions[index] = session
            if let message1 = session.message1Packet { sessionByMessage1[message1] = index }
            stats.peerRestarts += 1
            return [.linkDown(peer, reason: .peerRestarted)] + installConfirmed(index, path: path, candidates: candidates, now: now)
        }
        guard var link = links[peer] else {
            var link = LinkRecord<Path>(
                peer: peer, current: index, sessions: [index], path: path, establishedAt: now, lastReceived: now,
                peerIncarnation: session.peerIncarnation)
            link.lastReceivedOn[path] = now
            link.relayPath = path.isRelayed ? path : candidates.first(where: \.isRelayed)
            links[peer] = link
            var actions: [LinkAction<Path>] = [.linkUp(peer, path: path)]
            if path.isRelayed {
                // Started on the relay: test every direct candidate at once.
                for candidate in candidates.prefix(Wire.linkMaxCandidatePaths) where !candidate.isRelayed {
                    if let probe = sendPacket(to: peer, plaintext: [], on: candidate, now: now) {
                        stats.probesSent += 1
                        actions.append(probe)
                    }
                }
            }
            return actions
        }
        var actions: [LinkAction<Path>] = []
        // A verified handshake is as good as an authenticated packet: the peer lives there (a
        // restarted peer may come from a new address).
        link.lastReceived = max(link.lastReceived, now)
        Self.recordReceipt(on: path, at: now, in: &link)
        if path != link.path, !path.isRelayed || link.path.isRelayed {
            link.path = path
            link.unansweredSince = nil
            stats.pathChanges += 1
            actions.append(.pathChanged(peer, path: path, isDirect: !path.isRelayed))
        }
        if link.rekeyAttempt == index { link.rekeyAttempt = nil }
        if !link.sessions.contains(index) { link.sessions.append(index) }
        var startFixUp = false
        if let current = sessions[link.current], current.localIndex != index {
            if current.initiator == session.initiator || Self.initiatorWins(session.initiator, over: current.initiator) {
                link.current = index
            } else if current.isLocalInitiator, !session.isLocalInitiator,
                session.handshakeStartedAt > current.confirmedAt ?? .max
            {
                // The peer opened a session although ours wins, and its message 1 arrived after
                // ours was confirmed, i.e. after the peer had it: it has probably lost ours
                // (restart, timeout). A fresh one from us replaces both on both sides. (A message 1
                // that came earlier crossed ours in a simultaneous open: no rekey needed.)
                startFixUp = !rekeyInProgress(link)
            }
        } else {
            link.current = index
        }
        while link.sessions.count > Wire.linkMaxSessionsPerLink,
            let oldest = link.sessions.first(where: { $0 != link.current })
        {
            link.sessions.removeAll { $0 == oldest }
            forgetSession(oldest)
        }
        links[peer] = link
        if startFixUp { actions += startRekey(peer, now: now) }
        return actions
    }

    func rekeyInProgress(_ link: LinkRecord<Path>) -> Bool {
        link.rekeyAttempt.map { attempts[$0] != nil } ?? false
    }

    /// Starts a rekey if this side initiated the current session and it is old enough.
    mutating func maybeStartRekey(_ peer: PublicKey, now: UInt64) -> [LinkAction<Path>] {
        // Runs for every packet sent: reads in place, copying no records.
        guard let linkPosition = links.index(forKey: peer),
            let sessionPosition = sessions.index(forKey: links.values[linkPosition].current),
            sessions.values[sessionPosition].isLocalInitiator,
            Self.elapsed(from: sessions.values[sessionPosition].createdAt, to: now) >= Wire.linkRekeyAfterTime,
            !rekeyInProgress(links.values[linkPosition])
        else { return [] }
        return startRekey(peer, now: now)
    }

    mutating func startRekey(_ peer: PublicKey, now: UInt64) -> [LinkAction<Path>] {
        guard let path = links[peer]?.path else { return [] }
        let (index, actions) = startAttempt(paths: [path], rekeyOf: peer, now: now)
        links[peer]?.rekeyAttempt = index
        stats.rekeysStarted += 1
        return actions
    }

    mutating func removeHalfOpen(_ index: UInt32) {
        guard let state = halfOpen.removeValue(forKey: index) else { return }
        halfOpenByMessage1[state.message1Packet] = nil
    }

    mutating func pruneHalfOpen(now: UInt64) {
        for (index, state) in halfOpen where Self.elapsed(from: state.createdAt, to: now) >= Wire.linkHandshakeTimeout {
            removeHalfOpen(index)
        }
    }

    /// Removes a session from the index tables (not from its link's list).
    mutating func forgetSession(_ index: UInt32) {
        guard let session = sessions.removeValue(forKey: index) else { return }
        if let message1 = session.message1Packet { sessionByMessage1[message1] = nil }
    }

    /// Removes a link with every session, attempt and rekey that belongs to it.
    mutating func tearDown(_ peer: PublicKey) {
        guard let link = links.removeValue(forKey: peer) else { return }
        for index in link.sessions { forgetSession(index) }
        // Unconfirmed sessions of this peer belong to attempts awaiting confirmation: end both.
        let unconfirmed = sessions.filter { $0.value.peer == peer }.map(\.key)
        for index in unconfirmed {
            forgetSession(index)
            attempts[index] = nil
        }
        for (index, attempt) in attempts where attempt.rekeyOf == peer { attempts[index] = nil }
    }
}
