import CVPeerTestSupport
import Foundation
import PeerCrypto
import Store
import Testing

@testable import Replication

/// Files that would run script if a browser took them for a page, shared by a member: through the
/// API (which refuses SVG and HTML, and takes polyglots that start like a photo as that photo) and
/// through the member's own store (an item naming its blob `image/svg+xml`, which no stock node
/// would write). The agent's viewer opens every blob URL in a tab of its own origin: no script runs,
/// the document and the page stay as they were.
@Suite("Hostile files in the viewer", .serialized)
struct HostileBlobBrowserTests {
    /// What each payload's script would do with the victim's session: say something, fill a cart.
    static func payload(_ label: String) -> String {
        "fetch('/api/say',{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify({text:'PWNED \(label)'})});"
            + "window.cvpeerPwned='\(label)';document.title='PWNED';try{localStorage.setItem('pwned','\(label)')}catch(e){}"
    }

    static let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"\(payload("svg onload"))\"><script>\(payload("svg"))</script><rect width=\"10\" height=\"10\"/></svg>"
    static let html = "<!doctype html><html><body><h1>photo</h1><script>\(payload("html"))</script></body></html>"

    static func write(_ bytes: [UInt8], _ path: String) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(
        "an SVG, an HTML page and polyglots with lying extensions shared by a member never run script on the agent's viewer origin; an item naming its blob image/svg+xml never reaches the agent",
        .enabled(if: ViewerTests.browserAvailable, "chromium, chromium-driver and python3-selenium are needed; ./dev test installs them"),
        .timeLimit(.minutes(6)))
    func hostileFilesRunNoScript() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (agent, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        var member = try lab.join(invite, name: "Mal", data: "member")
        try #require(lab.wait(40) { try lab.peerCount("agent") == 1 }, "no link:\n\(lab.transcript)")

        // Through the API: plain SVG and HTML are refused, whatever they are called.
        for (name, text) in [("evil.svg", Self.svg), ("photo.jpg", Self.html), ("page.html", Self.html)] {
            let path = try Self.write(Array(text.utf8), lab.folder + "/" + name)
            let refused = try CLIProcess.run(["share", path, "--keep-metadata", "--data", lab.data("member")], timeout: 60)
            #expect(refused.status != 0, "\(name) was shared")
            #expect(refused.stderr.contains("is not a photo or video"), "\(name): \(refused.stderr)")
        }
        // Polyglots: photo magic, then markup with script. The API takes each as the photo it starts like.
        let polyglots: [(name: String, bytes: [UInt8])] = [
            ("svg-in.gif", Array("GIF89a".utf8) + Array(Self.svg.utf8)),
            ("page-in.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(Self.html.utf8)),
            ("lying.jpg", [0xFF, 0xD8, 0xFF, 0xE0] + Array(Self.html.utf8)),
        ]
        var items: [String] = []
        for polyglot in polyglots {
            let path = try Self.write(polyglot.bytes, lab.folder + "/" + polyglot.name)
            items.append(SessionLab.itemID(try lab.cli("member", ["share", path, "--keep-metadata"])))
        }
        let converged = lab.wait(60) { try lab.stateHash("agent") == lab.stateHash("member") && lab.transfersDone("agent") }
        try #require(converged, "the shares did not arrive:\n\(lab.transcript)")
        let blobs = try items.map { item in
            let document = try #require(try lab.json("agent", ["export", "--json"])["document"] as? [String: Any])
            let fields = (document["items"] as? [String: [String: Any]])?[item]?["fields"] as? [String: Any]
            return try #require((fields?["media"] as? [String: Any])?["id"] as? String, "no blob for \(item)")
        }

        // Through the member's store: an item naming its blob image/svg+xml, its chunks and list, and a
        // chat line after it, in batches the stock node then offers the agent like any of its own.
        member.stop()
        let forged = try Self.forgeSVGItem(folder: lab.data("member"))
        member = try lab.join(invite, name: "Mal", data: "member")
        try #require(
            lab.wait(60) {
                let document = try lab.json("agent", ["export", "--json"])["document"] as? [String: Any]
                return ((document?["chat"] as? [[String: Any]]) ?? []).contains { $0["text"] as? String == "after the svg" }
            }, "the forged batches did not reach the agent:\n\(lab.transcript)")

        guard let line = agent.line("Your viewer", timeout: 5), let url = line.split(separator: " ").last else {
            Issue.record("no viewer URL")
            return
        }
        try FileManager.default.createDirectory(atPath: ViewerTests.artefacts, withIntermediateDirectories: true)
        let script = ViewerTests.browserScript("viewer_test.py")
        let arguments = [script.path, "--hostile-blobs", String(url), ViewerTests.artefacts]
            + zip(polyglots, blobs).map { "\($1)=\($0.name)" } + ["absent:\(forged)=forged.svg"]
        let browser = try ChildProcess(URL(fileURLWithPath: "/usr/bin/python3"), arguments, name: "viewer_test.py --hostile-blobs")
        defer { browser.stop() }
        let status = browser.waitForExit(timeout: 180)
        let transcript = browser.output.joined(separator: "\n")
        #expect(status == 0, "the browser checks failed:\n\(transcript)\n--- nodes\n\(lab.transcript)")
        for check in ["(k1)", "(k2)", "(k3)"] {
            #expect(browser.output.contains { $0.hasPrefix("ok   \(check)") }, "check \(check) did not pass:\n\(transcript)")
        }
        print(transcript)

        // And the document of every node holds no script's work.
        for node in ["agent", "member"] {
            let document = try #require(try lab.json(node, ["export", "--json"])["document"] as? [String: Any])
            let chat = ((document["chat"] as? [[String: Any]]) ?? []).compactMap { $0["text"] as? String }
            #expect(!chat.contains { $0.hasPrefix("PWNED") }, "\(node): \(chat)")
            #expect(((document["commerce"] as? [[String: Any]]) ?? []).isEmpty, "\(node): a cart or purchase appeared")
            let media = ((document["items"] as? [String: [String: Any]]) ?? [:]).values.compactMap {
                (($0["fields"] as? [String: Any])?["media"] as? [String: Any])?["mime"] as? String
            }
            #expect(!media.contains("image/svg+xml"), "\(node) shows an SVG item")
        }
    }

