import Insights
import PeerCrypto
import Replication
import Testing

/// The shop session most tests read: an agent, a customer and a guest, three products, known times.
///
/// Offsets in ms from `SessionScript.base`:
///
///     0 Ana joins (agent)   1 000 Ben joins (customer)   2 000 Cy joins (guest)
///     10 000 / 11 000 / 12 000  Ana shares Red shoes, Blue bag, Green scarf (no link)
///     20 000 Ben opens shoes           30 000 Ana recommends the bag "Goes with the shoes"
///     45 000 Ben opens the bag         50 000 Cy opens the bag
///     60 000 Ben opens shoes           61 000 Ben opens shoes again (same view)
///     70 000 Ana recommends shoes "Fits you" (Ben has them open already)
///     90 000 Ben closes                100 000 Ben adds 2 shoes to the cart
///     110 000 Ben buys 2 shoes         120 000 Ben buys a scarf (nobody recommended it)
///     125 000 Cy (guest) recommends the scarf   130 000 Ben buys a scarf again
///     140 000 Ana opens the bag        150 000 Ben says thanks (the last operation)
struct ShopSession {
    var script = SessionScript()
    let ana: SessionScript.Person
    let ben: SessionScript.Person
    let cy: SessionScript.Person
    let shoes: OpID
    let bag: OpID
    let scarf: OpID
    let bagRecommendation: OpID
    let shoesRecommendation: OpID
    let scarfRecommendation: OpID
    let shoesPurchase: OpID

    init() throws {
        ana = try script.join("Ana", .agent, at: 0)
        ben = try script.join("Ben", .customer, at: 1_000)
        cy = try script.join("Cy", .guest, at: 2_000)
        shoes = try script.share(ana, "Red shoes", price: 4_990, url: "https://shop.example/red-shoes", at: 10_000)
        bag = try script.share(ana, "Blue bag", price: 12_900, url: "https://shop.example/blue-bag", at: 11_000)
        scarf = try script.share(ana, "Green scarf", price: 2_500, at: 12_000)
        try script.focus(ben, shoes, at: 20_000)
        bagRecommendation = try script.recommend(ana, bag, note: "Goes with the shoes", at: 30_000)
        try script.focus(ben, bag, at: 45_000)
        try script.focus(cy, bag, at: 50_000)
        try script.focus(ben, shoes, at: 60_000)
        try script.focus(ben, shoes, at: 61_000)
        shoesRecommendation = try script.recommend(ana, shoes, note: "Fits you", at: 70_000)
        try script.focus(ben, nil, at: 90_000)
        try script.addToCart(ben, shoes, quantity: 2, at: 100_000)
        shoesPurchase = try script.buy(ben, shoes, quantity: 2, at: 110_000)
        try script.buy(ben, scarf, at: 120_000)
        scarfRecommendation = try script.recommend(cy, scarf, at: 125_000)
        try script.buy(ben, scarf, at: 130_000)
        try script.focus(ana, bag, at: 140_000)
        try script.act(ben, .say("thanks"), at: 150_000)
    }
}

@Suite struct SessionFiguresTests {
    @Test func sessionRunsFromItsFirstOperationToItsLast() throws {
        let shop = try ShopSession()
        let session = try shop.script.session()
        #expect(session.room == RoomName(tag: shop.script.keys.tag))
        #expect(session.startMillis == at(0))
        #expect(session.endMillis == at(150_000))
        #expect(session.durationMillis == 150_000)
    }

    @Test func participantsCarryTheirNamesAndRoles() throws {
        let shop = try ShopSession()
        let session = try shop.script.session()
        #expect(session.participants.count == 3)
        #expect(session.participant(shop.ana.id) == SessionParticipant(id: shop.ana.id, name: "Ana", role: .agent))
        #expect(session.participant(shop.ben.id)?.role == .customer)
        #expect(session.participant(shop.cy.id)?.role == .guest)
        #expect(session.agents.map(\.id) == [shop.ana.id])
    }

    @Test func itemsKeepTheirTitlesPricesAndLinks() throws {
        let shop = try ShopSession()
        let session = try shop.script.session()
        #expect(session.items.map(\.id) == [shop.shoes, shop.bag, shop.scarf])
        let shoes = try #require(session.item(shop.shoes))
        #expect(shoes.kind == .productCard)
        #expect(shoes.title == "Red shoes")
        #expect(shoes.price == Price(currency: "EUR", minorUnits: 4_990))
        #expect(shoes.url == "https://shop.example/red-shoes")
        #expect(shoes.sharedBy == shop.ana.id)
        #expect(shoes.sharedMillis == at(10_000))
        #expect(shoes.removedMillis == nil)
        #expect(session.item(shop.scarf)?.url == nil)
    }

