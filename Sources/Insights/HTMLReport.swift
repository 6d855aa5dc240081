import Replication

/// The report as one self-contained HTML page: inline CSS and inline SVG charts, nothing fetched.
///
/// The page makes no request of any kind: no script, no external style sheet, font or image,
/// no link a browser would prefetch, and a Content-Security-Policy that forbids them anyway
/// (`default-src 'none'`), so the report can be opened, mailed or archived offline and leaks
/// nothing when it is. Every name, title and note comes from other people and is escaped.
public enum HTMLReport {
    /// The page's Content-Security-Policy: nothing may load but the inline styles.
    public static let contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

    /// The whole page.
    public static func render(_ report: Report) -> String {
        var out = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="\(contentSecurityPolicy)">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="referrer" content="no-referrer">
            <title>cvpeer report</title>
            <style>\(style)</style>
            </head>
            <body>
            <header><h1>cvpeer report</h1>
            <p class="meta">\(TextReport.count(report.sessions.count, "session")) · \(TextReport.count(report.agents.count, "agent")) · \(TextReport.count(report.products.count, "product")). Computed on this node from its own store; times are UTC.</p>

            """
        if !report.idleRooms.isEmpty {
            out += "<p class=\"meta\">Rooms with no activity yet (not counted): "
            out += report.idleRooms.map { "<code>\(escape($0.short))</code>" }.joined(separator: ", ") + "</p>\n"
        }
        out += "</header>\n"
        out += agents(report)
        out += products(report)
        out += "<section id=\"sessions\"><h2>Sessions</h2>\n"
        if report.sessions.isEmpty { out += "<p class=\"meta\">No session yet.</p>\n" }
        for session in report.sessions { out += self.session(session) }
        out += "</section>\n</body>\n</html>\n"
        return out
    }

    // MARK: Agents

    private static func agents(_ report: Report) -> String {
        var out = "<section id=\"agents\"><h2>Agents</h2>\n"
        guard !report.agents.isEmpty else { return out + "<p class=\"meta\">No agent yet.</p>\n</section>\n" }
        // Each bar is scaled to that figure's largest value among the agents, so agents compare at a glance.
        let scales = (
            sessions: report.agents.map(\.sessions).max() ?? 0, shown: report.agents.map(\.itemsShown).max() ?? 0,
            recommendations: report.agents.map(\.recommendations).max() ?? 0,
            influenced: report.agents.map(\.purchasesInfluenced).max() ?? 0
        )
        out += "<div class=\"cards\">\n"
        for agent in report.agents {
            let bars: [(label: String, value: Int, scale: Int, text: String)] = [
                ("Sessions", agent.sessions, scales.sessions, String(agent.sessions)),
                ("Items shown", agent.itemsShown, scales.shown, String(agent.itemsShown)),
                ("Recommendations", agent.recommendations, scales.recommendations, String(agent.recommendations)),
                (
                    "Purchases influenced", agent.purchasesInfluenced, scales.influenced,
                    String(agent.purchasesInfluenced)
                ),
                ("Conversion", agent.sessionsWithPurchase, agent.sessions, agent.conversion.description),
            ]
            out +=
                "<figure class=\"card agent\"><figcaption><strong>\(escape(agent.name))</strong> <code>\(agent.id.short)</code></figcaption>\n"
            out += barChart(bars, label: "Figures of agent \(agent.name)")
            out += "<p class=\"meta\">Median session length \(Formatting.duration(agent.medianDurationMillis)); "
            out += "\(agent.sessionsWithPurchase) of \(agent.sessions) sessions with a purchase.</p></figure>\n"
        }
        return out + "</div>\n</section>\n"
    }

    /// Horizontal bars with their values; `scale` is the value of a full bar.
    private static func barChart(_ bars: [(label: String, value: Int, scale: Int, text: String)], label: String)
        -> String
    {
        let labelWidth = 150
        let barWidth = 170
        let row = 24
        let height = bars.count * row + 4
        var out =
            "<svg class=\"bars\" width=\"\(labelWidth + barWidth + 60)\" height=\"\(height)\" role=\"img\" aria-label=\"\(escape(label))\">"
        for (index, bar) in bars.enumerated() {
            let y = index * row + 4
            let width = bar.scale > 0 ? max(bar.value > 0 ? 2 : 0, bar.value * barWidth / bar.scale) : 0
            out += "<text x=\"0\" y=\"\(y + 14)\">\(escape(bar.label))</text>"
            out += "<rect class=\"track\" x=\"\(labelWidth)\" y=\"\(y + 2)\" width=\"\(barWidth)\" height=\"16\"/>"
            out += "<rect class=\"bar\" x=\"\(labelWidth)\" y=\"\(y + 2)\" width=\"\(width)\" height=\"16\"/>"
            out += "<text class=\"value\" x=\"\(labelWidth + barWidth + 6)\" y=\"\(y + 14)\">\(escape(bar.text))</text>"
        }
        return out + "</svg>\n"
    }

    // MARK: Products

    private static func products(_ report: Report) -> String {
        var out = "<section id=\"products\"><h2>Products</h2>\n"
        guard !report.products.isEmpty else { return out + "<p class=\"meta\">No product yet.</p>\n</section>\n" }
        out += "<table class=\"products\"><thead><tr><th>Product</th><th>Price</th><th>Shown</th><th>Views</th>"
        out += "<th>Recommended</th><th>Added to cart</th><th>Purchases</th><th>Units</th>"
        out += "<th>Bought after recommendation</th></tr></thead><tbody>\n"
        for product in report.products {
            let rate = product.conversionAfterRecommendation
            out += "<tr><td>\(escape(product.title.isEmpty ? product.key : product.title))"
            if let url = product.url { out += "<div class=\"url\">\(escape(url))</div>" }
            out += "</td><td>\(product.price.map { escape(Formatting.price($0)) } ?? "")</td>"
            for figure in [
                product.shown, product.views, product.recommended, product.addedToCart, product.purchases,
                product.unitsBought,
            ] {
                out += "<td class=\"n\">\(figure)</td>"
            }
            out +=
                "<td class=\"n\">\(rate) <span class=\"meta\">(\(rate.count) of \(rate.total) sessions)</span></td></tr>\n"
        }
        return out + "</tbody></table>\n</section>\n"
    }

    // MARK: Sessions

    /// Ten colours that stay apart for most kinds of colour blindness (Tableau 10).
    private static let palette = [
        "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    ]

    private static func session(_ session: SessionReport) -> String {
        func name(_ id: ReplicaID) -> String { escape(session.participant(id)?.displayName ?? id.short) }
        func item(_ id: OpID) -> String {
            guard let item = session.item(id) else { return escape(id.short) }
            return escape(item.displayName)
                + (item.removedMillis == nil ? "" : " <span class=\"meta\">(removed)</span>")
        }
        var out = "<article class=\"session\" id=\"session-\(session.room.short)\">\n"
        out += "<h3>Session <code>\(session.room.short)</code></h3>\n"
        out +=
            "<p class=\"meta\">\(Formatting.dateTime(session.startMillis)) · \(Formatting.duration(session.durationMillis)) · "
        out += session.participants.map { "\(escape($0.displayName)) (\($0.role?.name ?? "no profile"))" }.joined(
            separator: ", ")
        out += "</p>\n"
        out += timeline(session)
        var rows: [(at: UInt64, html: String)] = []
        for recommendation in session.recommendations {
            var detail = recommendation.note.isEmpty ? "" : "“\(escape(recommendation.note))” · "
            detail +=
                recommendation.customerOpenedAfterMillis.map { "a customer opened it \(Formatting.duration($0)) later" }
                ?? "no customer opened it afterwards"
            rows.append(
                (
                    recommendation.atMillis,
                    row(
                        recommendation.atMillis, name(recommendation.by), "recommended", item(recommendation.item),
                        detail)
                ))
        }
        for cart in session.cartAdds {
            rows.append(
                (
                    cart.atMillis,
                    row(cart.atMillis, name(cart.by), "added to cart", item(cart.item), "× \(cart.quantity)")
                ))
        }
        for purchase in session.purchases {
            var detail = "× \(purchase.quantity) · "
            if let credited = purchase.influencedBy, let delay = purchase.recommendationToPurchaseMillis {
                detail += "influenced by \(name(credited.by))’s recommendation \(Formatting.duration(delay)) before"
            } else {
                detail += "not influenced"
            }
            rows.append(
                (purchase.atMillis, row(purchase.atMillis, name(purchase.by), "bought", item(purchase.item), detail)))
        }
        if !rows.isEmpty {
            out +=
                "<table class=\"events\"><thead><tr><th>Time</th><th>Who</th><th>What</th><th>Item</th><th>Details</th></tr></thead><tbody>\n"
            // A stable sort keeps recommendations before cart adds before purchases within one millisecond.
            for entry in rows.enumerated().sorted(by: { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }) {
                out += entry.element.html
            }
            out += "</tbody></table>\n"
        }
        return out + "</article>\n"
    }

    private static func row(_ at: UInt64, _ who: String, _ what: String, _ item: String, _ detail: String) -> String {
        "<tr><td>\(Formatting.clock(at))</td><td>\(who)</td><td>\(what)</td><td>\(item)</td><td>\(detail)</td></tr>\n"
    }

    /// One lane per participant: a bar per view (its colour is the item's), a marker per commerce event,
    /// and a dashed line from a credited recommendation to the purchase it influenced.
    private static func timeline(_ session: SessionReport) -> String {
        let labelWidth = 150
        let plotWidth = 780
        let lane = 32
        let top = 24
        let width = labelWidth + plotWidth + 20
        let height = top + session.participants.count * lane + 8
        let span = max(session.durationMillis, 1)
        func x(_ millis: UInt64) -> Int { labelWidth + Int((millis - session.startMillis) * UInt64(plotWidth) / span) }
        var laneOf: [ReplicaID: Int] = [:]
        for (index, participant) in session.participants.enumerated() { laneOf[participant.id] = index }
        func y(_ id: ReplicaID) -> Int { top + (laneOf[id] ?? 0) * lane }
        var colourOf: [OpID: String] = [:]
        for (index, item) in session.items.enumerated() { colourOf[item.id] = palette[index % palette.count] }
        func title(_ id: OpID) -> String { escape(session.item(id)?.displayName ?? id.short) }
        func who(_ id: ReplicaID) -> String { escape(session.participant(id)?.displayName ?? id.short) }

        var out =
            "<svg class=\"timeline\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"Timeline of session \(session.room.short)\">"
        for step in 0...4 {
            let tick = labelWidth + plotWidth * step / 4
            let millis = session.startMillis + session.durationMillis * UInt64(step) / 4
            let anchor = step == 0 ? "start" : step == 4 ? "end" : "middle"
            out += "<line class=\"grid\" x1=\"\(tick)\" y1=\"\(top - 6)\" x2=\"\(tick)\" y2=\"\(height - 4)\"/>"
            out +=
                "<text class=\"tick\" x=\"\(tick)\" y=\"12\" text-anchor=\"\(anchor)\">\(Formatting.clock(millis))</text>"
        }
        for participant in session.participants {
            let laneTop = y(participant.id)
            out +=
                "<rect class=\"lane\" x=\"\(labelWidth)\" y=\"\(laneTop + 2)\" width=\"\(plotWidth)\" height=\"\(lane - 4)\"/>"
            out += "<text x=\"0\" y=\"\(laneTop + 20)\">\(escape(participant.displayName))"
            out += "<tspan class=\"role\"> \(participant.role?.name ?? "")</tspan></text>"
        }
        for viewing in session.views {
            let start = x(viewing.startMillis)
            let barWidth = max(2, x(viewing.endMillis) - start)
            out +=
                "<rect class=\"view\" x=\"\(start)\" y=\"\(y(viewing.participant) + 7)\" width=\"\(barWidth)\" height=\"18\" "
            out +=
                "fill=\"\(colourOf[viewing.item] ?? palette[0])\"><title>\(who(viewing.participant)) viewed \(title(viewing.item)) "
            out +=
                "for \(Formatting.duration(viewing.dwellMillis)) from \(Formatting.clock(viewing.startMillis))</title></rect>"
        }
        for purchase in session.purchases {
            guard let credited = purchase.influencedBy else { continue }
            out += "<line class=\"credit\" x1=\"\(x(credited.atMillis))\" y1=\"\(y(credited.by) + 16)\" "
            out += "x2=\"\(x(purchase.atMillis))\" y2=\"\(y(purchase.by) + 16)\"/>"
        }
        for recommendation in session.recommendations {
            let cx = x(recommendation.atMillis)
            let cy = y(recommendation.by) + 16
            out += "<polygon class=\"marker\" points=\"\(cx),\(cy - 8) \(cx + 7),\(cy + 6) \(cx - 7),\(cy + 6)\" "
            out +=
                "fill=\"\(colourOf[recommendation.item] ?? palette[0])\"><title>\(who(recommendation.by)) recommended "
            out += "\(title(recommendation.item)) at \(Formatting.clock(recommendation.atMillis))</title></polygon>"
        }
        for cart in session.cartAdds {
            let cx = x(cart.atMillis)
            let cy = y(cart.by) + 16
            out += "<rect class=\"marker\" x=\"\(cx - 6)\" y=\"\(cy - 6)\" width=\"12\" height=\"12\" "
            out += "fill=\"\(colourOf[cart.item] ?? palette[0])\"><title>\(who(cart.by)) added \(cart.quantity) × "
            out += "\(title(cart.item)) to the cart at \(Formatting.clock(cart.atMillis))</title></rect>"
        }
        for purchase in session.purchases {
            let cx = x(purchase.atMillis)
            let cy = y(purchase.by) + 16
            out +=
                "<polygon class=\"marker purchase\" points=\"\(cx),\(cy - 9) \(cx + 9),\(cy) \(cx),\(cy + 9) \(cx - 9),\(cy)\" "
            out +=
                "fill=\"\(colourOf[purchase.item] ?? palette[0])\"><title>\(who(purchase.by)) bought \(purchase.quantity) × "
            out += "\(title(purchase.item)) at \(Formatting.clock(purchase.atMillis))</title></polygon>"
        }
        out += "</svg>\n<p class=\"legend\">"
        for item in session.items {
            out +=
                "<span><i style=\"background:\(colourOf[item.id] ?? palette[0])\"></i>\(escape(item.displayName))</span> "
        }
        out +=
            "<span class=\"keys\">▲ recommended · ■ added to cart · ◆ bought · dashed: credited recommendation</span></p>\n"
        return out
    }

    // MARK: Text

    /// Escapes text for an HTML element or a quoted attribute.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    private static let style = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;background:#f6f7f9;margin:0;padding:24px 32px}
        h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid #d5dbe3;padding-bottom:4px}
        h3{font-size:16px;margin:0 0 4px}code{font:12px ui-monospace,Menlo,Consolas,monospace;color:#4a5868}
        .meta{color:#5b6878;font-size:13px;margin:2px 0 10px}
        .cards{display:flex;flex-wrap:wrap;gap:16px}
        .card,.session{background:#fff;border:1px solid #dfe4ea;border-radius:8px;padding:14px 16px;margin:0 0 16px}
        figure{margin:0}figcaption{margin-bottom:8px}
        table{border-collapse:collapse;background:#fff;border:1px solid #dfe4ea}
        th,td{padding:5px 10px;border-bottom:1px solid #eef1f4;text-align:left;vertical-align:top}
        th{background:#f0f3f6;font-weight:600;font-size:13px}td.n{text-align:right;font-variant-numeric:tabular-nums}
        .url{font-size:12px;color:#5b6878;word-break:break-all}
        svg text{font-size:12px;fill:#1d2733}svg .tick{fill:#5b6878;font-size:11px}svg .role{fill:#5b6878;font-size:11px}
        svg .track{fill:#eef1f4}svg .bar{fill:#4e79a7}svg .value{font-variant-numeric:tabular-nums}
        svg .lane{fill:#f4f6f8}svg .grid{stroke:#dfe4ea}svg .marker{stroke:#1d2733;stroke-width:1}
        svg .purchase{stroke-width:2}svg .credit{stroke:#1d2733;stroke-dasharray:4 3;stroke-width:1.2}
        .timeline{display:block;max-width:100%;height:auto;margin:6px 0}
        .legend span{display:inline-block;margin:0 14px 4px 0;font-size:13px}
        .legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}
        .legend .keys{color:#5b6878}
        .events{margin-top:8px}
        """
}