    /// Writes into the stopped member's store an item naming an SVG blob as `image/svg+xml` (encoded
    /// past the draft's check, sealed with the member's own key), the blob's chunks and list, and a
    /// chat line in the next batch. Returns the blob id in hex.
    static func forgeSVGItem(folder: String) throws -> String {
        let identity = try Identity.load(from: folder + "/identity.key")
        let store = try Store(path: folder + "/store.sqlite")
        guard let room = try store.rooms().first else { throw LabFailure("the member's store holds no room") }
        let keys = room.keys
        let document = try store.loadReplica(room: keys, nowMillis: .max).replica.document
        let contentKey = keys.contentKey(epoch: 0)
        let plaintext = Array(svg.utf8)
        let id = BlobSealer.blobID(for: plaintext, contentKey: contentKey)
        let hash = BlobChunkHasher(contentKey: contentKey).hash(plaintext)
        let commitment = BlobCommitment.commitment(hashes: hash, chunkCount: 1)
        try store.putChunks(
            room: keys.tag, blob: id.bytes,
            chunks: [(0, BlobSealer.sealChunk(index: 0, of: 1, blobID: id, plaintext: plaintext, contentKey: contentKey))])
        try store.putChunkHashes(room: keys.tag, blob: id.bytes, commitment: commitment, hashes: hash)

        let me = ReplicaID(identity.publicKey)
        let draft = document.draft(author: me)
        let now = HLC(millis: UInt64(Date().timeIntervalSince1970 * 1000), logical: 0)
        let blob = BlobRef(id: id.bytes, size: UInt64(plaintext.count), mime: "image/svg+xml", commitment: commitment)
        let edits: [Edit] = [.createItem(kind: .image, position: .middle, fields: [.media(blob), .title("holiday.svg")]), .say("after the svg")]
        var previous = draft.previous
        var sealed: [StoredBatch] = []
        for (offset, edit) in edits.enumerated() {
            let operation = Operation(id: OpID(counter: draft.startCounter + UInt64(offset), replica: me), timestamp: now, edit: edit)
            let payload = try BatchCodec.encode([operation], author: me, editsValidated: true)
            let batch = BatchSealer.seal(
                payload: payload, sequence: draft.sequence + UInt64(offset), epoch: 0, previous: previous, room: keys.roomID,
                identity: identity, contentKey: contentKey)
            sealed.append(StoredBatch(author: identity.publicKey.bytes, sequence: draft.sequence + UInt64(offset), epoch: 0, sealed: batch.sealed))
            previous = batch.digest
        }
        _ = try store.append(sealed, room: keys.tag)
        return id.bytes.map { String(format: "%02x", $0) }.joined()
    }
}
