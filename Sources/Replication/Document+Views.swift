/// A visible item as the viewer shows it.
public struct ItemView: Hashable, Sendable {
    /// The item's id (the id of the operation that created it).
    public let id: OpID
    /// What it is.
    public let kind: ItemKind
    /// When it was created.
    public let created: HLC
    /// Its place in the panel.
    public let position: PanelPosition
    /// Its fields, only those its kind shows.
    public let fields: [ItemFieldKey: ItemField]
    /// Its shared playback, once someone played, paused or sought it; only on a video.
    public let playback: PlaybackView?

    /// Who shared it.
    public var author: ReplicaID { id.replica }
}

/// A visible mark.
public struct MarkView: Hashable, Sendable {
    /// The mark's id.
    public let id: OpID
    /// The item it is drawn on.
    public let item: OpID
    /// The mark itself.
    public let mark: Mark
    /// When it was drawn.
    public let created: HLC

    /// Who drew it.
    public var author: ReplicaID { id.replica }
}

/// A participant who has described itself.
public struct ParticipantView: Hashable, Sendable {
    /// The participant.
    public let id: ReplicaID
    /// Its current profile.
    public let profile: Profile
    /// Its role: the owner's grant (in an open room, the role its profile asks for).
    public let role: Role
    /// When it last changed it.
    public let updated: HLC
}

/// One participant's viewport on one visible item.
public struct ViewportView: Hashable, Sendable {
    /// Whose viewport.
    public let participant: ReplicaID
    /// On which item.
    public let item: OpID
    /// The zoom and centre.
    public let viewport: Viewport
    /// When it was last set.
    public let updated: HLC
}

/// Which item a participant has open.
public struct FocusView: Hashable, Sendable {
    /// The participant.
    public let participant: ReplicaID
    /// The item, or nil if none is open or the focused item was removed.
    public let item: OpID?
    /// Since when.
    public let since: HLC
}

extension Document {
    /// The visible items (created, not removed) in panel order: by position, ties by item id.
    public var panel: [ItemView] {
        items.compactMap { id, record in view(of: id, record) }
            .sorted { ($0.position, $0.id) < ($1.position, $1.id) }
    }

    /// The item with this id, if it is visible.
    public func item(_ id: OpID) -> ItemView? {
        items[id].flatMap { view(of: id, $0) }
    }

    /// True if the item exists and has not been removed.
    package func isVisible(item id: OpID) -> Bool {
        items[id]?.isVisible ?? false
    }

    /// True if the item has been removed (whether or not its creation has arrived).
    public func isRemoved(item id: OpID) -> Bool {
        items[id]?.removed ?? false
    }

    /// Every item id the document knows of, visible or not, ascending.
    package var knownItemIDs: [OpID] { items.keys.sorted() }

    /// The visible marks on an item, ascending by id; none if the item is not visible.
    public func marks(on item: OpID) -> [MarkView] {
        guard isVisible(item: item) else { return [] }
        return visibleMarks.filter { $0.item == item }
    }

    /// Every visible mark, ascending by id.
    public var visibleMarks: [MarkView] {
        var views: [MarkView] = []
        var visibility = ItemVisibilityCache()
        marks.forEachInIDOrder { column, position in
            let entry = marks.columns[column][position]
            guard !entry.removed else { return }
            let item = marks.item(of: entry)
            guard visibility.isVisible(item, in: self) else { return }
            let id = marks.id(column: column, position: position)
            views.append(MarkView(id: id, item: item, mark: entry.mark, created: entry.time))
        }
        return views
    }

    /// Every mark id the document knows of (added or only removed so far), ascending.
    package var knownMarkIDs: [OpID] { marks.knownIDs }

    /// Participants with a profile, by id.
    public var participants: [ParticipantView] {
        profiles.map {
            // An open room has no authority: there a role is what its participant said.
            let role = authority.owner == nil ? $0.value.value.requestedRole : role(of: $0.key) ?? .guest
            return ParticipantView(id: $0.key, profile: $0.value.value, role: role, updated: $0.value.time)
        }
        .sorted { $0.id < $1.id }
    }

    /// The profile of one participant.
    public func profile(of participant: ReplicaID) -> Profile? {
        profiles[participant]?.value
    }

    /// Viewports on visible items, by participant then item.
    package var viewports: [ViewportView] {
        viewportRegisters.filter { isVisible(item: $0.key.item) }
            .sorted { $0.key < $1.key }
            .map { ViewportView(participant: $0.key.participant, item: $0.key.item, viewport: $0.value.value, updated: $0.value.time) }
    }

    /// One participant's viewport on one item, if the item is visible.
    public func viewport(of participant: ReplicaID, on item: OpID) -> Viewport? {
        guard isVisible(item: item) else { return nil }
        return viewportRegisters[ViewportKey(participant: participant, item: item)]?.value
    }

    /// Each participant's focus, by participant.
    public var focus: [FocusView] {
        focusRegisters.map { participant, register in
            let item = register.value.flatMap { isVisible(item: $0) ? $0 : nil }
            return FocusView(participant: participant, item: item, since: register.time)
        }.sorted { $0.participant < $1.participant }
    }

    private func view(of id: OpID, _ record: ItemRecord) -> ItemView? {
        guard record.isVisible, let creation = record.creation, let position = record.position?.value else { return nil }
        let shown = creation.kind.fields
        var fields: [ItemFieldKey: ItemField] = [:]
        for (key, register) in record.fields where shown.contains(key) { fields[key] = register.value }
        let playback = creation.kind == .video ? record.playback.map { PlaybackView(playback: $0.value, id: $0.stamp, updated: $0.time) } : nil
        return ItemView(id: id, kind: creation.kind, created: creation.time, position: position, fields: fields, playback: playback)
    }
}

/// Remembers the last item asked about: consecutive marks are mostly on the same item.
struct ItemVisibilityCache {
    private var last: (item: OpID, visible: Bool)?

    mutating func isVisible(_ item: OpID, in document: Document) -> Bool {
        if let last, last.item == item { return last.visible }
        let visible = document.isVisible(item: item)
        last = (item, visible)
        return visible
    }
}
