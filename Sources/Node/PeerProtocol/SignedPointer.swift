import PeerCrypto
import Primitives

/// A participant's pointer, signed by that participant for one room.
///
/// Pointers reach peers directly and, where links form a star, through a node linked to both;
/// since wave 2 that forwarder may be hostile. The author's Ed25519 signature lets any node pass a
/// pointer on unchanged while the receiver checks that its claimed origin really wrote it, for
/// this room, and that it is newer than the last one it took from that origin (`PresenceBook`).
///
/// Layout (big-endian), 106 bytes without a position, 154 with one:
///
///     origin (32)  the author's Ed25519 public key
///     stamp (u64)  the author's clock in microseconds since 1970, strictly increasing per author
///     flags (u8)   0 = no pointer, 1 = on an item
///     [item counter (u64) ‖ item replica (32) ‖ x (u32) ‖ y (u32)]   only with flags 1; x, y ≤ 1,000,000
///     signature (64) Ed25519 by origin over `signingLabel` ‖ room tag ‖ every byte above
///
/// The room tag inside what is signed keeps a pointer from one room out of another room the
/// author also joins; the label keeps a pointer signature from being taken for any other
/// signature the identity makes (batches sign other bytes under other labels).
struct SignedPointer: Equatable, Sendable {
    /// The signing key of the author.
    var origin: [UInt8]
    /// The author's strictly increasing stamp; the replay rule compares it.
    var stamp: UInt64
    /// Where the pointer is, or nil when it left the panel.
    var position: PeerMessage.Pointer?
    /// The author's signature.
    var signature: [UInt8]

    /// Domain separation for pointer signatures.
    static let signingLabel = Array("cvpeer/1 pointer".utf8)
    /// The size of the encoding with a position: the most a pointer datagram carries (plus its tag byte).
    static let maxLength = 32 + 8 + 1 + 48 + 64
    /// The size of the encoding without a position.
    static let minLength = 32 + 8 + 1 + 64

    /// Signs `position` as `identity`'s pointer in the room of `roomTag`.
    static func make(identity: Identity, roomTag: [UInt8], stamp: UInt64, position: PeerMessage.Pointer?) -> SignedPointer {
        var pointer = SignedPointer(origin: identity.publicKey.bytes, stamp: stamp, position: position, signature: [])
        pointer.signature = identity.sign(pointer.signedBytes(roomTag: roomTag))
        return pointer
    }

    /// True if `origin` signed exactly these fields for the room of `roomTag`.
    func isAuthentic(roomTag: [UInt8]) -> Bool {
        guard let key = try? PublicKey(bytes: origin), signature.count == PublicKey.signatureLength else { return false }
        return key.isValidSignature(signature, for: signedBytes(roomTag: roomTag))
    }

    /// What the signature covers.
    func signedBytes(roomTag: [UInt8]) -> [UInt8] {
        var out = Self.signingLabel
        out.reserveCapacity(out.count + roomTag.count + Self.maxLength)
        out += roomTag
        appendFields(to: &out)
        return out
    }

    /// The wire bytes.
    var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.maxLength)
        appendFields(to: &out)
        out += signature
        return out
    }

    private func appendFields(to out: inout [UInt8]) {
        out += origin
        out += stamp.bigEndianBytes
        guard let position else {
            out.append(0)
            return
        }
        out.append(1)
        out += position.counter.bigEndianBytes
        out += position.replica
        out += position.x.bigEndianBytes
        out += position.y.bigEndianBytes
    }

    /// Decodes the layout above, or nil for anything malformed (wrong length, unknown flags,
    /// coordinates out of range). The signature is not checked here.
    static func decode(_ bytes: [UInt8]) -> SignedPointer? {
        guard bytes.count == minLength || bytes.count == maxLength else { return nil }
        return try? read(bytes)
    }

    private static func read(_ bytes: [UInt8]) throws(MalformedPeerMessage) -> SignedPointer {
        var reader = PeerMessageReader(bytes)
        let origin = try reader.bytes(32, "origin")
        let stamp = try reader.bigEndian(UInt64.self, "stamp")
        var position: PeerMessage.Pointer?
        switch try reader.byte("flags") {
        case 0:
            guard bytes.count == minLength else { throw MalformedPeerMessage() }
        case 1:
            let counter = try reader.bigEndian(UInt64.self, "counter")
            let replica = try reader.bytes(32, "replica")
            let x = try reader.uint32("x")
            let y = try reader.uint32("y")
            guard x <= 1_000_000, y <= 1_000_000 else { throw MalformedPeerMessage() }
            position = PeerMessage.Pointer(counter: counter, replica: replica, x: x, y: y)
        default:
            throw MalformedPeerMessage()
        }
        let signature = try reader.bytes(64, "signature")
        try reader.finish()
        return SignedPointer(origin: origin, stamp: stamp, position: position, signature: signature)
    }
}

