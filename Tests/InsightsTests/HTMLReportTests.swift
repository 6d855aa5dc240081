import Foundation
import Insights
import PeerCrypto
import Replication
import Testing

@Suite struct HTMLReportTests {
    /// Every tag the page may use: none of them fetches anything.
    static let allowedTags: Set<String> = [
        "!doctype", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "code",
        "section",
        "div", "figure", "figcaption", "strong", "svg", "text", "tspan", "rect", "line", "polygon", "table", "thead",
        "tbody", "tr", "th", "td", "span", "i", "article",
    ]
    /// Every attribute the page may use: no src, href, srcset, action, formaction, xlink:href or event handler.
    static let allowedAttributes: Set<String> = [
        "lang", "charset", "http-equiv", "content", "name", "class", "id", "width", "height", "role", "aria-label", "x",
        "y",
        "x1", "y1", "x2", "y2", "points", "fill", "text-anchor", "style", "html",
    ]

    /// The page's tags: name and attribute names, in order.
    static func tags(_ html: String) -> [(name: String, attributes: [String], source: String)] {
        var result: [(String, [String], String)] = []
        var rest = html[...]
        while let open = rest.firstIndex(of: "<") {
            guard let close = rest[open...].firstIndex(of: ">") else { break }
            let source = String(rest[open...close])
            var body = rest[rest.index(after: open)..<close]
            if body.hasPrefix("/") { body = body.dropFirst() }
            if body.hasSuffix("/") { body = body.dropLast() }
            // Attribute values are quoted and escaped, so they hold no `<`, `>` or `"`: strip them, then split.
            var bare = ""
            var inValue = false
            for character in body {
                if character == "\"" { inValue.toggle() } else if !inValue { bare.append(character) }
            }
            let words = bare.split(whereSeparator: { $0 == " " || $0 == "\n" })
            let name = words.first.map { $0.lowercased() } ?? ""
            let attributes = words.dropFirst().map { String($0.split(separator: "=").first ?? "").lowercased() }
            result.append((name, attributes, source))
            rest = rest[rest.index(after: close)...]
        }
        return result
    }

    private func shopPage() throws -> (ShopSession, String) {
        let shop = try ShopSession()
        return (shop, HTMLReport.render(Report(rooms: [try shop.script.history()])))
    }

