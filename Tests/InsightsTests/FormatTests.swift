import Foundation
import Insights
import PeerCrypto
import Replication
import Testing

@Suite struct FormattingTests {
    @Test(arguments: [
        (UInt64(0), "1970-01-01T00:00:00.000Z"),
        (SessionScript.base, "2026-03-01T10:00:00.000Z"),
        (SessionScript.base + 45_250, "2026-03-01T10:00:45.250Z"),
        (UInt64(1_709_164_800_000), "2024-02-29T00:00:00.000Z"),
        (UInt64(951_782_400_000 - 1), "2000-02-28T23:59:59.999Z"),
        (UInt64(4_102_444_799_000), "2099-12-31T23:59:59.000Z"),
    ])
    func isoTimesAreUTC(millis: UInt64, expected: String) {
        #expect(Formatting.iso(millis) == expected)
    }

    @Test func timesForPeople() {
        #expect(Formatting.dateTime(SessionScript.base + 45_000) == "2026-03-01 10:00:45 UTC")
        #expect(Formatting.clock(SessionScript.base + 3_723_000) == "11:02:03")
    }

    @Test(
        arguments: [
            (UInt64(0), "0ms"), (850, "850ms"), (1_000, "1s"), (2_550, "2.5s"), (30_000, "30s"), (59_999, "59.9s"),
            (60_000, "1m 00s"), (125_000, "2m 05s"), (3_599_999, "59m 59s"), (3_600_000, "1h 00m"),
            (3_720_000, "1h 02m"),
            (90_000_000, "25h 00m"),
        ] as [(UInt64, String)])
    func durations(millis: UInt64, expected: String) {
        #expect(Formatting.duration(millis) == expected)
    }

    @Test func pricesUseTheCurrencysDecimals() {
        #expect(Formatting.price(Price(currency: "EUR", minorUnits: 4_990)) == "49.90 EUR")
        #expect(Formatting.price(Price(currency: "EUR", minorUnits: 5)) == "0.05 EUR")
        #expect(Formatting.price(Price(currency: "JPY", minorUnits: 1_200)) == "1200 JPY")
        #expect(Formatting.price(Price(currency: "KWD", minorUnits: 1_250)) == "1.250 KWD")
    }

    @Test func ratesRoundOnceFromTheirCounts() {
        #expect(Rate(count: 2, total: 3).description == "66.7%")
        #expect(Rate(count: 2, total: 3).basisPoints == 6_667)
        #expect(Rate(count: 1, total: 3).description == "33.3%")
        #expect(Rate(count: 1, total: 3).basisPoints == 3_333)
        #expect(Rate(count: 1, total: 8).description == "12.5%")
        #expect(Rate(count: 1, total: 2).description == "50%")
        #expect(Rate(count: 3, total: 3).description == "100%")
        #expect(Rate(count: 0, total: 0).description == "–")
        #expect(Rate(count: 0, total: 0).value == nil)
        #expect(Rate(count: 1, total: 4).value == 0.25)
    }
}

