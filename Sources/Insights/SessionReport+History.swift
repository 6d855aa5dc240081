import Replication

/// A point in a session's order: hybrid-clock time, ties broken by operation id.
struct Moment: Hashable, Comparable {
    var time: HLC
    var id: OpID

    init(_ operation: Operation) {
        time = operation.timestamp
        id = operation.id
    }

    static func < (lhs: Moment, rhs: Moment) -> Bool { (lhs.time, lhs.id) < (rhs.time, rhs.id) }
}

extension SessionReport {
    /// Computes a session from a room's history; nil if the room holds no operation.
    ///
    /// Pure and deterministic: the batches may come in any order.
    public init?(history: RoomHistory) {
        let (document, operations) = Self.mergedOperations(history.batches, authority: history.authority)
        guard let first = operations.first, let last = operations.last else { return nil }
        let end = Moment(last)
        let profiles = Dictionary(uniqueKeysWithValues: document.participants.map { ($0.id, $0.profile) })
        // Roles are the owner's grants, never what a profile claims.
        let roles = Dictionary(uniqueKeysWithValues: document.participants.map { ($0.id, $0.role) })

        var authors = Set(profiles.keys)
        for operation in operations { authors.insert(operation.author) }
        let participants = authors.sorted().map {
            SessionParticipant(id: $0, name: profiles[$0]?.name, role: roles[$0] ?? document.role(of: $0))
        }
        let items = ItemHistory(operations)
        let views = Self.views(operations, items: items, end: end)
        let customers = Set(participants.filter { $0.role == .customer }.map(\.id))

        var recommendations: [(moment: Moment, recommendation: Recommendation)] = []
        var cartAdds: [CartAdd] = []
        var purchases: [Purchase] = []
        for operation in operations {
            guard case .commerce(let action) = operation.edit else { continue }
            let moment = Moment(operation)
            switch action {
            case .recommend(let item, let note):
                // "Opened afterwards": a customer's view that began after the recommendation; one
                // already open when it was made does not count.
                let opened = views.first {
                    $0.moment > moment && $0.viewing.item == item && customers.contains($0.viewing.participant)
                }
                let recommendation = Recommendation(
                    id: operation.id, item: item, atMillis: operation.timestamp.millis, note: note,
                    customerOpenedMillis: opened?.viewing.startMillis)
                recommendations.append((moment, recommendation))
            case .addToCart(let item, let quantity):
                cartAdds.append(
                    CartAdd(id: operation.id, item: item, atMillis: operation.timestamp.millis, quantity: quantity))
            case .purchase(let item, let quantity):
                // Last touch: the most recent agent recommendation of this item before the purchase.
                let credited = recommendations.last {
                    $0.moment < moment && $0.recommendation.item == item
                        && roles[$0.recommendation.by] == .agent
                }
                purchases.append(
                    Purchase(
                        id: operation.id, item: item, atMillis: operation.timestamp.millis, quantity: quantity,
                        influencedBy: credited?.recommendation))
            }
        }

        var referenced = Set(items.records.keys)
        for viewing in views { referenced.insert(viewing.viewing.item) }
        for event in document.commerce { referenced.insert(event.action.item) }
        self.init(
            room: history.room, startMillis: first.timestamp.millis, endMillis: last.timestamp.millis,
            participants: participants, items: referenced.sorted().map { items.item($0) },
            views: views.map(\.viewing), recommendations: recommendations.map(\.recommendation),
            cartAdds: cartAdds, purchases: purchases)
    }

    /// The operations the document merged, in session order, and the merged document.
    ///
    /// Batches go through `Document.apply` one by one, so exactly the batches it merges count;
    /// within them, the writes the room's rules reject are dropped. The batches the final
    /// document holds are replayed, so a grant or a proof that arrived late counts as everywhere.
    static func mergedOperations(_ batches: [VerifiedBatch], authority: RoomAuthority) -> (Document, [Operation]) {
        let document = Document(authority: authority, batches: batches)
        var operations: [Operation] = []
        for batch in document.mergedBatches {
            guard case .success(let ops) = batch.content, let role = document.role(of: batch.author, at: batch.sequence) else {
                continue
            }
            operations.append(contentsOf: ops.filter { authority.permits($0, role: role) && !$0.isGrant })
        }
        operations.sort { Moment($0) < Moment($1) }
        return (document, operations)
    }