    @Test func thePageForbidsEveryRequestByPolicy() throws {
        let (_, html) = try shopPage()
        #expect(HTMLReport.contentSecurityPolicy == "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
        #expect(
            html.contains(
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
            ))
        // The policy must come before anything it governs: it is the second element of the head.
        let head = Self.tags(html).prefix(5).map(\.name)
        #expect(head == ["!doctype", "html", "head", "meta", "meta"])
    }

    @Test func thePageUsesOnlyTagsAndAttributesThatFetchNothing() throws {
        let (_, html) = try shopPage()
        let tags = Self.tags(html)
        #expect(tags.count > 100)
        for tag in tags {
            #expect(Self.allowedTags.contains(tag.name), "tag \(tag.source)")
            for attribute in tag.attributes {
                #expect(Self.allowedAttributes.contains(attribute), "attribute in \(tag.source)")
            }
        }
        for forbidden in [
            "url(", "@import", "src=", "href=", "javascript:", "<script", "<link", "<img", "<iframe", "<object",
        ] {
            #expect(!html.lowercased().contains(forbidden), "\(forbidden)")
        }
    }

    @Test func theScannerCatchesWhatWouldFetch() {
        let tags = Self.tags("<p class=\"a\">x</p><img src=\"http://127.0.0.1/x.png\"><svg><image href=\"y\"/></svg>")
        #expect(tags.map(\.name) == ["p", "p", "img", "svg", "image", "svg"])
        #expect(!Self.allowedTags.contains("img") && !Self.allowedTags.contains("image"))
        #expect(tags[2].attributes == ["src"])
        #expect(!Self.allowedAttributes.contains("src") && !Self.allowedAttributes.contains("href"))
    }

    @Test func namesTitlesAndNotesAreEscaped() throws {
        var script = SessionScript()
        let ana = try script.join("<img src=x onerror=alert(1)>", .agent, at: 0)
        let item = try script.share(
            ana, "\"><script>alert(2)</script>", url: "https://shop.example/a?b=1&c=2", at: 1_000)
        try script.recommend(ana, item, note: "it's <b>bold</b> & 'quoted'", at: 2_000)
        let html = HTMLReport.render(Report(rooms: [try script.history()]))
        #expect(!html.contains("<img"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("<b>"))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(html.contains("&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"))
        #expect(html.contains("it&#39;s &lt;b&gt;bold&lt;/b&gt; &amp; &#39;quoted&#39;"))
        #expect(html.contains("https://shop.example/a?b=1&amp;c=2"))
        for tag in Self.tags(html) { #expect(Self.allowedTags.contains(tag.name), "tag \(tag.source)") }
    }

    @Test func oneTimelinePerSessionOneChartPerAgentOneRowPerProduct() throws {
        let four = try FourSessions()
        let report = Report(rooms: four.rooms)
        let html = HTMLReport.render(report)
        #expect(html.components("<svg class=\"timeline\"") == 4)
        #expect(html.components("<rect class=\"view\"") == report.sessions.map(\.views.count).reduce(0, +))
        #expect(html.components("<svg class=\"bars\"") == 2)
        #expect(html.components("<article class=\"session\"") == 4)
        #expect(html.components("<polygon class=\"marker purchase\"") == 2)
        #expect(html.components("<line class=\"credit\"") == 1)
        let table = try #require(html.range(of: "<table class=\"products\"")).lowerBound
        #expect(String(html[table...]).components("<tr><td>", upTo: "</table>") == 2)
        for session in report.sessions { #expect(html.contains("id=\"session-\(session.room.short)\"")) }
    }

    @Test func everyAgentAndProductFigureIsOnThePage() throws {
        let four = try FourSessions()
        let html = HTMLReport.render(Report(rooms: four.rooms))
        // Ana's chart: sessions, items shown, recommendations, influenced, conversion.
        let ana = try #require(html.range(of: "<strong>Ana</strong>")).lowerBound
        let chart = String(html[ana...]).components(separatedBy: "</figure>")[0]
        let values = chart.components(separatedBy: "<text class=\"value\"").dropFirst().map {
            String($0.drop { $0 != ">" }.dropFirst().prefix { $0 != "<" })
        }
        #expect(values == ["3", "2", "2", "1", "66.7%"])
        #expect(chart.contains("Median session length 20m 00s; 2 of 3 sessions with a purchase."))
        #expect(
            html.contains("<td>Red shoes<div class=\"url\">https://shop.example/red-shoes</div></td><td>54.90 EUR</td>")
        )
        #expect(
            html.contains(
                "<td class=\"n\">2</td><td class=\"n\">1</td><td class=\"n\">2</td><td class=\"n\">1</td><td class=\"n\">1</td><td class=\"n\">3</td><td class=\"n\">50% <span class=\"meta\">(1 of 2 sessions)</span></td>"
            ))
    }

    @Test func theTimelinePlacesViewsByTime() throws {
        let (_, html) = try shopPage()
        // 150 s over 780 px after a 150 px label column: Ben's first view, 20 s to 45 s, is x 254, width 130.
        #expect(html.contains("<rect class=\"view\" x=\"254\" y=\""))
        #expect(html.contains("width=\"130\" height=\"18\""))
        #expect(html.contains("<title>Ben viewed Red shoes for 25s from 10:00:20</title>"))
        #expect(html.contains("<title>Ben bought 2 × Red shoes at 10:01:50</title>"))
    }
}

extension StringProtocol {
    /// How many times `marker` occurs.
    func components(_ marker: String) -> Int { components(separatedBy: marker).count - 1 }

    /// How many times `marker` occurs before the first `end`.
    func components(_ marker: String, upTo end: String) -> Int {
        String(components(separatedBy: end)[0]).components(marker)
    }
}
