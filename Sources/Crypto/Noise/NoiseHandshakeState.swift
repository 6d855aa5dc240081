/// The two transport ciphers a finished handshake yields, oriented for one party.
///
/// In one-way patterns (N, K, X) only the initiator's `send` and the responder's `receive` may be
/// used; the spec discards the other direction.
public struct NoiseTransportPair: Sendable {
    /// Encrypts what this party sends.
    public var send: NoiseCipherState
    /// Decrypts what this party receives.
    public var receive: NoiseCipherState
}

/// One party's side of a Noise handshake (Noise rev 34, §5.3), with PSK support (§9).
///
/// A pure value: no I/O, no clock; randomness only for the ephemeral key. Not thread-safe; owned by
/// one caller. A call out of turn throws and changes nothing (so a duplicated datagram is harmless);
/// any other error moves it to `.failed`, after which every call throws. Because it is a value, a
/// caller that must survive garbage from the network can read into a copy and keep the original
/// when the copy fails.
public struct NoiseHandshakeState: Sendable {
    /// Where the handshake stands; switch on it to learn what to do next.
    public enum Status: Sendable, Equatable {
        /// It is this party's turn to call `writeMessage`.
        case awaitingWrite
        /// It is this party's turn to call `readMessage`.
        case awaitingRead
        /// All messages are done; `takeTransport` hands out the ciphers.
        case complete
        /// An error ended the handshake; start a new one.
        case failed
    }

    private enum Phase: Sendable {
        case handshaking(nextMessage: Int)
        /// The ciphers, until `takeTransport` moves them out.
        case complete(NoiseTransportPair?)
        case failed
    }

    /// The protocol this handshake runs.
    package let protocolName: NoiseProtocolName
    /// Whether this party sends the first message.
    package let isInitiator: Bool
    private var symmetric: NoiseSymmetricState
    private var localStatic: X25519.KeyPair?
    private var localEphemeral: X25519.KeyPair?
    /// The peer's static X25519 key, once known (given up front or received in the handshake).
    package private(set) var remoteStaticKey: [UInt8]?
    /// The peer's ephemeral X25519 key, once received.
    package private(set) var remoteEphemeralKey: [UInt8]?
    /// Pre-shared keys, used in the order their tokens appear.
    private var psks: [SecretBytes]
    private var phase: Phase

    /// Starts a handshake (Initialize): hashes the protocol name, the prologue and the pre-message keys.
    ///
    /// - Parameters:
    ///   - protocolName: the parsed protocol; both parties must use the same one.
    ///   - initiator: true for the party that sends the first message.
    ///   - prologue: data both parties must agree on; a mismatch makes the first encrypted payload fail.
    ///   - staticKeyPair: this party's static key, required if the pattern sends or pre-shares it.
    ///   - remoteStaticKey: the peer's static key, required exactly when the pattern pre-shares it.
    ///   - psks: one 32-byte key per psk modifier, in order.
    /// - Throws: `CryptoError.handshake` if a key the pattern needs is missing or one it does not
    ///   pre-share is given; `CryptoError.invalidLength` for a key of the wrong length.
    public init(
        protocolName: NoiseProtocolName, initiator: Bool, prologue: [UInt8] = [],
        staticKeyPair: X25519.KeyPair? = nil, remoteStaticKey: [UInt8]? = nil, psks: [SecretBytes] = []
    ) throws {
        let pattern = protocolName.pattern
        let localPre = initiator ? pattern.initiatorPreMessage : pattern.responderPreMessage
        let remotePre = initiator ? pattern.responderPreMessage : pattern.initiatorPreMessage
        let sendsStatic = pattern.messages.indices.contains { index in
            index.isMultiple(of: 2) == initiator && pattern.messages[index].contains(.s)
        }
        if (localPre.contains(.s) || sendsStatic), staticKeyPair == nil {
            throw CryptoError.handshake("\(protocolName) needs a local static key")
        }
        if remotePre.contains(.s) {
            guard let remoteStaticKey else { throw CryptoError.handshake("\(protocolName) needs the remote static key") }
            guard remoteStaticKey.count == X25519.keyLength else {
                throw CryptoError.invalidLength(
                    what: "remote static key", expected: X25519.keyLength, got: remoteStaticKey.count)
            }
        } else if remoteStaticKey != nil {
            // The pattern will receive it; a key given here would be silently replaced.
            throw CryptoError.handshake("\(protocolName) does not pre-share the remote static key")
        }
        guard psks.count == pattern.pskCount else {
            throw CryptoError.handshake("\(protocolName) needs \(pattern.pskCount) psks, got \(psks.count)")
        }
        for psk in psks where psk.count != aeadKeyLength {
            throw CryptoError.invalidLength(what: "Noise psk", expected: aeadKeyLength, got: psk.count)
        }

        self.protocolName = protocolName
        isInitiator = initiator
        symmetric = NoiseSymmetricState(protocolName: Array(protocolName.name.utf8))
        localStatic = staticKeyPair
        localEphemeral = nil
        self.remoteStaticKey = remoteStaticKey
        remoteEphemeralKey = nil
        self.psks = psks
        phase = .handshaking(nextMessage: 0)

        symmetric.mixHash(prologue)
        // Pre-messages: the initiator's first, then the responder's; only static keys occur.
        for (tokens, isLocal) in [
            (pattern.initiatorPreMessage, initiator), (pattern.responderPreMessage, !initiator),
        ] where tokens.contains(.s) {
            symmetric.mixHash(isLocal ? staticKeyPair!.publicKey : remoteStaticKey!)
        }
    }

