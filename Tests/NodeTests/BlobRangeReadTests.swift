import Foundation
import LocalAPI
import PeerCrypto
import Primitives
import Replication
import Synchronization
import Testing

@testable import Node
@testable import Store

/// GET /api/blobs reads off the engine: a range opens and checks only the chunks it covers, the
/// whole blob streams chunk by chunk, and a blob still arriving serves the ranges that are here.
@Suite("Blob range reads")
struct BlobRangeReadTests {
    static let plaintext = (0..<(5 * BlobSealer.chunkSize + 1234)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }

    /// The answer's body, its streamed pieces read in order.
    static func body(_ response: LocalAPIResponse) async throws -> [UInt8] {
        guard let streamed = response.streamed else { return response.body }
        var bytes: [UInt8] = []
        for index in 0..<streamed.pieces { bytes += try await streamed.piece(index) }
        #expect(bytes.count == streamed.length)
        return bytes
    }

    static func get(_ engine: RoomEngine, _ hex: String, range: String?, damaged: @escaping @Sendable ([UInt8]) -> Void = { _ in })
        async throws -> LocalAPIResponse
    {
        let plan = try await engine.blobReadPlan(hex: hex)
        return try await NodeRoutes.blobResponse(plan, reads: engine.blobReads, range: range, damaged: damaged)
    }

