import CVPeerTestSupport
import PeerCrypto
import Testing

@testable import Replication

/// The fast paths (direct canonical writer, per-author mark store, one-pass list merge, UTF-8
/// text rules, the draft's single validation) held to the plain implementations they replaced.
@Suite struct PerformancePathTests {
    static func hex(_ bytes: [UInt8]) -> String { StateHashRegressionTests.hex(bytes) }

    // MARK: Canonical writer

    /// Every document of random histories: the direct writer's bytes are the generic tree's,
    /// and the state hash (hashed in chunks) is the hash of those bytes.
    @Test func theDirectWriterMatchesTheGenericWriterOnRandomDocuments() throws {
        var largest = 0
        var documents = 0
        let runs: [(EditGenerator.Mix, ClosedRange<UInt64>, Int, Int)] = [
            (.balanced, 1_001...1_012, 30, 4), (.conflicts, 2_001...2_012, 30, 4), (StateHashRegressionTests.bulk, 3_001...3_004, 40, 60),
            (.watching, 4_001...4_012, 30, 4),
        ]
        for (mix, seeds, steps, maxEdits) in runs {
            for seed in seeds {
                let (all, peers) = try StateHashRegressionTests.history(seed: seed, mix: mix, steps: steps, maxEdits: maxEdits)
                for document in [all] + peers.map(\.document) {
                    let generic = document.canonicalJSON.bytes
                    let direct = document.canonicalBytes
                    #expect(direct == generic, "seed \(seed): \(firstDifference(generic, direct))")
                    #expect(document.stateHash == Self.hex(Blake2b.hash(generic, outputLength: 32)), "seed \(seed)")
                    largest = max(largest, generic.count)
                    documents += 1
                }
            }
        }
        // The hasher is fed in 64 KiB chunks: some documents must span several.
        #expect(largest > 3 << 16, "largest canonical form only \(largest) bytes")
        #expect(documents > 80)
    }

