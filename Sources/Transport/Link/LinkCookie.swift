import PeerCrypto

/// WireGuard's cookie mechanism (its mac2), in the link layer's terms (docs/PROTOCOL.md, "Links",
/// Cookies under load).
///
/// A responder under load answers an initiation from a direct path without a valid mac2 with a
/// 64-byte cookie reply instead of message 2, before any Diffie-Hellman: the cookie is a keyed hash
/// of the path's address under a secret only the responder holds, so only a sender that receives
/// at that address learns it. The initiator sends its message 1 again with mac2 = BLAKE2b-128 keyed
/// with the cookie over the packet up to mac2, and that copy gets the full answer. The cookie
/// travels sealed (XChaCha20-Poly1305 under a key derived from the room's mac key, the initiation's
/// mac1 as associated data), so an on-path outsider cannot read it and a cookie reply only counts
/// for the initiation it answers.
enum LinkCookie {
    static let keyLabel = Array("cvpeer/3 cookie key".utf8)

    /// The key cookie replies of one epoch are sealed under.
    static func sealingKey(_ keys: RoomKeys) -> SecretBytes {
        Blake2b.derive(key: keys.macKey, label: keyLabel)
    }

    /// The cookie for an address under one of the responder's secrets.
    static func cookie(for address: [UInt8], secret: [UInt8]) -> [UInt8] {
        Blake2b.hash(address, publicKey: secret, outputLength: Wire.linkCookieSize)
    }

    /// The initiation's bytes with mac2 made from `cookie` (the rest unchanged).
    static func withMac2(_ initiation: [UInt8], cookie: [UInt8]) -> [UInt8] {
        let end = Wire.handshakeInitiationMac2Offset
        return Array(initiation[..<end]) + Blake2b.hash(Array(initiation[..<end]), publicKey: cookie, outputLength: Wire.linkMacSize)
    }

    /// True if the initiation's mac2 was made from `cookie`, compared in constant time.
    static func hasValidMac2(_ initiation: [UInt8], cookie: [UInt8]) -> Bool {
        let end = Wire.handshakeInitiationMac2Offset
        guard initiation.count == Wire.handshakeInitiationSize else { return false }
        let expected = Blake2b.hash(Array(initiation[..<end]), publicKey: cookie, outputLength: Wire.linkMacSize)
        return LinkMac.matches(initiation[end...], expected)
    }

    /// The initiation's mac1: the associated data a cookie reply to it is sealed with.
    static func mac1(of initiation: [UInt8]) -> [UInt8] {
        Array(initiation[Wire.handshakeInitiationMac1Offset..<Wire.handshakeInitiationMac2Offset])
    }

    /// The initiation without its mac2: what identifies one message 1 whichever cookie it carries.
    static func withoutMac2(_ initiation: [UInt8]) -> [UInt8] {
        Array(initiation.prefix(Wire.handshakeInitiationMac2Offset))
    }
}

/// A responder's rotating cookie secrets (the current one and the one before it).
struct LinkCookieSecrets: Sendable {
    private(set) var current: [UInt8] = []
    private(set) var previous: [UInt8] = []
    private var drawnAt: UInt64 = 0

    /// Draws a new secret when the current one is older than `Wire.linkCookieSecretLifetime`.
    mutating func rotate(now: UInt64, random: inout some RandomNumberGenerator) {
        guard current.isEmpty || now &- drawnAt >= Wire.linkCookieSecretLifetime else { return }
        previous = current
        current = (0..<32).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        drawnAt = now
    }

    /// True if the initiation carries a mac2 made from a cookie of either secret for `address`.
    func admits(_ initiation: [UInt8], from address: [UInt8]) -> Bool {
        [current, previous].contains { secret in
            !secret.isEmpty && LinkCookie.hasValidMac2(initiation, cookie: LinkCookie.cookie(for: address, secret: secret))
        }
    }
}
