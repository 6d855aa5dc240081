import Foundation
import LocalAPI
import PeerCrypto
import Replication
import Testing

@testable import Node

/// What the command line asks the engine instead of reading the document: item lookups for
/// `cvpeer save`, and the status-only feed of `host`'s and `join`'s terminal.
struct TerminalFeedTests {
    @Test("a lookup answers what the reference matches, and the one match's kind and media")
    func lookupMatchesAsTheRoutesDo() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let engine = setup.engine
        let blob = BlobRef(id: [UInt8](repeating: 0xAB, count: 32), size: 3, mime: "image/jpeg", commitment: [UInt8](repeating: 7, count: 32))
        let photo = try await engine.commit([.createItem(kind: .image, position: .middle, fields: [.title("Sofa"), .media(blob)])])[0]
        let note = try await engine.commit([.createItem(kind: .note, position: .middle, fields: [.title("Sofa")])])[0]

        let both = await engine.lookupItem("Sofa")
        #expect(Set(both.matches) == [photo.canonicalString, note.canonicalString])
        #expect(both.kind == nil && both.media == nil)
        #expect(await engine.lookupItem("nothing like it").matches.isEmpty)

        let found = await engine.lookupItem(photo.canonicalString)
        #expect(found == ItemLookupAnswer(matches: [photo.canonicalString], kind: "image", media: .init(id: String(repeating: "ab", count: 32), size: 3, mime: "image/jpeg")))
        let plain = await engine.lookupItem(note.canonicalString)
        #expect(plain == ItemLookupAnswer(matches: [note.canonicalString], kind: "note"))
        #expect(try await engine.resolveItem(note.canonicalString) == note)
    }

    @Test("the summary feed starts with the summary, yields only changes, and renders no state text for the terminal")
    func summaryFeedIsStatusOnly() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let engine = setup.engine
        let (id, stream) = await engine.subscribeSummary()
        var summaries = stream.makeAsyncIterator()
        #expect(await summaries.next() == NodeSummary(peers: [], transfers: []))
        // A document change with no viewer: nothing for the terminal, and no state push scheduled.
        _ = try await engine.commit([.createItem(kind: .note, position: .middle, fields: [.title("Board")])])
        await engine.pushStatus()
        #expect(await engine.statePushPending == false)
        await engine.unsubscribeSummary(id)
        #expect(await summaries.next() == nil, "unchanged summaries are not sent again; unsubscribing ends the feed")
    }
}
