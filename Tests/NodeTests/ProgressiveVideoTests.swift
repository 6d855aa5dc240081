import Foundation
import PeerCrypto
import Primitives
import Replication
import Testing

@testable import Node

/// A video plays while it arrives: its index box is fetched early wherever it sits, and a range a
/// player asks for moves its chunks to the front of the fetch and waits for them.
@Suite("Progressive video")
struct ProgressiveVideoTests {
    static let chunk = BlobSealer.chunkSize

    /// An MP4 laid out as most are: `ftyp`, a large `mdat`, then `moov` at the end.
    static func video(mdatChunks: Int = 6, moovBytes: Int = 3_000) -> [UInt8] {
        func box(_ type: String, _ length: Int, fill: UInt8) -> [UInt8] {
            withUnsafeBytes(of: UInt32(length).bigEndian, Array.init) + Array(type.utf8) + [UInt8](repeating: fill, count: length - 8)
        }
        return box("ftyp", 24, fill: 1) + box("mdat", mdatChunks * chunk + 100, fill: 2) + box("moov", moovBytes, fill: 3)
    }

    static func slice(_ bytes: [UInt8], chunks: ClosedRange<Int>) -> ArraySlice<UInt8> {
        bytes[(chunks.lowerBound * chunk)..<min((chunks.upperBound + 1) * chunk, bytes.count)]
    }

    @Test("the locator walks ftyp and mdat headers to moov at the end and names its chunks")
    func locatorFindsMoovAtTheEnd() {
        let bytes = Self.video()
        var locator = VideoIndexLocator(size: bytes.count)
        var steps = 0
        while case .needHeader(_, let chunks) = locator.step, steps < 10 {
            locator.read(Self.slice(bytes, chunks: chunks), at: chunks.lowerBound * Self.chunk)
            steps += 1
        }
        let moovStart = 24 + 6 * Self.chunk + 100
        #expect(locator.step == .found(chunks: (moovStart / Self.chunk)...((bytes.count - 1) / Self.chunk)))
        #expect(steps == 3)
    }

    @Test("hostile headers end the walk: sizes past the end, below the header, zero-length loops, garbage")
    func locatorRefusesHostileHeaders() {
        let cases: [[UInt8]] = [
            [0, 0, 0, 200] + Array("ftyp".utf8) + [UInt8](repeating: 0, count: 50),  // past the end
            [0, 0, 0, 4] + Array("ftyp".utf8) + [UInt8](repeating: 0, count: 50),  // smaller than its header
            [0, 0, 0, 1] + Array("mdat".utf8) + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 50),
            Array(repeating: 0xAB, count: 100),
        ]
        for bytes in cases {
            var locator = VideoIndexLocator(size: bytes.count)
            for _ in 0..<VideoIndexLocator.maxBoxes + 2 {
                guard case .needHeader(_, let chunks) = locator.step else { break }
                locator.read(Self.slice(bytes, chunks: chunks), at: chunks.lowerBound * Self.chunk)
            }
            #expect(locator.step == .done)
        }
        // Many tiny boxes: the walk stops after `maxBoxes` headers.
        let tiny: [UInt8] = (0..<200).flatMap { _ -> [UInt8] in [0, 0, 0, 8] + Array("free".utf8) }
        var locator = VideoIndexLocator(size: tiny.count)
        for _ in 0..<300 {
            guard case .needHeader(_, let chunks) = locator.step else { break }
            locator.read(Self.slice(tiny, chunks: chunks), at: chunks.lowerBound * Self.chunk)
        }
        #expect(locator.step == .done)
    }

    @Test("a receiver asks for the chunk of the next header, then the moov box, before the rest of mdat")
    func receiverFetchesTheIndexEarly() async throws {
        let bytes = Self.video(moovBytes: 2 * Self.chunk + 500)
        let setup = try await BlobReceiveTests.setup(plaintext: bytes)
        defer { try? FileManager.default.removeItem(atPath: setup.folder) }
        let engine = setup.engine
        let count = Int(setup.key.count)
        #expect(count == 9)
        let peer = Identity.generate().publicKey
        func deliver(_ index: Int) async {
            await engine.receiveChunk(
                setup.key, index: UInt32(index), sealed: BlobReceiveTests.sealed(bytes, index: index, count: count, id: setup.id, room: setup.room),
                from: peer)
        }
        func next() async -> UInt32? { await engine.transfers.transfers[setup.key]?.retry.last }
        let moovStart = 24 + 6 * Self.chunk + 100
        await deliver(0)
        // mdat's header (in chunk 0) says where the next header is: its chunk is asked next.
        #expect(await next() == UInt32(moovStart / Self.chunk))
        await deliver(moovStart / Self.chunk)
        // That header is moov's: the rest of its chunks (7 and 8) are asked next, in order, before mdat's 1-5.
        let retry = await engine.transfers.transfers[setup.key]?.retry ?? []
        #expect(retry.suffix(2) == [8, 7])
        #expect(!retry.contains { (1...5).contains($0) })
        #expect(await engine.videoIndexes[setup.key] == nil, "the walk is over")
    }

    @Test("a range of an arriving blob waits for its chunks, which move to the front of the fetch; an open-ended range gets the run held from its start")
    func rangesWaitForTheirChunks() async throws {
        let bytes = Self.video()
        let setup = try await BlobReceiveTests.setup(plaintext: bytes)
        defer { try? FileManager.default.removeItem(atPath: setup.folder) }
        let engine = setup.engine
        let hex = Hex.string(setup.id.bytes)
        let count = Int(setup.key.count)
        let peer = Identity.generate().publicKey
        func deliver(_ index: Int) async {
            await engine.receiveChunk(
                setup.key, index: UInt32(index), sealed: BlobReceiveTests.sealed(bytes, index: index, count: count, id: setup.id, room: setup.room),
                from: peer)
        }
        await deliver(0)
        await deliver(1)
        // Open-ended from 0: the held run, chunks 0 and 1.
        let plan = try await engine.blobReadPlan(hex: hex)
        let open = try #require(try await NodeRoutes.arriving(0...(bytes.count - 1), openEnded: true, plan: plan, hex: hex, engine: engine))
        #expect(open.range == 0...(2 * Self.chunk - 1))
        // A closed range over chunks 4-5: asked first, then answered once they come.
        let asked = (4 * Self.chunk + 10)...(5 * Self.chunk + 10)
        let waiting = Task { try await NodeRoutes.arriving(asked, openEnded: false, plan: plan, hex: hex, engine: engine) }
        var prioritized = false
        for _ in 0..<200 where !prioritized {
            let retry = await engine.transfers.transfers[setup.key]?.retry ?? []
            prioritized = retry.suffix(2) == [5, 4]
            if !prioritized { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(prioritized, "chunks 4 and 5 were not moved to the front")
        await deliver(4)
        await deliver(5)
        let ready = try #require(try await waiting.value)
        #expect(ready.range == asked)
        let response = try await NodeRoutes.blobResponse(ready.plan, reads: engine.blobReads, range: "bytes=\(asked.lowerBound)-\(asked.upperBound)") { _ in }
        #expect(try await BlobRangeReadTests.body(response) == Array(bytes[asked]))
    }
}