    /// Starts a handshake from a protocol name string.
    ///
    /// - Throws: `CryptoError.unsupportedProtocol` for a name this implementation does not run,
    ///   and the errors of `init(protocolName:…)`.
    public init(
        protocolName: String, initiator: Bool, prologue: [UInt8] = [],
        staticKeyPair: X25519.KeyPair? = nil, remoteStaticKey: [UInt8]? = nil, psks: [SecretBytes] = []
    ) throws {
        try self.init(
            protocolName: NoiseProtocolName(protocolName), initiator: initiator, prologue: prologue,
            staticKeyPair: staticKeyPair, remoteStaticKey: remoteStaticKey, psks: psks)
    }

    /// Fixes the ephemeral key: known-answer vectors are reproduced with it, and a transport hands
    /// in a fresh key it generated ahead of the handshake (never one used before).
    ///
    /// - Precondition: no ephemeral key has been generated or set yet.
    package mutating func _setEphemeralKeyPair(_ keyPair: X25519.KeyPair) {
        precondition(localEphemeral == nil, "the ephemeral key is already set")
        localEphemeral = keyPair
    }

    /// What this party should do next.
    public var status: Status {
        switch phase {
        case let .handshaking(next): isOurTurn(next) ? .awaitingWrite : .awaitingRead
        case .complete: .complete
        case .failed: .failed
        }
    }

    /// The transcript hash (GetHandshakeHash): equal on both sides once complete, usable as a channel binding.
    package var handshakeHash: [UInt8] { symmetric.handshakeHash }

    /// Writes the next handshake message carrying `payload` (WriteMessage).
    ///
    /// The payload is encrypted once a key has been mixed in; before that it travels in the clear.
    /// - Throws: `CryptoError.handshake` if it is not this party's turn (the state is then unchanged),
    ///   the handshake is over, or the message would exceed 65535 bytes; `weakPublicKey` for a bad peer key.
    public mutating func writeMessage(payload: [UInt8] = []) throws -> [UInt8] {
        let index = try nextMessageIndex(writing: true)
        do {
            var message: [UInt8] = []
            for token in protocolName.pattern.messages[index] {
                switch token {
                case .e:
                    let ephemeral = localEphemeral ?? X25519.KeyPair.generate()
                    localEphemeral = ephemeral
                    message += ephemeral.publicKey
                    mixEphemeral(ephemeral.publicKey)
                case .s:
                    guard let localStatic else { throw CryptoError.handshake("no local static key") }
                    message += try symmetric.encryptAndHash(localStatic.publicKey)
                case .ee, .es, .se, .ss:
                    symmetric.mixKey(try diffieHellman(token))
                case .psk:
                    mixNextPSK()
                }
            }
            guard message.count + payload.count + (symmetric.cipher.hasKey ? aeadTagLength : 0)
                <= NoiseCipherState.maxMessageLength
            else { throw CryptoError.handshake("message would exceed 65535 bytes") }
            message += try symmetric.encryptAndHash(payload)
            finishMessage(index)
            return message
        } catch {
            fail()
            throw error
        }
    }