    @Test func viewsComeInOrderWithTheirDwellTimes() throws {
        let shop = try ShopSession()
        let session = try shop.script.session()
        #expect(session.views.map(\.participant) == [shop.ben.id, shop.ben.id, shop.cy.id, shop.ben.id, shop.ana.id])
        #expect(session.views.map(\.item) == [shop.shoes, shop.bag, shop.bag, shop.shoes, shop.bag])
        #expect(session.views.map(\.startMillis) == [at(20_000), at(45_000), at(50_000), at(60_000), at(140_000)])
        // Ben: until his next focus change; the refocus at 61 000 does not split the view; then
        // until he closes at 90 000. Cy and Ana: until the session's end.
        #expect(session.views.map(\.dwellMillis) == [25_000, 15_000, 100_000, 30_000, 10_000])
        #expect(session.views(of: shop.ben.id).map(\.item) == [shop.shoes, shop.bag, shop.shoes])
    }

    @Test func recommendationsSayWhetherACustomerOpenedTheItemAfterwards() throws {
        let shop = try ShopSession()
        let session = try shop.script.session()
        // Cy is a guest: the room's rules reject its recommendation on every replica, so it is no fact.
        #expect(session.recommendations.map(\.id) == [shop.bagRecommendation, shop.shoesRecommendation])
        let bag = session.recommendations[0]
        #expect(bag.by == shop.ana.id)
        #expect(bag.item == shop.bag)
        #expect(bag.atMillis == at(30_000))
        #expect(bag.note == "Goes with the shoes")
        #expect(bag.openedByCustomer)
        #expect(bag.customerOpenedMillis == at(45_000))
        #expect(bag.customerOpenedAfterMillis == 15_000)
        // Ben had the shoes open already when Ana recommended them: not opened "afterwards".
        let shoes = session.recommendations[1]
        #expect(shoes.note == "Fits you")
        #expect(!shoes.openedByCustomer)
        #expect(shoes.customerOpenedAfterMillis == nil)
        #expect(!session.recommendations.contains { $0.by == shop.cy.id })
    }

    @Test func cartAddsAreListed() throws {
        let shop = try ShopSession()
        let session = try shop.script.session()
        #expect(session.cartAdds.count == 1)
        #expect(session.cartAdds.first?.by == shop.ben.id)
        #expect(session.cartAdds.first?.item == shop.shoes)
        #expect(session.cartAdds.first?.quantity == 2)
        #expect(session.cartAdds.first?.atMillis == at(100_000))
    }

    @Test func aPurchaseAfterAnAgentsRecommendationIsInfluenced() throws {
        let shop = try ShopSession()
        let session = try shop.script.session()
        #expect(session.purchases.count == 3)
        let shoes = session.purchases[0]
        #expect(shoes.id == shop.shoesPurchase)
        #expect(shoes.by == shop.ben.id)
        #expect(shoes.quantity == 2)
        #expect(shoes.atMillis == at(110_000))
        #expect(shoes.influenced)
        #expect(shoes.influencedBy?.id == shop.shoesRecommendation)
        #expect(shoes.influencedBy?.by == shop.ana.id)
        #expect(shoes.recommendationToPurchaseMillis == 40_000)
        #expect(session.hasPurchase)
    }

    @Test func aPurchaseWithoutRecommendationIsNotInfluenced() throws {
        let shop = try ShopSession()
        let session = try shop.script.session()
        let scarf = session.purchases[1]
        #expect(scarf.item == shop.scarf)
        #expect(!scarf.influenced)
        #expect(scarf.recommendationToPurchaseMillis == nil)
    }

    @Test func aGuestsRecommendationInfluencesNothing() throws {
        let shop = try ShopSession()
        let session = try shop.script.session()
        let scarf = session.purchases[2]
        #expect(scarf.atMillis == at(130_000))
        #expect(!scarf.influenced, "Cy is a guest: only an agent's recommendation counts")
    }

    @Test func theLatestEarlierRecommendationGetsTheCredit() throws {
        var script = SessionScript()
        let ana = try script.join("Ana", .agent, at: 0)
        let dan = try script.join("Dan", .agent, at: 500)
        let ben = try script.join("Ben", .customer, at: 1_000)
        let shoes = try script.share(ana, "Red shoes", at: 2_000)
        try script.recommend(ana, shoes, at: 10_000)
        let latest = try script.recommend(dan, shoes, at: 20_000)
        try script.buy(ben, shoes, at: 35_000)
        // A recommendation after the purchase is not credited with it.
        try script.recommend(ana, shoes, at: 40_000)
        let purchase = try #require(try script.session().purchases.first)
        #expect(purchase.influencedBy?.id == latest)
        #expect(purchase.influencedBy?.by == dan.id)
        #expect(purchase.recommendationToPurchaseMillis == 15_000)
        let report = Report(rooms: [try script.history()])
        #expect(report.agents.first { $0.id == dan.id }?.purchasesInfluenced == 1)
        #expect(report.agents.first { $0.id == ana.id }?.purchasesInfluenced == 0)
    }