/// What a node knows of pointers: the newest stamp taken from each author, the pointers shown
/// now, and what was refused. Pure: the engine feeds it and acts on its verdicts.
///
/// Memory is bounded: an author is remembered only once one of its pointers verified and it is a
/// linked peer or a participant of the document, and never more than `maxAuthors` of them.
struct PresenceBook: Sendable {
    /// The most authors remembered; far above any room's people (the vector holds 4096 authors at most).
    static let maxAuthors = 4096

    /// What to do with a received pointer.
    enum Verdict: Equatable {
        /// Show it; `relay` when it came straight from its author, to pass on to the other peers.
        case accepted(relay: Bool)
        /// Harmless and not counted: our own, a copy of one already taken (same stamp, reached us
        /// twice), or a relayed copy of someone we have a direct link to (that link is fresher).
        case ignored
        /// Its signature does not verify for its claimed origin and this room.
        case forged
        /// Authentic but not newer than what its author already showed: replayed (or overtaken).
        case replayed
        /// Authentic but from an author who is neither linked nor in the document, or past the bound.
        case unknownAuthor
    }

    /// Counts of pointers refused, for status.
    struct Refusals: Equatable, Sendable {
        var forged = 0
        var replayed = 0
        var unknownAuthor = 0
    }

    /// The newest stamp taken per author.
    private(set) var stamps: [PublicKey: UInt64] = [:]
    /// The pointers shown now, by author (nil: off the panel).
    var current: [PublicKey: PeerMessage.Pointer?] = [:]
    /// What was refused.
    private(set) var refusals = Refusals()
    /// The last stamp this node signed.
    private var ownStamp: UInt64 = 0

    /// The stamp for this node's next pointer: the wall clock in microseconds, but always above
    /// the previous one, so a clock step back never makes peers take our pointers for replays
    /// within a run (and across restarts the wall clock has moved on).
    mutating func nextStamp(wallMicros: UInt64) -> UInt64 {
        ownStamp = max(ownStamp &+ 1, wallMicros)
        return ownStamp
    }

    /// Judges `pointer`, received over the link to `link`, and records it if accepted.
    ///
    /// - Parameters:
    ///   - me: this node's key (its own pointers, echoed back, are ignored).
    ///   - isLinked: whether we have a direct link to an author.
    ///   - isParticipant: whether an author is in the document.
    mutating func receive(
        _ pointer: SignedPointer, from link: PublicKey, me: PublicKey, roomTag: [UInt8],
        isLinked: (PublicKey) -> Bool, isParticipant: (PublicKey) -> Bool
    ) -> Verdict {
        guard let author = try? PublicKey(bytes: pointer.origin) else { return record(.forged) }
        if author == me { return .ignored }
        let direct = author == link
        // A copy of a linked peer's pointer from a third node: that peer's own datagrams come
        // straight and sooner, so the copy is dropped unread (no signature check spent on it).
        if !direct, isLinked(author) { return .ignored }
        if let last = stamps[author], pointer.stamp <= last {
            // Checked before the signature: a stale stamp is refused whatever it carries, and
            // only an authentic one counts as a replay (anyone can write a small number).
            if pointer.stamp == last { return .ignored }
            return record(pointer.isAuthentic(roomTag: roomTag) ? .replayed : .forged)
        }
        guard pointer.isAuthentic(roomTag: roomTag) else { return record(.forged) }
        if stamps[author] == nil {
            guard direct || isParticipant(author), stamps.count < Self.maxAuthors else { return record(.unknownAuthor) }
        }
        stamps[author] = pointer.stamp
        current[author] = .some(pointer.position)
        return .accepted(relay: direct)
    }

    private mutating func record(_ verdict: Verdict) -> Verdict {
        switch verdict {
        case .forged: refusals.forged += 1
        case .replayed: refusals.replayed += 1
        case .unknownAuthor: refusals.unknownAuthor += 1
        case .accepted, .ignored: break
        }
        return verdict
    }
}
