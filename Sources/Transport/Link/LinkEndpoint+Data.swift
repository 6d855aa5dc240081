import PeerCrypto

// Data packets and paths. Receive: find the session by index → decrypt with the packet's counter
// as nonce and its header as associated data → only then record the counter in the replay window
// (a forgery cannot move it) → the packet is authenticated: confirm the session if it was the
// initiator's first, note the path, maybe move the link to it, deliver. Send: the link's next
// packet number is the nonce under the sending session's key; numbers never repeat on a link, so
// no key ever sees a nonce twice.

extension LinkEndpoint {
    mutating func receivedData(_ packet: LinkPacket.DataPacket, from path: Path, now: UInt64) -> [LinkAction<Path>] {
        packet.header.withUnsafeBytes { header in
            packet.ciphertext.withUnsafeBytes { ciphertext in
                receivedData(
                    receiverIndex: packet.receiverIndex, counter: packet.counter, header: header, ciphertext: ciphertext,
                    from: path, now: now)
            }
        }
    }

    /// Takes in one datagram read in place (a receive buffer, a segment of a coalesced run):
    /// a data packet is opened straight from these bytes, without the copies `received` makes;
    /// anything else goes the ordinary way.
    package mutating func received(bytes: UnsafeRawBufferPointer, from path: Path, now: UInt64) -> [LinkAction<Path>] {
        guard bytes.first == Wire.LinkPacketType.data.rawValue else { return received(Array(bytes), from: path, now: now) }
        lastDatagramAuthenticated = false
        // The same checks LinkPacket.decode makes for a data packet.
        guard bytes.count >= Wire.minDataPacketSize, bytes.count <= Wire.maxLinkDatagramSize,
            bytes[1] == 0, bytes[2] == 0, bytes[3] == 0
        else {
            stats.drop(.malformed)
            return []
        }
        return receivedData(
            receiverIndex: UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: Wire.linkReceiverIndexOffset, as: UInt32.self)),
            counter: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: Wire.dataCounterOffset, as: UInt64.self)),
            header: UnsafeRawBufferPointer(rebasing: bytes[0..<Wire.dataHeaderSize]),
            ciphertext: UnsafeRawBufferPointer(rebasing: bytes[Wire.dataHeaderSize...]), from: path, now: now)
    }

    /// The receive path of a data packet. Records are read and changed in place (through the
    /// dictionaries' modify accessors): a copy of a session or link record costs a retain and
    /// release of each of its tables and keys, and a copied table is copied whole when changed.
    mutating func receivedData(
        receiverIndex index: UInt32, counter: UInt64, header: UnsafeRawBufferPointer, ciphertext: UnsafeRawBufferPointer,
        from path: Path, now: UInt64
    ) -> [LinkAction<Path>] {
        var plaintext: [UInt8] = []
        let opened = Self.open(
            &sessions[index], counter: counter, header: header, ciphertext: ciphertext, now: now, into: &plaintext)
        let peer: PublicKey
        let confirmed: Bool
        switch opened {
        case .dropped(let reason):
            stats.drop(reason)
            return []
        case .opened(let sender, let wasConfirmed):
            peer = sender
            confirmed = wasConfirmed
        }
        stats.dataPacketsReceived += 1
        lastDatagramAuthenticated = true

        var actions: [LinkAction<Path>] = []
        if !confirmed {
            sessions[index]?.confirmedAt = now
            let attempt = attempts.removeValue(forKey: index)
            actions += installConfirmed(index, path: path, candidates: attempt?.paths ?? [path], now: now)
        }
        guard
            let switched = Self.noteReceipt(
                in: &links[peer], session: index, on: path, counter: counter, nonEmpty: !plaintext.isEmpty, now: now)
        else {
            // Only a session that lost its link (torn down meanwhile) gets here; drop it too.
            forgetSession(index)
            return actions
        }

        if plaintext.count == 1, plaintext[0] == Wire.linkCloseNotice {
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
            actions.append(.deliver(plaintext, from: peer, packetNumber: counter))
        }
        return actions
    }

    /// What opening a data packet under a session came to.
    enum DataOpening {
        case dropped(LinkDropReason)
        /// Authenticated and recorded in the replay window: from `peer`, on a session that was
        /// already confirmed or not.
        case opened(peer: PublicKey, confirmed: Bool)
    }

    /// Opens a data packet under `session` (nil: unknown index) into `plaintext`. The nonce comes
    /// from the packet, so opening changes no cipher state; the replay window moves only once
    /// the packet has authenticated (a forgery cannot move it).
    static func open(
        _ session: inout LinkSession?, counter: UInt64, header: UnsafeRawBufferPointer, ciphertext: UnsafeRawBufferPointer,
        now: UInt64, into plaintext: inout [UInt8]
    ) -> DataOpening {
        guard session != nil else { return .dropped(.unknownIndex) }
        guard elapsed(from: session!.createdAt, to: now) < Wire.linkRejectAfterTime else { return .dropped(.expiredSession) }
        guard counter < Wire.linkRejectAfterMessages else { return .dropped(.counterTooHigh) }
        let length = ciphertext.count - Wire.aeadTagSize
        var opened = false
        plaintext = [UInt8](unsafeUninitializedCapacity: max(length, 0)) { buffer, count in
            opened = session!.receive.open(
                into: UnsafeMutableRawBufferPointer(buffer), ciphertext: ciphertext, ad: header, nonce: counter)
            count = opened ? length : 0
        }
        guard opened else { return .dropped(.decryptionFailed) }
        guard session!.replay.check(counter) else { return .dropped(.replayed) }
        return .opened(peer: session!.peer, confirmed: session!.confirmed)
    }

    /// Updates a link for an authenticated packet on `path`; true if the link moved to that path.
    /// Nil if there is no link, or the session is not one of its own.
    static func noteReceipt(
        in link: inout LinkRecord<Path>?, session: UInt32, on path: Path, counter: UInt64, nonEmpty: Bool, now: UInt64
    ) -> Bool? {
        guard link != nil, link!.sessions.contains(session) else { return nil }
        return noteReceipt(in: &link!, on: path, counter: counter, nonEmpty: nonEmpty, now: now)
    }

    static func noteReceipt(
        in link: inout LinkRecord<Path>, on path: Path, counter: UInt64, nonEmpty: Bool, now: UInt64
    ) -> Bool {
        let lastOnCurrentPath = link.lastReceivedOn[link.path]
        link.lastReceived = now
        recordReceipt(on: path, at: now, in: &link)
        if nonEmpty { link.lastNonEmptyReceived = now }
        let newest = link.highestReceivedNumber.map { counter > $0 } ?? true
        if newest { link.highestReceivedNumber = counter }
        if path.isRelayed { link.relayPath = path }
        if path == link.path {
            link.unansweredSince = nil
        } else if newest {
            let silence = elapsed(from: lastOnCurrentPath ?? link.establishedAt, to: now)
            // Direct beats relay; among equals the latest path wins (roaming); the relay takes
            // over from a direct path only once that has gone quiet.
            if !path.isRelayed || link.path.isRelayed || silence >= Wire.linkDirectSilenceTimeout {
                link.path = path
                link.unansweredSince = nil
                return true
            }
        }
        return false
    }

    /// Notes an authenticated arrival on `path`, keeping the table bounded (the current path and
    /// the most recent others).
    static func recordReceipt(on path: Path, at now: UInt64, in link: inout LinkRecord<Path>) {
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
        guard let linkPosition = links.index(forKey: peer),
            links.values[linkPosition].nextPacketNumber < Wire.linkRejectAfterMessages,
            let index = session ?? sendingSession(of: links.values[linkPosition], now: now),
            let sessionPosition = sessions.index(forKey: index)
        else { return nil }
        let counter = links.values[linkPosition].nextPacketNumber
        let remoteIndex = sessions.values[sessionPosition].remoteIndex
        var sealed = false
        let datagram = [UInt8](unsafeUninitializedCapacity: Wire.dataHeaderSize + plaintext.count + Wire.aeadTagSize) {
            buffer, count in
            let out = UnsafeMutableRawBufferPointer(buffer)
            sealed = plaintext.withUnsafeBytes {
                Self.sealData($0, with: sessions.values[sessionPosition].send, remoteIndex: remoteIndex, counter: counter, into: out)
            }
            count = sealed ? out.count : 0
        }
        guard sealed else { return nil }
        let target = path ?? links.values[linkPosition].path
        Self.noteSent(in: &links.values[linkPosition], counter: counter, on: target, nonEmpty: !plaintext.isEmpty, now: now)
        stats.dataPacketsSent += 1
        return .send(datagram, to: target)
    }

    /// Writes a data packet (header, then the plaintext sealed under `cipher` with `counter` as
    /// nonce and the header as associated data) into `out`, which holds exactly that many bytes.
    static func sealData(
        _ plaintext: UnsafeRawBufferPointer, with cipher: NoiseCipherState, remoteIndex: UInt32, counter: UInt64,
        into out: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard out.count == Wire.dataHeaderSize + plaintext.count + Wire.aeadTagSize else { return false }
        out.storeBytes(of: UInt32(0), toByteOffset: 0, as: UInt32.self)
        out[0] = Wire.LinkPacketType.data.rawValue
        out.storeBytes(of: remoteIndex.bigEndian, toByteOffset: Wire.linkReceiverIndexOffset, as: UInt32.self)
        out.storeBytes(of: counter.bigEndian, toByteOffset: Wire.dataCounterOffset, as: UInt64.self)
        return cipher.seal(
            into: UnsafeMutableRawBufferPointer(rebasing: out[Wire.dataHeaderSize...]), plaintext: plaintext,
            ad: UnsafeRawBufferPointer(rebasing: out[0..<Wire.dataHeaderSize]), nonce: counter)
    }

    /// Updates a link for a packet sent with `counter` on `target`.
    static func noteSent(in link: inout LinkRecord<Path>, counter: UInt64, on target: Path, nonEmpty: Bool, now: UInt64) {
        link.nextPacketNumber = counter + 1
        link.lastSent = now
        if nonEmpty, target == link.path, !target.isRelayed, link.unansweredSince == nil {
            link.unansweredSince = now
        }
    }

    /// Seals a run of data packets to `peer` on the link's current path: for each, `next` gives
    /// the plaintext for the packet number it will carry (nil ends the run), and `emit` takes
    /// the sealed packet (its bytes are valid only during the call). The link and its sending
    /// session are looked up once for the run, each packet is sealed straight into `scratch`
    /// (at least `Wire.maxLinkDatagramSize` bytes), and the rekey check runs once at the end.
    ///
    /// - Returns: how many packets were sent, and the actions of a rekey that started.
    /// - Throws: as `send`, for the first packet that cannot go (those before it went).
    package mutating func sealBatch(
        to peer: PublicKey, limit: Int, now: UInt64, scratch: UnsafeMutableRawBufferPointer,
        next: (UInt64) -> [UInt8]?, emit: (UnsafeRawBufferPointer, Path) -> Void
    ) throws(LinkError) -> (sent: Int, actions: [LinkAction<Path>]) {
        guard let linkPosition = links.index(forKey: peer) else { throw .noLink }
        let target = links.values[linkPosition].path
        guard let index = sendingSession(of: links.values[linkPosition], now: now),
            let sessionPosition = sessions.index(forKey: index)
        else { throw .noLink }
        // Sealing reads the key only; the packet number is the nonce.
        let cipher = sessions.values[sessionPosition].send
        let remoteIndex = sessions.values[sessionPosition].remoteIndex
        var sent = 0
        var failure: LinkError?
        while sent < limit {
            let counter = links.values[linkPosition].nextPacketNumber
            guard let plaintext = next(counter) else { break }
            if plaintext.count > Wire.maxFramesSize {
                failure = .plaintextTooLarge(plaintext.count)
            } else if plaintext.count == 1, plaintext[0] == Wire.linkCloseNotice {
                failure = .reservedPlaintext
            } else if counter >= Wire.linkRejectAfterMessages {
                failure = .exhausted
            }
            if failure != nil { break }
            let length = Wire.dataHeaderSize + plaintext.count + Wire.aeadTagSize
            let out = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<length])
            guard plaintext.withUnsafeBytes({ Self.sealData($0, with: cipher, remoteIndex: remoteIndex, counter: counter, into: out) })
            else {
                failure = .noLink
                break
            }
            Self.noteSent(in: &links.values[linkPosition], counter: counter, on: target, nonEmpty: !plaintext.isEmpty, now: now)
            stats.dataPacketsSent += 1
            sent += 1
            emit(UnsafeRawBufferPointer(out), target)
        }
        if let failure { throw failure }
        return (sent, sent > 0 ? maybeStartRekey(peer, now: now) : [])
    }
}
