import Foundation
import LocalAPI
import Testing

/// Pins the JSON the viewer and the CLI read: representative contract values encode byte for byte
/// to the checked-in fixtures, and every key the viewer's JavaScript reads from them is in a fixture.
@Suite struct ContractFixtureTests {
    static let me = NodeStatus.Me(id: "a1b2", name: "Ana", role: "agent", owner: true, fingerprint: "AB12-CD34")

    static let status = NodeStatus(
        type: "status", me: me, room: "0badf00d",
        peers: [
            NodeStatus.Peer(
                id: "c3d4", name: "Bo", role: "customer", fingerprint: "EF56-7890", path: "direct",
                safetyNumber: "12345 67890", sync: "in sync", badChunks: 0, address: "192.0.2.7:4500",
                rttMillis: 12.34, epoch: 1)
        ],
        transfers: [
            NodeStatus.Transfer(item: "3@c3d4", blob: "ffee", have: 3, total: 8, bytes: 196_608, size: 500_000, percent: 37.5)
        ],
        stateHash: "9f86d081", batches: 12, listen: "0.0.0.0:4500", rendezvous: nil, registered: false,
        blobChecks: NodeStatus.BlobChecks(poisonedChunks: 0, badHashLists: 0, repairedChunks: 1),
        equivocators: [NodeStatus.Equivocator(id: "e5f6", name: "Eve", fromBatch: 4)],
        joinRequests: [NodeStatus.JoinRequest(id: "0707", name: "Cy", fingerprint: "1111-2222", since: 1_700_000_000_000)],
        members: [NodeStatus.Member(id: "a1b2", role: "agent", owner: true, name: "Ana")],
        rejectedOperations: [NodeStatus.RejectedOperations(id: "c3d4", name: "Bo", count: 2)],
        refusedBatches: NodeStatus.RefusedBatches(notAuthentic: 1, tooFarAhead: 0, notAdmitted: 0, removed: 0),
        epoch: NodeStatus.Epoch(room: 1, links: 1, removedFromRoom: false),
        removals: [NodeStatus.Removal(id: "e5f6", name: "Eve", epoch: 1, by: "a1b2", byName: "Ana", at: 1_700_000_100_000)],
        removedPeerLinks: 0,
        limits: NodeStatus.Limits(strokePoints: 2048, quantity: 999, textBytes: 2000, titleBytes: 200, uploadBytes: 2 << 30),
        codes: [NodeStatus.Code(nameplate: 42, state: "waiting", expires: 1_700_000_600_000)],
        linkDrops: ["olderEpochRefused": 1, "badMAC": 0],
        pointersRefused: NodeStatus.PointersRefused(forged: 0, replayed: 1, unknownAuthor: 0),
        quotaDrops: [NodeStatus.QuotaDrop(id: "c3d4", name: "Bo", batches: 5)],
        blobs: [
            NodeStatus.Blob(blob: "aabb", item: "5@a1b2", state: "complete", have: 1, total: 1, bytes: 1234, size: 1234),
            NodeStatus.Blob(blob: "ffee", item: "3@c3d4", state: "arriving", have: 3, total: 8, bytes: 196_608, size: 500_000),
        ])

    static let values: [(fixture: String, text: String)] = [
        ("status", APIJSON.text(status)),
        ("state-extras", APIJSON.text(StateExtras(me: me, prices: ["3@c3d4": "129.90 EUR"]))),
        ("pointer", LiveEvent.pointer(PointerEvent(participant: "c3d4", item: "3@c3d4", x: 0.25, y: 0.5, name: "Bo")).text),
        ("pointer-gone", LiveEvent.pointer(PointerEvent(participant: "c3d4", item: nil)).text),
        ("share", APIJSON.text(ShareAnswer(
            item: "5@a1b2", blob: "aabb", size: 1234, mime: "image/jpeg", kind: "photo", metadataRemoved: true,
            removed: ["GPS"]))),
        ("still-arriving", APIJSON.text(StillArrivingAnswer(have: 3, total: 8))),
        ("playback-request", APIJSON.text(PlaybackRequest(playing: true, positionMillis: 12_500, rate: 1.5))),
        ("mark-request", APIJSON.text(MarkRequest(
            item: "5@a1b2", shape: ShapeRequest(type: "pin", at: [0.25, 0.5]), colour: "#ff0000",
            during: MarkSpanRequest(startMillis: 4_000, endMillis: 4_000)))),
    ]

