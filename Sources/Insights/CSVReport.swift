import Replication

/// The report as one CSV table for spreadsheets: one row per fact of a session.
///
/// RFC 4180 (comma-separated, CRLF line ends, fields with a comma, quote or line break quoted).
/// Each session gives a `session` row, one `participant` row per participant, then its `view`,
/// `recommendation`, `cart` and `purchase` rows, each kind in session order; the columns a
/// fact does not use are empty. docs/REPORT.md describes every column. The figures across
/// sessions (per agent, per product) are pivots of these rows, and are in the JSON.
public enum CSVReport {
    /// The header row's column names, in order.
    public static let columns = [
        "room", "fact", "time", "time_ms", "participant", "name", "role", "item", "item_title", "duration_ms",
        "quantity",
        "note", "customer_opened_after_ms", "influenced", "recommended_by", "recommendation_to_purchase_ms",
    ]

    /// The table, header first.
    public static func render(_ report: Report) -> String {
        var out = ""
        func row(_ fields: [String: String]) {
            out += columns.map { escape(fields[$0] ?? "") }.joined(separator: ",") + "\r\n"
        }
        out += columns.joined(separator: ",") + "\r\n"
        for session in report.sessions {
            let room = session.room.short
            func person(_ id: ReplicaID) -> [String: String] {
                let participant = session.participant(id)
                return [
                    "participant": id.short, "name": participant?.displayName ?? id.short,
                    "role": participant?.role?.name ?? "",
                ]
            }
            func event(_ fact: String, _ millis: UInt64, _ by: ReplicaID, _ item: OpID) -> [String: String] {
                person(by).merging([
                    "room": room, "fact": fact, "time": Formatting.iso(millis), "time_ms": String(millis),
                    "item": item.short, "item_title": session.item(item)?.displayName ?? item.short,
                ]) { $1 }
            }
            row([
                "room": room, "fact": "session", "time": Formatting.iso(session.startMillis),
                "time_ms": String(session.startMillis), "duration_ms": String(session.durationMillis),
            ])
            for participant in session.participants {
                row(person(participant.id).merging(["room": room, "fact": "participant"]) { $1 })
            }
            for viewing in session.views {
                row(
                    event("view", viewing.startMillis, viewing.participant, viewing.item).merging([
                        "duration_ms": String(viewing.dwellMillis)
                    ]) { $1 })
            }
            for recommendation in session.recommendations {
                row(
                    event("recommendation", recommendation.atMillis, recommendation.by, recommendation.item).merging([
                        "note": recommendation.note,
                        "customer_opened_after_ms": recommendation.customerOpenedAfterMillis.map { String($0) } ?? "",
                    ]) { $1 })
            }
            for cart in session.cartAdds {
                row(
                    event("cart", cart.atMillis, cart.by, cart.item).merging(["quantity": String(cart.quantity)]) { $1 }
                )
            }
            for purchase in session.purchases {
                row(
                    event("purchase", purchase.atMillis, purchase.by, purchase.item).merging([
                        "quantity": String(purchase.quantity), "influenced": purchase.influenced ? "yes" : "no",
                        "recommended_by": purchase.influencedBy?.by.short ?? "",
                        "recommendation_to_purchase_ms": purchase.recommendationToPurchaseMillis.map { String($0) }
                            ?? "",
                    ]) { $1 })
            }
        }
        return out
    }

    /// One field, quoted when it must be.
    ///
    /// Names, titles and notes come from other people: a field that a spreadsheet would run as a
    /// formula (starting with =, +, -, @, tab or carriage return) gets a leading apostrophe, so it
    /// shows as the text it is (OWASP's advice on CSV injection).
    static func escape(_ field: String) -> String {
        var text = field
        if let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { text = "'" + text }
        // Scalars, not Characters: "\r\n" is one Character and equals neither "\r" nor "\n".
        guard text.unicodeScalars.contains(where: { ",\"\n\r".unicodeScalars.contains($0) }) else { return text }
        return "\"" + text.replacingAll("\"", with: "\"\"") + "\""
    }
}

extension String {
    /// Replaces every occurrence of one character (Foundation-free, as the module is pure).
    func replacingAll(_ character: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == character { out += replacement } else { out.append(c) } }
        return out
    }
}
