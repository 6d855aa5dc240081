// MARK: Links
// Packet types, sizes, offsets, timers and bounds of the encrypted link layer
// (docs/PROTOCOL.md, "Links"). Owned by Sources/Transport/Link. Times are monotonic nanoseconds.
//
// The link layer shares `Wire.maxLinkDatagramSize`, `Wire.dataHeaderSize`, `Wire.aeadTagSize` and
// `Wire.maxFramesSize` with the reliability layer (they are defined in Wire.swift).

extension Wire {
    /// The first byte of every datagram one node sends another.
    package enum LinkPacketType: UInt8, Sendable, CaseIterable {
        /// Noise message 1: the initiator's ephemeral key.
        case handshakeInitiation = 0x01
        /// Noise message 2: the responder's ephemeral key and sealed identity.
        case handshakeResponse = 0x02
        /// Noise message 3: the initiator's sealed identity and the psk.
        case handshakeFinish = 0x03
        /// An encrypted packet of one session.
        case data = 0x04
        /// Random bytes that open NAT mappings; ignored on receipt.
        case punch = 0x05
        /// A responder under load asks the initiator to prove it receives at its address.
        case cookieReply = 0x06
    }

    /// Type byte plus three reserved zero bytes: keeps every index and counter 4-byte aligned.
    package static let linkPacketPrefixSize = 4
    /// A 32-bit session index, chosen at random by the side that will receive on it.
    package static let linkIndexSize = 4
    /// BLAKE2b-128 under the room's mac key: enough that nobody without the key forges one.
    package static let linkMacSize = 16

    /// Where the sender index sits in initiation and response packets.
    package static let linkSenderIndexOffset = 4
    /// Where the receiver index sits in response packets (after the sender index).
    package static let handshakeResponseReceiverIndexOffset = 8
    /// Where the receiver index sits in finish and data packets.
    package static let linkReceiverIndexOffset = 4
    /// Where the initiator's wall-clock timestamp sits in an initiation packet (under its mac).
    package static let handshakeInitiationTimestampOffset = 8
    /// The timestamp: milliseconds since 1970-01-01 UTC, unsigned 64-bit. Milliseconds are plenty
    /// for a window of minutes, and 8 bytes keep the message 8-byte aligned (WireGuard's 12-byte
    /// TAI64N orders one known peer's initiations; a responder here learns the peer only in
    /// message 3, so it keeps a window and a replay cache instead and needs no ordering).
    package static let handshakeInitiationTimestampSize = 8
    /// Where Noise message 1 starts in an initiation packet (after the timestamp).
    package static let handshakeInitiationMessageOffset = 16
    /// Where Noise message 2 starts in a response packet.
    package static let handshakeResponseMessageOffset = 12
    /// Where Noise message 3 starts in a finish packet.
    package static let handshakeFinishMessageOffset = 8
    /// Where the 64-bit counter (the AEAD nonce and packet number) sits in a data packet.
    package static let dataCounterOffset = 8
    /// The counter's size: a 64-bit nonce never wraps.
    package static let dataCounterSize = 8

    /// Noise message 1 is fixed: an ephemeral key and an empty payload's tag (48 bytes).
    package static let handshakeInitiationMessageSize = 48
    /// The incarnation each side sends in its handshake message (2 or 3): random per process start.
    package static let linkIncarnationSize = 8
    /// Noise message 2 (136 bytes): its payload is only the responder's incarnation, readable by
    /// whoever sent message 1 before the psk is mixed in, so nothing else is ever put there.
    package static let handshakeResponseMessageSize = 128 + linkIncarnationSize
    /// Noise message 3 (104 bytes): the initiator's incarnation; data waits for the session.
    package static let handshakeFinishMessageSize = 96 + linkIncarnationSize

