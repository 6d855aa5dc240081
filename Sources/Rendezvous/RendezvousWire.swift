/// The rendezvous datagrams on one screen: types, field sizes, offsets and size bounds.
///
/// Named one to one with the "Rendezvous" section of docs/PROTOCOL.md, so no bare number stands
/// in the codec or the server. Every rendezvous datagram starts with the common 4-byte header:
/// the type byte, then 3 reserved bytes that must be zero.
public enum RendezvousWire {
    /// The first byte of a rendezvous datagram.
    public enum MessageType: UInt8, CaseIterable, Sendable {
        /// Node → rendezvous: join or refresh a room's registration.
        case register = 0x20
        /// Rendezvous → node: the stateless cookie that proves the node receives at its address.
        case cookieChallenge = 0x21
        /// Rendezvous → node: registration accepted, with the node's observed address.
        case registered = 0x22
        /// Rendezvous → node: another member of the room and its candidates.
        case introduce = 0x23
        /// Node → rendezvous: forward an opaque datagram to another member of the room.
        case relay = 0x24
        /// Rendezvous → node: an opaque datagram forwarded from another member of the room.
        case relayed = 0x25
        /// Node → rendezvous: leave a room before the registration would expire.
        case unregister = 0x26
        /// Host → rendezvous: open a short-code mailbox (or refresh the one held), with the host's PAKE message.
        case codeOpen = 0x27
        /// Rendezvous → host: the nameplate allocated and the lifetime granted.
        case codeOpened = 0x28
        /// Joiner → rendezvous: ask for the host's PAKE message under a nameplate.
        case codeLookup = 0x29
        /// Rendezvous → joiner: the host's PAKE message.
        case codeOffer = 0x2A
        /// Joiner → rendezvous: the one guess — the joiner's PAKE message and confirmation tag.
        case codeKnock = 0x2B
        /// Rendezvous → host: the first knock on its nameplate, forwarded.
        case codeKnocked = 0x2C
        /// Host → rendezvous: the sealed answer for the joiner who knocked.
        case codeAnswer = 0x2D
        /// Rendezvous → joiner: the host's sealed answer, forwarded.
        case codeAnswered = 0x2E
        /// Host → rendezvous: the joiner's tag was wrong; burn the nameplate.
        case codeBurn = 0x2F
        /// Host → rendezvous: close the mailbox before it expires.
        case codeClose = 0x30
        /// Rendezvous → host: an answer, burn or close was carried out.
        case codeAck = 0x31
        /// Rendezvous → node: the request cannot be carried out, and why.
        case codeError = 0x32
        /// Node → rendezvous: retire a room's tag (an epoch the room left): its registrations go,
        /// and nobody registers under it again for `retiredRoomLifetime`.
        case retire = 0x33
        /// Rendezvous → node: a register that would create a room was refused, and why.
        case registerRefused = 0x34
    }

    /// Why the rendezvous refused to create a room (the reason byte of `registerRefused`).
    public enum RegisterRefusalReason: UInt8, CaseIterable, Sendable, CustomStringConvertible {
        /// The rendezvous runs with `--allow` and the register carried no owner part, or one whose
        /// key is not on the operator's list.
        case ownerNotAllowed = 1

        /// Words for logs.
        public var description: String {
            switch self {
            case .ownerNotAllowed: "the room's owner is not allowed to open rooms at this rendezvous"
            }
        }
    }

    /// Why the rendezvous refused a short-code request (the reason byte of `codeError`).
    public enum CodeErrorReason: UInt8, CaseIterable, Sendable, CustomStringConvertible {
        /// No mailbox holds this nameplate (never opened, or released after it finished).
        case unknown = 1
        /// A joiner already knocked, and the host answered or is answering.
        case used = 2
        /// The mailbox expired before the exchange finished.
        case expired = 3
        /// A joiner knocked with the wrong words and the host burnt the nameplate.
        case burnt = 4
        /// The host closed the mailbox.
        case closed = 5
        /// The rendezvous holds as many mailboxes as it allows (overall or for this source).
        case unavailable = 6

        /// Words for people: what the code's user should do differs with each.
        public var description: String {
            switch self {
            case .unknown: "no such code at the rendezvous"
            case .used: "the code was already used"
            case .expired: "the code expired"
            case .burnt: "the code was burnt by a wrong guess"
            case .closed: "the host closed the code"
            case .unavailable: "the rendezvous has no free code now"
            }
        }
    }

