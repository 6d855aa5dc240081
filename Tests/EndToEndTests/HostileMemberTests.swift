import CVPeerTestSupport
import Foundation
import PeerCrypto
import Replication
import Store
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// An invited guest turned hostile, as a real node: the stock `cvpeer join` process, whose store
/// the test fills (while it is stopped) with batches made by the project's own sealing code under
/// the guest's own key — a test helper, never a flag of the shipped binary. When the guest starts
/// again, its node offers them to the others like any batch of its own.
@Suite("A hostile guest among real nodes", .serialized)
struct HostileMemberTests {
    /// The guest's own batches, forged on top of its chain in its store.
    struct Forger {
        let identity: Identity
        let keys: RoomKeys
        var document: Document
        let store: Store

        init(folder: String) throws {
            identity = try Identity.load(from: folder + "/identity.key")
            store = try Store(path: folder + "/store.sqlite")
            guard let room = try store.rooms().first else { throw LabFailure("the guest's store holds no room") }
            keys = room.keys
            document = try store.loadReplica(room: keys, nowMillis: .max).replica.document
        }

        /// Seals `edits` as the guest's next batch, with the first counter and timestamp given, and stores it.
        mutating func forge(_ edits: [Edit], counter: UInt64? = nil, at time: HLC? = nil) throws {
            let sealed = try sealNext(edits, counter: counter, at: time)
            document.apply(sealed.batch)
            try store.append([sealed], room: keys.tag)
        }

        /// Seals `edits` as the guest's next batch without taking it in: called twice, two
        /// versions of one batch.
        func sealNext(_ edits: [Edit], counter: UInt64? = nil, at time: HLC? = nil) throws -> SealedBatch {
            let me = ReplicaID(identity.publicKey)
            let honest = document.draft(author: me)
            var draft = BatchDraft(
                author: me, sequence: honest.sequence, startCounter: counter ?? honest.startCounter, previous: honest.previous)
            let now = HLC(millis: UInt64(Date().timeIntervalSince1970 * 1000), logical: 0)
            for edit in edits { try draft.append(edit, at: time ?? now) }
            return try draft.seal(identity: identity, epoch: 0, contentKey: keys.contentKey(epoch: 0), room: keys.roomID)
        }
    }

    /// Writes sealed batches as `HostileNode` reads them: a 4-byte big-endian length, then the bytes.
    static func writeBatches(_ batches: [[UInt8]], to path: String) throws {
        var bytes: [UInt8] = []
        for batch in batches { bytes += withUnsafeBytes(of: UInt32(batch.count).bigEndian, Array.init) + batch }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// The port a node listens on, from its status.
    static func listenPort(_ lab: SessionLab, _ node: String) throws -> UInt16 {
        let listen = try lab.json(node, ["status", "--json"])["listen"] as? String ?? ""
        guard let port = listen.split(separator: ":").last.flatMap({ UInt16($0) }) else { throw LabFailure("no listen port in \(listen)") }
        return port
    }

    @Test(
        "a hostile node shows two peers two versions of one batch: both name the equivocator within a few sync rounds and their state hashes meet again; its far-future batch and a customer's batches copied into another room are refused",
        .timeLimit(.minutes(6)))
    func aHostileNodeEquivocates() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        _ = try lab.join(invite, name: "Ben", data: "customer")
        let guest = try lab.join(invite, name: "Gus", data: "guest", extra: ["--role", "guest"])
        // Olga's room, which Gus joins too and Ben never does.
        let (_, otherInvite) = try lab.host(name: "Olga", data: "other", rendezvous: nil)
        let guestElsewhere = try lab.join(otherInvite, name: "Gus", data: "guest-other")
        try #require(lab.wait(40) { try lab.peerCount("agent") == 2 && lab.peerCount("other") == 1 }, "no links:\n\(lab.transcript)")
        try lab.cli("customer", ["say", "Ben's own words"])
        try #require(
            lab.wait(40) {
                let hash = try lab.stateHash("agent")
                return try lab.stateHash("customer") == hash && lab.stateHash("guest") == hash
            }, "no convergence:\n\(lab.transcript)")
        func status(_ node: String) throws -> [String: Any] { try lab.json(node, ["status", "--json"]) }
        let guestID = try #require((try status("guest")["me"] as? [String: Any])?["id"] as? String)
        let benID = try #require((try status("customer")["me"] as? [String: Any])?["id"] as? String)
        guest.stop()
        guestElsewhere.stop()

