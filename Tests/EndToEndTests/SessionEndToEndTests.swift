import CVPeerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A whole coviewing session between real processes: a rendezvous, the agent's node and two
/// others, driven by the control commands as people would.
@Suite("Coviewing sessions between real processes", .serialized)
struct SessionEndToEndTests {
    @Test(
        "rendezvous, host and two joiners: a 5 MB photo and a product card shared, marks, a recommendation and a purchase; every node converges and holds the whole photo",
        .enabled(if: cjpegAvailable, "cjpeg (libjpeg-turbo-progs) is needed for the photo; ./dev test installs it"))
    func fullSession() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, port) = try lab.rendezvous()
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: port)
        _ = try lab.join(invite, name: "Ben", data: "customer")
        _ = try lab.join(invite, name: "Cleo", data: "guest", extra: ["--role", "guest"])
        let nodes = ["agent", "customer", "guest"]
        #expect(lab.wait(30) { try nodes.allSatisfy { try lab.peerCount($0) == 2 } }, "not everyone linked:\n\(lab.transcript)")

        let photo = try lab.noiseJPEG(width: 2600, height: 1800, name: "photo.jpg")
        let photoSize = try FileManager.default.attributesOfItem(atPath: photo)[.size] as? Int ?? 0
        #expect(photoSize >= 5_000_000, "the photo is \(photoSize) bytes")
        let photoItem = SessionLab.itemID(try lab.cli("agent", ["share", photo, "--title", "Living room"]))
        let card = try lab.noiseJPEG(width: 300, height: 300, name: "lamp.jpg")
        let cardItem = SessionLab.itemID(try lab.cli("agent", ["share", card, "--title", "Desk lamp", "--price", "129.90 EUR"]))

        try lab.cli("agent", ["mark", photoItem, "--rect", "0.1,0.2,0.3,0.2", "--color", "blue"])
        try lab.cli("customer", ["mark", photoItem, "--pin", "0.5,0.5", "--label", "this one?"])
        try lab.cli("customer", ["view", photoItem, "--zoom", "2", "--center", "0.5,0.5"])
        try lab.cli("agent", ["recommend", cardItem, "--note", "matches the sofa"])
        // The customer acts on what it has seen: the chat and commerce lists are ordered by
        // operation id, which puts an act after everything its author had received.
        #expect(lab.wait(20) { try lab.stateHash("customer") == lab.stateHash("agent") })
        try lab.cli("customer", ["cart", cardItem])
        try lab.cli("customer", ["buy", cardItem])
        try lab.cli("guest", ["say", "nice lamp"])

        let converged = lab.wait(60) {
            let hashes = try nodes.map { try lab.stateHash($0) }
            let done = try nodes.allSatisfy { try lab.transfersDone($0) }
            return Set(hashes).count == 1 && done
        }
        #expect(converged, "the nodes did not converge:\n\(lab.transcript)")

        let document = try lab.json("guest", ["export", "--json"])["document"] as? [String: Any] ?? [:]
        let items = document["items"] as? [String: [String: Any]] ?? [:]
        #expect(items.count == 2)
        let marks = (items[photoItem]?["marks"] as? [[String: Any]]) ?? []
        #expect(marks.count == 2)
        let commerce = (document["commerce"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        #expect(commerce == ["recommend", "addToCart", "purchase"])
        #expect((document["participants"] as? [String: Any])?.count == 3)

        // Every node holds the whole photo: `save` checks it against its keyed hash before writing.
        var copies: [Data] = []
        for node in nodes {
            let out = lab.data("\(node)-photo.jpg")
            try lab.cli(node, ["save", photoItem, "--out", out])
            copies.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        let media = (items[photoItem]?["fields"] as? [String: Any])?["media"] as? [String: Any]
        #expect(copies.allSatisfy { $0 == copies[0] })
        #expect(copies[0].count == media?["size"] as? Int)
        #expect(copies[0].count > 5_000_000)
    }

    @Test("without a rendezvous the joiners reach only the host, and the host forwards: all three converge, blob included")
    func forwardingThroughTheHost() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        _ = try lab.join(invite, name: "Ben", data: "customer")
        _ = try lab.join(invite, name: "Cleo", data: "guest", extra: ["--role", "guest"])
        #expect(lab.wait(30) { try lab.peerCount("agent") == 2 })
        // The invite names the host alone: the joiners never learn each other's addresses.
        #expect(try lab.peerCount("customer") == 1 && lab.peerCount("guest") == 1)

        let clip = lab.fakeVideo(size: 3_000_000, name: "clip.mp4")
        let item = SessionLab.itemID(try lab.cli("guest", ["share", clip, "--title", "From Cleo"]))
        try lab.cli("customer", ["say", "seen it"])
        let nodes = ["agent", "customer", "guest"]
        let converged = lab.wait(60) {
            let hashes = try nodes.map { try lab.stateHash($0) }
            let done = try nodes.allSatisfy { try lab.transfersDone($0) }
            return Set(hashes).count == 1 && done
        }
        #expect(converged, "no convergence through the host:\n\(lab.transcript)")
        let out = lab.data("customer-clip.mp4")
        try lab.cli("customer", ["save", item, "--out", out])
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: clip)))
    }

    @Test("a 200 MB video is shared without the node ever holding it in memory")
    func largeVideoStaysOnDisk() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (host, _) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        let video = lab.fakeVideo(size: 200 << 20, name: "walkthrough.mp4")
        let item = SessionLab.itemID(try lab.cli("agent", ["share", video, "--title", "Walkthrough"]))
        #expect(item.hasSuffix(try lab.json("agent", ["status", "--json"])["me"].flatMap { ($0 as? [String: Any])?["id"] as? String } ?? "?"))
        // The peak resident size of the node's process, from the kernel.
        let status = try String(contentsOfFile: "/proc/\(host.processIdentifier)/status", encoding: .utf8)
        let peakKiB = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first }.flatMap { Int($0) } ?? 0
        #expect(peakKiB > 0 && peakKiB < 150 << 10, "the node peaked at \(peakKiB) KiB for a 200 MiB upload")
        // And nothing of the upload is left beside the store.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: lab.data("agent")).filter { $0.contains(".upload-") }
        #expect(leftovers.isEmpty)
    }
}
