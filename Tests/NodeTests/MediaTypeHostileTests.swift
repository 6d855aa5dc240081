import Foundation
import PeerCrypto
import Primitives
import Replication
import Store
import Testing
import Transport

@testable import Node
@testable import Replication

/// A member whose modified node names a blob as SVG or HTML: `BatchDraft.append` would refuse the
/// edit, so the test encodes and seals it by hand with the project's own codec and the member's own
/// key. Every replica (the owner's and another member's) decodes the batch and rejects the edit, so
/// no viewer ever gets such an item to serve on its origin.
@Suite("Media types against a hostile member")
struct MediaTypeHostileTests {
    /// `identity`'s next batches on `node`'s chain, one per edit, encoded without the draft's validation.
    static func unchecked(_ edits: [Edit], by identity: Identity, on node: RoomEngine, room: RoomKeys) async throws -> [[UInt8]] {
        let author = ReplicaID(identity.publicKey)
        let draft = await node.replica.draft(author: author)
        var previous = draft.previous
        var batches: [[UInt8]] = []
        for (offset, edit) in edits.enumerated() {
            let operation = Operation(
                id: OpID(counter: draft.startCounter + UInt64(offset), replica: author), timestamp: HLC(millis: 1_000, logical: 0), edit: edit)
            let payload = try BatchCodec.encode([operation], author: author, editsValidated: true)
            let (sealed, digest) = BatchSealer.seal(
                payload: payload, sequence: draft.sequence + UInt64(offset), epoch: 0, previous: previous, room: room.roomID,
                identity: identity, contentKey: room.contentKey(epoch: 0))
            batches.append(sealed)
            previous = digest
        }
        return batches
    }

    static func send(_ batches: [[UInt8]], to node: RoomEngine, from peer: PublicKey) async throws {
        let message = SyncMessage(summary: [], batches: batches)
        await node.handle(.message(peer, PeerMessage.sync(try SyncMessageCodec.encode(message)).encoded))
    }

    static func item(mime: String) -> Edit {
        let blob = BlobRef(
            id: (0..<32).map { _ in UInt8.random(in: 0...255) }, size: 1_000, mime: mime,
            commitment: [UInt8](repeating: 3, count: BlobCommitment.length))
        return .createItem(kind: .image, position: .middle, fields: [.media(blob), .title(mime)])
    }

    @Test(
        "an item naming its blob image/svg+xml, text/html or another type outside the list is rejected by every replica; image/png from the same hand-made path is shown",
        arguments: ["image/svg+xml", "text/html", "application/xhtml+xml", "image/jpeg ", "IMAGE/PNG"])
    func hostileMediaType(mime: String) async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let owner = setup.engine
        let (rita, dan) = (Identity.generate(), Identity.generate())
        await owner.handle(.linkUp(rita.publicKey, path: EpochEngineTests.path))
        await owner.handle(.linkUp(dan.publicKey, path: EpochEngineTests.path))
        let ritaNode = try EpochEngineTests.member(rita, room: setup.room, folder: setup.folder)
        let danNode = try EpochEngineTests.member(dan, room: setup.room, folder: setup.folder)
        for node in [ritaNode, danNode] {
            await node.handle(.linkUp(setup.identity.publicKey, path: EpochEngineTests.path))
            try await EpochEngineTests.carry(owner, to: node, as: setup.identity.publicKey)
        }
        try await ritaNode.commit([.say("Rita joins")])
        try await EpochEngineTests.carry(ritaNode, to: owner, as: rita.publicKey)
        try await EpochEngineTests.carry(owner, to: danNode, as: setup.identity.publicKey)

        // The hostile batch, then (the next one) the control made the same way with a listed type.
        let batches = try await Self.unchecked([Self.item(mime: mime), Self.item(mime: "image/png")], by: rita, on: ritaNode, room: setup.room)
        for (node, from) in [(owner, rita.publicKey), (danNode, setup.identity.publicKey)] {
            try await Self.send(batches, to: node, from: from)
            let panel = await node.document.panel
            #expect(panel.count == 1, "a replica shows \(panel.count) items")
            let mimes = await node.mediaReferences.map(\.blob.mime)
            #expect(mimes == ["image/png"], "a replica shows \(mimes)")
            #expect(await node.vector[ReplicaID(rita.publicKey)] == 3, "the batches were not taken in")
        }
    }
}
