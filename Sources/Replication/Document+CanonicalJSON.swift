import PeerCrypto
import Primitives

/// The document's canonical form and state hash.
///
/// The canonical form describes what every participant sees: participants, the visible items in
/// panel order with their visible marks, viewports on visible items, focus, chat and commerce.
/// Ids are `counter-authorhex` strings, participants their key in hex, times
/// `{"logical":…,"millis":…}`, coordinates millionths of the item's size, zoom thousandths,
/// prices minor units, a video's playback and marks' time ranges milliseconds: integers throughout. Tombstones and writes to items not (yet) created do not appear,
/// and neither does the version vector: two nodes that show the same thing hash the same.
extension Document {
    /// The canonical JSON of the merged document.
    package var canonicalJSON: CanonicalJSON {
        let panel = self.panel
        let marksByItem = Dictionary(grouping: visibleMarks, by: \.item)
        return .object([
            "participants": .object(
                Dictionary(
                    uniqueKeysWithValues: participants.map {
                        (
                            $0.id.hex,
                            .object(["name": .string($0.profile.name), "role": .string($0.role.name), "updated": json($0.updated)])
                        )
                    })),
            "items": .object(
                Dictionary(uniqueKeysWithValues: panel.map { ($0.id.canonicalString, json($0, marks: marksByItem[$0.id] ?? [])) })),
            "panel": .array(panel.map { .string($0.id.canonicalString) }),
            "viewports": .array(viewports.map(json)),
            "focus": .object(
                Dictionary(
                    uniqueKeysWithValues: focus.map {
                        (
                            $0.participant.hex,
                            .object(["item": $0.item.map { .string($0.canonicalString) } ?? .null, "since": json($0.since)])
                        )
                    })),
            "chat": .array(
                chat.map {
                    .object([
                        "id": .string($0.id.canonicalString), "author": .string($0.author.hex), "time": json($0.time),
                        "text": .string($0.text),
                    ])
                }),
            "commerce": .array(commerce.map(json)),
        ])
    }

    /// The canonical JSON serialised: UTF-8 bytes, `canonicalJSON.bytes` exactly.
    ///
    /// Written directly rather than through the `canonicalJSON` tree, which is the reference
    /// the tests hold this writer to.
    public var canonicalBytes: [UInt8] {
        var writer = CanonicalWriter()
        writeCanonical(into: &writer)
        return writer.bytes
    }

    /// BLAKE2b-256 of the canonical bytes, in lower-case hex: equal on converged nodes.
    ///
    /// The bytes are hashed in chunks as they are written, never held whole.
    public var stateHash: String {
        let hasher = Blake2b.Hasher(outputLength: 32)
        var writer = CanonicalWriter(hasher: hasher)
        writeCanonical(into: &writer)
        writer.finish()
        return Hex.string(hasher.finalize())
    }

