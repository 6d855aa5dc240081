import CVPeerTestSupport
import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import PeerCrypto
import Store
import Testing

/// Removing a member and rotating the room's keys, with real processes: what the removed one
/// keeps and loses, a member away during the removal, and the old invite after a rotation.
@Suite("Removal and rotation", .serialized)
struct RemovalTests {
    @Test(
        "the owner removes Cleo: what is said afterwards reaches Ben and never Cleo, whose links are refused; Dan, away during the removal and a rotation, comes back into the newest epoch; after a rotation the old invite admits nobody and the new one does",
        .timeLimit(.minutes(6)))
    func removeAndRotate() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        func status(_ node: String) throws -> [String: Any] { try lab.json(node, ["status", "--json"]) }
        func role(_ node: String) throws -> String? { (try status(node)["me"] as? [String: Any])?["role"] as? String }
        func epoch(_ node: String) throws -> (room: Int, links: Int) {
            let epoch = try status(node)["epoch"] as? [String: Any] ?? [:]
            return (epoch["room"] as? Int ?? -1, epoch["links"] as? Int ?? -1)
        }
        func blob(of item: String, on node: String) throws -> (id: [UInt8], size: Int)? {
            let items = (try lab.json(node, ["export", "--json"])["document"] as? [String: Any])?["items"] as? [String: Any]
            guard let media = ((items?[item] as? [String: Any])?["fields"] as? [String: Any])?["media"] as? [String: Any],
                let hex = media["id"] as? String, let size = media["size"] as? Int
            else { return nil }
            return (stride(from: 0, to: hex.count, by: 2).map { UInt8(hex.dropFirst($0).prefix(2), radix: 16)! }, size)
        }
        func chat(_ node: String) throws -> [String] {
            ((try lab.json(node, ["export", "--json"])["document"] as? [String: Any])?["chat"] as? [[String: Any]] ?? []).compactMap {
                $0["text"] as? String
            }
        }

        _ = try lab.join(invite, name: "Ben", data: "ben")
        let cleo = try lab.join(invite, name: "Cleo", data: "cleo")
        let dan = try lab.join(invite, name: "Dan", data: "dan")
        for node in ["ben", "cleo", "dan"] {
            try #require(lab.wait(40) { try role(node) == "customer" }, "\(node) was not admitted:\n\(lab.transcript)")
        }
        try lab.cli("cleo", ["say", "Cleo before the removal"])
        let before = SessionLab.itemID(try lab.cli("agent", ["share", try lab.noiseJPEG(width: 120, height: 120, name: "before.jpg")]))
        try #require(lab.wait(30) { try ["ben", "cleo", "dan"].allSatisfy { try lab.stateHash($0) == lab.stateHash("agent") } })
        // Dan is away during the removal.
        dan.stop()
        // Every datagram Cleo's node receives from now on, as the kernel hands it over.
        let cleoPort = try #require((try status("cleo")["listen"] as? String)?.split(separator: ":").last.map(String.init))
        let capturePath = lab.data("cleo-capture.pcap")
        let capture: ChildProcess? =
            FileManager.default.isExecutableFile(atPath: "/usr/bin/tcpdump") && getuid() == 0
            ? try ChildProcess(
                URL(fileURLWithPath: "/usr/bin/tcpdump"), ["-i", "lo", "-U", "-n", "-w", capturePath, "udp", "and", "dst", "port", cleoPort],
                name: "tcpdump")
            : nil
        if capture == nil { print("RemovalTests: no capture of Cleo's datagrams (tcpdump needs root and /usr/bin/tcpdump)") }
        _ = capture?.line("tcpdump: listening on", timeout: 10)