    static var fixtures: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures") }
    static var viewer: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Node/Viewer")
    }

    static func fixture(_ name: String) throws -> String {
        let text = try String(contentsOf: fixtures.appendingPathComponent(name + ".json"), encoding: .utf8)
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    static func object(_ name: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(fixture(name).utf8)) as? [String: Any])
    }

    @Test(arguments: values.map(\.fixture))
    func encodingMatchesTheFixture(_ name: String) throws {
        let text = try #require(Self.values.first { $0.fixture == name }).text
        #expect(text == (try Self.fixture(name)), "regenerate Fixtures/\(name).json only for a deliberate contract change")
    }

    @Test func statusDecodesBackToTheSameValue() throws {
        let decoded = try JSONDecoder().decode(NodeStatus.self, from: Data(Self.fixture("status").utf8))
        #expect(decoded == Self.status)
    }

    /// `name.key` accesses in the viewer's scripts (`(?<![\w.])name\.key`), in the files given or all.
    static func keys(readFrom name: String, in files: [String]? = nil) throws -> Set<String> {
        let names = try files ?? FileManager.default.contentsOfDirectory(atPath: viewer.path).filter { $0.hasSuffix(".js") }
        let pattern = try NSRegularExpression(pattern: "(?<![\\w.])\(name)\\.([A-Za-z_]\\w*)")
        var keys: Set<String> = []
        for file in names {
            let text = try String(contentsOf: viewer.appendingPathComponent(file), encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                keys.insert(String(text[Range(match.range(at: 1), in: text)!]))
            }
        }
        return keys
    }

    static func firstElement(_ object: [String: Any], _ key: String) -> [String: Any] {
        (object[key] as? [[String: Any]])?.first ?? [:]
    }

    @Test func theViewerReadsOnlyKeysTheFixturesHold() throws {
        let status = try Self.object("status")
        let state = try Self.object("state-extras")
        let pointer = try Self.object("pointer")
        let sharedElementKeys = Set(Self.firstElement(status, "removals").keys).union(Self.firstElement(status, "joinRequests").keys)
        // (variable the viewer names the object, the files, the keys the fixture holds for it)
        let checks: [(String, [String]?, Set<String>)] = [
            ("status", nil, Set(status.keys)),
            ("message", ["presence.js"], Set(pointer.keys)),
            ("line", ["blobs.js"], Set(Self.firstElement(status, "blobs").keys)),
            ("t", ["side.js"], Set(Self.firstElement(status, "transfers").keys)),
            ("p", ["side.js"], Set(Self.firstElement(status, "peers").keys)),
            ("m", ["side.js"], Set(Self.firstElement(status, "members").keys)),
            ("c", ["side.js"], Set(Self.firstElement(status, "equivocators").keys)),
            ("last", ["side.js"], Set(Self.firstElement(status, "codes").keys)),
            ("r", ["side.js"], sharedElementKeys),
            ("meObject", nil, Set((state["me"] as? [String: Any] ?? [:]).keys)),
        ]
        for (name, files, held) in checks {
            let read = try Self.keys(readFrom: name, in: files)
            #expect(!read.isEmpty, "the scan finds \(name).… in the viewer")
            #expect(read.subtracting(held).subtracting(Self.javaScriptMembers).isEmpty, "\(name): \(read.subtracting(held).sorted())")
        }
        // Nested status objects the viewer reads by path (`status.epoch.room`, `status.me.owner`).
        for (key, nested) in [("epoch", status["epoch"]), ("me", status["me"]), ("limits", status["limits"])] {
            let held = Set((nested as? [String: Any] ?? [:]).keys)
            let read = try Self.keys(readFrom: "status\\.\(key)", in: nil)
            #expect(read.subtracting(held).subtracting(Self.javaScriptMembers).isEmpty, "status.\(key): \(read.subtracting(held).sorted())")
        }
    }

    /// `limit(state, 'key')` in the viewer names a key of status `limits`.
    @Test func theViewerAsksOnlyForLimitsTheStatusGives() throws {
        let held = Set((try Self.object("status")["limits"] as? [String: Any] ?? [:]).keys)
        let pattern = try NSRegularExpression(pattern: "\\blimit\\([^,]+, '(\\w+)'")
        var read: Set<String> = []
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.viewer.path) where file.hasSuffix(".js") {
            let text = try String(contentsOf: Self.viewer.appendingPathComponent(file), encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                read.insert(String(text[Range(match.range(at: 1), in: text)!]))
            }
        }
        #expect(read.count >= 4, "the scan finds the viewer's limit(…) calls")
        #expect(read.subtracting(held).isEmpty, "\(read.subtracting(held).sorted())")
    }

    /// Members of JavaScript's own objects the scan meets on these names (`status.peers.map`).
    static let javaScriptMembers: Set<String> = ["length", "map", "filter", "forEach", "some", "find", "includes", "localeCompare"]
}