@Suite struct JSONReportTests {
    private func decode(_ report: Report) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(JSONReport.render(report).utf8))
        return try #require(object as? [String: Any])
    }

    @Test func everySessionFigureIsInTheJSON() throws {
        let shop = try ShopSession()
        let json = try decode(Report(rooms: [try shop.script.history()]))
        #expect(json["format"] as? String == "cvpeer-report/1")
        let sessions = try #require(json["sessions"] as? [[String: Any]])
        let session = try #require(sessions.first)
        #expect(session["room"] as? String == RoomName(tag: shop.script.keys.tag).short)
        #expect(session["roomTag"] as? String == RoomName(tag: shop.script.keys.tag).hex)
        #expect(session["start"] as? String == "2026-03-01T10:00:00.000Z")
        #expect(session["startMillis"] as? UInt64 == at(0))
        #expect(session["end"] as? String == "2026-03-01T10:02:30.000Z")
        #expect(session["endMillis"] as? UInt64 == at(150_000))
        #expect(session["durationMillis"] as? Int == 150_000)
        #expect(session["hasPurchase"] as? Bool == true)

        let participants = try #require(session["participants"] as? [[String: Any]])
        let ana = try #require(participants.first { $0["id"] as? String == shop.ana.id.hex })
        #expect(ana["name"] as? String == "Ana")
        #expect(ana["role"] as? String == "agent")

        let items = try #require(session["items"] as? [[String: Any]])
        #expect(items.map { $0["title"] as? String } == ["Red shoes", "Blue bag", "Green scarf"])
        #expect(items[0]["id"] as? String == shop.shoes.canonicalString)
        #expect(items[0]["kind"] as? String == "productCard")
        #expect((items[0]["price"] as? [String: Any])?["minorUnits"] as? Int == 4_990)
        #expect((items[0]["price"] as? [String: Any])?["currency"] as? String == "EUR")
        #expect(items[0]["url"] as? String == "https://shop.example/red-shoes")
        #expect(items[2]["url"] is NSNull)
        #expect(items[0]["sharedBy"] as? String == shop.ana.id.hex)
        #expect(items[0]["sharedMillis"] as? UInt64 == at(10_000))
        #expect(items[0]["removedMillis"] is NSNull)

        let views = try #require(session["views"] as? [[String: Any]])
        #expect(views.map { $0["dwellMillis"] as? Int } == [25_000, 15_000, 100_000, 30_000, 10_000])
        #expect(
            views.map { $0["startMillis"] as? UInt64 } == [at(20_000), at(45_000), at(50_000), at(60_000), at(140_000)])
        #expect(
            views.map { $0["endMillis"] as? UInt64 } == [at(45_000), at(60_000), at(150_000), at(90_000), at(150_000)])
        #expect(
            views.map { $0["item"] as? String }
                == [shop.shoes, shop.bag, shop.bag, shop.shoes, shop.bag].map(\.canonicalString))
        #expect(views[0]["participant"] as? String == shop.ben.id.hex)

        let recommendations = try #require(session["recommendations"] as? [[String: Any]])
        #expect(recommendations.count == 2, "a guest's recommendation is rejected by the room's rules")
        #expect(recommendations[0]["id"] as? String == shop.bagRecommendation.canonicalString)
        #expect(recommendations[0]["by"] as? String == shop.ana.id.hex)
        #expect(recommendations[0]["item"] as? String == shop.bag.canonicalString)
        #expect(recommendations[0]["atMillis"] as? UInt64 == at(30_000))
        #expect(recommendations[0]["note"] as? String == "Goes with the shoes")
        #expect(recommendations[0]["openedByCustomer"] as? Bool == true)
        #expect(recommendations[0]["customerOpenedMillis"] as? UInt64 == at(45_000))
        #expect(recommendations[0]["customerOpenedAfterMillis"] as? Int == 15_000)
        #expect(recommendations[1]["openedByCustomer"] as? Bool == false)
        #expect(recommendations[1]["customerOpenedAfterMillis"] is NSNull)

        let carts = try #require(session["cartAdds"] as? [[String: Any]])
        #expect(carts.count == 1)
        #expect(carts[0]["quantity"] as? Int == 2)
        #expect(carts[0]["atMillis"] as? UInt64 == at(100_000))
        #expect(carts[0]["by"] as? String == shop.ben.id.hex)

        let purchases = try #require(session["purchases"] as? [[String: Any]])
        #expect(purchases.map { $0["influenced"] as? Bool } == [true, false, false])
        #expect(purchases[0]["id"] as? String == shop.shoesPurchase.canonicalString)
        #expect(purchases[0]["quantity"] as? Int == 2)
        #expect(purchases[0]["recommendation"] as? String == shop.shoesRecommendation.canonicalString)
        #expect(purchases[0]["recommendedBy"] as? String == shop.ana.id.hex)
        #expect(purchases[0]["recommendationToPurchaseMillis"] as? Int == 40_000)
        #expect(purchases[1]["recommendation"] is NSNull)
        #expect(purchases[1]["recommendationToPurchaseMillis"] is NSNull)
    }

    @Test func everyFigureAcrossSessionsIsInTheJSON() throws {
        let four = try FourSessions()
        let empty = RoomKeys.generate(owner: Identity.generate().publicKey)
        let json = try decode(Report(rooms: four.rooms + [RoomHistory(tag: empty.tag, authority: RoomAuthority(room: empty), batches: [])]))
        let idle = try #require(json["idleRooms"] as? [[String: Any]])
        #expect(idle.map { $0["roomTag"] as? String } == [RoomName(tag: empty.tag).hex])
        #expect(idle.map { $0["room"] as? String } == [RoomName(tag: empty.tag).short])

        let agents = try #require(json["agents"] as? [[String: Any]])
        #expect(agents.map { $0["name"] as? String } == ["Ana", "Dan"])
        #expect(agents[0]["id"] as? String == four.ana.id.hex)
        #expect(agents.map { $0["sessions"] as? Int } == [3, 2])
        #expect(agents.map { $0["sessionsWithPurchase"] as? Int } == [2, 1])
        #expect(agents.map { $0["conversionRate"] as? Double } == [0.6667, 0.5])
        #expect(agents.map { $0["medianDurationMillis"] as? Int } == [1_200_000, 1_350_000])
        #expect(agents.map { $0["itemsShown"] as? Int } == [2, 2])
        #expect(agents.map { $0["recommendations"] as? Int } == [2, 1])
        #expect(agents.map { $0["purchasesInfluenced"] as? Int } == [1, 0])

        let products = try #require(json["products"] as? [[String: Any]])
        #expect(
            products.map { $0["key"] as? String } == [
                "url:https://shop.example/blue-bag", "url:https://shop.example/red-shoes",
            ])
        #expect(products.map { $0["title"] as? String } == ["Blue bag", "Red shoes"])
        #expect(
            products.map { $0["url"] as? String } == [
                "https://shop.example/blue-bag", "https://shop.example/red-shoes",
            ])
        #expect(products.map { ($0["price"] as? [String: Any])?["minorUnits"] as? Int } == [12_900, 5_490])
        #expect(products.map { $0["shown"] as? Int } == [2, 2])
        #expect(products.map { $0["views"] as? Int } == [2, 1])
        #expect(products.map { $0["recommended"] as? Int } == [1, 2])
        #expect(products.map { $0["addedToCart"] as? Int } == [0, 1])
        #expect(products.map { $0["purchases"] as? Int } == [1, 1])
        #expect(products.map { $0["unitsBought"] as? Int } == [1, 3])
        #expect(products.map { $0["sessionsRecommended"] as? Int } == [1, 2])
        #expect(products.map { $0["sessionsBoughtAfterRecommendation"] as? Int } == [0, 1])
        #expect(products.map { $0["conversionAfterRecommendation"] as? Double } == [0, 0.5])
    }

    @Test func ratesAreExactDecimalsOrNull() throws {
        let shop = try ShopSession()
        let text = JSONReport.render(Report(rooms: [try shop.script.history()]))
        #expect(text.contains("\"conversionRate\": 1,"))
        #expect(text.contains("\"conversionAfterRecommendation\": null"))
    }

    @Test func hostileTextStaysInsideItsString() throws {
        var script = SessionScript()
        let ana = try script.join("Ana \"the\" \\ agent", .agent, at: 0)
        let item = try script.share(ana, "Say \"hi\" / \\u0041", at: 1_000)
        try script.recommend(ana, item, note: "line\none\ttab", at: 2_000)
        let json = try decode(Report(rooms: [try script.history()]))
        let session = try #require((json["sessions"] as? [[String: Any]])?.first)
        #expect((session["participants"] as? [[String: Any]])?.first?["name"] as? String == "Ana \"the\" \\ agent")
        #expect((session["recommendations"] as? [[String: Any]])?.first?["note"] as? String == "line\none\ttab")
        #expect((session["items"] as? [[String: Any]])?.first?["title"] as? String == "Say \"hi\" / \\u0041")
    }
}

