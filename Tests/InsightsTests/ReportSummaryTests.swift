import Insights
import PeerCrypto
import Replication
import Testing

/// Four sessions on one node, two agents, figures across them.
///
///     A: Ana + Ben (customer), 10 min; Ana recommends shoes, Ben buys them     (influenced)
///     B: Ana alone, 20 min; she shares the same shoes (same link) and recommends them
///     C: Ana + Dan (agents) + Eve (customer), 40 min; Eve buys the bag, unrecommended
///     D: Dan + Eve, 5 min; Dan recommends the bag, nobody buys
///
/// Each starts a day after the one before, so their order is A, B, C, D.
struct FourSessions {
    let rooms: [RoomHistory]
    let ana, ben, dan, eve: SessionScript.Person

    init() throws {
        let day: UInt64 = 86_400_000
        var a = SessionScript()
        ana = try a.join("Ana", .agent, at: 0)
        ben = try a.join("Ben", .customer, at: 1_000)
        let shoesA = try a.share(ana, "Red shoes", price: 4_990, url: "https://shop.example/red-shoes", at: 2_000)
        try a.focus(ben, shoesA, at: 3_000)
        try a.recommend(ana, shoesA, at: 60_000)
        try a.addToCart(ben, shoesA, quantity: 1, at: 120_000)
        try a.buy(ben, shoesA, quantity: 3, at: 300_000)
        try a.act(ana, .say("bye"), at: 600_000)

        var b = SessionScript(start: SessionScript.base + day)
        _ = try b.join("Ana", .agent, at: 0, as: ana)
        let shoesB = try b.share(ana, "Red shoes", price: 5_490, url: "https://shop.example/red-shoes", at: 1_000)
        try b.recommend(ana, shoesB, at: 2_000)
        try b.act(ana, .say("nobody came"), at: 1_200_000)

        var c = SessionScript(start: SessionScript.base + 2 * day)
        _ = try c.join("Ana", .agent, at: 0, as: ana)
        dan = try c.join("Dan", .agent, at: 1_000)
        eve = try c.join("Eve", .customer, at: 2_000)
        let bagC = try c.share(dan, "Blue bag", price: 12_900, url: "https://shop.example/blue-bag", at: 3_000)
        try c.focus(eve, bagC, at: 4_000)
        try c.buy(eve, bagC, at: 2_400_000)

        var d = SessionScript(start: SessionScript.base + 3 * day)
        _ = try d.join("Dan", .agent, at: 0, as: dan)
        _ = try d.join("Eve", .customer, at: 1_000, as: eve)
        let bagD = try d.share(dan, "Blue bag", price: 12_900, url: "https://shop.example/blue-bag", at: 2_000)
        try d.recommend(dan, bagD, at: 3_000)
        try d.focus(eve, bagD, at: 4_000)
        try d.focus(eve, nil, at: 300_000)

        rooms = try [a, b, c, d].map { try $0.history() }
    }
}

@Suite struct ReportSummaryTests {
    @Test func perAgentFigures() throws {
        let four = try FourSessions()
        let report = Report(rooms: four.rooms)
        #expect(report.sessions.count == 4)
        #expect(report.agents.map(\.name) == ["Ana", "Dan"])
        let ana = report.agents[0]
        #expect(ana.id == four.ana.id)
        #expect(ana.sessions == 3)
        #expect(ana.sessionsWithPurchase == 2)
        #expect(ana.conversion == Rate(count: 2, total: 3))
        #expect(ana.conversion.description == "66.7%")
        #expect(ana.medianDurationMillis == 1_200_000, "10, 20 and 40 minutes")
        #expect(ana.itemsShown == 2)
        #expect(ana.recommendations == 2)
        #expect(ana.purchasesInfluenced == 1)
        let dan = report.agents[1]
        #expect(dan.sessions == 2)
        #expect(dan.sessionsWithPurchase == 1)
        #expect(dan.conversion.description == "50%")
        #expect(dan.medianDurationMillis == 1_350_000, "the mean of 40 and 5 minutes")
        #expect(dan.itemsShown == 2)
        #expect(dan.recommendations == 1)
        #expect(dan.purchasesInfluenced == 0)
    }