    /// Item fields in canonical JSON's key order (their names' byte order).
    private static let fieldKeysByName = ItemFieldKey.allCases.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }

    /// Writes what `canonicalJSON` describes, members in canonical key order, straight into `w`.
    func writeCanonical(into w: inout CanonicalWriter) {
        w.raw(#"{"chat":["#)
        for (index, message) in chat.enumerated() {
            w.separator(index)
            w.raw(#"{"author":"#)
            w.replica(message.author)
            w.raw(#","id":"#)
            w.id(message.id)
            w.raw(#","text":"#)
            w.string(message.text)
            w.raw(#","time":"#)
            w.time(message.time)
            w.byte(UInt8(ascii: "}"))
            w.flushIfLarge()
        }
        w.raw(#"],"commerce":["#)
        for (index, event) in commerce.enumerated() {
            w.separator(index)
            w.raw(#"{"by":"#)
            w.replica(event.by)
            w.raw(#","id":"#)
            w.id(event.id)
            w.raw(#","item":"#)
            w.id(event.action.item)
            w.raw(#","kind":""#)
            w.raw(event.action.staticName)
            w.byte(UInt8(ascii: "\""))
            switch event.action {
            case let .recommend(_, note):
                w.raw(#","note":"#)
                w.string(note)
            case let .addToCart(_, quantity), let .purchase(_, quantity):
                w.raw(#","quantity":"#)
                w.integer(UInt64(quantity))
            }
            w.raw(#","time":"#)
            w.time(event.time)
            w.byte(UInt8(ascii: "}"))
            w.flushIfLarge()
        }
        w.raw(#"],"focus":{"#)
        for (index, focus) in focus.enumerated() {
            w.separator(index)
            w.replica(focus.participant)
            w.raw(#":{"item":"#)
            if let item = focus.item { w.id(item) } else { w.raw("null") }
            w.raw(#","since":"#)
            w.time(focus.since)
            w.byte(UInt8(ascii: "}"))
        }
        w.raw(#"},"items":{"#)
        let panel = self.panel
        writeItems(panel, into: &w)
        w.raw(#"},"panel":["#)
        for (index, item) in panel.enumerated() {
            w.separator(index)
            w.id(item.id)
        }
        w.raw(#"],"participants":{"#)
        for (index, participant) in participants.enumerated() {
            w.separator(index)
            w.replica(participant.id)
            w.raw(#":{"name":"#)
            w.string(participant.profile.name)
            w.raw(#","role":""#)
            w.raw(participant.role.staticName)
            w.raw(#"","updated":"#)
            w.time(participant.updated)
            w.byte(UInt8(ascii: "}"))
        }
        w.raw(#"},"viewports":["#)
        for (index, viewport) in viewports.enumerated() {
            w.separator(index)
            w.raw(#"{"centre":"#)
            w.point(viewport.viewport.centre)
            w.raw(#","item":"#)
            w.id(viewport.item)
            w.raw(#","participant":"#)
            w.replica(viewport.participant)
            w.raw(#","updated":"#)
            w.time(viewport.updated)
            w.raw(#","zoomThousandths":"#)
            w.integer(UInt64(viewport.viewport.zoom))
            w.byte(UInt8(ascii: "}"))
            w.flushIfLarge()
        }
        w.raw("]}")
    }

    /// The `items` object's members: the panel's items keyed by id string, in the strings' byte
    /// order, each with its visible marks ascending by id.
    private func writeItems(_ panel: [ItemView], into w: inout CanonicalWriter) {
        // Visible marks, bucketed by panel item in one pass over the marks in id order.
        var panelIndex: [OpID: Int] = [:]
        for (index, item) in panel.enumerated() { panelIndex[item.id] = index }
        var buckets = [[(column: Int32, position: Int32)]](repeating: [], count: panel.count)
        var last: (counter: UInt64, replica: UInt32, index: Int?)?
        marks.forEachInIDOrder { column, position in
            let entry = marks.columns[column][position]
            guard !entry.removed else { return }
            let index: Int?
            if let last, last.counter == entry.itemCounter, last.replica == entry.itemReplica {
                index = last.index
            } else {
                index = panelIndex[marks.item(of: entry)]
                last = (entry.itemCounter, entry.itemReplica, index)
            }
            if let index { buckets[index].append((Int32(column), Int32(position))) }
        }
        var markAuthorHex = [[UInt8]?](repeating: nil, count: marks.replicas.count)

        let names = panel.map { Array($0.id.canonicalString.utf8) }
        let order = panel.indices.sorted { names[$0].lexicographicallyPrecedes(names[$1]) }
        for (rank, index) in order.enumerated() {
            let item = panel[index]
            w.separator(rank)
            w.id(item.id)
            w.raw(#":{"author":"#)
            w.replica(item.author)
            w.raw(#","created":"#)
            w.time(item.created)
            w.raw(#","fields":{"#)
            var written = 0
            for key in Self.fieldKeysByName {
                guard let field = item.fields[key] else { continue }
                w.separator(written)
                written += 1
                w.byte(UInt8(ascii: "\""))
                w.raw(key.staticName)
                w.raw(#"":"#)
                switch field {
                case let .title(text), let .text(text), let .url(text): w.string(text)
                case let .price(price):
                    w.raw(#"{"currency":"#)
                    w.string(price.currency)
                    w.raw(#","minorUnits":"#)
                    w.integer(price.minorUnits)
                    w.byte(UInt8(ascii: "}"))
                case let .media(blob):
                    w.raw(#"{"commitment":""#)
                    w.hex(blob.commitment)
                    w.raw(#"","id":""#)
                    w.hex(blob.id)
                    w.raw(#"","mime":"#)
                    w.string(blob.mime)
                    w.raw(#","size":"#)
                    w.integer(blob.size)
                    w.byte(UInt8(ascii: "}"))
                }
            }
            w.raw(#"},"kind":""#)
            w.raw(item.kind.staticName)
            w.raw(#"","marks":["#)
            for (markIndex, stored) in buckets[index].enumerated() {
                let column = Int(stored.column)
                let entry = marks.columns[column][Int(stored.position)]
                let hex: [UInt8]
                if let known = markAuthorHex[column] {
                    hex = known
                } else {
                    hex = w.hexBytes(of: marks.replicas[column])
                    markAuthorHex[column] = hex
                }
                w.separator(markIndex)
                w.raw(#"{"author":""#)
                w.append(hex)
                w.raw(#"","colour":"#)
                w.byte(UInt8(ascii: "\""))
                w.byte(UInt8(ascii: "#"))
                w.hex32(entry.mark.colour.rgba)
                w.raw(#"","created":"#)
                w.time(entry.time)
                if let span = entry.mark.span {
                    w.raw(#","during":{"endMillis":"#)
                    w.integer(span.endMillis)
                    w.raw(#","startMillis":"#)
                    w.integer(span.startMillis)
                    w.byte(UInt8(ascii: "}"))
                }
                w.raw(#","id":"#)
                w.id(counter: entry.counter, hex: hex)
                w.raw(#","shape":{"#)
                switch entry.mark.shape {
                case let .pin(point):
                    w.raw(#""at":"#)
                    w.point(point)
                    w.raw(#","type":"pin"}"#)
                case let .arrow(from, to):
                    w.raw(#""from":"#)
                    w.point(from)
                    w.raw(#","to":"#)
                    w.point(to)
                    w.raw(#","type":"arrow"}"#)
                case let .rectangle(a, b):
                    w.raw(#""corner1":"#)
                    w.point(a)
                    w.raw(#","corner2":"#)
                    w.point(b)
                    w.raw(#","type":"rectangle"}"#)
                case let .stroke(points):
                    w.raw(#""points":["#)
                    for (pointIndex, point) in points.enumerated() {
                        w.separator(pointIndex)
                        w.point(point)
                    }
                    w.raw(#"],"type":"stroke"}"#)
                case let .text(point, text):
                    w.raw(#""at":"#)
                    w.point(point)
                    w.raw(#","text":"#)
                    w.string(text)
                    w.raw(#","type":"text"}"#)
                case let .labelledPin(point, label):
                    w.raw(#""at":"#)
                    w.point(point)
                    w.raw(#","label":"#)
                    w.string(label)
                    w.raw(#","type":"pin"}"#)
                }
                w.byte(UInt8(ascii: "}"))
                w.flushIfLarge()
            }
            w.raw(#"],"#)
            if let playback = item.playback {
                w.raw(#""playback":{"id":"#)
                w.id(playback.id)
                w.raw(playback.playback.playing ? #","playing":true,"positionMillis":"# : #","playing":false,"positionMillis":"#)
                w.integer(playback.playback.positionMillis)
                w.raw(#","rateThousandths":"#)
                w.integer(UInt64(playback.playback.rate))
                w.raw(#","updated":"#)
                w.time(playback.updated)
                w.raw("},")
            }
            w.raw(#""position":""#)
            w.hex(item.position.bytes)
            w.raw(#""}"#)
            w.flushIfLarge()
        }
    }

    private func json(_ time: HLC) -> CanonicalJSON {
        .object(["millis": .integer(time.millis), "logical": .integer(UInt64(time.logical))])
    }

    private func json(_ point: UnitPoint) -> CanonicalJSON {
        .object(["x": .integer(UInt64(point.x)), "y": .integer(UInt64(point.y))])
    }

    /// `marks` are the item's visible marks, ascending by id.
    private func json(_ item: ItemView, marks: [MarkView]) -> CanonicalJSON {
        var fields: [String: CanonicalJSON] = [:]
        for (key, value) in item.fields {
            switch value {
            case let .title(text), let .text(text), let .url(text): fields[key.name] = .string(text)
            case let .price(price):
                fields[key.name] = .object(["currency": .string(price.currency), "minorUnits": .integer(price.minorUnits)])
            case let .media(blob):
                fields[key.name] = .object([
                    "id": .string(Hex.string(blob.id)), "size": .integer(blob.size), "mime": .string(blob.mime),
                    "commitment": .string(Hex.string(blob.commitment)),
                ])
            }
        }
        var object: [String: CanonicalJSON] = [
            "kind": .string(item.kind.name),
            "author": .string(item.author.hex),
            "created": json(item.created),
            "position": .string(item.position.description),
            "fields": .object(fields),
            "marks": .array(marks.map(json)),
        ]
        if let playback = item.playback {
            object["playback"] = .object([
                "id": .string(playback.id.canonicalString),
                "playing": .bool(playback.playback.playing),
                "positionMillis": .integer(playback.playback.positionMillis),
                "rateThousandths": .integer(UInt64(playback.playback.rate)),
                "updated": json(playback.updated),
            ])
        }
        return .object(object)
    }

    private func json(_ mark: MarkView) -> CanonicalJSON {
        var shape: [String: CanonicalJSON] = ["type": .string(mark.mark.shape.name)]
        switch mark.mark.shape {
        case let .pin(point): shape["at"] = json(point)
        case let .arrow(from, to):
            shape["from"] = json(from)
            shape["to"] = json(to)
        case let .rectangle(a, b):
            shape["corner1"] = json(a)
            shape["corner2"] = json(b)
        case let .stroke(points): shape["points"] = .array(points.map(json))
        case let .text(point, text):
            shape["at"] = json(point)
            shape["text"] = .string(text)
        case let .labelledPin(point, label):
            shape["at"] = json(point)
            shape["label"] = .string(label)
        }
        var object: [String: CanonicalJSON] = [
            "id": .string(mark.id.canonicalString),
            "author": .string(mark.author.hex),
            "created": json(mark.created),
            "colour": .string(mark.mark.colour.hex),
            "shape": .object(shape),
        ]
        if let span = mark.mark.span {
            object["during"] = .object(["startMillis": .integer(span.startMillis), "endMillis": .integer(span.endMillis)])
        }
        return .object(object)
    }

    private func json(_ viewport: ViewportView) -> CanonicalJSON {
        .object([
            "participant": .string(viewport.participant.hex),
            "item": .string(viewport.item.canonicalString),
            "zoomThousandths": .integer(UInt64(viewport.viewport.zoom)),
            "centre": json(viewport.viewport.centre),
            "updated": json(viewport.updated),
        ])
    }

    private func json(_ event: CommerceEvent) -> CanonicalJSON {
        var object: [String: CanonicalJSON] = [
            "id": .string(event.id.canonicalString),
            "by": .string(event.by.hex),
            "time": json(event.time),
            "kind": .string(event.action.name),
            "item": .string(event.action.item.canonicalString),
        ]
        switch event.action {
        case let .recommend(_, note): object["note"] = .string(note)
        case let .addToCart(_, quantity), let .purchase(_, quantity): object["quantity"] = .integer(UInt64(quantity))
        }
        return .object(object)
    }
}