    @Test func aPurchaseBeforeTheRecommendationIsNotInfluenced() throws {
        var script = SessionScript()
        let ana = try script.join("Ana", .agent, at: 0)
        let ben = try script.join("Ben", .customer, at: 1_000)
        let shoes = try script.share(ana, "Red shoes", at: 2_000)
        try script.buy(ben, shoes, at: 5_000)
        try script.recommend(ana, shoes, at: 6_000)
        #expect(try script.session().purchases.first?.influenced == false)
    }

    @Test func aRecommendationOfARemovedItemKeepsItsTitle() throws {
        var script = SessionScript()
        let ana = try script.join("Ana", .agent, at: 0)
        let ben = try script.join("Ben", .customer, at: 1_000)
        let coat = try script.share(ana, "Wool coat", price: 19_900, at: 2_000)
        let other = try script.share(ana, "Hat", at: 3_000)
        try script.focus(ben, other, at: 4_000)
        try script.recommend(ana, coat, note: "Last one", at: 5_000)
        try script.remove(ana, coat, at: 8_000)
        try script.focus(ben, nil, at: 9_000)
        let session = try script.session()
        let item = try #require(session.item(coat))
        #expect(item.title == "Wool coat")
        #expect(item.price == Price(currency: "EUR", minorUnits: 19_900))
        #expect(item.removedMillis == at(8_000))
        #expect(session.recommendations.count == 1)
        #expect(session.recommendations.first?.item == coat)
        #expect(session.recommendations.first?.note == "Last one")
        #expect(session.recommendations.first?.openedByCustomer == false)
        let report = Report(rooms: [try script.history()])
        let product = try #require(report.products.first { $0.title == "Wool coat" })
        #expect(product.shown == 1)
        #expect(product.recommended == 1)
        #expect(product.conversionAfterRecommendation == Rate(count: 0, total: 1))
    }

    @Test func aViewEndsWhenItsItemIsRemoved() throws {
        var script = SessionScript()
        let ana = try script.join("Ana", .agent, at: 0)
        let ben = try script.join("Ben", .customer, at: 1_000)
        let coat = try script.share(ana, "Wool coat", at: 2_000)
        try script.focus(ben, coat, at: 10_000)
        try script.remove(ana, coat, at: 25_000)
        // Ben's viewer had not heard of the removal yet: this focus is concurrent with it.
        try script.focus(ben, nil, at: 26_000)
        try script.focus(ben, coat, at: 30_000)
        try script.act(ana, .say("bye"), at: 60_000)
        let session = try script.session()
        #expect(session.views.map(\.startMillis) == [at(10_000), at(30_000)])
        #expect(session.views.map(\.dwellMillis) == [15_000, 0])
    }

    @Test func aFocusWrittenForSomeoneElseIsNoView() throws {
        var script = SessionScript()
        let ana = try script.join("Ana", .agent, at: 0)
        let ben = try script.join("Ben", .customer, at: 1_000)
        let shoes = try script.share(ana, "Red shoes", at: 2_000)
        // The document rejects this (only Ben may move Ben's focus), so the report must too.
        try script.act(ana, .setFocus(participant: ben.id, item: shoes), at: 3_000)
        try script.act(ana, .setProfile(participant: ben.id, Profile(name: "Mallory", requestedRole: .agent)), at: 4_000)
        try script.act(ana, .say("hello"), at: 9_000)
        let session = try script.session()
        #expect(session.views.isEmpty)
        #expect(session.participant(ben.id)?.name == "Ben")
        #expect(session.participant(ben.id)?.role == .customer)
    }

    @Test func aSessionWithNoCustomer() throws {
        var script = SessionScript()
        let ana = try script.join("Ana", .agent, at: 0)
        let shoes = try script.share(ana, "Red shoes", at: 1_000)
        try script.focus(ana, shoes, at: 2_000)
        try script.recommend(ana, shoes, at: 3_000)
        try script.focus(ana, nil, at: 12_000)
        let session = try script.session()
        #expect(session.participants.map(\.id) == [ana.id])
        #expect(session.views.map(\.dwellMillis) == [10_000])
        #expect(session.recommendations.first?.openedByCustomer == false, "an agent's own view is not a customer's")
        #expect(!session.hasPurchase)
        let report = Report(rooms: [try script.history()])
        let agent = try #require(report.agents.first)
        #expect(agent.sessions == 1)
        #expect(agent.conversion == Rate(count: 0, total: 1))
        #expect(agent.conversion.description == "0%")
        #expect(agent.medianDurationMillis == 12_000)
    }

    @Test func aParticipantWithoutProfileIsNamedByItsID() throws {
        var script = SessionScript()
        let ana = try script.join("Ana", .agent, at: 0)
        let anonymous = try script.person()
        let shoes = try script.share(ana, "Red shoes", at: 1_000)
        try script.focus(anonymous, shoes, at: 2_000)
        let session = try script.session()
        let participant = try #require(session.participant(anonymous.id))
        #expect(participant.name == nil)
        #expect(participant.role == .customer, "the role is the owner's grant, profile or not")
        #expect(participant.displayName == String(anonymous.id.description))
        #expect(session.views.first?.dwellMillis == 0, "the session ends with that focus")
    }
}