    /// Reads the peer's next handshake message and returns its payload (ReadMessage).
    ///
    /// `message` is untrusted: every length is checked before use and any failure ends the handshake.
    /// - Throws: `CryptoError.handshake` for a message out of turn (the state is then unchanged), too
    ///   short or too long;
    ///   `CryptoError.authenticationFailed` if anything was altered or the peer's keys or prologue differ;
    ///   `CryptoError.weakPublicKey` for a low-order peer key.
    public mutating func readMessage(_ message: [UInt8]) throws -> [UInt8] {
        let index = try nextMessageIndex(writing: false)
        do {
            guard message.count <= NoiseCipherState.maxMessageLength else {
                throw CryptoError.handshake("message longer than 65535 bytes")
            }
            var cursor = 0
            func take(_ count: Int) throws -> [UInt8] {
                guard message.count - cursor >= count else { throw CryptoError.handshake("message too short") }
                defer { cursor += count }
                return Array(message[cursor..<(cursor + count)])
            }
            for token in protocolName.pattern.messages[index] {
                switch token {
                case .e:
                    let key = try take(X25519.keyLength)
                    remoteEphemeralKey = key
                    mixEphemeral(key)
                case .s:
                    let sealed = try take(X25519.keyLength + (symmetric.cipher.hasKey ? aeadTagLength : 0))
                    remoteStaticKey = try symmetric.decryptAndHash(sealed)
                case .ee, .es, .se, .ss:
                    symmetric.mixKey(try diffieHellman(token))
                case .psk:
                    mixNextPSK()
                }
            }
            let payload = try symmetric.decryptAndHash(try take(message.count - cursor))
            finishMessage(index)
            return payload
        } catch {
            fail()
            throw error
        }
    }

    /// Hands out the transport ciphers once, so no second copy of their nonce counters exists here.
    ///
    /// - Throws: `CryptoError.handshake` before completion or on a second call.
    package mutating func takeTransport() throws -> NoiseTransportPair {
        switch phase {
        case .complete(let pair?):
            phase = .complete(nil)
            return pair
        case .complete(nil): throw CryptoError.handshake("transport ciphers already taken")
        case .handshaking: throw CryptoError.handshake("handshake not complete")
        case .failed: throw CryptoError.handshake("handshake failed")
        }
    }

    /// Ends the handshake as failed, for when the application rejects what a valid message carried.
    ///
    /// Drops the transport ciphers if the handshake had completed; every later call throws.
    package mutating func abort() {
        fail()
    }

    /// Even messages are the initiator's to write.
    private func isOurTurn(_ index: Int) -> Bool {
        index.isMultiple(of: 2) == isInitiator
    }

    /// The index of the message about to be written or read, if that is what should happen now.
    ///
    /// Out of turn nothing has been touched yet, so the state stays usable.
    private func nextMessageIndex(writing: Bool) throws -> Int {
        switch phase {
        case let .handshaking(next):
            guard isOurTurn(next) == writing else {
                throw CryptoError.handshake(writing ? "not our turn to write" : "not expecting a message")
            }
            return next
        case .complete: throw CryptoError.handshake("handshake already complete")
        case .failed: throw CryptoError.handshake("handshake failed")
        }
    }

    /// The "e" token's transcript step; PSK handshakes also key with it so the psk cannot be skipped (§9).
    private mutating func mixEphemeral(_ publicKey: [UInt8]) {
        symmetric.mixHash(publicKey)
        if protocolName.pattern.pskCount > 0 { symmetric.mixKey(publicKey) }
    }

    private mutating func mixNextPSK() {
        // init checked that there is one psk per token.
        symmetric.mixKeyAndHash(psks.removeFirst())
    }

    /// The DH a token names; which key is whose depends on the role.
    private func diffieHellman(_ token: NoiseHandshakePattern.Token) throws -> SecretBytes {
        let local: X25519.KeyPair?
        let remote: [UInt8]?
        switch token {
        case .ee: (local, remote) = (localEphemeral, remoteEphemeralKey)
        case .es: (local, remote) = isInitiator ? (localEphemeral, remoteStaticKey) : (localStatic, remoteEphemeralKey)
        case .se: (local, remote) = isInitiator ? (localStatic, remoteEphemeralKey) : (localEphemeral, remoteStaticKey)
        case .ss: (local, remote) = (localStatic, remoteStaticKey)
        case .e, .s, .psk: preconditionFailure("\(token) is not a DH token")
        }
        guard let local, let remote else { throw CryptoError.handshake("a key for \(token) is missing") }
        return try X25519.sharedSecret(secretKey: local.secretKey, publicKey: remote)
    }

    private mutating func finishMessage(_ index: Int) {
        guard index + 1 == protocolName.pattern.messages.count else {
            phase = .handshaking(nextMessage: index + 1)
            return
        }
        let (initiatorToResponder, responderToInitiator) = symmetric.split()
        phase = .complete(
            isInitiator
                ? NoiseTransportPair(send: initiatorToResponder, receive: responderToInitiator)
                : NoiseTransportPair(send: responderToInitiator, receive: initiatorToResponder))
        releaseHandshakeSecrets()
    }

    private mutating func fail() {
        phase = .failed
        releaseHandshakeSecrets()
    }

    /// Drops key references as soon as they are no longer needed, so SecretBytes can zero them.
    private mutating func releaseHandshakeSecrets() {
        localEphemeral = nil
        localStatic = nil
        psks = []
    }
}