@Suite struct CSVReportTests {
    /// RFC 4180 rows, so the test reads the file as a spreadsheet would.
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var scalars = Array(text.unicodeScalars)[...]
        while let scalar = scalars.popFirst() {
            if quoted {
                if scalar == "\"" {
                    if scalars.first == "\"" {
                        field.unicodeScalars.append(scalars.removeFirst())
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\"": quoted = true
            case ",":
                row.append(field)
                field = ""
            case "\r":
                if scalars.first == "\n" { scalars.removeFirst() }
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            default: field.unicodeScalars.append(scalar)
            }
        }
        return rows
    }

    @Test func oneRowPerFactWithTheDocumentedColumns() throws {
        let shop = try ShopSession()
        let text = CSVReport.render(Report(rooms: [try shop.script.history()]))
        #expect(text.hasSuffix("\r\n"))
        let rows = Self.parse(text)
        #expect(rows.first == CSVReport.columns)
        let records = rows.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(CSVReport.columns, $0)) }
        #expect(rows.allSatisfy { $0.count == CSVReport.columns.count })
        let room = RoomName(tag: shop.script.keys.tag).short
        #expect(records.allSatisfy { $0["room"] == room })
        #expect(
            records.map { $0["fact"]! } == ["session"] + Array(repeating: "participant", count: 3)
                + Array(repeating: "view", count: 5)
                // Cy (a guest) also recommended, which the room's rules reject: no fact.
                + Array(repeating: "recommendation", count: 2) + ["cart"] + Array(repeating: "purchase", count: 3))

        let session = records[0]
        #expect(session["time"] == "2026-03-01T10:00:00.000Z")
        #expect(session["time_ms"] == String(at(0)))
        #expect(session["duration_ms"] == "150000")

        let participants = records.filter { $0["fact"] == "participant" }
        let ben = try #require(participants.first { $0["participant"] == shop.ben.id.description })
        #expect(ben["name"] == "Ben")
        #expect(ben["role"] == "customer")

        let views = records.filter { $0["fact"] == "view" }
        #expect(views.map { $0["duration_ms"]! } == ["25000", "15000", "100000", "30000", "10000"])
        #expect(views.map { $0["item_title"]! } == ["Red shoes", "Blue bag", "Blue bag", "Red shoes", "Blue bag"])
        #expect(views.map { $0["name"]! } == ["Ben", "Ben", "Cy", "Ben", "Ana"])
        #expect(views[0]["time"] == "2026-03-01T10:00:20.000Z")
        #expect(views[0]["time_ms"] == String(at(20_000)))
        #expect(views[0]["role"] == "customer")

        let recommendations = records.filter { $0["fact"] == "recommendation" }
        #expect(recommendations.map { $0["note"]! } == ["Goes with the shoes", "Fits you"])
        #expect(recommendations.map { $0["customer_opened_after_ms"]! } == ["15000", ""])
        #expect(recommendations.map { $0["name"]! } == ["Ana", "Ana"])

        let cart = try #require(records.first { $0["fact"] == "cart" })
        #expect(cart["quantity"] == "2")
        #expect(cart["item_title"] == "Red shoes")

        let purchases = records.filter { $0["fact"] == "purchase" }
        #expect(purchases.map { $0["influenced"]! } == ["yes", "no", "no"])
        #expect(purchases.map { $0["quantity"]! } == ["2", "1", "1"])
        #expect(purchases.map { $0["recommended_by"]! } == [shop.ana.id.description, "", ""])
        #expect(purchases.map { $0["recommendation_to_purchase_ms"]! } == ["40000", "", ""])
        #expect(
            purchases.map { $0["item"]! } == [shop.shoes, shop.scarf, shop.scarf].map { "\($0.counter)-\($0.replica)" })
    }

    @Test func textThatASpreadsheetWouldRunIsDefused() throws {
        var script = SessionScript()
        let ana = try script.join("=HYPERLINK(\"x\")", .agent, at: 0)
        let item = try script.share(ana, "+1, \"quoted\"", at: 1_000)
        try script.recommend(ana, item, note: "-2\nsecond line", at: 2_000)
        let rows = Self.parse(CSVReport.render(Report(rooms: [try script.history()])))
        let recommendation = try #require(rows.first { $0[1] == "recommendation" })
        let column = { (name: String) in CSVReport.columns.firstIndex(of: name)! }
        #expect(recommendation[column("name")] == "'=HYPERLINK(\"x\")")
        #expect(recommendation[column("item_title")] == "'+1, \"quoted\"")
        #expect(recommendation[column("note")] == "'-2\nsecond line")
    }
}

