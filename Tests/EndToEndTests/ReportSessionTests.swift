import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `cvpeer report` on the stores of two real nodes after a session scripted through the control
/// commands: the agent's node gives the expected figures, and the customer's node, from its own
/// store, computes the same session facts.
@Suite("The report of a real session", .serialized)
struct ReportSessionTests {
    /// The least time slept between two scripted steps, in milliseconds: the lower bound of every
    /// dwell and delay the test asserts. Upper bounds are only the wall time of the whole script
    /// (the machine is shared: nothing here asserts on speed).
    static let pause: UInt32 = 300

    @Test(
        "agent and customer on loopback: views, a recommendation opened afterwards, a cart add, an influenced and an uninfluenced purchase; both nodes report the same session",
        .enabled(if: cjpegAvailable, "cjpeg (libjpeg-turbo-progs) is needed for the photos; ./dev test installs it"),
        .timeLimit(.minutes(5)))
    func reportOfAScriptedSession() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let scriptStart = Self.nowMillis()

        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        _ = try lab.join(invite, name: "Ben", data: "customer")
        try #require(
            lab.wait(30) { try lab.peerCount("agent") == 1 && lab.peerCount("customer") == 1 },
            "the nodes did not link:\n\(lab.transcript)")
        let agentStatus = try lab.json("agent", ["status", "--json"])
        let customerStatus = try lab.json("customer", ["status", "--json"])
        let agentID = try #require((agentStatus["me"] as? [String: Any])?["id"] as? String)
        let customerID = try #require((customerStatus["me"] as? [String: Any])?["id"] as? String)
        let room = try #require(agentStatus["room"] as? String)

        /// Waits until both nodes hold the same document, so the next act follows what its author saw.
        func synced(_ step: String) throws {
            let same = lab.wait(30) { try lab.stateHash("agent") == lab.stateHash("customer") }
            try #require(same, "the nodes did not converge after \(step):\n\(lab.transcript)")
        }
        func pause() { usleep(Self.pause * 1000) }

        // The agent shares two products and a photo.
        let lampFile = try lab.noiseJPEG(width: 240, height: 240, name: "lamp.jpg")
        let chairFile = try lab.noiseJPEG(width: 240, height: 240, name: "chair.jpg")
        let photoFile = try lab.noiseJPEG(width: 640, height: 480, name: "room.jpg")
        let lamp = SessionLab.itemID(
            try lab.cli("agent", ["share", lampFile, "--title", "Desk lamp", "--price", "129.90 EUR"]))
        let chair = SessionLab.itemID(
            try lab.cli("agent", ["share", chairFile, "--title", "Armchair", "--price", "349.00 EUR"]))
        let photo = SessionLab.itemID(try lab.cli("agent", ["share", photoFile, "--title", "Living room"]))
        try synced("the shares")

        // The customer looks at the armchair, then the lamp.
        try lab.cli("customer", ["view", chair])
        try synced("the first view")
        pause()
        try lab.cli("customer", ["view", lamp, "--zoom", "2", "--center", "0.4,0.6"])
        try synced("the second view")
        pause()
        // The agent recommends the lamp while the customer has it open: that view does not count as
        // opening it afterwards.
        let note = "Warm light, fits the desk"
        let recommendation = try lab.cli("agent", ["recommend", lamp, "--note", note])
        try synced("the recommendation")
        pause()
        // The customer goes back to the armchair, then opens the recommended lamp again.
        try lab.cli("customer", ["view", chair])
        try synced("the third view")
        pause()
        try lab.cli("customer", ["view", lamp])
        try synced("the fourth view")
        pause()
        let cartAdd = try lab.cli("customer", ["cart", lamp])
        try synced("the cart add")
        let lampPurchase = try lab.cli("customer", ["buy", lamp])
        try synced("the lamp purchase")
        let chairPurchase = try lab.cli("customer", ["buy", chair])
        try synced("the armchair purchase")
        let scriptEnd = Self.nowMillis()
        let wallTime = scriptEnd - scriptStart

        // The agent's report, read while both nodes keep running (the store is a live WAL database).
        let agentOutput = try CLIProcess.run(["report", "--format", "json", "--data", lab.data("agent")])
        #expect(agentOutput.status == 0, "\(agentOutput.stderr)")
        #expect(agentOutput.stderr.isEmpty, "\(agentOutput.stderr)")
        let report = try Self.object(agentOutput.stdout)
        #expect(report["format"] as? String == "cvpeer-report/1")
        let all = try lab.cli("agent", ["report", "--all", "--format", "json"])
        #expect(all + "\n" == agentOutput.stdout, "--all is the default and there is one room")
        let onlyRoom = try lab.cli("agent", ["report", "--room", room, "--format", "json"])
        #expect(onlyRoom + "\n" == agentOutput.stdout, "--room of the one room gives the same report")

        let sessions = try #require(report["sessions"] as? [[String: Any]])
        try #require(sessions.count == 1, "\(agentOutput.stdout)")
        #expect((report["idleRooms"] as? [Any])?.isEmpty == true)
        let session = sessions[0]
        #expect(session["room"] as? String == room)
        #expect((session["roomTag"] as? String)?.hasPrefix(room) == true)
        #expect((session["roomTag"] as? String)?.count == 32)
        let start = try #require(session["startMillis"] as? Int)
        let end = try #require(session["endMillis"] as? Int)
        #expect(start >= scriptStart && end <= scriptEnd, "the session lies within the script's wall time")
        #expect(session["durationMillis"] as? Int == end - start)
        #expect(session["hasPurchase"] as? Bool == true)

        // Participants, by key, with their roles.
        let participants = try #require(session["participants"] as? [[String: Any]])
        let people = participants.map { person in
            ["id", "name", "role"].map { person[$0] as? String ?? "" }
        }
        let expectedPeople = [[agentID, "Ana", "agent"], [customerID, "Ben", "customer"]].sorted { $0[0] < $1[0] }
        #expect(people == expectedPeople)

        // Items: the two product cards and the photo, with the titles and prices shared.
        let items = try #require(session["items"] as? [[String: Any]])
        let itemsByID = Dictionary(uniqueKeysWithValues: items.map { ($0["id"] as? String ?? "", $0) })
        #expect(Set(itemsByID.keys) == [lamp, chair, photo])
        #expect(itemsByID[lamp]?["kind"] as? String == "productCard")
        #expect(itemsByID[lamp]?["title"] as? String == "Desk lamp")
        #expect(Self.price(itemsByID[lamp]) == "EUR 12990")
        #expect(itemsByID[chair]?["kind"] as? String == "productCard")
        #expect(itemsByID[chair]?["title"] as? String == "Armchair")
        #expect(Self.price(itemsByID[chair]) == "EUR 34900")
        #expect(itemsByID[photo]?["kind"] as? String == "image")
        #expect(itemsByID[photo]?["title"] as? String == "Living room")
        #expect(itemsByID[photo]?["price"] is NSNull)
        for item in items {
            #expect(item["sharedBy"] as? String == agentID)
            #expect(item["removedMillis"] is NSNull)
            let shared = item["sharedMillis"] as? Int ?? 0
            #expect(shared >= start && shared <= end)
        }

        // Views: the customer's four, in the scripted order, each at least the pause after it; the
        // agent opened nothing.
        let views = try #require(session["views"] as? [[String: Any]])
        #expect(views.allSatisfy { $0["participant"] as? String == customerID }, "only the customer viewed")
        let viewed = views.map { $0["item"] as? String ?? "" }
        #expect(viewed == [chair, lamp, chair, lamp])
        let dwells = views.map { $0["dwellMillis"] as? Int ?? -1 }
        let pause = Int(Self.pause)
        // The second view spans the recommendation step: two pauses.
        let minima = [pause, 2 * pause, pause, pause]
        if dwells.count == minima.count {
            for index in dwells.indices {
                #expect(dwells[index] >= minima[index], "view \(index + 1) lasted \(dwells[index]) ms")
                #expect(dwells[index] <= wallTime)
            }
        }
        for (index, view) in views.enumerated() {
            let viewStart = view["startMillis"] as? Int ?? 0
            let viewEnd = view["endMillis"] as? Int ?? 0
            #expect(viewEnd - viewStart == view["dwellMillis"] as? Int)
            #expect(viewStart >= start && viewEnd <= end)
            // Each view lasts until the next one begins; the last one until the session's end.
            let next = index + 1 < views.count ? views[index + 1]["startMillis"] as? Int : end
            #expect(viewEnd == next, "view \(index + 1) ends when the next focus begins")
        }

        // The recommendation: by Ana, of the lamp, with the note; the customer opened it afterwards
        // (the fourth view, not the second, which was already open).
        let recommendations = try #require(session["recommendations"] as? [[String: Any]])
        try #require(recommendations.count == 1)
        let recommended = recommendations[0]
        #expect(recommended["id"] as? String == recommendation)
        #expect(recommended["by"] as? String == agentID)
        #expect(recommended["item"] as? String == lamp)
        #expect(recommended["note"] as? String == note)
        #expect(recommended["openedByCustomer"] as? Bool == true)
        let recommendedAt = try #require(recommended["atMillis"] as? Int)
        if views.count == 4 {
            #expect(recommendedAt >= (views[1]["startMillis"] as? Int ?? .max))
            #expect(recommended["customerOpenedMillis"] as? Int == views[3]["startMillis"] as? Int)
        }
        let openedAfter = try #require(recommended["customerOpenedAfterMillis"] as? Int)
        #expect(openedAfter >= 2 * pause && openedAfter <= wallTime, "opened \(openedAfter) ms after")
        #expect(recommended["customerOpenedMillis"] as? Int == recommendedAt + openedAfter)

        // The cart add and the two purchases.
        let cartAdds = try #require(session["cartAdds"] as? [[String: Any]])
        try #require(cartAdds.count == 1)
        #expect(cartAdds[0]["id"] as? String == cartAdd)
        #expect(cartAdds[0]["by"] as? String == customerID)
        #expect(cartAdds[0]["item"] as? String == lamp)
        #expect(cartAdds[0]["quantity"] as? Int == 1)
        let cartAt = cartAdds[0]["atMillis"] as? Int ?? 0
        #expect(cartAt >= recommendedAt + 3 * pause)

        let purchases = try #require(session["purchases"] as? [[String: Any]])
        try #require(purchases.count == 2)
        let (lampBought, chairBought) = (purchases[0], purchases[1])
        #expect(lampBought["id"] as? String == lampPurchase)
        #expect(lampBought["by"] as? String == customerID)
        #expect(lampBought["item"] as? String == lamp)
        #expect(lampBought["quantity"] as? Int == 1)
        #expect(lampBought["influenced"] as? Bool == true)
        #expect(lampBought["recommendation"] as? String == recommendation)
        #expect(lampBought["recommendedBy"] as? String == agentID)
        let lampAt = try #require(lampBought["atMillis"] as? Int)
        #expect(lampAt >= cartAt)
        let delay = try #require(lampBought["recommendationToPurchaseMillis"] as? Int)
        #expect(delay == lampAt - recommendedAt)
        #expect(delay >= 3 * pause && delay <= wallTime, "recommendation to purchase: \(delay) ms")

        #expect(chairBought["id"] as? String == chairPurchase)
        #expect(chairBought["by"] as? String == customerID)
        #expect(chairBought["item"] as? String == chair)
        #expect(chairBought["quantity"] as? Int == 1)
        #expect(chairBought["influenced"] as? Bool == false, "nobody recommended the armchair")
        #expect(chairBought["recommendation"] is NSNull)
        #expect(chairBought["recommendedBy"] is NSNull)
        #expect(chairBought["recommendationToPurchaseMillis"] is NSNull)
        #expect((chairBought["atMillis"] as? Int ?? 0) >= lampAt)
        #expect(end == chairBought["atMillis"] as? Int, "the armchair purchase is the session's last operation")

        // Per agent: one session, converted, one recommendation, one influenced purchase.
        let agents = try #require(report["agents"] as? [[String: Any]])
        try #require(agents.count == 1, "only Ana is an agent")
        let agent = agents[0]
        #expect(agent["id"] as? String == agentID)
        #expect(agent["name"] as? String == "Ana")
        #expect(agent["sessions"] as? Int == 1)
        #expect(agent["sessionsWithPurchase"] as? Int == 1)
        #expect(agent["conversionRate"] as? Double == 1)
        #expect(agent["medianDurationMillis"] as? Int == end - start)
        #expect(agent["itemsShown"] as? Int == 3)
        #expect(agent["recommendations"] as? Int == 1)
        #expect(agent["purchasesInfluenced"] as? Int == 1)

        // Per product: the two product cards (the photo is not one), keyed by title (no link).
        let products = try #require(report["products"] as? [[String: Any]])
        let figures = products.map { product in
            [
                "key", "title", "shown", "views", "recommended", "addedToCart", "purchases", "unitsBought",
                "sessionsRecommended", "sessionsBoughtAfterRecommendation",
            ].map { "\(product[$0] ?? "missing")" }
        }
        #expect(
            figures == [
                ["title:Armchair", "Armchair", "1", "2", "0", "0", "1", "1", "0", "0"],
                ["title:Desk lamp", "Desk lamp", "1", "2", "1", "1", "1", "1", "1", "1"],
            ])
        if products.count == 2 {
            #expect(Self.price(products[0]) == "EUR 34900")
            #expect(Self.price(products[1]) == "EUR 12990")
            #expect(products[0]["url"] is NSNull && products[1]["url"] is NSNull)
            #expect(products[0]["conversionAfterRecommendation"] is NSNull, "never recommended: no rate")
            #expect(products[1]["conversionAfterRecommendation"] as? Double == 1)
        }
        // The product figures agree with the session's facts.
        for product in products {
            let id = product["title"] as? String == "Desk lamp" ? lamp : chair
            #expect(product["views"] as? Int == views.filter { $0["item"] as? String == id }.count)
            #expect(product["purchases"] as? Int == purchases.filter { $0["item"] as? String == id }.count)
            #expect(product["addedToCart"] as? Int == cartAdds.filter { $0["item"] as? String == id }.count)
            #expect(product["recommended"] as? Int == recommendations.filter { $0["item"] as? String == id }.count)
        }

        // The customer's node, from its own store of the same room, computes the same session. Nothing
        // in a session object is per node (docs/REPORT.md: every figure comes from the room's merged
        // operations, timed by their authors' clocks, and the ids are the operations'), so the whole
        // object must be equal; so are the figures across sessions, computed from it alone.
        let customerOutput = try CLIProcess.run(["report", "--format", "json", "--data", lab.data("customer")])
        #expect(customerOutput.status == 0, "\(customerOutput.stderr)")
        #expect(customerOutput.stderr.isEmpty, "\(customerOutput.stderr)")
        let customerReport = try Self.object(customerOutput.stdout)
        let customerSessions = try #require(customerReport["sessions"] as? [[String: Any]])
        try #require(customerSessions.count == 1)
        #expect(try Self.canonical(customerSessions[0]) == Self.canonical(session), "the two nodes' sessions differ")
        #expect(try Self.canonical(customerReport["agents"] ?? []) == Self.canonical(agents))
        #expect(try Self.canonical(customerReport["products"] ?? []) == Self.canonical(products))
        #expect(customerOutput.stdout == agentOutput.stdout, "the same store contents give the same bytes")

        // The other formats on the customer's node.
        let text = try CLIProcess.run(["report", "--format", "text", "--data", lab.data("customer")])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.hasPrefix("cvpeer report: 1 session, 1 agent, 2 products\n"), "\(text.stdout)")
        #expect(text.stdout.contains("Ben bought 1 × Desk lamp: influenced by Ana's recommendation "))
        #expect(text.stdout.contains("Ben bought 1 × Armchair: not influenced\n"))
        #expect(text.stdout.contains("Ana recommended Desk lamp: \"\(note)\"; a customer opened it "))
        let csv = try CLIProcess.run(["report", "--format", "csv", "--data", lab.data("customer")])
        #expect(csv.status == 0, "\(csv.stderr)")
        let rows = csv.stdout.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(rows.first?.hasPrefix("room,fact,time,") == true, "\(csv.stdout.prefix(200))")
        // The second column; the room (first) is hex, so no quoted comma comes before it.
        let facts = rows.dropFirst().map {
            $0.split(separator: ",", omittingEmptySubsequences: false).dropFirst().first ?? ""
        }
        #expect(
            facts == ["session", "participant", "participant", "view", "view", "view", "view", "recommendation", "cart"]
                + ["purchase", "purchase"], "\(csv.stdout)")

        // The nodes kept running through every report, and the report left their stores alone.
        #expect(try lab.peerCount("agent") == 1 && lab.peerCount("customer") == 1)
        // Once the nodes have stopped (their WAL checkpointed and closed), the stores give the very
        // report read live.
        lab.stopAll()
        for node in ["agent", "customer"] {
            let closed = try CLIProcess.run(["report", "--format", "json", "--data", lab.data(node)])
            #expect(closed.status == 0, "\(closed.stderr)")
            #expect(
                closed.stdout == agentOutput.stdout, "\(node): the stopped store's report differs from the live one")
        }
    }

    private static func nowMillis() -> Int { Int((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    private static func object(_ text: String) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw LabFailure("not a JSON object: \(text.prefix(200))")
        }
        return object
    }

    /// A parsed JSON value written again with sorted keys: equal values give equal text.
    private static func canonical(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
    }

    /// A price object as "CUR minorUnits", or nil.
    private static func price(_ holder: [String: Any]?) -> String? {
        guard let price = holder?["price"] as? [String: Any], let currency = price["currency"] as? String,
            let minor = price["minorUnits"] as? Int
        else { return nil }
        return "\(currency) \(minor)"
    }
}
