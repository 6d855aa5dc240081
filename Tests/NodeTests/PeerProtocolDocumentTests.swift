import Foundation
import PeerCrypto
import Replication
import Testing
@testable import Node

/// docs/PROTOCOL.md's node-to-node sections — the sealed batch, sync messages and `PeerMessage` —
/// must agree with the code, as the link and rendezvous sections do: changing a tag, a bound or
/// a layout without the document fails here.
@Suite struct PeerProtocolDocumentTests {
    static func document() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
    }

    /// The text from `heading` to the next heading of the same or a higher level.
    static func section(_ heading: String) throws -> String {
        let text = try document()
        let start = try #require(text.range(of: "\n\(heading)\n"), "PROTOCOL.md lacks \(heading)")
        let level = heading.prefix { $0 == "#" }
        var end = text.endIndex
        var searchFrom = start.upperBound
        while let next = text.range(of: "\n#", range: searchFrom..<text.endIndex) {
            let hashes = text[text.index(after: next.lowerBound)...].prefix { $0 == "#" }
            if hashes.count <= level.count {
                end = next.lowerBound
                break
            }
            searchFrom = next.upperBound
        }
        return String(text[start.lowerBound..<end])
    }

    static func grouped(_ value: Int) -> String {
        value.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US")))
    }

    @Test func everyPeerMessageTagIsInTheTable() throws {
        let section = try Self.section("### Messages (first byte of a reliable message)")
        let tags: [(PeerMessage.Tag, String)] = [
            (.sync, "sync"), (.chunkRequest, "chunkRequest"), (.chunk, "chunk"), (.chunkMissing, "chunkMissing"),
            (.hashListRequest, "hashListRequest"), (.hashList, "hashList"), (.hashListMissing, "hashListMissing"),
            (.pointer, "pointer"),
        ]
        for (tag, name) in tags {
            #expect(section.contains("| \(tag.rawValue) | \(name) |"), "PROTOCOL.md: tag \(tag.rawValue) should be \(name)")
        }
        // No other first byte decodes (wave 1's pointer tags 16 and 17 are retired).
        let known = Set(tags.map(\.0.rawValue))
        for byte in UInt8.min...UInt8.max where !known.contains(byte) { #expect(PeerMessage.Tag(rawValue: byte) == nil) }
        #expect(section.contains("n (u16, ≤ \(PeerMessage.maxIndices))"))
        #expect(section.contains("sealed chunk (40 … \(Self.grouped(PeerMessage.maxSealedChunk)) bytes)"))
    }

    @Test func theSyncMessageLayoutHasTheCodesBounds() throws {
        let section = try Self.section("### Sync messages (format 2)")
        #expect(SyncMessageCodec.formatVersion == 2)
        #expect(section.contains("u8     format version (\(SyncMessageCodec.formatVersion), SyncMessageCodec.formatVersion)"))
        #expect(section.contains("e = summary entries, 0 … \(Limits.summaryPageEntries),"))
        #expect(section.contains("w = wants, 0 … \(Limits.maxWantsPerSyncMessage),"))
        #expect(section.contains("p = proofs, 0 … \(Limits.maxProofsPerSyncMessage),"))
        #expect(section.contains("b = batches, 0 … \(Limits.maxBatchesPerSyncMessage),"))
    }

    @Test func theBatchPayloadSectionHasTheCodecsVersionsTagsAndBounds() throws {
        let section = try Self.section("### Batch payload (format \(BatchCodec.formatVersion))")
        #expect(BatchCodec.formatVersion == 3)
        #expect(BatchCodec.readableVersions == 2...3)
        #expect(section.contains("`BatchCodec.formatVersion` (\(BatchCodec.formatVersion))"))
        #expect(section.contains("14 `grantRole`, 15 `startEpoch` and 16 `setPlayback`."))
        #expect(section.contains("`Limits.maxMediaMillis`,\n\(Self.grouped(Int(Limits.maxMediaMillis))): 7 days"))
        let rates = "thousandths, \(Playback.rateRange.lowerBound) … \(Playback.rateRange.upperBound), `Playback.rateRange`"
        #expect(section.contains("| 16 | `setPlayback` | `item:ref` `playing:u8` (0 or 1) `position_ms:vi` (≤ `Limits.maxMediaMillis`) `rate:vi` (\(rates))"))
        #expect(section.contains("A payload that does not decode, is in a version other than 2 and 3,"))
        let intro = try Self.document().prefix(1200)
        #expect(intro.contains("batch payloads start with format version \(BatchCodec.formatVersion) (2 is still read)"))
    }

    @Test func theSealedBatchLayoutIsTheSealers() throws {
        let section = try Self.section("### Sealed batch (`BatchSealer`, magic `cvb2`)")
        #expect(String(decoding: BatchSealer.magic, as: UTF8.self) == "cvb2")
        #expect(section.contains("The header is `BatchSealer.headerLength` (\(BatchSealer.headerLength)) bytes"))
        #expect(section.contains("| \(BatchSealer.headerLength) | n + 64 | ciphertext of payload ‖ signature |"))
        #expect(section.contains("`BatchSealer.overhead` (\(BatchSealer.overhead)"))
        #expect(section.contains("`Limits.maxSealedBatchBytes` (\(Self.grouped(Limits.maxSealedBatchBytes)) bytes"))
    }
}
