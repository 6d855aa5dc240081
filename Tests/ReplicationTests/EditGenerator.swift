import CVPeerTestSupport
import Replication

/// Random but valid edits, biased towards conflicts: the same field, the same item, removals racing marks.
struct EditGenerator {
    /// How often each kind of edit is drawn.
    struct Mix {
        var weights: [(Kind, Int)]
        /// The chance that an item edit targets the oldest known item, so replicas collide on it.
        var hotItemBias: Double
        /// The chance that a viewport, focus or profile edit names another participant (to be rejected).
        var forgeryRate: Double

        static let balanced = Mix(
            weights: [
                (.profile, 6), (.create, 14), (.setField, 14), (.remove, 5), (.move, 8), (.mark, 14), (.removeMark, 5),
                (.viewport, 10), (.focus, 7), (.say, 9), (.commerce, 8),
            ], hotItemBias: 0.3, forgeryRate: 0.05)

        static let conflicts = Mix(
            weights: [
                (.profile, 4), (.create, 6), (.setField, 25), (.remove, 8), (.move, 10), (.mark, 20), (.removeMark, 6),
                (.viewport, 8), (.focus, 5), (.say, 4), (.commerce, 4),
            ], hotItemBias: 0.8, forgeryRate: 0.1)

        /// Watching together: videos, shared playback racing removals, marks with time ranges.
        /// (A mix of its own: adding weights to the others would change their pinned histories.)
        static let watching = Mix(
            weights: [
                (.profile, 3), (.create, 10), (.setField, 6), (.remove, 5), (.move, 4), (.mark, 6), (.timedMark, 12),
                (.removeMark, 4), (.playback, 30), (.viewport, 4), (.focus, 4), (.say, 6), (.commerce, 4),
            ], hotItemBias: 0.7, forgeryRate: 0.05)
    }

    enum Kind { case profile, create, setField, remove, move, mark, removeMark, viewport, focus, say, commerce, timedMark, playback }

    static func edits(
        count: Int, by author: ReplicaID, in document: Document, participants: [ReplicaID], mix: Mix,
        _ random: inout SeededRandom
    ) -> [Edit] {
        (0..<count).map { _ in edit(by: author, in: document, participants: participants, mix: mix, &random) }
    }

    private static func edit(
        by author: ReplicaID, in document: Document, participants: [ReplicaID], mix: Mix,
        _ random: inout SeededRandom
    ) -> Edit {
        let known = document.knownItemIDs
        let total = mix.weights.reduce(0) { $0 + $1.1 }
        var pick = Int.random(in: 0..<total, using: &random)
        var kind = Kind.create
        for (candidate, weight) in mix.weights {
            if pick < weight {
                kind = candidate
                break
            }
            pick -= weight
        }
        func item() -> OpID? {
            guard !known.isEmpty else { return nil }
            if Double.random(in: 0..<1, using: &random) < mix.hotItemBias { return known.min() }
            return known.randomElement(using: &random)
        }
        func participant() -> ReplicaID {
            Double.random(in: 0..<1, using: &random) < mix.forgeryRate
                ? participants.randomElement(using: &random)! : author
        }
        switch kind {
        case .profile:
            return .setProfile(
                participant: participant(),
                Profile(name: text(1...12, line: true, &random), requestedRole: [Role.agent, .customer, .guest].randomElement(using: &random)!))
        case .create:
            return create(in: document, &random)
        case .setField:
            guard let item = item() else { return create(in: document, &random) }
            return .setItemField(item: item, field(ItemFieldKey.allCases.randomElement(using: &random)!, &random))
        case .remove:
            guard let item = item() else { return create(in: document, &random) }
            return .removeItem(item)
        case .move:
            guard let item = item() else { return create(in: document, &random) }
            return .moveItem(item, to: position(in: document, &random))
        case .mark:
            guard let item = item() else { return create(in: document, &random) }
            return .addMark(item: item, Mark(shape: shape(&random), colour: Colour(rgba: UInt32.random(in: 0...UInt32.max, using: &random))))
        case .timedMark:
            guard let item = item() else { return create(in: document, &random) }
            let start = UInt64.random(in: 0...60_000, using: &random)
            let span = MarkSpan(startMillis: start, endMillis: start + UInt64.random(in: 0...5_000, using: &random))
            return .addMark(item: item, Mark(shape: shape(&random), colour: Colour(rgba: UInt32.random(in: 0...UInt32.max, using: &random)), span: span))
        case .playback:
            // Often an item that is not a video: kept, shown on none, the same on every replica.
            guard let item = item() else { return create(in: document, &random) }
            return .setPlayback(item: item, playback(&random))
        case .removeMark:
            guard let mark = document.knownMarkIDs.randomElement(using: &random) else { return .say("no marks yet") }
            return .removeMark(mark)
        case .viewport:
            guard let item = item() else { return create(in: document, &random) }
            return .setViewport(
                participant: participant(), item: item,
                Viewport(zoom: UInt32.random(in: Viewport.zoomRange, using: &random), centre: point(&random)))
        case .focus:
            return .setFocus(participant: participant(), item: Bool.random(using: &random) ? item() : nil)
        case .say:
            return .say(text(1...40, line: false, &random))
        case .commerce:
            guard let item = item() else { return create(in: document, &random) }
            switch Int.random(in: 0..<3, using: &random) {
            case 0: return .commerce(.recommend(item: item, note: text(0...20, line: false, &random)))
            case 1: return .commerce(.addToCart(item: item, quantity: UInt32.random(in: 1...3, using: &random)))
            default: return .commerce(.purchase(item: item, quantity: 1))
            }
        }
    }