    /// Every view with the moment it began, in that order.
    private static func views(
        _ operations: [Operation], items: ItemHistory, end: Moment
    ) -> [(moment: Moment, viewing: ItemViewing)] {
        var open: [ReplicaID: (moment: Moment, item: OpID)] = [:]
        var result: [(moment: Moment, viewing: ItemViewing)] = []
        func close(_ participant: ReplicaID, at closing: Moment) {
            guard let view = open.removeValue(forKey: participant) else { return }
            var until = closing.time
            if let removed = items.records[view.item]?.removed, removed < closing {
                until = max(view.moment.time, removed.time)
            }
            let viewing = ItemViewing(
                participant: participant, item: view.item, focus: view.moment.id, startMillis: view.moment.time.millis,
                endMillis: until.millis)
            result.append((view.moment, viewing))
        }
        for operation in operations {
            guard case .setFocus(let participant, let item) = operation.edit else { continue }
            if let current = open[participant], current.item == item { continue }
            close(participant, at: Moment(operation))
            if let item { open[participant] = (Moment(operation), item) }
        }
        for participant in open.keys.sorted() { close(participant, at: end) }
        return result.sorted { $0.moment < $1.moment }
    }
}

extension Operation {
    /// Grants and epoch changes change authority, not what happened in the session.
    var isGrant: Bool {
        switch edit {
        case .grantRole, .startEpoch: true
        default: false
        }
    }
}

/// What the operations say about each item, kept even after its removal (the document hides a
/// removed item's fields, but a report still names what was recommended or viewed).
struct ItemHistory {
    struct Record {
        var kind: ItemKind?
        var created: HLC?
        /// The first removal.
        var removed: Moment?
        /// Each field's latest write: the greatest operation id wins, as in the document.
        var fields: [ItemFieldKey: (id: OpID, value: ItemField)] = [:]
    }

    private(set) var records: [OpID: Record] = [:]

    init(_ operations: [Operation]) {
        for operation in operations {
            switch operation.edit {
            case .createItem(let kind, _, let fields):
                records[operation.id, default: Record()].kind = kind
                records[operation.id, default: Record()].created = operation.timestamp
                for field in fields { write(field, item: operation.id, by: operation.id) }
            case .setItemField(let item, let field):
                write(field, item: item, by: operation.id)
            case .removeItem(let item):
                let moment = Moment(operation)
                if let earlier = records[item]?.removed, earlier < moment { continue }
                records[item, default: Record()].removed = moment
            case .setProfile, .moveItem, .addMark, .removeMark, .setViewport, .setFocus, .setPlayback, .say, .commerce, .grantRole,
                .startEpoch:
                continue
            }
        }
    }

    private mutating func write(_ field: ItemField, item: OpID, by id: OpID) {
        if let current = records[item, default: Record()].fields[field.key], current.id > id { return }
        records[item, default: Record()].fields[field.key] = (id, field)
    }

    /// The item as the session knew it; fields its kind does not show are left out, as the viewer does.
    func item(_ id: OpID) -> SessionItem {
        let record = records[id] ?? Record()
        let shown = record.kind?.fields ?? []
        func field(_ key: ItemFieldKey) -> ItemField? { shown.contains(key) ? record.fields[key]?.value : nil }
        var title: String?
        if case .title(let value) = field(.title) { title = value }
        var price: Price?
        if case .price(let value) = field(.price) { price = value }
        var url: String?
        if case .url(let value) = field(.url) { url = value }
        return SessionItem(
            id: id, kind: record.kind, title: title, price: price, url: url, sharedMillis: record.created?.millis,
            removedMillis: record.removed?.time.millis)
    }
}