    @Test("a blob held whole: the whole answer streams in chunk-sized pieces, ranges across chunk edges are exact, with the safe headers")
    func wholeBlob() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let shared = try await setup.engine.share(bytes: Self.plaintext, mime: "video/mp4", title: nil, price: nil)
        let hex = Hex.string(shared.blob.id)
        let whole = try await Self.get(setup.engine, hex, range: nil)
        #expect(whole.status == 200)
        #expect(whole.streamed?.pieces == 6)
        #expect(try await Self.body(whole) == Self.plaintext)
        #expect(whole.headers["Content-Security-Policy"] == "sandbox; default-src 'none'")
        #expect(whole.headers["X-Content-Type-Options"] == "nosniff")
        #expect(whole.headers["Content-Disposition"] == "inline; filename=\"blob\"")
        #expect(whole.headers["content-type"] == "video/mp4")
        let edge = BlobSealer.chunkSize
        for (lower, upper) in [(0, 0), (edge - 3, edge + 2), (2 * edge, 3 * edge - 1), (edge + 7, 4 * edge + 100), (5 * edge, Self.plaintext.count - 1)] {
            let response = try await Self.get(setup.engine, hex, range: "bytes=\(lower)-\(upper)")
            #expect(response.status == 206)
            #expect(response.headers["Content-Range"] == "bytes \(lower)-\(upper)/\(Self.plaintext.count)")
            #expect(try await Self.body(response) == Array(Self.plaintext[lower...upper]), "bytes \(lower)-\(upper)")
        }
        #expect(try await Self.get(setup.engine, hex, range: "bytes=\(Self.plaintext.count)-").status == 416)
    }

    @Test("a range opens and checks only the chunks it covers: a damaged chunk 0 leaves ranges over chunks 2-3 readable, and a range over it fails and makes the blob no longer whole")
    func onlyCoveredChunks() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let engine = setup.engine
        let shared = try await engine.share(bytes: Self.plaintext, mime: "video/mp4", title: nil, price: nil)
        let hex = Hex.string(shared.blob.id)
        // Chunk 0 replaced in the store by one that opens (sealed with the room's key) but is other bytes.
        let id = try #require(BlobID(bytes: shared.blob.id))
        let count = BlobSealer.chunkCount(forSize: Self.plaintext.count)
        let other = BlobSealer.sealChunk(
            index: 0, of: count, blobID: id, plaintext: [UInt8](repeating: 7, count: BlobSealer.chunkSize), contentKey: setup.room.contentKey(epoch: 0))
        try await engine.store.deleteChunks(room: setup.room.tag, blob: shared.blob.id, indices: [0])
        try await engine.store.putChunk(room: setup.room.tag, blob: shared.blob.id, index: 0, data: other)

        let edge = BlobSealer.chunkSize
        let inside = try await Self.get(engine, hex, range: "bytes=\(2 * edge + 5)-\(4 * edge - 1)")
        #expect(inside.status == 206)
        #expect(try await Self.body(inside) == Array(Self.plaintext[(2 * edge + 5)...(4 * edge - 1)]))

        let reported = Reported()
        await #expect(throws: NodeError.blobCorrupt) {
            _ = try await Self.get(engine, hex, range: "bytes=10-20") { reported.add($0) }
        }
        #expect(reported.ids == [shared.blob.id])
        await engine.blobDamaged(shared.blob.id)
        #expect(await !engine.holdsWhole(blobHex: hex))
    }

    @Test("a blob still arriving: ranges over chunks that are here are answered, a range over a missing chunk and the whole blob are 409 with have/total, and status says arriving")
    func arriving() async throws {
        let setup = try await BlobReceiveTests.setup(plaintext: Self.plaintext)
        defer { try? FileManager.default.removeItem(atPath: setup.folder) }
        let engine = setup.engine
        let hex = Hex.string(setup.id.bytes)
        let peer = Identity.generate().publicKey
        let count = Int(setup.key.count)
        for index in [0, 1, 3] {
            await engine.receiveChunk(
                setup.key, index: UInt32(index),
                sealed: BlobReceiveTests.sealed(Self.plaintext, index: index, count: count, id: setup.id, room: setup.room), from: peer)
        }
        let edge = BlobSealer.chunkSize
        let here = try await Self.get(engine, hex, range: "bytes=0-\(2 * edge - 1)")
        #expect(here.status == 206)
        #expect(try await Self.body(here) == Array(Self.plaintext[0..<(2 * edge)]))
        let third = try await Self.get(engine, hex, range: "bytes=\(3 * edge)-\(3 * edge + 99)")
        #expect(try await Self.body(third) == Array(Self.plaintext[(3 * edge)..<(3 * edge + 100)]))
        for range in ["bytes=\(edge)-\(2 * edge)", "bytes=\(4 * edge)-", nil] {
            let refused = try await Self.get(engine, hex, range: range)
            #expect(refused.status == 409, "\(range ?? "whole")")
            #expect(String(decoding: refused.body, as: UTF8.self).contains("\"have\":3"))
        }
        let line = try #require(await engine.blobList.first { $0.blob == hex })
        #expect(line.state == "arriving" && line.have == 3 && line.total == count)
    }

    @Test("a member's item naming an empty blob is answered empty, whatever the range, and nothing traps")
    func emptyBlob() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let blob = BlobRef(
            id: [UInt8](repeating: 9, count: BlobID.length), size: 0, mime: "image/png", commitment: [UInt8](repeating: 1, count: BlobCommitment.length))
        try await setup.engine.commit([.createItem(kind: .image, position: .middle, fields: [.media(blob)])])
        for range in [nil, "bytes=0-", "bytes=-5", "bytes=0-0"] {
            let response = try await Self.get(setup.engine, Hex.string(blob.id), range: range)
            #expect([200, 416].contains(response.status) && response.body.isEmpty && response.streamed == nil, "\(range ?? "whole")")
        }
    }

    @Test("status lists a blob held whole as complete")
    func statusComplete() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let shared = try await setup.engine.share(bytes: Self.plaintext, mime: "image/png", title: nil, price: nil)
        let line = try #require(await setup.engine.status(type: nil).blobs.first)
        #expect(line.blob == Hex.string(shared.blob.id) && line.state == "complete" && line.have == line.total && line.bytes == line.size)
    }
}

/// Blob ids a read reported damaged.
final class Reported: Sendable {
    private let list = Mutex<[[UInt8]]>([])
    func add(_ id: [UInt8]) { list.withLock { $0.append(id) } }
    var ids: [[UInt8]] { list.withLock { $0 } }
}