        // Gus's next batch three ways: stamped in the year 10889, and two honest-looking versions.
        let forger = try Forger(folder: lab.data("guest"))
        let future = try forger.sealNext([.say("from the year 10889")], at: HLC(millis: HLC.maxMillis - 1, logical: 0))
        let toAna = try forger.sealNext([.say("only Ana hears this")])
        let toBen = try forger.sealNext([.say("only Ben hears this")])
        #expect(toAna.batch.id == toBen.batch.id)
        // Everything Ben wrote in Ana's room, as Gus holds it.
        let copied = try forger.store.batches(room: forger.keys.tag).filter { $0.author.map { String(format: "%02x", $0) }.joined() == benID }.map(\.sealed)
        try #require(!copied.isEmpty)
        try Self.writeBatches([future.sealed], to: lab.folder + "/future")
        try Self.writeBatches([toAna.sealed], to: lab.folder + "/to-ana")
        try Self.writeBatches([toBen.sealed], to: lab.folder + "/to-ben")
        try Self.writeBatches(copied, to: lab.folder + "/to-olga")
        // First the far-future batch alone: refused as such, so its number stays free.
        let agentPort = try Self.listenPort(lab, "agent")
        let early = try ChildProcess(
            BuiltBinary.url("HostileNode"), ["--data", lab.data("guest"), "--send", "\(agentPort)=\(lab.folder)/future"], name: "hostile Gus, early")
        defer { early.stop() }
        try #require(
            lab.wait(40) { ((try status("agent")["refusedBatches"] as? [String: Int])?["tooFarAhead"] ?? 0) >= 1 },
            "the far-future batch was not refused as such:\n\(early.output.joined(separator: "\n"))")
        early.stop()

        let hostile = try ChildProcess(
            BuiltBinary.url("HostileNode"),
            [
                "--data", lab.data("guest"), "--send", "\(agentPort)=\(lab.folder)/to-ana",
                "--send", "\(try Self.listenPort(lab, "customer"))=\(lab.folder)/to-ben",
            ], name: "hostile Gus")
        defer { hostile.stop() }
        let hostileElsewhere = try ChildProcess(
            BuiltBinary.url("HostileNode"),
            ["--data", lab.data("guest-other"), "--send", "\(try Self.listenPort(lab, "other"))=\(lab.folder)/to-olga"],
            name: "hostile Gus in Olga's room")
        defer { hostileElsewhere.stop() }

        // Each victim took its own version; their next exchange shows the heads differ.
        func names(_ node: String) throws -> Bool {
            let list = try status(node)["equivocators"] as? [[String: Any]] ?? []
            return list.contains { $0["id"] as? String == guestID && $0["fromBatch"] as? Int == Int(toAna.batch.id.sequence) }
        }
        try #require(
            lab.wait(60) { try names("agent") && names("customer") },
            "the equivocation was not named on both:\n\(hostile.output.joined(separator: "\n"))\n\(lab.transcript)")
        try #require(lab.wait(40) { try lab.stateHash("agent") == lab.stateHash("customer") }, "no convergence after the proof")
        for node in ["agent", "customer"] {
            let chat = ((try lab.json(node, ["export", "--json"])["document"] as? [String: Any])?["chat"] as? [[String: Any]] ?? [])
                .compactMap { $0["text"] as? String }
            #expect(chat.contains("Ben's own words"))
            #expect(!chat.contains("only Ana hears this") && !chat.contains("only Ben hears this"), "\(node): \(chat)")
            #expect(!chat.contains("from the year 10889"), "\(node): \(chat)")
        }

        // Olga's node could not open Ben's batches: they are bound to Ana's room.
        try #require(
            lab.wait(40) { ((try status("other")["refusedBatches"] as? [String: Int])?["notAuthentic"] ?? 0) >= copied.count },
            "the copied batches were not refused:\n\(hostileElsewhere.output.joined(separator: "\n"))")
        let olgaDocument = try #require(try lab.json("other", ["export", "--json"])["document"] as? [String: Any])
        #expect((olgaDocument["participants"] as? [String: Any])?[benID] == nil, "Ben appears in a room he never joined")
        #expect(((olgaDocument["chat"] as? [[String: Any]]) ?? []).isEmpty)

        // The room works on, and the proof outlives a restart of the agent's node.
        try lab.cli("customer", ["say", "after the fork"])
        try #require(lab.wait(40) { try lab.stateHash("agent") == lab.stateHash("customer") })
        hostile.stop()
        lab.stopAll()
        _ = try lab.host(name: "Ana", data: "agent", rendezvous: nil, extra: ["--resume"])
        #expect(try names("agent"), "the equivocator is forgotten after a restart")
    }

    @Test(
        "a guest's role claim, grant to itself, recommendation, repricing and removal of the agent's items change nothing anywhere; a purchase is credited to no one; a huge counter leaves the room working across restarts; a far-future batch is refused, also from the guest's own store",
        .enabled(if: cjpegAvailable, "cjpeg (libjpeg-turbo-progs) is needed for the product photos; ./dev test installs it"),
        .timeLimit(.minutes(6)))
    func aHostileGuestChangesNothing() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        _ = try lab.join(invite, name: "Ben", data: "customer")
        var guest = try lab.join(invite, name: "Gus", data: "guest", extra: ["--role", "guest"])
        try #require(lab.wait(40) { try lab.peerCount("agent") == 2 }, "the nodes did not link:\n\(lab.transcript)")
        func converged() -> Bool {
            lab.wait(40) {
                let hash = try lab.stateHash("agent")
                return try lab.stateHash("customer") == hash && lab.stateHash("guest") == hash
            }
        }
        let lamp = SessionLab.itemID(
            try lab.cli("agent", ["share", try lab.noiseJPEG(width: 200, height: 200, name: "lamp.jpg"), "--title", "Desk lamp", "--price", "129.90 EUR"]))
        let chair = SessionLab.itemID(
            try lab.cli("agent", ["share", try lab.noiseJPEG(width: 200, height: 200, name: "chair.jpg"), "--title", "Armchair", "--price", "349.00 EUR"]))
        try #require(converged(), "no convergence after the shares:\n\(lab.transcript)")
        let guestID = try #require((try lab.json("guest", ["status", "--json"])["me"] as? [String: Any])?["id"] as? String)
        func role(of id: String, on node: String) throws -> String? {
            let members = try lab.json(node, ["status", "--json"])["members"] as? [[String: Any]] ?? []
            return members.first { $0["id"] as? String == id }?["role"] as? String
        }
        try #require(lab.wait(20) { try role(of: guestID, on: "agent") == "guest" }, "the owner did not make Gus a guest")

        // The local API mirrors the rules: a customer's node refuses to recommend, in one clear line.
        let refused = try CLIProcess.run(["recommend", lamp, "--data", lab.data("customer")], timeout: 60)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("only an agent may recommend"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1)

        // The guest goes hostile: stopped, its store filled with forged batches of its own, restarted.
        guest.stop()
        let before = try lab.stateHash("agent")
        var forger = try Forger(folder: lab.data("guest"))
        let agentID = try #require((try lab.json("agent", ["status", "--json"])["me"] as? [String: Any])?["id"] as? String)
        let lampID = try OpIDText.parse(lamp)
        let chairID = try OpIDText.parse(chair)
        let me = ReplicaID(forger.identity.publicKey)
        try forger.forge([
            .setProfile(participant: me, Profile(name: "Ana", requestedRole: .agent)),
            .grantRole(member: me, role: .agent, fromSequence: 1),
            .commerce(.recommend(item: lampID, note: "Influenced by Ana")),
            .setItemField(item: lampID, .price(Price(currency: "EUR", minorUnits: 100))),
            .removeItem(chairID),
        ])
        try forger.forge([.say("freeze the room")], counter: Limits.maxCounter - 10)
        try forger.forge([.say("from the year 10889")], at: HLC(millis: HLC.maxMillis - 1, logical: 0))
        guest = try lab.join(invite, name: "Gus", data: "guest", extra: ["--role", "guest"])
        try #require(lab.wait(40) { try lab.peerCount("agent") == 2 }, "the guest did not come back:\n\(lab.transcript)")
        // Its profile batch (the name) is applied; every forbidden operation and the far-future batch are not.
        try #require(
            lab.wait(40) {
                let members = try lab.json("agent", ["status", "--json"])["rejectedOperations"] as? [[String: Any]] ?? []
                return members.contains { $0["id"] as? String == guestID && ($0["count"] as? Int ?? 0) >= 3 }
            }, "the agent never took the forged batch in:\n\(lab.transcript)")

        for node in ["agent", "customer"] {
            let export = try lab.json(node, ["export", "--json"])
            let document = try #require(export["document"] as? [String: Any])
            let items = try #require(document["items"] as? [String: [String: Any]])
            let lampItem = try #require(items[lamp], "\(node): the lamp is gone")
            let lampFields = try #require(lampItem["fields"] as? [String: Any])
            let price = try #require(lampFields["price"] as? [String: Any])
            #expect(price["minorUnits"] as? Int == 12_990, "\(node): repriced")
            #expect(items[chair] != nil, "\(node): the agent's armchair was removed by a guest")
            let commerce = document["commerce"] as? [[String: Any]] ?? []
            #expect(!commerce.contains { $0["kind"] as? String == "recommend" }, "\(node): the guest's recommendation counted")
            let chat = (document["chat"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
            #expect(!chat.contains("freeze the room") && !chat.contains("from the year 10889"), "\(node): \(chat)")
            #expect(try role(of: guestID, on: node) == "guest", "\(node): the guest made itself an agent")
            #expect(try role(of: agentID, on: node) == "agent")
        }
        #expect(try lab.stateHash("agent") != before, "the guest's permitted rename did arrive")
        // The stock node that holds the far-future batch left it out when it reopened its store,
        // so it never even offered it (the network entry refuses it too: ReplicationTests).
        let guestChat = ((try lab.json("guest", ["export", "--json"])["document"] as? [String: Any])?["chat"] as? [[String: Any]] ?? [])
            .compactMap { $0["text"] as? String }
        #expect(!guestChat.contains("from the year 10889"))

        // The room still works for everyone: the huge counter froze nothing.
        try lab.cli("agent", ["say", "still open"])
        try lab.cli("customer", ["buy", lamp])
        try #require(lab.wait(40) { try lab.stateHash("agent") == lab.stateHash("customer") }, "\(lab.transcript)")
        // The purchase is credited to no one: only the guest "recommended" it.
        let report = try CLIProcess.run(["report", "--data", lab.data("agent"), "--format", "json"], timeout: 60)
        try #require(report.status == 0, "\(report.stderr)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any])
        let session = try #require((figures["sessions"] as? [[String: Any]])?.first)
        let purchases = try #require(session["purchases"] as? [[String: Any]])
        #expect(purchases.count == 1)
        #expect(purchases.first?["recommendation"] is NSNull, "\(purchases)")
        #expect((session["recommendations"] as? [Any])?.isEmpty == true)
        let participants = session["participants"] as? [[String: Any]] ?? []
        let agents = participants.filter { $0["role"] as? String == "agent" }.compactMap { $0["id"] as? String }
        #expect(agents == [agentID], "only the owner-granted agent counts as one: \(participants)")

        // Across restarts of every node, the room keeps working and the forged batches stay out.
        lab.stopAll()
        _ = try lab.host(name: "Ana", data: "agent", rendezvous: nil, extra: ["--resume"])
        // The guest's own node left its far-future batch out of its document when it reopened its store.
        let guestStore = try Store(path: lab.data("guest") + "/store.sqlite")
        let reopened = try guestStore.loadReplica(room: forger.keys, nowMillis: UInt64(Date().timeIntervalSince1970 * 1000))
        #expect(!reopened.replica.document.chat.contains { $0.text == "from the year 10889" })
        #expect(reopened.unreadable.count == 1, "the far-future batch is left out at reopening")
        try lab.cli("agent", ["say", "after the restart"])
        let chat = ((try lab.json("agent", ["export", "--json"])["document"] as? [String: Any])?["chat"] as? [[String: Any]] ?? [])
            .compactMap { $0["text"] as? String }
        #expect(chat.contains("after the restart"))
        #expect(!chat.contains("freeze the room"))
    }
}

/// Reads the `COUNTER-AUTHORHEX` ids the commands print.
enum OpIDText {
    static func parse(_ text: String) throws -> OpID {
        let parts = text.split(separator: "-", maxSplits: 1)
        guard parts.count == 2, let counter = UInt64(parts[0]), parts[1].count == 64 else { throw LabFailure("not an id: \(text)") }
        var bytes: [UInt8] = []
        var index = parts[1].startIndex
        while index < parts[1].endIndex {
            let next = parts[1].index(index, offsetBy: 2)
            guard let byte = UInt8(parts[1][index..<next], radix: 16) else { throw LabFailure("not hex: \(text)") }
            bytes.append(byte)
            index = next
        }
        return OpID(counter: counter, replica: ReplicaID(try PublicKey(bytes: bytes)))
    }
}
