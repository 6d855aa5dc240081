import Replication

/// The report as JSON, in the schema docs/REPORT.md documents ("cvpeer-report/1").
///
/// Keys keep a fixed order and numbers are exact integers (rates are decimals computed from
/// integer counts), so one report always serialises to the same bytes.
public enum JSONReport {
    /// The schema's name, written as the document's first member; a change to the schema gets a new one.
    public static let format = "cvpeer-report/1"

    /// The report as one JSON document, ending with a newline.
    public static func render(_ report: Report) -> String {
        let document: JSON = .object([
            ("format", .string(format)),
            ("sessions", .array(report.sessions.map(session))),
            (
                "idleRooms",
                .array(report.idleRooms.map { .object([("room", .string($0.short)), ("roomTag", .string($0.hex))]) })
            ),
            ("agents", .array(report.agents.map(agent))),
            ("products", .array(report.products.map(product))),
        ])
        var out = ""
        document.write(to: &out, indent: 0)
        out += "\n"
        return out
    }

    private static func session(_ session: SessionReport) -> JSON {
        .object([
            ("room", .string(session.room.short)),
            ("roomTag", .string(session.room.hex)),
            ("start", .string(Formatting.iso(session.startMillis))),
            ("startMillis", .number(session.startMillis)),
            ("end", .string(Formatting.iso(session.endMillis))),
            ("endMillis", .number(session.endMillis)),
            ("durationMillis", .number(session.durationMillis)),
            ("hasPurchase", .bool(session.hasPurchase)),
            (
                "participants",
                .array(
                    session.participants.map {
                        .object([
                            ("id", .string($0.id.hex)), ("name", .optional($0.name.map(JSON.string))),
                            ("role", .optional($0.role.map { .string($0.name) })),
                        ])
                    })
            ),
            ("items", .array(session.items.map(item))),
            (
                "views",
                .array(
                    session.views.map {
                        .object([
                            ("participant", .string($0.participant.hex)), ("item", .string($0.item.canonicalString)),
                            ("startMillis", .number($0.startMillis)), ("endMillis", .number($0.endMillis)),
                            ("dwellMillis", .number($0.dwellMillis)),
                        ])
                    })
            ),
            (
                "recommendations",
                .array(
                    session.recommendations.map {
                        .object([
                            ("id", .string($0.id.canonicalString)), ("by", .string($0.by.hex)),
                            ("item", .string($0.item.canonicalString)), ("atMillis", .number($0.atMillis)),
                            ("note", .string($0.note)), ("openedByCustomer", .bool($0.openedByCustomer)),
                            ("customerOpenedMillis", .optional($0.customerOpenedMillis.map(JSON.number))),
                            ("customerOpenedAfterMillis", .optional($0.customerOpenedAfterMillis.map(JSON.number))),
                        ])
                    })
            ),
            (
                "cartAdds",
                .array(
                    session.cartAdds.map {
                        .object([
                            ("id", .string($0.id.canonicalString)), ("by", .string($0.by.hex)),
                            ("item", .string($0.item.canonicalString)), ("atMillis", .number($0.atMillis)),
                            ("quantity", .number(UInt64($0.quantity))),
                        ])
                    })
            ),
            (
                "purchases",
                .array(
                    session.purchases.map {
                        .object([
                            ("id", .string($0.id.canonicalString)), ("by", .string($0.by.hex)),
                            ("item", .string($0.item.canonicalString)), ("atMillis", .number($0.atMillis)),
                            ("quantity", .number(UInt64($0.quantity))), ("influenced", .bool($0.influenced)),
                            ("recommendation", .optional($0.influencedBy.map { .string($0.id.canonicalString) })),
                            ("recommendedBy", .optional($0.influencedBy.map { .string($0.by.hex) })),
                            (
                                "recommendationToPurchaseMillis",
                                .optional($0.recommendationToPurchaseMillis.map(JSON.number))
                            ),
                        ])
                    })
            ),
        ])
    }

