import LocalAPI
import PeerCrypto
import Primitives
import Replication

extension RoomEngine {
    /// The visible item a person means: an exact id, a unique id prefix (4 characters or more) or an exact title.
    ///
    /// - Throws: `NodeError.notFound` or `.ambiguous`.
    package func resolveItem(_ reference: String) throws -> OpID {
        switch matchItem(reference) {
        case .one(let item): return item.id
        case .none: throw NodeError.notFound("item \(reference.prefix(80))")
        case .several(let ids): throw NodeError.ambiguous(String(reference.prefix(80)), count: ids.count)
        }
    }

    /// What `POST /api/lookup` answers: the panel items `reference` matches (as `resolveItem` matches
    /// them) and, when it names one, its kind and media, for `cvpeer save`.
    package func lookupItem(_ reference: String) -> ItemLookupAnswer {
        switch matchItem(reference) {
        case .none: return ItemLookupAnswer(matches: [])
        case .several(let ids): return ItemLookupAnswer(matches: ids)
        case .one(let item):
            var media: ItemLookupAnswer.Media?
            if case .media(let blob)? = item.fields[.media] {
                media = ItemLookupAnswer.Media(id: Hex.string(blob.id), size: blob.size, mime: blob.mime)
            }
            return ItemLookupAnswer(matches: [item.id.canonicalString], kind: item.kind.name, media: media)
        }
    }

    /// The panel items `reference` names, by `CommandInput.matchItem`'s rules.
    private enum PanelMatch {
        case none
        case one(ItemView)
        case several([String])
    }

    private func matchItem(_ reference: String) -> PanelMatch {
        let panel = replica.document.panel
        let candidates = panel.map { item in
            if case .title(let title)? = item.fields[.title] { return (id: item.id.canonicalString, title: Optional(title)) }
            return (id: item.id.canonicalString, title: nil)
        }
        switch CommandInput.matchItem(reference, in: candidates) {
        case .none: return .none
        case .ambiguous(let ids): return .several(ids)
        case .found(let id): return panel.first(where: { $0.id.canonicalString == id }).map(PanelMatch.one) ?? .none
        }
    }

    /// Removes a mark this node drew; others' marks are theirs to remove.
    package func removeOwnMark(_ reference: String) throws {
        guard let id = try? OpID(canonical: reference), let mark = replica.document.visibleMarks.first(where: { $0.id == id }) else {
            throw NodeError.notFound("mark \(reference.prefix(80))")
        }
        guard mark.author == me else { throw NodeError.badRequest("that mark is someone else's; only its author removes it") }
        try commit([.removeMark(id)])
    }

    /// Sets the shared playback of a visible video; every replica shows it on videos only, so
    /// anything else is refused here before it is sealed.
    ///
    /// - Returns: the operation's id.
    package func setPlayback(item: OpID, _ playback: Playback) throws -> OpID {
        guard replica.document.item(item)?.kind == .video else { throw NodeError.badRequest("only a video plays; that item is not one") }
        var playback = playback
        // The operation's timestamp is the reference time; once this clock has observed a fast
        // peer it stamps ahead of the wall clock, so the position is moved on by as much, and
        // viewers (who extrapolate from the stamp with their wall clocks) see the true position.
        let wall = Self.wallMillis()
        if playback.playing, clock.latest.millis > wall {
            let ahead = (clock.latest.millis - wall) * UInt64(playback.rate) / 1000
            playback.positionMillis = min(playback.positionMillis + ahead, Limits.maxMediaMillis)
        }
        return try commit([.setPlayback(item: item, playback)])[0]
    }

    /// Sets this node's viewport on an item and opens it, in one batch.
    public func view(item: OpID, viewport: Viewport) throws {
        var edits: [Edit] = [.setViewport(participant: me, item: item, viewport)]
        let focused = replica.document.focus.first { $0.participant == me }?.item
        if focused != item { edits.append(.setFocus(participant: me, item: item)) }
        try commit(edits)
    }
}

extension RoomEngine {
    /// Spends this node's own edit quota for a sealed batch about to be stored.
    ///
    /// - Throws: `NodeError.quotaExceeded` (the API's 429) when it does not fit; nothing is spent then.
    func spendLocalQuota(operations: Int, bytes: Int) throws {
        guard let refusal = localQuota.spend(me, operations: operations, bytes: bytes, now: quotaClock()) else { return }
        throw NodeError.quotaExceeded(QuotaExceeded(refusal, limits: localQuota.limits))
    }
}

extension OpID {
    /// Parses `COUNTER-AUTHORHEX`, the form the canonical document and the API use.
    ///
    /// - Throws: `NodeError.badRequest` for anything else.
    public init(canonical text: String) throws {
        let parts = text.split(separator: "-", maxSplits: 1)
        guard parts.count == 2, parts[0].count <= 20, let counter = UInt64(parts[0]), parts[1].count == 64,
            let bytes = Hex.bytes(parts[1]), let key = try? PublicKey(bytes: bytes)
        else { throw NodeError.badRequest("not an id: \(text.prefix(80))") }
        self.init(counter: counter, replica: ReplicaID(key))
    }
}