@Suite struct TextReportTests {
    @Test func theShopSessionReadsAsExpected() throws {
        let shop = try ShopSession()
        let text = TextReport.render(Report(rooms: [try shop.script.history()]))
        let room = RoomName(tag: shop.script.keys.tag).short
        #expect(text.hasPrefix("cvpeer report: 1 session, 1 agent, 3 products\n"))
        #expect(text.contains("Session \(room): 2026-03-01 10:00:00 UTC, 2m 30s\n"))
        #expect(text.contains("    Ben (customer) \(shop.ben.id.description)\n"))
        #expect(text.contains("    Cy (guest) \(shop.cy.id.description)\n"))
        #expect(text.contains("      10:00:20  Red shoes  25s\n"))
        #expect(text.contains("      10:00:45  Blue bag   15s\n"))
        #expect(text.contains("      10:01:00  Red shoes  30s\n"))
        #expect(text.contains("      10:00:50  Blue bag  1m 40s\n"))
        #expect(
            text.contains(
                "    10:00:30  Ana recommended Blue bag: \"Goes with the shoes\"; a customer opened it 15s later\n"))
        #expect(
            text.contains("    10:01:10  Ana recommended Red shoes: \"Fits you\"; no customer opened it afterwards\n"))
        #expect(text.contains("    10:01:40  Ben added 2 × Red shoes\n"))
        #expect(
            text.contains("    10:01:50  Ben bought 2 × Red shoes: influenced by Ana's recommendation 40s before\n"))
        #expect(text.contains("    10:02:00  Ben bought 1 × Green scarf: not influenced\n"))
        let agentRow = try #require(text.split(separator: "\n").first { $0.hasPrefix("  Ana ") })
        #expect(
            agentRow.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                == ["Ana", shop.ana.id.description, "1", "2m", "30s", "3", "2", "1", "100%", "(1/1)"])
        let shoesRow = try #require(text.split(separator: "\n").first { $0.hasPrefix("  Red shoes ") })
        #expect(
            shoesRow.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                == ["Red", "shoes", "49.90", "EUR", "1", "2", "1", "1", "1", "2", "100%", "(1/1)"])
    }

    @Test func aRemovedItemIsMarkedAndNotesAreFlattened() throws {
        var script = SessionScript()
        let ana = try script.join("Ana", .agent, at: 0)
        let coat = try script.share(ana, "Wool coat", at: 1_000)
        try script.recommend(ana, coat, note: "Last one\nreally", at: 2_000)
        try script.remove(ana, coat, at: 3_000)
        let text = TextReport.render(Report(rooms: [try script.history()]))
        #expect(
            text.contains(
                "Ana recommended Wool coat (removed): \"Last one really\"; no customer opened it afterwards\n"))
    }

    @Test func idleRoomsAreNamed() {
        let empty = RoomKeys.generate(owner: Identity.generate().publicKey)
        let text = TextReport.render(Report(rooms: [RoomHistory(tag: empty.tag, authority: RoomAuthority(room: empty), batches: [])]))
        #expect(
            text
                == "cvpeer report: 0 sessions, 0 agents, 0 products\nRooms with no activity yet (not counted): \(RoomName(tag: empty.tag).short)\n"
        )
    }
}