        let removed = try lab.cli("agent", ["remove", "Cleo"])
        #expect(removed.contains("epoch 1"), "\(removed)")
        let marker = "after the removal " + UUID().uuidString
        try #require(lab.wait(30) { try epoch("ben") == (1, 1) && lab.peerCount("ben") == 1 }, "Ben did not move to epoch 1:\n\(lab.transcript)")
        try lab.cli("agent", ["say", marker])
        try #require(lab.wait(30) { try chat("ben").contains(marker) }, "Ben did not hear what was said after the removal")
        let after = SessionLab.itemID(try lab.cli("agent", ["share", try lab.noiseJPEG(width: 136, height: 128, name: "after.jpg")]))
        try #require(lab.wait(30) { try lab.transfersDone("ben") && blob(of: after, on: "ben") != nil }, "Ben did not get the photo shared after the removal")

        // Cleo: no link, nothing new, her knocks in the old epoch refused and counted.
        Thread.sleep(forTimeInterval: 3)
        #expect(try lab.peerCount("cleo") == 0)
        #expect(try !chat("cleo").contains(marker))
        #expect(try chat("cleo").contains("Cleo before the removal"))
        let refusedLinks = { (try status("agent")["linkDrops"] as? [String: Int])?["olderEpochRefused"] ?? 0 }
        try #require(lab.wait(20) { try refusedLinks() > 0 }, "Cleo's handshakes were not refused: \((try? status("agent"))?["linkDrops"] ?? "none")")
        let store = try Data(contentsOf: URL(fileURLWithPath: lab.data("cleo") + "/store.sqlite"))
        #expect(store.range(of: Data(marker.utf8)) == nil)
        if let capture {
            _ = capture.stop()
            let captured = try Data(contentsOf: URL(fileURLWithPath: capturePath))
            // Her knocks were answered (message 2 of each refused handshake), and nothing readable came.
            #expect(captured.count > 24, "nothing reached Cleo after the removal")
            #expect(captured.range(of: Data(marker.utf8)) == nil)
        }
        // What Cleo writes now counts nowhere.
        _ = try? lab.cli("cleo", ["say", "Cleo after the removal"])
        let removals = try status("ben")["removals"] as? [[String: Any]] ?? []
        #expect(removals.first?["name"] as? String == "Cleo" && removals.first?["byName"] as? String == "Ana", "\(removals)")
        #expect(try lab.cli("ben", ["status"]).contains("removed:     Cleo"))

        // A rotation while Dan is still away (two changes he misses): the members carry on in epoch 2.
        let rotated = try lab.cli("agent", ["rotate"])
        #expect(rotated.contains("epoch 2"), "\(rotated)")
        guard let start = rotated.range(of: "cvp2:") else { throw LabFailure("rotate printed no invite: \(rotated)") }
        let newInvite = String(rotated[start.lowerBound...].prefix { $0 != ")" && !$0.isWhitespace })
        try #require(lab.wait(30) { try epoch("ben") == (2, 2) }, "Ben did not move to epoch 2")
        // Dan comes back with the invite he had: he links in epoch 0, learns both changes from his own boxes and moves to epoch 2.
        _ = try lab.join(invite, name: "Dan", data: "dan")
        try #require(lab.wait(40) { try epoch("dan") == (2, 2) && chat("dan").contains(marker) }, "Dan did not come back into epoch 2:\n\(lab.transcript)")
        try #require(lab.wait(30) { try ["ben", "dan"].allSatisfy { try lab.stateHash($0) == lab.stateHash("agent") } })
        #expect(try !chat("agent").contains("Cleo after the removal"))
        #expect(cleo.output.allSatisfy { !$0.contains(marker) })