    /// The address family byte of a candidate.
    public enum Family: UInt8, Sendable {
        /// IPv4: 4 address bytes follow.
        case ipv4 = 4
        /// IPv6: 16 address bytes follow.
        case ipv6 = 6
    }

    /// Every datagram stays at or under this size: fits the IPv6 minimum MTU (1280) less headers.
    /// Transport's `Wire.maxDatagramSize` is this value (its socket carries both protocols).
    public static let maxDatagramSize = 1200
    /// Type byte plus 3 reserved bytes: keeps the fields after it 4-byte aligned and leaves room
    /// for flags without a new type.
    public static let headerSize = 4
    /// Offset of the first reserved byte.
    package static let reservedOffset = 1
    /// Number of reserved bytes after the type.
    package static let reservedSize = 3

    /// The public room tag (`RoomKeys.tagLength`).
    package static let roomTagSize = 16
    /// A node's random per-room peer id: 64 bits make collisions in a 16-peer room negligible.
    package static let peerIDSize = 8
    /// The node's nonce that the cookie binds, so a node can match a challenge to its request.
    package static let clientNonceSize = 8
    /// BLAKE2b-128: forging one means guessing 128 bits.
    package static let cookieSize = 16
    /// An Ed25519 public key: the room's registration key (`RoomKeys.registrationKey`) for the
    /// epoch whose tag a register, unregister or retire names.
    package static let registrationKeySize = 32
    /// An Ed25519 signature, the last field of register, unregister and retire.
    package static let signatureSize = 64
    /// Signed before the bytes of a register (everything before its signature): a signature made
    /// for one message type never verifies as another.
    package static let registerSignatureLabel = Array("cvpeer/2 register".utf8)
    /// Signed by the room's owner before the bytes of a register up to the end of its candidates
    /// (the owner part and both signatures excluded): proves the owner asked for the room.
    package static let registerOwnerSignatureLabel = Array("cvpeer/2 register owner".utf8)
    /// Signed before the bytes of an unregister.
    package static let unregisterSignatureLabel = Array("cvpeer/2 unregister".utf8)
    /// Signed before the bytes of a retire.
    package static let retireSignatureLabel = Array("cvpeer/2 retire".utf8)
    /// Candidate count byte in register and introduce.
    package static let candidateCountSize = 1
    /// The refresh interval field of registered, in whole seconds.
    package static let refreshIntervalSize = 2
    /// The most local candidates a node may list: enough for a few interfaces of both families,
    /// small enough that an introduce stays tiny.
    public static let maxCandidates = 8
    /// Family byte, IPv4 address, port.
    package static let ipv4CandidateSize = 1 + 4 + 2
    /// Family byte, IPv6 address, port.
    package static let ipv6CandidateSize = 1 + 16 + 2
    /// The largest candidate encoding.
    package static let maxCandidateSize = ipv6CandidateSize

    /// Register offsets: header, tag, peer id, client nonce, cookie, registration key, count,
    /// candidates, signature.
    package static let registerRoomTagOffset = headerSize
    /// Offset of the peer id in register.
    package static let registerPeerIDOffset = registerRoomTagOffset + roomTagSize
    /// Offset of the client nonce in register.
    package static let registerClientNonceOffset = registerPeerIDOffset + peerIDSize
    /// Offset of the cookie in register.
    package static let registerCookieOffset = registerClientNonceOffset + clientNonceSize
    /// Offset of the registration key in register.
    package static let registerKeyOffset = registerCookieOffset + cookieSize
    /// Offset of the candidate count in register.
    package static let registerCandidateCountOffset = registerKeyOffset + registrationKeySize
    /// Offset of the first candidate in register; the signature follows the last candidate.
    package static let registerCandidatesOffset = registerCandidateCountOffset + candidateCountSize
    /// The byte of a register's header that carries its flags (the first reserved byte); every
    /// other bit and reserved byte stays zero.
    package static let registerFlagsOffset = reservedOffset
    /// Flag bit: the register carries an owner part (owner key and owner signature) between its
    /// candidates and its signature. The room signature covers the flag, so nobody can strip it.
    package static let registerOwnerFlag: UInt8 = 0x01
    /// The owner's Ed25519 public key in a register's owner part.
    package static let ownerKeySize = 32
    /// Owner key and owner signature: 96 bytes.
    package static let registerOwnerPartSize = ownerKeySize + signatureSize
    /// The smallest register (no candidates, no owner part): 149 bytes.
    package static let registerMinSize = registerCandidatesOffset + signatureSize
    /// The smallest register with an owner part: 245 bytes.
    package static let registerWithOwnerMinSize = registerMinSize + registerOwnerPartSize
    /// The largest register (8 IPv6 candidates and an owner part): 397 bytes.
    package static let registerMaxSize = registerWithOwnerMinSize + maxCandidates * maxCandidateSize

