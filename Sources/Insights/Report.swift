import Replication

/// A whole report: every session on this node and the figures across them.
public struct Report: Hashable, Sendable {
    /// The sessions, by start time (ties by room tag).
    public let sessions: [SessionReport]
    /// Rooms the store holds that have no operation yet: listed, not counted.
    package let idleRooms: [RoomName]
    /// One summary per participant who was an agent in at least one session, by name then id.
    package let agents: [AgentSummary]
    /// One summary per product, by key.
    package let products: [ProductSummary]

    /// Computes the report of `rooms`.
    public init(rooms: [RoomHistory]) {
        var sessions: [SessionReport] = []
        var idle: [RoomName] = []
        for room in rooms {
            if let session = SessionReport(history: room) { sessions.append(session) } else { idle.append(room.room) }
        }
        self.sessions = sessions.sorted { ($0.startMillis, $0.room) < ($1.startMillis, $1.room) }
        idleRooms = idle.sorted()
        agents = AgentSummary.summaries(of: self.sessions)
        products = ProductSummary.summaries(of: self.sessions)
    }
}

/// A share, kept as its two counts so no format has to trust a rounded float.
public struct Rate: Hashable, Sendable, CustomStringConvertible {
    /// How many of `total` succeeded.
    public let count: Int
    /// Out of how many.
    public let total: Int

    /// `count` out of `total`.
    public init(count: Int, total: Int) {
        self.count = count
        self.total = total
    }

    /// The share in 0…1; nil when there is nothing to divide by.
    public var value: Double? { total == 0 ? nil : Double(count) / Double(total) }

    /// The share in ten-thousandths, rounded half up (exact integer arithmetic, so every format agrees).
    package var basisPoints: Int? { total == 0 ? nil : (count * 20_000 + total) / (2 * total) }

    /// "50%", "33.3%", or "–" when there is nothing to divide by.
    public var description: String {
        guard total > 0 else { return "–" }
        // Rounded once, from the counts: rounding the basis points again could round twice.
        let tenths = (count * 2_000 + total) / (2 * total)
        return tenths % 10 == 0 ? "\(tenths / 10)%" : "\(tenths / 10).\(tenths % 10)%"
    }
}

/// One agent's figures across the sessions on this node.
public struct AgentSummary: Hashable, Sendable {
    /// The agent.
    public let id: ReplicaID
    /// Its name in its latest session.
    public let name: String
    /// Sessions in which it was an agent.
    public let sessions: Int
    /// Of those, sessions in which anyone bought anything.
    package let sessionsWithPurchase: Int
    /// The median length of its sessions (the mean of the middle two, rounded down, for an even count).
    package let medianDurationMillis: UInt64
    /// Items it shared into the panel in its sessions.
    package let itemsShown: Int
    /// Recommendations it made.
    package let recommendations: Int
    /// Purchases credited to its recommendations.
    package let purchasesInfluenced: Int

    /// Sessions with a purchase out of its sessions.
    package var conversion: Rate { Rate(count: sessionsWithPurchase, total: sessions) }

    static func summaries(of sessions: [SessionReport]) -> [AgentSummary] {
        var byAgent: [ReplicaID: [SessionReport]] = [:]
        for session in sessions {
            for agent in session.agents { byAgent[agent.id, default: []].append(session) }
        }
        return byAgent.map { id, sessions in
            let durations = sessions.map(\.durationMillis).sorted()
            let middle = durations.count / 2
            // Timestamps stay below 2^48 ms, so the sum of two durations cannot overflow.
            let median = durations.count % 2 == 1 ? durations[middle] : (durations[middle - 1] + durations[middle]) / 2
            var shown = 0
            var recommendations = 0
            var influenced = 0
            for session in sessions {
                shown += session.items.filter { $0.sharedBy == id && $0.sharedMillis != nil }.count
                recommendations += session.recommendations.filter { $0.by == id }.count
                influenced += session.purchases.filter { $0.influencedBy?.by == id }.count
            }
            return AgentSummary(
                id: id, name: sessions.last?.participant(id)?.displayName ?? id.short, sessions: sessions.count,
                sessionsWithPurchase: sessions.filter(\.hasPurchase).count, medianDurationMillis: median,
                itemsShown: shown,
                recommendations: recommendations, purchasesInfluenced: influenced)
        }.sorted { ($0.name, $0.id) < ($1.name, $1.id) }
    }
}

