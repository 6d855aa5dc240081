import Replication

/// The figures of one session: one room held in the node's store.
public struct SessionReport: Hashable, Sendable {
    /// The room.
    public let room: RoomName
    /// The first operation's time, in Unix milliseconds.
    package let startMillis: UInt64
    /// The last operation's time, in Unix milliseconds.
    package let endMillis: UInt64
    /// Everyone who wrote an operation or a profile, by id.
    public let participants: [SessionParticipant]
    /// Every item an operation created or referred to, by id.
    public let items: [SessionItem]
    /// Every view, ordered by start (ties by the focus operation's id).
    public let views: [ItemViewing]
    /// Every recommendation, in session order.
    package let recommendations: [Recommendation]
    /// Every add to cart, in session order.
    package let cartAdds: [CartAdd]
    /// Every purchase, in session order, with its attribution.
    package let purchases: [Purchase]

    /// The session's length: from its first operation to its last.
    package var durationMillis: UInt64 { endMillis - startMillis }

    /// True if anyone bought anything: what the conversion rate counts.
    package var hasPurchase: Bool { !purchases.isEmpty }

    /// The participants whose profile says agent.
    package var agents: [SessionParticipant] { participants.filter { $0.role == .agent } }

    /// One participant, if it took part.
    public func participant(_ id: ReplicaID) -> SessionParticipant? { participants.first { $0.id == id } }

    /// One item, if an operation named it.
    public func item(_ id: OpID) -> SessionItem? { items.first { $0.id == id } }

    /// The views of one participant, in order.
    public func views(of participant: ReplicaID) -> [ItemViewing] { views.filter { $0.participant == participant } }
}

/// A participant of a session.
public struct SessionParticipant: Hashable, Sendable {
    /// Its id (public key).
    public let id: ReplicaID
    /// Its display name, if it set a profile.
    public let name: String?
    /// Its role, if it set a profile.
    public let role: Role?

    /// A participant with its profile's name and role, if it set one.
    public init(id: ReplicaID, name: String?, role: Role?) {
        self.id = id
        self.name = name
        self.role = role
    }

    /// The name to show: the profile's, else the short id.
    public var displayName: String { name ?? id.short }
}

/// An item as the session knew it: its latest fields, even if it was removed later.
public struct SessionItem: Hashable, Sendable {
    /// The item's id.
    public let id: OpID
    /// Its kind; nil if the batch that created it is not held.
    public let kind: ItemKind?
    /// Its title, if it has one.
    public let title: String?
    /// Its price, if it is a product with one.
    public let price: Price?
    /// Its link, if it is a product with one.
    public let url: String?
    /// When it was shared (created), if known.
    package let sharedMillis: UInt64?
    /// When it was first removed, if it was.
    package let removedMillis: UInt64?

    /// Who shared it.
    package var sharedBy: ReplicaID { id.replica }

    /// The name to show: the title, else the kind and short id.
    public var displayName: String {
        if let title, !title.isEmpty { return title }
        return "\(kind?.name ?? "item") \(id.short)"
    }
}

/// One view: a participant had an item open (focused) for a while.
public struct ItemViewing: Hashable, Sendable {
    /// Who looked.
    public let participant: ReplicaID
    /// At what.
    public let item: OpID
    /// The focus operation that began the view (orders views that start in the same millisecond).
    public let focus: OpID
    /// When the view began.
    package let startMillis: UInt64
    /// When it ended (see `Insights` for the rule).
    package let endMillis: UInt64

    /// How long the item was open.
    package var dwellMillis: UInt64 { endMillis - startMillis }
}

/// A recommend event.
public struct Recommendation: Hashable, Sendable {
    /// The event's id.
    public let id: OpID
    /// The item recommended.
    public let item: OpID
    /// When.
    public let atMillis: UInt64
    /// The recommender's note (may be empty).
    public let note: String
    /// When a customer first opened the item after it, if one did.
    package let customerOpenedMillis: UInt64?

    /// Who recommended it.
    public var by: ReplicaID { id.replica }

    /// True if a customer opened the item after the recommendation.
    package var openedByCustomer: Bool { customerOpenedMillis != nil }

    /// How long after the recommendation a customer opened the item, if one did.
    package var customerOpenedAfterMillis: UInt64? { customerOpenedMillis.map { $0 - atMillis } }
}

/// An add-to-cart event.
public struct CartAdd: Hashable, Sendable {
    /// The event's id.
    public let id: OpID
    /// The item.
    public let item: OpID
    /// When.
    public let atMillis: UInt64
    /// How many.
    public let quantity: UInt32

    /// Who added it.
    public var by: ReplicaID { id.replica }
}

/// A purchase and, if an agent recommended the item before it, the recommendation it is credited to.
public struct Purchase: Hashable, Sendable {
    /// The event's id.
    public let id: OpID
    /// The item.
    public let item: OpID
    /// When.
    public let atMillis: UInt64
    /// How many.
    public let quantity: UInt32
    /// The agent's recommendation credited with it, if the purchase was influenced.
    package let influencedBy: Recommendation?

    /// Who bought it.
    public var by: ReplicaID { id.replica }

    /// True if an agent recommended the item earlier in the session.
    package var influenced: Bool { influencedBy != nil }

    /// The time from the credited recommendation to the purchase.
    package var recommendationToPurchaseMillis: UInt64? { influencedBy.map { atMillis - $0.atMillis } }
}