    /// registerRefused: header, the register's client nonce, reason; 13 bytes, smaller than any
    /// register, and sent only to a cookie-proven address after the room key verified.
    package static let registerRefusedSize = headerSize + clientNonceSize + 1

    /// Cookie challenge: header, client nonce, cookie; 28 bytes, well under `registerMinSize` and
    /// `retireSize`, so the only reply to an unverified source is smaller than what it sent.
    package static let cookieChallengeSize = headerSize + clientNonceSize + cookieSize

    /// Offset of the client nonce in registered and introduce: the nonce of the recipient's own
    /// register, so an off-path sender who does not see that register cannot forge either.
    package static let replyClientNonceOffset = headerSize
    /// Offset of the peer id in registered.
    package static let registeredPeerIDOffset = replyClientNonceOffset + clientNonceSize
    /// Offset of the reflexive candidate in registered; the refresh interval follows it.
    package static let registeredReflexiveOffset = registeredPeerIDOffset + peerIDSize
    /// Registered: header, client nonce, peer id, reflexive candidate, refresh interval; 29 bytes
    /// with IPv4.
    package static let registeredMinSize = registeredReflexiveOffset + ipv4CandidateSize + refreshIntervalSize
    /// Registered with an IPv6 reflexive candidate: 41 bytes.
    package static let registeredMaxSize = registeredReflexiveOffset + ipv6CandidateSize + refreshIntervalSize

    /// Offset of the room tag in introduce.
    package static let introduceRoomTagOffset = replyClientNonceOffset + clientNonceSize
    /// Offset of the introduced peer's id in introduce.
    package static let introducePeerIDOffset = introduceRoomTagOffset + roomTagSize
    /// Offset of the introduced peer's reflexive candidate; its count and local candidates follow.
    package static let introduceReflexiveOffset = introducePeerIDOffset + peerIDSize
    /// Introduce: header, client nonce, tag, peer id, reflexive candidate, count, local
    /// candidates; 44 bytes with an IPv4 reflexive candidate and no local ones.
    package static let introduceMinSize = introduceReflexiveOffset + ipv4CandidateSize + candidateCountSize
    /// The largest introduce: 208 bytes.
    package static let introduceMaxSize =
        introduceReflexiveOffset + maxCandidateSize + candidateCountSize + maxCandidates * maxCandidateSize

    /// Offset of the peer id in relay (target) and relayed (source).
    package static let relayPeerIDOffset = headerSize
    /// Offset of the inner datagram in relay and relayed.
    package static let relayPayloadOffset = relayPeerIDOffset + peerIDSize
    /// Relay and relayed headers are both 12 bytes, so forwarding never changes a datagram's size.
    public static let relayHeaderSize = relayPayloadOffset
    /// The largest inner datagram: a node's own datagrams stay this small so the relay header fits.
    package static let maxRelayedDatagramSize = maxDatagramSize - relayHeaderSize

    /// Offset of the room tag in unregister.
    package static let unregisterRoomTagOffset = headerSize
    /// Offset of the peer id in unregister.
    package static let unregisterPeerIDOffset = unregisterRoomTagOffset + roomTagSize
    /// Offset of the client nonce in unregister.
    package static let unregisterClientNonceOffset = unregisterPeerIDOffset + peerIDSize
    /// Offset of the cookie in unregister.
    package static let unregisterCookieOffset = unregisterClientNonceOffset + clientNonceSize
    /// Offset of the registration key in unregister.
    package static let unregisterKeyOffset = unregisterCookieOffset + cookieSize
    /// Offset of the signature in unregister.
    package static let unregisterSignatureOffset = unregisterKeyOffset + registrationKeySize
    /// Unregister: header, tag, peer id, client nonce, cookie, registration key, signature; 148 bytes.
    package static let unregisterSize = unregisterSignatureOffset + signatureSize