    /// Where the zero padding starts in an initiation packet (after message 1).
    package static let handshakeInitiationPaddingOffset = handshakeInitiationMessageOffset + handshakeInitiationMessageSize
    /// Zero bytes that make an initiation at least as large as any answer to it (the 164-byte
    /// response, the 64-byte cookie reply), so whoever sends one — from a spoofed address, a
    /// replay — never makes a responder send more than it received (QUIC pads its Initial for
    /// the same reason; WireGuard's initiation is larger than its response by construction).
    package static let handshakeInitiationPaddingSize = 80
    /// Where the room mac (mac1) sits in an initiation packet: over every byte before it.
    package static let handshakeInitiationMac1Offset = handshakeInitiationPaddingOffset + handshakeInitiationPaddingSize
    /// Where the cookie mac (mac2) sits in an initiation packet: over every byte before it, keyed
    /// with a cookie the responder gave this address, or zero without one.
    package static let handshakeInitiationMac2Offset = handshakeInitiationMac1Offset + linkMacSize
    /// 4 + 4 + 8 + 48 + 80 + 16 + 16 = 176 bytes, exactly.
    package static let handshakeInitiationSize = handshakeInitiationMac2Offset + linkMacSize
    /// 4 + 4 + 4 + 136 + 16 = 164 bytes, exactly.
    package static let handshakeResponseSize =
        handshakeResponseMessageOffset + handshakeResponseMessageSize + linkMacSize
    /// 4 + 4 + 104 + 16 = 128 bytes, exactly.
    package static let handshakeFinishSize = handshakeFinishMessageOffset + handshakeFinishMessageSize + linkMacSize
    /// Header and tag of an empty data packet (32 bytes): the smallest data packet.
    package static let minDataPacketSize = dataHeaderSize + aeadTagSize
    /// Random bytes in a punch packet: enough that middleboxes see distinct datagrams.
    package static let punchRandomSize = 8
    /// 4 + 8 = 12 bytes, exactly.
    package static let punchSize = linkPacketPrefixSize + punchRandomSize
    /// Where the initiator's index sits in a cookie reply.
    package static let cookieReplyReceiverIndexOffset = 4
    /// Where the XChaCha20-Poly1305 nonce sits in a cookie reply.
    package static let cookieReplyNonceOffset = 8
    /// The cookie reply's nonce: random, 24 bytes.
    package static let cookieReplyNonceSize = 24
    /// Where the sealed cookie (cookie and tag) sits in a cookie reply.
    package static let cookieReplyCookieOffset = cookieReplyNonceOffset + cookieReplyNonceSize
    /// A cookie: BLAKE2b-128 of the initiator's address under the responder's rotating secret.
    package static let linkCookieSize = 16
    /// 4 + 4 + 24 + 16 + 16 = 64 bytes, exactly: smaller than the initiation it answers.
    package static let cookieReplySize = cookieReplyCookieOffset + linkCookieSize + aeadTagSize

    /// The whole plaintext of a close notice. A lone CLOSE frame type byte without the reason the
    /// reliability layer's CLOSE frame always carries, so it never parses as a reliability packet.
    package static let linkCloseNotice: UInt8 = 0x05