/// One product's figures across the sessions on this node.
///
/// A product is an item of kind product card. The same product shared in several rooms is one
/// product: they are matched by link, or by title when there is no link.
public struct ProductSummary: Hashable, Sendable {
    /// What matches the product across sessions: "url:" and the link, or "title:" and the title.
    public let key: String
    /// Its title, as last shared.
    public let title: String
    /// Its link, if it has one.
    public let url: String?
    /// Its price, as last shared.
    public let price: Price?
    /// How many times it was shared into a panel.
    public let shown: Int
    /// How many views it got, from anyone.
    public let views: Int
    /// How many times an agent recommended it.
    package let recommended: Int
    /// How many times it was added to a cart.
    package let addedToCart: Int
    /// How many purchases of it were made.
    package let purchases: Int
    /// How many units those purchases bought.
    package let unitsBought: Int
    /// Sessions in which an agent recommended it.
    package let sessionsRecommended: Int
    /// Of those, sessions in which it was then bought (an influenced purchase).
    package let sessionsBoughtAfterRecommendation: Int

    /// Its conversion after recommendation: sessions bought after an agent recommended it, out of sessions it was recommended in.
    package var conversionAfterRecommendation: Rate {
        Rate(count: sessionsBoughtAfterRecommendation, total: sessionsRecommended)
    }

    /// The key that matches `item` across sessions; nil if it is not a product.
    static func key(of item: SessionItem) -> String? {
        guard item.kind == .productCard else { return nil }
        if let url = item.url { return "url:" + url }
        return "title:" + (item.title ?? "")
    }

    static func summaries(of sessions: [SessionReport]) -> [ProductSummary] {
        struct Tally {
            var title = ""
            var url: String?
            var price: Price?
            var shown = 0, views = 0, recommended = 0, addedToCart = 0, purchases = 0, units = 0
            var sessionsRecommended = 0, sessionsBought = 0
        }
        var tallies: [String: Tally] = [:]
        for session in sessions {
            var keys: [OpID: String] = [:]
            for item in session.items {
                guard let key = key(of: item) else { continue }
                keys[item.id] = key
                var tally = tallies[key, default: Tally()]
                tally.title = item.title ?? ""
                tally.url = item.url
                tally.price = item.price
                if item.sharedMillis != nil { tally.shown += 1 }
                tallies[key] = tally
            }
            for viewing in session.views { if let key = keys[viewing.item] { tallies[key]?.views += 1 } }
            for cart in session.cartAdds { if let key = keys[cart.item] { tallies[key]?.addedToCart += 1 } }
            var recommendedHere = Set<String>()
            for recommendation in session.recommendations where session.participant(recommendation.by)?.role == .agent {
                guard let key = keys[recommendation.item] else { continue }
                tallies[key]?.recommended += 1
                recommendedHere.insert(key)
            }
            var boughtHere = Set<String>()
            for purchase in session.purchases {
                guard let key = keys[purchase.item] else { continue }
                tallies[key]?.purchases += 1
                tallies[key]?.units += Int(purchase.quantity)
                if purchase.influenced { boughtHere.insert(key) }
            }
            for key in recommendedHere { tallies[key]?.sessionsRecommended += 1 }
            for key in boughtHere { tallies[key]?.sessionsBought += 1 }
        }
        return tallies.sorted { $0.key < $1.key }.map { key, tally in
            ProductSummary(
                key: key, title: tally.title, url: tally.url, price: tally.price, shown: tally.shown,
                views: tally.views,
                recommended: tally.recommended, addedToCart: tally.addedToCart, purchases: tally.purchases,
                unitsBought: tally.units, sessionsRecommended: tally.sessionsRecommended,
                sessionsBoughtAfterRecommendation: tally.sessionsBought)
        }
    }
}