    @Test func integersAndStringsAreWrittenAsTheGenericWriterWritesThem() {
        var random = SeededRandom(seed: 0x5EED_0001)
        var values: [UInt64] = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1_000, UInt64(UInt32.max), HLC.maxMillis, UInt64.max, UInt64.max - 1]
        values += (0..<2_000).map { _ in random.next() >> UInt64.random(in: 0...63, using: &random) }
        for value in values {
            var writer = CanonicalWriter()
            writer.integer(value)
            #expect(writer.bytes == CanonicalJSON.integer(value).bytes, "\(value)")
        }
        let pieces = (0..<0x80).map { String(UnicodeScalar(UInt8($0))) } + ["é", "日", "🙂", "e\u{301}", "\u{80}", "\u{202E}", "\u{FEFF}"]
        var strings = pieces + [""]
        for _ in 0..<500 {
            strings.append((0..<Int.random(in: 0...12, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined())
        }
        for string in strings {
            var writer = CanonicalWriter()
            writer.string(string)
            #expect(writer.bytes == CanonicalJSON.string(string).bytes, "\(Array(string.utf8))")
        }
        for kind in ItemKind.allCases { #expect("\(kind.staticName)" == kind.name) }
        for key in ItemFieldKey.allCases { #expect("\(key.staticName)" == key.name) }
        for role in Role.allCases { #expect("\(role.staticName)" == role.name) }
        let item = OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey))
        for action in [CommerceAction.recommend(item: item, note: ""), .addToCart(item: item, quantity: 1), .purchase(item: item, quantity: 1)] {
            #expect("\(action.staticName)" == action.name)
        }
    }

    /// A labelled pin is a pin with a `label` in canonical JSON, written alike by both writers.
    @Test func aLabelledPinIsAPinWithALabel() throws {
        var peer = TestPeer(identity: Fixtures.identities(1, seed: 4)[0])
        let creation = try peer.commit([.createItem(kind: .image, position: .middle, fields: [])])
        let item = creation.batch.operations[0].id
        _ = try peer.commit([.addMark(item: item, Mark(shape: .labelledPin(Fixtures.point(0.25, 0.5), "here \"this\""), colour: Colour(rgba: 7)))])
        let document = peer.document
        #expect(document.canonicalBytes == document.canonicalJSON.bytes)
        let text = String(decoding: document.canonicalBytes, as: UTF8.self)
        #expect(text.contains(#""shape":{"at":{"x":250000,"y":500000},"label":"here \"this\"","type":"pin"}"#))
        #expect(throws: ReplicationError.self) {
            var draft = document.draft(author: ReplicaID(Fixtures.identities(1, seed: 4)[0].publicKey))
            _ = try draft.append(.addMark(item: item, Mark(shape: .labelledPin(Fixtures.point(0, 0), "two\nlines"), colour: Colour(rgba: 7))), at: .zero)
        }
    }

    /// More authors than the merge of columns handles by scanning (16), with equal counters
    /// (ties broken by replica id), and fewer: visible marks ascend by id either way.
    @Test(arguments: [3, 18]) func marksOfManyAuthorsComeOutInIDOrder(authors: Int) throws {
        var peers = Fixtures.identities(authors, seed: 9).map { TestPeer(identity: $0) }
        let creation = try peers[0].commit([.createItem(kind: .image, position: .middle, fields: [])])
        let item = creation.batch.operations[0].id
        var batches = [creation.sealed]
        for index in peers.indices.dropFirst() { peers[index].receive(sealed: creation.sealed) }
        for round in 0..<3 {
            for index in peers.indices {
                let marks = (0...(index + round) % 3).map { step in
                    Edit.addMark(item: item, Mark(shape: .pin(Fixtures.point(0.1 * Double(step), 0.5)), colour: Colour(rgba: UInt32(index))))
                }
                batches.append(try peers[index].commit(marks).sealed)
            }
        }
        var random = SeededRandom(seed: UInt64(authors))
        let document = replicaReceiving(batches.shuffled(using: &random)).document
        let ids = document.visibleMarks.map(\.id)
        #expect(ids.count == (0..<3).reduce(0) { total, round in total + peers.indices.reduce(0) { $0 + ($1 + round) % 3 + 1 } })
        #expect(ids == ids.sorted())
        #expect(Set(ids.map(\.counter)).count < ids.count, "no equal counters among authors")
        #expect(document.knownMarkIDs == ids)
        #expect(document.canonicalBytes == document.canonicalJSON.bytes)
        try document.checkInvariants()
    }

    // MARK: Mark store

    /// Random additions and removals (removals before additions, of ids never added, repeated),
    /// against the dictionary the store replaced.
    @Test func theMarkStoreMatchesADictionaryOfMarkRecords() {
        struct Record: Equatable {
            var added: (item: OpID, colour: UInt32)?
            var removed = false
            static func == (a: Record, b: Record) -> Bool {
                a.removed == b.removed && a.added?.item == b.added?.item && a.added?.colour == b.added?.colour
            }
        }
        var random = SeededRandom(seed: 0x5EED_0002)
        let replicas = Fixtures.identities(5, seed: 3).map { ReplicaID($0.publicKey) }
        // Many small stores, and a few whose authors' marks span several chunks.
        for run in 0..<204 {
            var store = MarkStore()
            var model: [OpID: Record] = [:]
            var next = [UInt64](repeating: 1, count: replicas.count)
            var issued: [OpID] = []
            let authors = run < 200 ? replicas.count : 2
            for _ in 0..<(run < 200 ? Int.random(in: 1...80, using: &random) : 8 * MarkStore.Column.chunkSize) {
                let author = Int.random(in: 0..<authors, using: &random)
                if Int.random(in: 0..<50, using: &random) == 0 {
                    // Out of counter order, possibly an id already added: not reachable through
                    // `Document.apply`, but the store stays a faithful map all the same.
                    let id = OpID(counter: UInt64.random(in: 1...next[author], using: &random), replica: replicas[author])
                    let item = OpID(counter: 1, replica: replicas[0])
                    let colour = UInt32.random(in: 10...19, using: &random)
                    store.add(id, item: item, mark: Mark(shape: .pin(Fixtures.point(0, 0)), colour: Colour(rgba: colour)), time: .zero)
                    model[id, default: Record()].added = (item, colour)
                    issued.append(id)
                } else if Int.random(in: 0..<3, using: &random) == 0 {
                    // A removal: of an issued id, of a future id of some author, or of an id never to be added.
                    let id: OpID
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0 where !issued.isEmpty: id = issued.randomElement(using: &random)!
                    case 1: id = OpID(counter: next[author] + UInt64.random(in: 0...3, using: &random), replica: replicas[author])
                    default: id = OpID(counter: UInt64.random(in: 1...200, using: &random), replica: replicas.randomElement(using: &random)!)
                    }
                    store.remove(id)
                    model[id, default: Record()].removed = true
                } else {
                    next[author] += UInt64.random(in: 0...4, using: &random)
                    let id = OpID(counter: next[author], replica: replicas[author])
                    next[author] += 1
                    let item = OpID(counter: UInt64.random(in: 1...5, using: &random), replica: replicas.randomElement(using: &random)!)
                    let colour = UInt32.random(in: 0...9, using: &random)
                    store.add(id, item: item, mark: Mark(shape: .pin(Fixtures.point(0, 0)), colour: Colour(rgba: colour)), time: .zero)
                    model[id, default: Record()].added = (item, colour)
                    issued.append(id)
                }
            }
            #expect(store.knownIDs == model.keys.sorted())
            var seen: [OpID: Record] = [:]
            store.forEachInIDOrder { column, position in
                let entry = store.columns[column][position]
                seen[store.id(column: column, position: position)] = Record(added: (store.item(of: entry), entry.mark.colour.rgba), removed: entry.removed)
            }
            #expect(seen == model.filter { $0.value.added != nil })
            #expect(throws: Never.self) { try store.checkInvariants() }
        }
    }