        // The old invite admits nobody; the new one does.
        _ = try lab.join(invite, name: "Eve", data: "eve")
        Thread.sleep(forTimeInterval: 5)
        #expect(try role("eve") == "not admitted yet")
        #expect(try lab.peerCount("eve") == 0)
        _ = try lab.join(newInvite, name: "Fay", data: "fay")
        try #require(lab.wait(40) { try role("fay") == "customer" }, "the new invite did not admit:\n\(lab.transcript)")
        try lab.cli("ben", ["say", "welcome, Fay"])
        try #require(
            lab.wait(30) { try ["ben", "dan", "fay"].allSatisfy { try lab.stateHash($0) == lab.stateHash("agent") } },
            "the members did not converge after the rotation")
        // Fay reads the history from before her epoch, Cleo's early words included.
        #expect(try chat("fay").contains(marker) && chat("fay").contains("Cleo before the removal"))

        // Chunks: those of the photo shared before the removal open under the key Cleo holds;
        // those of the one shared after are sealed in epoch 1, whose key she never had.
        let (beforeBlob, afterBlob) = (try blob(of: before, on: "ben"), try blob(of: after, on: "ben"))
        lab.stopAll()
        let cleoRoom = try #require(try Store(path: lab.data("cleo") + "/store.sqlite").rooms().first?.keys)
        let benStore = try Store(path: lab.data("ben") + "/store.sqlite")
        func opensWithCleosKey(_ blob: (id: [UInt8], size: Int)?) throws -> Bool {
            let blob = try #require(blob)
            let sealed = try #require(try benStore.chunk(room: cleoRoom.tag, blob: blob.id, index: 0))
            let count = BlobSealer.chunkCount(forSize: blob.size)
            return (try? BlobSealer.openChunk(
                index: 0, of: count, blobID: try #require(BlobID(bytes: blob.id)), sealed: sealed, contentKey: cleoRoom.contentKey(epoch: 0))) != nil
        }
        #expect(try opensWithCleosKey(beforeBlob))
        #expect(try !opensWithCleosKey(afterBlob))
        #expect(try Store(path: lab.data("cleo") + "/store.sqlite").chunkIndices(room: cleoRoom.tag, blob: try #require(afterBlob).id).isEmpty)
    }

    @Test(
        "through a rendezvous: the removed member's node keeps registering under the room's old tag, which the members retire once they have moved on, so the rendezvous refuses it and counts the refusal; the new tag needs the new key",
        .timeLimit(.minutes(4)))
    func removedMemberIsRefusedByTheRendezvous() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (rendezvous, port) = try lab.rendezvous(extra: ["--log-level", "debug"])
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: port)
        func status(_ node: String) throws -> [String: Any] { try lab.json(node, ["status", "--json"]) }
        _ = try lab.join(invite, name: "Ben", data: "ben")
        _ = try lab.join(invite, name: "Cleo", data: "cleo")
        for node in ["ben", "cleo"] {
            try #require(lab.wait(40) { (try status(node)["me"] as? [String: Any])?["role"] as? String == "customer" }, "\(lab.transcript)")
        }
        try #require(lab.wait(30) { try status("cleo")["registered"] as? Bool == true })
        try lab.cli("agent", ["remove", "Cleo"])
        try #require(lab.wait(30) { try (status("ben")["epoch"] as? [String: Any])?["links"] as? Int == 1 && lab.peerCount("ben") >= 1 })
        // The members keep the old registration 30 s, then retire the old tag; Cleo's next
        // refresh (every 15 s) is refused from then on, and so is every later one.
        #expect(lab.wait(60) { rendezvous.output.contains { $0.contains("retired by a member") } }, "\(rendezvous.output.suffix(20))")
        let refused = lab.wait(60) {
            rendezvous.output.contains { $0.contains("dropped datagram from") && $0.contains("retired room tag") }
        }
        #expect(refused, "the rendezvous did not refuse Cleo's registration:\n\(rendezvous.output.suffix(30))")
        try #require(lab.wait(60) { try status("cleo")["registered"] as? Bool == false }, "Cleo still counts as registered")
        #expect(try lab.peerCount("cleo") == 0)
        // The members are registered under the new tag and linked.
        #expect(try status("ben")["registered"] as? Bool == true && lab.peerCount("ben") >= 1)
    }
}