    static func playback(_ random: inout SeededRandom) -> Playback {
        Playback(
            playing: Bool.random(using: &random), positionMillis: UInt64.random(in: 0...Limits.maxMediaMillis, using: &random),
            rate: UInt32.random(in: Playback.rateRange, using: &random))
    }

    static func create(in document: Document, _ random: inout SeededRandom) -> Edit {
        let kind = ItemKind.allCases.randomElement(using: &random)!
        let fields = kind.fields.sorted().filter { _ in Bool.random(using: &random) }.map { field($0, &random) }
        return .createItem(kind: kind, position: position(in: document, &random), fields: fields)
    }

    static func position(in document: Document, _ random: inout SeededRandom) -> PanelPosition {
        let panel = document.panel
        guard !panel.isEmpty else { return .middle }
        // Between two neighbours (or an end), often the same gap on several replicas at once.
        let gap = Int.random(in: 0...panel.count, using: &random)
        let lower = gap > 0 ? panel[gap - 1].position : nil
        let upper = gap < panel.count ? panel[gap].position : nil
        return PanelPosition.between(lower, upper) ?? .middle
    }

    static func field(_ key: ItemFieldKey, _ random: inout SeededRandom) -> ItemField {
        switch key {
        case .title: .title(text(0...16, line: true, &random))
        case .text: .text(text(0...60, line: false, &random))
        case .price: .price(Price(currency: ["EUR", "USD", "CHF"].randomElement(using: &random)!, minorUnits: UInt64.random(in: 0...99_999, using: &random)))
        case .url: .url("https://shop.example/p/" + String(UInt32.random(in: 0...9999, using: &random)))
        case .media:
            {
                let id = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
                // The commitment comes from the id, not the random stream, so the histories stay the same.
                return .media(
                    BlobRef(
                        id: id, size: UInt64.random(in: 1...50_000_000, using: &random),
                        mime: ["image/jpeg", "image/png", "video/mp4"].randomElement(using: &random)!, commitment: id.reversed()))
            }()
        }
    }

    static func shape(_ random: inout SeededRandom) -> MarkShape {
        switch Int.random(in: 0..<5, using: &random) {
        case 0: .pin(point(&random))
        case 1: .arrow(from: point(&random), to: point(&random))
        case 2: .rectangle(point(&random), point(&random))
        case 3: .stroke((0..<Int.random(in: 2...24, using: &random)).map { _ in point(&random) })
        default: .text(point(&random), text(1...20, line: false, &random))
        }
    }

    static func point(_ random: inout SeededRandom) -> UnitPoint {
        UnitPoint(x: UInt32.random(in: 0...UnitPoint.scale, using: &random), y: UInt32.random(in: 0...UnitPoint.scale, using: &random))!
    }

    /// Text with multi-byte characters and, for multi-line text, newlines and JSON-special characters.
    static func text(_ length: ClosedRange<Int>, line: Bool, _ random: inout SeededRandom) -> String {
        let alphabet: [String] =
            ["a", "b", "z", "Z", "0", " ", "é", "日", "🙂", "e\u{301}", "\"", "\\", "/"] + (line ? [] : ["\n", "\t"])
        var result = ""
        let count = Int.random(in: length, using: &random)
        while result.utf8.count < count { result += alphabet.randomElement(using: &random)! }
        return result
    }
}