    private static func item(_ item: SessionItem) -> JSON {
        .object([
            ("id", .string(item.id.canonicalString)),
            ("kind", .optional(item.kind.map { .string($0.name) })),
            ("title", .optional(item.title.map(JSON.string))),
            ("price", .optional(item.price.map(price))),
            ("url", .optional(item.url.map(JSON.string))),
            ("sharedBy", .string(item.sharedBy.hex)),
            ("sharedMillis", .optional(item.sharedMillis.map(JSON.number))),
            ("removedMillis", .optional(item.removedMillis.map(JSON.number))),
        ])
    }

    private static func price(_ price: Price) -> JSON {
        .object([("currency", .string(price.currency)), ("minorUnits", .number(price.minorUnits))])
    }

    private static func agent(_ agent: AgentSummary) -> JSON {
        .object([
            ("id", .string(agent.id.hex)),
            ("name", .string(agent.name)),
            ("sessions", .number(UInt64(agent.sessions))),
            ("sessionsWithPurchase", .number(UInt64(agent.sessionsWithPurchase))),
            ("conversionRate", rate(agent.conversion)),
            ("medianDurationMillis", .number(agent.medianDurationMillis)),
            ("itemsShown", .number(UInt64(agent.itemsShown))),
            ("recommendations", .number(UInt64(agent.recommendations))),
            ("purchasesInfluenced", .number(UInt64(agent.purchasesInfluenced))),
        ])
    }

    private static func product(_ product: ProductSummary) -> JSON {
        .object([
            ("key", .string(product.key)),
            ("title", .string(product.title)),
            ("url", .optional(product.url.map(JSON.string))),
            ("price", .optional(product.price.map(price))),
            ("shown", .number(UInt64(product.shown))),
            ("views", .number(UInt64(product.views))),
            ("recommended", .number(UInt64(product.recommended))),
            ("addedToCart", .number(UInt64(product.addedToCart))),
            ("purchases", .number(UInt64(product.purchases))),
            ("unitsBought", .number(UInt64(product.unitsBought))),
            ("sessionsRecommended", .number(UInt64(product.sessionsRecommended))),
            ("sessionsBoughtAfterRecommendation", .number(UInt64(product.sessionsBoughtAfterRecommendation))),
            ("conversionAfterRecommendation", rate(product.conversionAfterRecommendation)),
        ])
    }

    /// A rate as a decimal with at most four places ("0.3333", "0.5", "1"), or null.
    private static func rate(_ rate: Rate) -> JSON {
        guard let points = rate.basisPoints else { return .null }
        guard points % 10_000 != 0 else { return .raw("\(points / 10_000)") }
        var fraction = Formatting.pad(points % 10_000, 4)
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return .raw("\(points / 10_000).\(fraction)")
    }
}

/// A JSON value with members in the order given.
enum JSON {
    case object([(String, JSON)])
    case array([JSON])
    case string(String)
    case number(UInt64)
    /// A number already spelled as JSON.
    case raw(String)
    case bool(Bool)
    case null

    static func optional(_ value: JSON?) -> JSON { value ?? .null }

    func write(to out: inout String, indent: Int) {
        switch self {
        case .object(let members):
            guard !members.isEmpty else {
                out += "{}"
                return
            }
            out += "{\n"
            for (index, (key, value)) in members.enumerated() {
                out += String(repeating: "  ", count: indent + 1)
                Self.quote(key, to: &out)
                out += ": "
                value.write(to: &out, indent: indent + 1)
                out += index == members.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: "  ", count: indent) + "}"
        case .array(let elements):
            guard !elements.isEmpty else {
                out += "[]"
                return
            }
            out += "[\n"
            for (index, value) in elements.enumerated() {
                out += String(repeating: "  ", count: indent + 1)
                value.write(to: &out, indent: indent + 1)
                out += index == elements.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: "  ", count: indent) + "]"
        case .string(let text): Self.quote(text, to: &out)
        case .number(let value): out += String(value)
        case .raw(let text): out += text
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        }
    }

    /// RFC 8259 string escaping: quote, backslash and control characters.
    static func quote(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case let control where control.value < 0x20:
                out += (control.value < 0x10 ? "\\u000" : "\\u00") + String(control.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
