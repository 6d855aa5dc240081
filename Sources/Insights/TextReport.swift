import Replication

/// The report for a terminal: the figures across sessions as tables, then each session.
///
/// Names, titles and notes come from the document, whose rules already refuse control
/// characters; notes may hold line breaks and tabs, which are flattened to spaces here.
public enum TextReport {
    /// The whole report, ending with a newline.
    public static func render(_ report: Report) -> String {
        var out = "cvpeer report: \(count(report.sessions.count, "session")), \(count(report.agents.count, "agent")), "
        out += "\(count(report.products.count, "product"))\n"
        if !report.idleRooms.isEmpty {
            out +=
                "Rooms with no activity yet (not counted): \(report.idleRooms.map(\.short).joined(separator: ", "))\n"
        }
        if !report.agents.isEmpty {
            out += "\nAgents\n"
            out += table(
                [
                    "agent", "id", "sessions", "median length", "items shown", "recommendations", "influenced",
                    "conversion",
                ],
                report.agents.map {
                    [
                        $0.name, $0.id.short, String($0.sessions), Formatting.duration($0.medianDurationMillis),
                        String($0.itemsShown), String($0.recommendations), String($0.purchasesInfluenced),
                        "\($0.conversion) (\($0.sessionsWithPurchase)/\($0.sessions))",
                    ]
                })
        }
        if !report.products.isEmpty {
            out += "\nProducts\n"
            out += table(
                [
                    "product", "price", "shown", "views", "recommended", "cart", "purchases", "units",
                    "bought after rec.",
                ],
                report.products.map {
                    [
                        $0.title.isEmpty ? $0.key : $0.title, $0.price.map(Formatting.price) ?? "", String($0.shown),
                        String($0.views), String($0.recommended), String($0.addedToCart), String($0.purchases),
                        String($0.unitsBought),
                        "\($0.conversionAfterRecommendation) (\($0.sessionsBoughtAfterRecommendation)/\($0.sessionsRecommended))",
                    ]
                })
        }
        for session in report.sessions { out += "\n" + render(session) }
        return out
    }

    /// One session's section.
    static func render(_ session: SessionReport) -> String {
        func name(_ id: ReplicaID) -> String { session.participant(id)?.displayName ?? id.short }
        func item(_ id: OpID) -> String {
            guard let item = session.item(id) else { return id.short }
            return item.removedMillis == nil ? item.displayName : item.displayName + " (removed)"
        }
        var out = "Session \(session.room.short): \(Formatting.dateTime(session.startMillis)), "
        out += "\(Formatting.duration(session.durationMillis))\n"
        out += "  Participants\n"
        for participant in session.participants {
            out +=
                "    \(participant.displayName) (\(participant.role?.name ?? "no profile")) \(participant.id.short)\n"
        }
        if !session.views.isEmpty {
            out += "  Views (in order, per participant)\n"
            for participant in session.participants {
                let views = session.views(of: participant.id)
                guard !views.isEmpty else { continue }
                out += "    \(participant.displayName)\n"
                out += indent(
                    table(
                        nil,
                        views.map {
                            [Formatting.clock($0.startMillis), item($0.item), Formatting.duration($0.dwellMillis)]
                        }),
                    by: 4)
            }
        }
        if !session.recommendations.isEmpty {
            out += "  Recommendations\n"
            for recommendation in session.recommendations {
                out +=
                    "    \(Formatting.clock(recommendation.atMillis))  \(name(recommendation.by)) recommended \(item(recommendation.item))"
                if !recommendation.note.isEmpty { out += ": \"\(flatten(recommendation.note))\"" }
                if let after = recommendation.customerOpenedAfterMillis {
                    out += "; a customer opened it \(Formatting.duration(after)) later\n"
                } else {
                    out += "; no customer opened it afterwards\n"
                }
            }
        }
        if !session.cartAdds.isEmpty {
            out += "  Added to cart\n"
            for cart in session.cartAdds {
                out +=
                    "    \(Formatting.clock(cart.atMillis))  \(name(cart.by)) added \(cart.quantity) × \(item(cart.item))\n"
            }
        }
        if !session.purchases.isEmpty {
            out += "  Purchases\n"
            for purchase in session.purchases {
                out +=
                    "    \(Formatting.clock(purchase.atMillis))  \(name(purchase.by)) bought \(purchase.quantity) × \(item(purchase.item))"
                if let credited = purchase.influencedBy, let delay = purchase.recommendationToPurchaseMillis {
                    out +=
                        ": influenced by \(name(credited.by))'s recommendation \(Formatting.duration(delay)) before\n"
                } else {
                    out += ": not influenced\n"
                }
            }
        }
        return out
    }

    static func count(_ n: Int, _ noun: String) -> String { n == 1 ? "1 \(noun)" : "\(n) \(noun)s" }

    static func flatten(_ text: String) -> String {
        String(text.map { $0 == "\n" || $0 == "\t" || $0 == "\r\n" ? " " : $0 })
    }

    static func indent(_ text: String, by spaces: Int) -> String {
        let prefix = String(repeating: " ", count: spaces)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { prefix + $0 + "\n" }
            .joined()
    }

    /// Columns padded to their widest cell, two spaces apart, indented by two; the header, if any, first.
    static func table(_ header: [String]?, _ rows: [[String]]) -> String {
        let all = (header.map { [$0] } ?? []) + rows
        guard let columns = all.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in all { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        var out = ""
        for row in all {
            var line = "  "
            for (index, cell) in row.enumerated() {
                line += cell
                if index < row.count - 1 { line += String(repeating: " ", count: widths[index] - cell.count + 2) }
            }
            out += line + "\n"
        }
        return out
    }
}
