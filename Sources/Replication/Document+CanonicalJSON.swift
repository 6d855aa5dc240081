import PeerCrypto

/// The document's canonical form and state hash.
///
/// The canonical form describes what every participant sees: participants, the visible items in
/// panel order with their visible marks, viewports on visible items, focus, chat and commerce.
/// Ids are `counter-authorhex` strings, participants their key in hex, times
/// `{"logical":…,"millis":…}`, coordinates millionths of the item's size, zoom thousandths,
/// prices minor units: integers throughout. Tombstones and writes to items not (yet) created do not appear,
/// and neither does the version vector: two nodes that show the same thing hash the same.
extension Document {
    /// The canonical JSON of the merged document.
    public var canonicalJSON: CanonicalJSON {
        let panel = self.panel
        let marksByItem = Dictionary(grouping: visibleMarks, by: \.item)
        return .object([
            "participants": .object(
                Dictionary(
                    uniqueKeysWithValues: participants.map {
                        (
                            $0.id.hex,
                            .object(["name": .string($0.profile.name), "role": .string($0.profile.role.name), "updated": json($0.updated)])
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

    /// The canonical JSON serialised: UTF-8 bytes.
    public var canonicalBytes: [UInt8] { canonicalJSON.bytes }

    /// BLAKE2b-256 of the canonical bytes, in lower-case hex: equal on converged nodes.
    public var stateHash: String { hexString(Blake2b.hash(canonicalBytes, outputLength: 32)) }

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
                fields[key.name] = .object(["id": .string(hexString(blob.id)), "size": .integer(blob.size), "mime": .string(blob.mime)])
            }
        }
        return .object([
            "kind": .string(item.kind.name),
            "author": .string(item.author.hex),
            "created": json(item.created),
            "position": .string(item.position.description),
            "fields": .object(fields),
            "marks": .array(marks.map(json)),
        ])
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
        }
        return .object([
            "id": .string(mark.id.canonicalString),
            "author": .string(mark.author.hex),
            "created": json(mark.created),
            "colour": .string(mark.mark.colour.hex),
            "shape": .object(shape),
        ])
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