    /// A link sends on one session for at most this long after its handshake before starting a
    /// new one (WireGuard's REKEY_AFTER_TIME): bounds what one key protects.
    package static let linkRekeyAfterTime: UInt64 = 120_000_000_000
    /// A session older than this neither sends nor receives (WireGuard's REJECT_AFTER_TIME): a
    /// rekey has had a full minute of retries to replace it.
    package static let linkRejectAfterTime: UInt64 = 180_000_000_000
    /// No packet number reaches this (WireGuard's REKEY_AFTER_MESSAGES): far below the nonce
    /// space and `ReplayWindow.rejectAfter`. Numbers continue across rekeys, so a link that gets
    /// here is torn down and connected afresh.
    package static let linkRejectAfterMessages: UInt64 = 1 << 60
    /// An empty data packet goes out after this long without sending (while packets arrive, or
    /// always with persistent keepalives): NAT bindings last at least 30 s on common routers.
    package static let linkKeepaliveInterval: UInt64 = 15_000_000_000
    /// A link with nothing authenticated received for this long is dead: four keepalive intervals,
    /// so a single lost keepalive never kills a link.
    package static let linkDeadAfter: UInt64 = 60_000_000_000
    /// Handshake messages are sent again this often without an answer: well above any round trip.
    package static let linkHandshakeRetryInterval: UInt64 = 1_000_000_000
    /// Up to this much random extra delay on each retry, so peers that started together drift apart.
    package static let linkHandshakeRetryJitter: UInt64 = 250_000_000
    /// A handshake attempt gives up after this long; so does a responder's half-open state.
    package static let linkHandshakeTimeout: UInt64 = 90_000_000_000
    /// An initiation whose timestamp is further than this from the responder's wall clock, either
    /// way, is refused (`initiationStale`): a harvested message 1 is worthless after it. Above the
    /// 90 s an initiator resends the same message 1, so clocks up to 30 s apart still link on the
    /// last retry (and up to 120 s on the first); below the 180 s a session lives.
    package static let linkInitiationWindow: UInt64 = 120_000_000_000
    /// Initiations remembered against replay, at most (the oldest is forgotten beyond). Each is
    /// kept 2 × `linkInitiationWindow` (240 s, monotonic) after it was first answered: its
    /// timestamp was at most one window ahead then, so it is a full window behind by then. Only
    /// initiations that passed the handshake budget enter, at most 200 per second (plus the
    /// burst), i.e. 48,200 in 240 s: the bound is never reached by a budget-abiding flood.
    package static let linkReplayCacheSize = 65_536
    /// Responder states awaiting message 3, at most: the oldest is evicted beyond, so a flood of
    /// message 1 costs bounded memory.
    package static let linkMaxHalfOpen = 1024
    /// A direct path with nothing authenticated for this long while we send is considered dead and
    /// the link falls back to the relay: several round trips even on slow mobile links.
    package static let linkDirectSilenceTimeout: UInt64 = 5_000_000_000
    /// Minimum spacing of handshake packets processed from one path (10 per second): an honest
    /// peer sends about one per second per path.
    package static let linkHandshakePathInterval: UInt64 = 100_000_000
    /// Handshake packets one path may send back to back.
    package static let linkHandshakePathBurst: UInt64 = 20
    /// Minimum spacing of handshake packets processed in all (200 per second): a few Diffie-Hellman
    /// each, about 1% of one core.
    package static let linkHandshakeGlobalInterval: UInt64 = 5_000_000
    /// Handshake packets processed back to back across all paths.
    package static let linkHandshakeGlobalBurst: UInt64 = 200
    /// Paths whose handshake rate is tracked, at most; the longest idle is forgotten beyond.
    package static let linkRateLimitedPaths = 1024
    /// Links an endpoint keeps at most: far above any room's size, so a member minting identities
    /// cannot exhaust memory.
    package static let linkMaxLinks = 1024
    /// Earlier epochs whose handshakes are still answered (for members only): a mac check each
    /// for every handshake packet that is not the current epoch's.
    package static let linkMaxOlderEpochs = 8
    /// Confirmed sessions kept per link (current, previous, and one from a simultaneous open):
    /// older ones are dropped beyond.
    package static let linkMaxSessionsPerLink = 3
    /// Paths remembered per link or handshake as candidates for probes and fallback.
    package static let linkMaxCandidatePaths = 8
    /// A responder counts as under load while it holds this many half-open states or has spent
    /// half its global handshake burst, and for `linkLoadDuration` after: then a direct path's
    /// initiation needs a valid cookie mac (mac2) before any Diffie-Hellman or message 2.
    package static let linkLoadHalfOpen = linkMaxHalfOpen / 8
    /// How long a responder stays under load after the last sign of it (WireGuard: 1 s).
    package static let linkLoadDuration: UInt64 = 1_000_000_000
    /// A responder draws a new cookie secret this often (WireGuard: 2 min); cookies made with the
    /// previous secret are still accepted, so a cookie lives one to two periods there.
    package static let linkCookieSecretLifetime: UInt64 = 120_000_000_000
    /// An initiator uses a received cookie this long (the responder's secret period), then sends
    /// without mac2 until it is asked again.
    package static let linkCookieLifetime: UInt64 = 120_000_000_000
}