    @Test func perProductFigures() throws {
        let four = try FourSessions()
        let report = Report(rooms: four.rooms)
        #expect(
            report.products.map(\.key) == ["url:https://shop.example/blue-bag", "url:https://shop.example/red-shoes"])
        let bag = report.products[0]
        #expect(bag.title == "Blue bag")
        #expect(bag.shown == 2)
        #expect(bag.views == 2)
        #expect(bag.recommended == 1)
        #expect(bag.addedToCart == 0)
        #expect(bag.purchases == 1)
        #expect(bag.unitsBought == 1)
        #expect(bag.sessionsRecommended == 1)
        #expect(bag.sessionsBoughtAfterRecommendation == 0, "bought in C, recommended only in D")
        #expect(bag.conversionAfterRecommendation.description == "0%")
        let shoes = report.products[1]
        #expect(shoes.shown == 2, "the same link in two rooms is one product")
        #expect(shoes.price == Price(currency: "EUR", minorUnits: 5_490), "as last shared")
        #expect(shoes.views == 1)
        #expect(shoes.recommended == 2)
        #expect(shoes.addedToCart == 1)
        #expect(shoes.purchases == 1)
        #expect(shoes.unitsBought == 3)
        #expect(shoes.sessionsRecommended == 2)
        #expect(shoes.sessionsBoughtAfterRecommendation == 1)
        #expect(shoes.conversionAfterRecommendation == Rate(count: 1, total: 2))
    }

    @Test func theShopSessionsSummaries() throws {
        let shop = try ShopSession()
        let report = Report(rooms: [try shop.script.history()])
        #expect(report.agents.count == 1)
        let ana = report.agents[0]
        #expect(ana.sessions == 1)
        #expect(ana.medianDurationMillis == 150_000)
        #expect(ana.itemsShown == 3)
        #expect(ana.recommendations == 2)
        #expect(ana.purchasesInfluenced == 1)
        #expect(ana.conversion.description == "100%")
        let products = Dictionary(uniqueKeysWithValues: report.products.map { ($0.title, $0) })
        #expect(
            report.products.map(\.key) == [
                "title:Green scarf", "url:https://shop.example/blue-bag", "url:https://shop.example/red-shoes",
            ])
        let bag = try #require(products["Blue bag"])
        #expect(
            [bag.shown, bag.views, bag.recommended, bag.addedToCart, bag.purchases, bag.unitsBought] == [
                1, 3, 1, 0, 0, 0,
            ])
        #expect(bag.conversionAfterRecommendation == Rate(count: 0, total: 1))
        let shoes = try #require(products["Red shoes"])
        #expect(
            [shoes.shown, shoes.views, shoes.recommended, shoes.addedToCart, shoes.purchases, shoes.unitsBought] == [
                1, 2, 1, 1, 1, 2,
            ])
        #expect(shoes.conversionAfterRecommendation == Rate(count: 1, total: 1))
        let scarf = try #require(products["Green scarf"])
        #expect(
            [scarf.shown, scarf.views, scarf.recommended, scarf.addedToCart, scarf.purchases, scarf.unitsBought] == [
                1, 0, 0, 0, 2, 2,
            ])
        #expect(scarf.conversionAfterRecommendation.value == nil, "the guest's recommendation does not count")
        #expect(scarf.conversionAfterRecommendation.description == "–")
    }

    @Test func sessionsAreOrderedByStart() throws {
        let four = try FourSessions()
        let report = Report(rooms: four.rooms.reversed())
        #expect(report.sessions.map(\.durationMillis) == [600_000, 1_200_000, 2_400_000, 300_000])
    }

    @Test func batchesInAnyOrderOrDuplicatedGiveTheSameReport() throws {
        let shop = try ShopSession()
        let batches = try shop.script.batches()
        let expected = Report(rooms: [RoomHistory(tag: shop.script.keys.tag, authority: RoomAuthority(room: shop.script.keys), batches: batches)])
        var orders = [batches.reversed(), batches + batches]
        for shift in 1..<batches.count { orders.append(Array(batches[shift...] + batches[..<shift])) }
        for order in orders {
            let report = Report(rooms: [RoomHistory(tag: shop.script.keys.tag, authority: RoomAuthority(room: shop.script.keys), batches: order)])
            #expect(report == expected)
            #expect(JSONReport.render(report) == JSONReport.render(expected))
        }
    }

    @Test func aBatchAfterAGapOfItsAuthorIsLeftOutAsTheDocumentLeavesItOut() throws {
        var script = SessionScript()
        let ana = try script.join("Ana", .agent, at: 0)  // batch 0
        let ben = try script.join("Ben", .customer, at: 1_000)  // 1
        let shoes = try script.share(ana, "Red shoes", at: 2_000)  // 2
        try script.focus(ben, shoes, at: 3_000)  // 3: Ben's second batch, missing below
        try script.buy(ben, shoes, at: 4_000)  // 4: follows the gap
        try script.act(ana, .say("bye"), at: 5_000)  // 5
        let batches = try script.batches { $0 != 3 }
        let session = try #require(SessionReport(history: RoomHistory(tag: script.keys.tag, authority: RoomAuthority(room: script.keys), batches: batches)))
        #expect(session.views.isEmpty)
        #expect(session.purchases.isEmpty)
        #expect(Document(authority: RoomAuthority(room: script.keys), batches: batches).commerce.isEmpty, "the document agrees")
    }

    @Test func aRoomWithNoOperationIsListedNotCounted() throws {
        let shop = try ShopSession()
        let empty = RoomKeys.generate(owner: Identity.generate().publicKey)
        let report = Report(rooms: [try shop.script.history(), RoomHistory(tag: empty.tag, authority: RoomAuthority(room: empty), batches: [])])
        #expect(report.sessions.count == 1)
        #expect(report.idleRooms == [RoomName(tag: empty.tag)])
        #expect(Report(rooms: []).sessions.isEmpty)
    }

    @Test func roomsAreNamedByTheirTagsFirstEightHexDigits() {
        let name = RoomName(tag: [0x3f, 0xa2, 0xc1, 0xd0, 0x99] + [UInt8](repeating: 0, count: 11))
        #expect(name.short == "3fa2c1d0")
        #expect(name.hex.count == 32)
        #expect(name.matches(prefix: "3FA2"))
        #expect(name.matches(prefix: "3fa2c1d099"))
        #expect(!name.matches(prefix: "3fa3"))
        #expect(!name.matches(prefix: ""))
    }
}
