import PeerCrypto
/// One edit of the document, as its author made it.
///
/// The author is not a field: it is `id.replica`, which comes from the batch's authenticated
/// author, so an operation can never claim somebody else made it.
public struct Operation: Hashable, Sendable {
    /// The operation's id; also the id of what it creates (an item, a mark, a chat message…).
    public let id: OpID
    /// When the author made it.
    public let timestamp: HLC
    /// What it does.
    public let edit: Edit

    /// Creates an operation; only batch drafts and the decoder make them.
    init(id: OpID, timestamp: HLC, edit: Edit) {
        self.id = id
        self.timestamp = timestamp
        self.edit = edit
    }

    /// The participant who made it.
    public var author: ReplicaID { id.replica }
}

/// What an operation does, one case per kind of change to one part of the document.
public enum Edit: Hashable, Sendable {
    /// Sets a participant's profile (LWW). Only the participant itself may: others' are rejected.
    case setProfile(participant: ReplicaID, Profile)
    /// Creates an item whose id is this operation's id, at a panel position, with initial fields.
    case createItem(kind: ItemKind, position: PanelPosition, fields: [ItemField])
    /// Sets one field of an item (LWW per field).
    case setItemField(item: OpID, ItemField)
    /// Removes an item for good: a tombstone that also hides its marks and viewports.
    case removeItem(OpID)
    /// Moves an item in the panel (LWW position).
    case moveItem(OpID, to: PanelPosition)
    /// Adds a mark to an item; the mark's id is this operation's id.
    case addMark(item: OpID, Mark)
    /// Removes a mark (add/remove set: once removed, always removed).
    case removeMark(OpID)
    /// Sets a participant's viewport on an item (LWW). Only the participant itself may.
    case setViewport(participant: ReplicaID, item: OpID, Viewport)
    /// Sets which item a participant has open, or none (LWW). Only the participant itself may.
    case setFocus(participant: ReplicaID, item: OpID?)
    /// Sets an item's shared playback (LWW per item); shown only on a visible video.
    case setPlayback(item: OpID, Playback)
    /// Appends a chat message.
    case say(String)
    /// Appends a commerce event.
    case commerce(CommerceAction)
    /// The owner admits `member` (its first grant) or changes its role, for the member's batches
    /// from `fromSequence` on (its first grant covers all of them). Anyone else's is rejected.
    case grantRole(member: ReplicaID, role: Role, fromSequence: UInt64)
    /// The owner starts the room's next key epoch: removes members and seals the new epoch's
    /// secret to each member that stays. Anyone else's is rejected.
    case startEpoch(EpochChange)

    func validate() throws(ReplicationError) {
        switch self {
        case let .setProfile(_, profile): try profile.validate()
        case let .createItem(_, _, fields):
            guard fields.count <= ItemFieldKey.allCases.count else {
                throw .limitExceeded("initial fields", limit: ItemFieldKey.allCases.count)
            }
            var seen: UInt8 = 0
            for field in fields {
                let bit: UInt8 = 1 << field.key.rawValue
                guard seen & bit == 0 else { throw .invalidValue("initial fields (repeated field)") }
                seen |= bit
                try field.validate()
            }
        case let .setItemField(_, field): try field.validate()
        case .removeItem, .moveItem, .removeMark, .setFocus: return
        case let .addMark(_, mark): try mark.validate()
        case let .setPlayback(_, playback): try playback.validate()
        case let .setViewport(_, _, viewport): try viewport.validate()
        case let .say(text): try TextRule.multiline.check(text, "chat message", minBytes: 1, maxBytes: Limits.maxTextBytes)
        case let .commerce(action): try action.validate()
        case let .grantRole(_, _, fromSequence):
            guard fromSequence >= 1 else { throw .invalidValue("grant start") }
        case let .startEpoch(change): try change.validate()
        }
    }
}

/// A commerce event; who did it is the operation's author.
public enum CommerceAction: Hashable, Sendable {
    /// The author recommends an item, with a note (may be empty).
    case recommend(item: OpID, note: String)
    /// The author added an item to their cart.
    case addToCart(item: OpID, quantity: UInt32)
    /// The author bought an item.
    case purchase(item: OpID, quantity: UInt32)

    /// The item the event is about.
    public var item: OpID {
        switch self {
        case let .recommend(item, _), let .addToCart(item, _), let .purchase(item, _): item
        }
    }

    /// The event's name in canonical JSON.
    public var name: String {
        switch self {
        case .recommend: "recommend"
        case .addToCart: "addToCart"
        case .purchase: "purchase"
        }
    }

    func validate() throws(ReplicationError) {
        switch self {
        case let .recommend(_, note):
            try TextRule.multiline.check(note, "recommendation note", maxBytes: Limits.maxTextBytes)
        case let .addToCart(_, quantity), let .purchase(_, quantity):
            guard (1...Limits.maxQuantity).contains(quantity) else { throw .invalidValue("quantity") }
        }
    }
}

/// The owner's change to the room's next key epoch (after a removal, or a rotation for a leaked
/// invite): every remaining member opens its box with its identity key and moves to the new
/// keys; a removed member's batches from `fromSequence` on count nowhere.
public struct EpochChange: Hashable, Sendable {
    /// One removed member, and its first batch that no longer counts (one past what the owner
    /// held of it when it removed it, so what it wrote before still counts everywhere).
    public struct Removal: Hashable, Sendable {
        /// The member.
        public var member: ReplicaID
        /// Its first batch that no longer counts.
        public var fromSequence: UInt64

        /// Creates a removal.
        public init(member: ReplicaID, fromSequence: UInt64) {
            self.member = member
            self.fromSequence = fromSequence
        }
    }

    /// The new epoch's number: one more than the room's current epoch.
    public var epoch: UInt32
    /// Who is removed, ascending by key.
    public var removed: [Removal]
    /// The new epoch's secret sealed to each remaining member (`EpochSecretBox`), by member.
    public var boxes: [ReplicaID: [UInt8]]

    /// Creates an epoch change.
    public init(epoch: UInt32, removed: [Removal], boxes: [ReplicaID: [UInt8]]) {
        self.epoch = epoch
        self.removed = removed.sorted { $0.member < $1.member }
        self.boxes = boxes
    }

    func validate() throws(ReplicationError) {
        guard epoch >= 1 else { throw .invalidValue("epoch number") }
        guard removed.count + boxes.count <= Limits.maxEpochMembers else {
            throw .limitExceeded("members of an epoch change", limit: Limits.maxEpochMembers)
        }
        guard zip(removed, removed.dropFirst()).allSatisfy({ $0.member < $1.member }) else {
            throw .invalidValue("removed members (repeated or out of order)")
        }
        for removal in removed {
            guard removal.fromSequence >= 1 else { throw .invalidValue("removal start") }
            guard boxes[removal.member] == nil else { throw .invalidValue("a removed member's box") }
        }
        for box in boxes.values where box.count != EpochSecretBox.sealedLength {
            throw .invalidValue("sealed epoch secret length")
        }
    }
}