    // MARK: List merge

    @Test func mergingABatchIntoAListMatchesSortedInsertion() {
        var random = SeededRandom(seed: 0x5EED_0003)
        let replicas = Fixtures.identities(3, seed: 4).map { ReplicaID($0.publicKey) }
        func message(_ counter: UInt64, _ replica: Int) -> ChatMessage {
            ChatMessage(id: OpID(counter: counter, replica: replicas[replica]), time: .zero, text: "message \(counter) of replica \(replica), long enough for the heap")
        }
        for _ in 0..<300 {
            var list: [ChatMessage] = []
            var all: [ChatMessage] = []
            for _ in 0..<Int.random(in: 1...8, using: &random) {
                // One author's batch: ascending ids, starting anywhere relative to the list.
                let replica = Int.random(in: 0..<replicas.count, using: &random)
                var counter = UInt64.random(in: 1...60, using: &random)
                var batch: [ChatMessage] = []
                for _ in 0..<Int.random(in: 0...6, using: &random) {
                    let entry = message(counter, replica)
                    if !all.contains(where: { $0.id == entry.id }) { batch.append(entry) }
                    counter += UInt64.random(in: 1...9, using: &random)
                }
                Document.merge(batch, into: &list)
                all += batch
                #expect(list == all.sorted { $0.id < $1.id })
            }
        }
        // Entries out of order (unreachable through apply) still end up sorted.
        var list = [message(5, 0), message(9, 0)]
        Document.merge([message(7, 1), message(2, 1), message(11, 2)], into: &list)
        #expect(list.map(\.id) == list.map(\.id).sorted() && list.count == 5)
    }

    // MARK: Text rules and validation