    /// Offset of the room tag in retire.
    package static let retireRoomTagOffset = headerSize
    /// Offset of the registration key in retire.
    package static let retireKeyOffset = retireRoomTagOffset + roomTagSize
    /// Offset of the client nonce in retire.
    package static let retireClientNonceOffset = retireKeyOffset + registrationKeySize
    /// Offset of the cookie in retire.
    package static let retireCookieOffset = retireClientNonceOffset + clientNonceSize
    /// Offset of the signature in retire.
    package static let retireSignatureOffset = retireCookieOffset + cookieSize
    /// Retire: header, tag, registration key, client nonce, cookie, signature; 140 bytes. Nothing
    /// answers it but a cookie challenge (28 bytes) when its cookie is not valid.
    package static let retireSize = retireSignatureOffset + signatureSize

    // MARK: Short-code mailbox

    /// A nameplate on the wire: 2 bytes, 1 … `maxNameplate`.
    package static let nameplateSize = 2
    /// The highest nameplate: at most three digits to read out on the phone.
    package static let maxNameplate: UInt16 = 999
    /// The lifetime fields of codeOpen (asked) and codeOpened (granted), in whole seconds.
    package static let codeLifetimeSize = 2
    /// A PAKE message is opaque to the rendezvous but never empty.
    package static let minPakeMessageSize = 1
    /// Room for a CPace share (32 bytes) with associated data, and little else: the mailbox is
    /// not a general store.
    package static let maxPakeMessageSize = 96
    /// The length byte in front of the joiner's PAKE message in a knock.
    package static let pakeMessageLengthSize = 1
    /// The joiner's key confirmation tag: a 256-bit MAC.
    package static let codeTagSize = 32
    /// The rendezvous's random id of the knock: the host's answer or burn names it.
    package static let knockIDSize = 8
    /// The reason byte of codeError.
    package static let codeReasonSize = 1
    /// The largest sealed answer: the host's confirmation and a sealed `cvp2` invite (at most
    /// about 700 bytes) with room to spare.
    package static let maxCodePayloadSize = 1024

    /// Offset of the lifetime asked in codeOpen (after header, nonce, cookie).
    package static let codeOpenLifetimeOffset = headerSize + clientNonceSize + cookieSize
    /// Offset of the nameplate held (0 to open a new one) in codeOpen.
    package static let codeOpenNameplateOffset = codeOpenLifetimeOffset + codeLifetimeSize
    /// Offset of the host's PAKE message in codeOpen; it runs to the end.
    package static let codeOpenPakeMessageOffset = codeOpenNameplateOffset + nameplateSize
    /// The smallest codeOpen: 33 bytes.
    package static let codeOpenMinSize = codeOpenPakeMessageOffset + minPakeMessageSize
    /// The largest codeOpen: 128 bytes.
    package static let codeOpenMaxSize = codeOpenPakeMessageOffset + maxPakeMessageSize

    /// codeOpened: header, nonce, nameplate, lifetime granted; 16 bytes.
    package static let codeOpenedSize = headerSize + clientNonceSize + nameplateSize + codeLifetimeSize

    /// Offset of the host's PAKE message in codeOffer (after header, nonce, nameplate).
    package static let codeOfferPakeMessageOffset = headerSize + clientNonceSize + nameplateSize
    /// The smallest codeOffer: 15 bytes.
    package static let codeOfferMinSize = codeOfferPakeMessageOffset + minPakeMessageSize
    /// The largest codeOffer: 110 bytes.
    package static let codeOfferMaxSize = codeOfferPakeMessageOffset + maxPakeMessageSize

    /// Offset of the nameplate in codeLookup, codeKnock, codeAnswer, codeBurn and codeClose
    /// (after header, nonce, cookie).
    package static let codeRequestNameplateOffset = headerSize + clientNonceSize + cookieSize
    /// Offset of the zero padding in codeLookup.
    package static let codeLookupPaddingOffset = codeRequestNameplateOffset + nameplateSize
    /// codeLookup is padded with zeros to the largest codeOffer, 110 bytes, so the offer is never
    /// larger than the lookup that asked for it.
    package static let codeLookupSize = codeOfferMaxSize

    /// Offset of the joiner's confirmation tag in codeKnock.
    package static let codeKnockTagOffset = codeRequestNameplateOffset + nameplateSize
    /// Offset of the length byte of the joiner's PAKE message in codeKnock.
    package static let codeKnockPakeMessageLengthOffset = codeKnockTagOffset + codeTagSize
    /// Offset of the joiner's PAKE message in codeKnock; zero padding follows it.
    package static let codeKnockPakeMessageOffset = codeKnockPakeMessageLengthOffset + pakeMessageLengthSize

