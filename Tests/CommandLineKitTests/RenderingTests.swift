import CommandLineKit
import Foundation
import LocalAPI
import Testing

/// The text `cvpeer status`, `export` and the session terminal print, from the local API's answers.
struct RenderingTests {
    /// LocalAPITests' fixture: the status the contract pins, read by path.
    static func fixture(_ name: String) throws -> Data {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        return try Data(contentsOf: folder.appendingPathComponent("LocalAPITests/Fixtures/\(name)"))
    }

    @Test func statusReadsAsBefore() throws {
        let status = try JSONDecoder().decode(NodeStatus.self, from: Self.fixture("status.json"))
        let lines = StatusText.render(status).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.last == "", "ends with a newline")
        let expected = [
            "me:          Ana (agent), fingerprint AB12-CD34",
            "room:        0badf00d",
            "listening:   0.0.0.0:4500",
            "rendezvous:  none",
            "peers:       1",
            "  Bo: direct via 192.0.2.7:4500, rtt 12.3 ms, in sync",
            "    safety number 12345 67890",
            "transfers:   1",
            "  3@c3d4: 37.5%, 196.6 kB of 500.0 kB, 3/8 chunks",
            "members:     1",
            "  Ana (a1b2): agent, owner",
            "epoch:       1",
        ]
        #expect(Array(lines.prefix(expected.count)) == expected)
        #expect(lines[expected.count].hasPrefix("removed:     Eve (e5f6) by Ana in epoch 1, "))
        #expect(
            Array(lines[(expected.count + 1)...].dropLast()) == [
                "code:        42 waiting",
                "asks to join: Cy (0707), fingerprint 1111-2222; cvpeer admit 0707 [--refuse]",
                "state hash:  9f86d081 (12 batches)",
                "refused:     2 operations by Bo (c3d4) that the room's rules forbid; they changed nothing",
                "batches:     1 not authentic",
                "warning:     Eve (e5f6) signed two different versions of one batch; every node leaves that person's edits out from batch 4 on",
            ])
    }

    @Test func statusEscapesWhatPeersWrote() throws {
        var status = try JSONDecoder().decode(NodeStatus.self, from: Self.fixture("status.json"))
        status.peers[0].name = "Bo\u{1B}[2J\nroot"
        status.peers.append(status.peers[0])
        status.peers[1].name = ""
        status.epoch.links = 0
        let text = StatusText.render(status)
        #expect(text.contains("  Bo\\u{001B}[2J\\u{000A}root: direct"))
        #expect(text.contains("  (no profile yet): direct"))
        #expect(text.contains("epoch:       1 (links still in epoch 0)"))
    }

    @Test func exportReadsTheCanonicalDocument() throws {
        let json = """
            {"document": {"participants": {"a1b2c3d4e5": {"name": "Ana", "role": "agent"}},
             "items": {"3-a1b2c3d4e5f6": {"kind": "product", "fields": {"title": "Sofa", "price": {"currency": "JPY", "minorUnits": 1500}}, "marks": [{}, {}]}},
             "panel": ["3-a1b2c3d4e5f6"],
             "chat": [{"author": "a1b2c3d4e5", "time": {"millis": 0}, "text": "hi"}],
             "commerce": [{"by": "a1b2c3d4e5", "kind": "purchase", "item": "3-a1b2c3d4e5f6", "quantity": 2, "time": {"millis": 0}}]},
             "stateHash": "abcd"}
            """
        let export = try JSONDecoder().decode(ExportView.self, from: Data(json.utf8))
        #expect(
            DocumentText.render(export.document, stateHash: export.stateHash) == """
                participants: 1
                  Ana, agent, a1b2c3d4
                panel: 1 item
                  1. 3-a1b2c3d4 product "Sofa", 1500 JPY, 2 marks
                chat: 1 message
                  1970-01-01T00:00:00Z Ana: hi
                commerce: 1 event
                  1970-01-01T00:00:00Z Ana bought 2 × "Sofa" (3-a1b2c3d4)
                state hash: abcd

                """)
    }

    @Test func sessionSaysWhoCameAndWent() {
        let ana = NodeSummary.Peer(name: "Ana", relayed: false)
        let ben = NodeSummary.Peer(name: "Ben", relayed: true)
        let first = NodeSummary(peers: [ana], transfers: [])
        #expect(SessionText.peerChanges(from: nil, to: first) == ["Ana is here (direct)"])
        let second = NodeSummary(peers: [ben], transfers: [.init(item: "Sofa", have: 1, total: 4)])
        #expect(SessionText.peerChanges(from: first, to: second) == ["Ben is here (relayed through the rendezvous)", "Ana left"])
        #expect(SessionText.transferProgress(from: first, to: second) == "\r\u{1B}[Kreceiving Sofa: 25%")
        #expect(SessionText.transferProgress(from: second, to: second) == "")
        let done = NodeSummary(peers: [ben], transfers: [])
        #expect(SessionText.transferProgress(from: second, to: done) == "\r\u{1B}[Kreceived\n")
        #expect(SessionText.peerChanges(from: second, to: done).isEmpty)
    }

    @Test func byteCountsAndShortIDs() {
        #expect(ByteCount(Int64(512)).description == "512 B")
        #expect(ByteCount(UInt64(3_400_000)).description == "3.4 MB")
        #expect(shortID("12-3f2a9b8c7d6e") == "12-3f2a9b8c")
        #expect(shortID(nil) == "?")
    }
}