    /// The one-pass UTF-8 scan refuses exactly the scalars the scalar rule did.
    @Test func textRulesOverUTF8RefuseExactlyTheControlScalars() {
        func refused(_ scalar: Unicode.Scalar, multiline: Bool) -> Bool {
            let value = scalar.value
            let control =
                value < 0x20 || (0x7F...0x9F).contains(value) || (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value)
            return control && !(multiline && (scalar == "\n" || scalar == "\t"))
        }
        var scalars = (0..<0x3000).compactMap(Unicode.Scalar.init) + (0xFF00..<0xFFFF).compactMap(Unicode.Scalar.init)
        scalars += [Unicode.Scalar(0x1F642)!, Unicode.Scalar(0x10FFFF)!, Unicode.Scalar(0xE0001)!]
        for scalar in scalars {
            for (rule, multiline) in [(TextRule.line, false), (TextRule.multiline, true)] {
                for text in [String(scalar), "a\(scalar)", "\(scalar)z", "é\(scalar)\u{20AC}"] {
                    let threw = (try? rule.check(text, "text", maxBytes: 64)) == nil
                    #expect(threw == refused(scalar, multiline: multiline), "U+\(String(scalar.value, radix: 16)) in \(rule)")
                }
            }
        }
        #expect(throws: ReplicationError.limitExceeded("text", limit: 3)) { try TextRule.line.check("abcd", "text", maxBytes: 3) }
        #expect(throws: ReplicationError.invalidValue("text (empty)")) { try TextRule.line.check("", "text", minBytes: 1, maxBytes: 3) }
    }

    /// Drafts validate once (on append), yet the decoder still refuses invalid edits from the network.
    @Test func theDecoderStillValidatesWhatDraftsNoLongerRevalidate() throws {
        let author = ReplicaID(Fixtures.identities(1)[0].publicKey)
        func sayPayload(_ text: String) -> [UInt8] {
            // version 2, counter 1, no keys, one operation: millis 5, logical 0, tag say, the string.
            let utf8 = Array(text.utf8)
            return [2, 1, 0, 1, 5, 0, BatchCodec.Tag.say.rawValue, UInt8(utf8.count)] + utf8
        }
        #expect(try BatchCodec.decode(sayPayload("hello"), author: author).first?.edit == .say("hello"))
        for bad in ["\u{202E}evil", "bell\u{7}", "", "c1\u{85}"] {
            #expect(throws: ReplicationError.self) { try BatchCodec.decode(sayPayload(bad), author: author) }
        }
        // The public encoder still validates operations that did not come from a draft.
        let forged = Operation(id: OpID(counter: 1, replica: author), timestamp: .zero, edit: .say("\u{2066}"))
        #expect(throws: ReplicationError.invalidValue("chat message (control character)")) {
            try BatchCodec.encode([forged], author: author)
        }
        // And drafts refuse them on append.
        var draft = BatchDraft(author: author, sequence: 1, startCounter: 1, previous: BatchSealer.noPrevious)
        #expect(throws: ReplicationError.invalidValue("chat message (control character)")) {
            try draft.append(.say("\u{2066}"), at: Fixtures.t0)
        }
    }

    /// What the author applies is what every receiver decodes from the sealed bytes.
    @Test func aSealedDraftAppliesWhatReceiversDecode() throws {
        var random = SeededRandom(seed: 0x5EED_0004)
        var author = TestPeer(identity: Fixtures.identities(2, seed: 5)[0])
        var receiver = TestPeer(identity: Fixtures.identities(2, seed: 5)[1])
        for _ in 0..<40 {
            let edits = EditGenerator.edits(
                count: Int.random(in: 1...8, using: &random), by: author.id, in: author.document, participants: [author.id, receiver.id],
                mix: .balanced, &random)
            let sealed = try author.commit(edits)
            let opened = try BatchSealer.open(sealed.sealed, room: RoomAuthority.open.roomID, contentKey: Fixtures.contentKey)
            #expect(VerifiedBatch(opened: opened) == sealed.batch)
            receiver.receive(sealed: sealed.sealed)
        }
        #expect(receiver.document.stateHash == author.document.stateHash)
    }
}