    /// Offset of the knock id in codeKnocked (after header, the host's nonce, nameplate).
    package static let codeKnockedKnockIDOffset = headerSize + clientNonceSize + nameplateSize
    /// Offset of the joiner's tag in codeKnocked.
    package static let codeKnockedTagOffset = codeKnockedKnockIDOffset + knockIDSize
    /// Offset of the joiner's PAKE message in codeKnocked; it runs to the end.
    package static let codeKnockedPakeMessageOffset = codeKnockedTagOffset + codeTagSize
    /// The smallest codeKnocked: 55 bytes.
    package static let codeKnockedMinSize = codeKnockedPakeMessageOffset + minPakeMessageSize
    /// The largest codeKnocked: 150 bytes.
    package static let codeKnockedMaxSize = codeKnockedPakeMessageOffset + maxPakeMessageSize

    /// Offset of the knock id in codeAnswer and codeBurn.
    package static let codeAnswerKnockIDOffset = codeRequestNameplateOffset + nameplateSize
    /// Offset of the sealed payload in codeAnswer; it runs to the end.
    package static let codeAnswerPayloadOffset = codeAnswerKnockIDOffset + knockIDSize
    /// The smallest codeAnswer: 39 bytes.
    package static let codeAnswerMinSize = codeAnswerPayloadOffset + 1
    /// The largest codeAnswer: 1062 bytes.
    package static let codeAnswerMaxSize = codeAnswerPayloadOffset + maxCodePayloadSize

    /// Offset of the sealed payload in codeAnswered (after header, the joiner's nonce, nameplate).
    package static let codeAnsweredPayloadOffset = headerSize + clientNonceSize + nameplateSize
    /// The smallest codeAnswered: 15 bytes.
    package static let codeAnsweredMinSize = codeAnsweredPayloadOffset + 1
    /// The largest codeAnswered: 1038 bytes.
    package static let codeAnsweredMaxSize = codeAnsweredPayloadOffset + maxCodePayloadSize

    /// codeKnock is padded with zeros to the largest codeAnswered, 1038 bytes, so that the answer
    /// re-sent to a repeated knock (its first copy was lost) is never larger than the knock.
    package static let codeKnockSize = codeAnsweredMaxSize

    /// codeBurn: header, nonce, cookie, nameplate, knock id; 38 bytes.
    package static let codeBurnSize = codeAnswerPayloadOffset
    /// codeClose: header, nonce, cookie, nameplate; 30 bytes.
    package static let codeCloseSize = codeRequestNameplateOffset + nameplateSize
    /// codeAck: header, nonce, nameplate; 14 bytes.
    package static let codeAckSize = headerSize + clientNonceSize + nameplateSize
    /// codeError: header, nonce, nameplate (0 when none was allocated), reason; 15 bytes, smaller
    /// than any request it answers.
    package static let codeErrorSize = codeAckSize + codeReasonSize

    /// The sizes a datagram of `type` may have; anything else is dropped before decoding.
    package static func sizeRange(of type: MessageType) -> ClosedRange<Int> {
        switch type {
        case .register: registerMinSize...registerMaxSize
        case .cookieChallenge: cookieChallengeSize...cookieChallengeSize
        case .registered: registeredMinSize...registeredMaxSize
        case .introduce: introduceMinSize...introduceMaxSize
        case .relay, .relayed: relayHeaderSize...maxDatagramSize
        case .unregister: unregisterSize...unregisterSize
        case .codeOpen: codeOpenMinSize...codeOpenMaxSize
        case .codeOpened: codeOpenedSize...codeOpenedSize
        case .codeLookup: codeLookupSize...codeLookupSize
        case .codeOffer: codeOfferMinSize...codeOfferMaxSize
        case .codeKnock: codeKnockSize...codeKnockSize
        case .codeKnocked: codeKnockedMinSize...codeKnockedMaxSize
        case .codeAnswer: codeAnswerMinSize...codeAnswerMaxSize
        case .codeAnswered: codeAnsweredMinSize...codeAnsweredMaxSize
        case .codeBurn: codeBurnSize...codeBurnSize
        case .codeClose: codeCloseSize...codeCloseSize
        case .codeAck: codeAckSize...codeAckSize
        case .codeError: codeErrorSize...codeErrorSize
        case .retire: retireSize...retireSize
        case .registerRefused: registerRefusedSize...registerRefusedSize
        }
    }
}
