import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// Watching together in the document: the shared playback of a video (an LWW register per item)
/// and marks anchored to a time range, under the room's rules, on every replica alike.
@Suite struct PlaybackTests {
    static let play = Playback(playing: true, positionMillis: 12_500, rate: 1000)

    /// A payload made by hand: format `version`, the author's operations from counter `start`,
    /// each `(tag and fields)` after a fixed timestamp. No key table: references name the author.
    static func payload(version: UInt8 = BatchCodec.formatVersion, start: UInt64, _ operations: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = [version]
        bytes += varint(start)
        bytes.append(0)
        bytes += varint(UInt64(operations.count))
        for operation in operations { bytes += varint(Fixtures.t0.millis + 1) + [0] + operation }
        return bytes
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        repeat {
            let low = UInt8(value & 0x7f)
            value >>= 7
            out.append(value == 0 ? low : low | 0x80)
        } while value != 0
        return out
    }

    /// `setPlayback` of the author's own item `counter`: tag 16, reference, playing, position, rate.
    static func setPlayback(item counter: UInt64, playing: UInt8, position: UInt64, rate: UInt64) -> [UInt8] {
        [16] + varint(counter) + [0, playing] + varint(position) + varint(rate)
    }

    /// `addMark` of a pin on the author's own item `counter`, with the span bytes given.
    static func addPin(item counter: UInt64, span: [UInt8]) -> [UInt8] {
        [6] + varint(counter) + [0, 0xff, 0, 0, 0xff, 1] + varint(500_000) + varint(500_000) + span
    }

    @Test func anyWriterButTheArchiveSetsAVideosPlaybackAndEveryReplicaShowsItOnVideosOnly() throws {
        var room = try OwnedRoom(roles: [.customer, .guest, .archive])
        var random = SeededRandom(seed: 15)
        let (owner, customer, guest, archive) = (0, 1, 2, 3)
        let video = try room.peers[owner].commit(.createItem(kind: .video, position: .middle, fields: [.title("Clip")]))
        let note = try room.peers[owner].commit(.createItem(kind: .note, position: .middle, fields: [.title("Note")]))
        room.flood(&random)
        try room.peers[customer].commit([.setPlayback(item: video, Self.play)])
        room.flood(&random)
        // Later by Lamport order: the archive's would win, were it allowed; the guest's on a note is kept, never shown.
        try room.peers[archive].commit([.setPlayback(item: video, Playback(playing: false, positionMillis: 99, rate: 2000))])
        try room.peers[guest].commit([.setPlayback(item: note, Playback(playing: true, positionMillis: 1, rate: 500))])
        room.flood(&random)

        let hash = room.peers[0].document.stateHash
        for peer in room.peers {
            let document = peer.document
            #expect(document.stateHash == hash)
            let shown = try #require(document.item(video)?.playback)
            #expect(shown.playback == Self.play)
            #expect(shown.author == room.peers[customer].id)
            #expect(document.item(note)?.playback == nil, "a note never shows a playback")
            #expect(document.rejectedOperations[room.peers[archive].id] == 1)
            let json = String(decoding: document.canonicalBytes, as: UTF8.self)
            #expect(json.contains(#""playback":{"id":"\#(shown.id.canonicalString)","playing":true,"positionMillis":12500,"rateThousandths":1000,"updated":"#))
            #expect(document.canonicalBytes == document.canonicalJSON.bytes)
        }
        // The guest may set it on the video too: a later write wins everywhere.
        try room.peers[guest].commit([.setPlayback(item: video, Playback(playing: false, positionMillis: 20_000, rate: 1000))])
        room.flood(&random)
        for peer in room.peers {
            #expect(peer.document.item(video)?.playback?.playback == Playback(playing: false, positionMillis: 20_000, rate: 1000))
        }
    }

    @Test func aPlaybackSetBeforeTheVideoArrivesShowsOnceItDoesAndConcurrentSetsConvergeInAnyOrder() throws {
        let identities = Fixtures.identities(3)
        var peers = identities.map { TestPeer(identity: $0) }
        let video = try peers[0].commit(.createItem(kind: .video, position: .middle, fields: []))
        let creation = try #require(peers[0].store.values.first)
        peers[1].receive(sealed: creation)
        peers[2].receive(sealed: creation)
        let a = try peers[1].commit([.setPlayback(item: video, Self.play)])
        let b = try peers[2].commit([.setPlayback(item: video, Playback(playing: false, positionMillis: 3_000, rate: 1500))])
        let batches = [creation, a.sealed, b.sealed]
        var hashes: Set<String> = []
        var random = SeededRandom(seed: 3)
        for _ in 0..<8 {
            let replica = replicaReceiving(batches.shuffled(using: &random))
            try replica.document.checkInvariants()
            hashes.insert(replica.document.stateHash)
            let winner = max(a.batch.operations[0].id, b.batch.operations[0].id)
            #expect(replica.document.item(video)?.playback?.id == winner)
        }
        #expect(hashes.count == 1)
        // Written before the creation: kept and shown once the video exists.
        let early = replicaReceiving([a.sealed])
        #expect(early.document.panel.isEmpty)
        let late = replicaReceiving([a.sealed, creation])
        #expect(late.document.item(video)?.playback?.playback == Self.play)
    }

    @Test func aMarkCarriesItsTimeRangeIntoTheDocument() throws {
        var peers = Fixtures.identities(1).map { TestPeer(identity: $0) }
        let video = try peers[0].commit(.createItem(kind: .video, position: .middle, fields: []))
        let span = MarkSpan(startMillis: 4_000, endMillis: 6_500)
        let mark = try peers[0].commit(.addMark(item: video, Mark(shape: .pin(Fixtures.point(0.5, 0.5)), colour: Colour(rgba: 0xff0000ff), span: span)))
        let untimed = try peers[0].commit(.addMark(item: video, Mark(shape: .pin(Fixtures.point(0.2, 0.2)), colour: Colour(rgba: 0xff0000ff))))
        let document = replicaReceiving(Array(peers[0].store.values)).document
        #expect(document.marks(on: video).first { $0.id == mark }?.mark.span == span)
        #expect(document.marks(on: video).first { $0.id == untimed }?.mark.span == nil)
        let json = String(decoding: document.canonicalBytes, as: UTF8.self)
        #expect(json.contains(#""during":{"endMillis":6500,"startMillis":4000},"id":"\#(mark.canonicalString)""#))
        #expect(document.canonicalBytes == document.canonicalJSON.bytes)
    }

    @Test func badPlaybackValuesAndTimeRangesAreRefusedByTheDraft() throws {
        var peer = TestPeer(identity: Fixtures.identities(1)[0])
        let video = try peer.commit(.createItem(kind: .video, position: .middle, fields: []))
        let bad: [Edit] = [
            .setPlayback(item: video, Playback(playing: true, positionMillis: 0, rate: 0)),
            .setPlayback(item: video, Playback(playing: true, positionMillis: 0, rate: 249)),
            .setPlayback(item: video, Playback(playing: true, positionMillis: 0, rate: 4001)),
            .setPlayback(item: video, Playback(playing: true, positionMillis: Limits.maxMediaMillis + 1, rate: 1000)),
            .addMark(item: video, Mark(shape: .pin(Fixtures.point(0, 0)), colour: Colour(rgba: 0), span: MarkSpan(startMillis: 5, endMillis: 4))),
            .addMark(
                item: video,
                Mark(shape: .pin(Fixtures.point(0, 0)), colour: Colour(rgba: 0), span: MarkSpan(startMillis: 0, endMillis: Limits.maxMediaMillis + 1))),
        ]
        for edit in bad {
            var draft = peer.replica.draft(author: peer.id)
            #expect(throws: ReplicationError.self, "\(edit)") { try draft.append(edit, at: Fixtures.t0) }
        }
    }

    /// A hostile member seals what the draft refuses: every replica decodes it as malformed and
    /// ignores the whole batch alike, and the member's next batch still counts.
    @Test func malformedPlaybackAndTimeRangesOnTheWireChangeNothingOnAnyReplica() throws {
        let hostile = Fixtures.identities(1)[0]
        let me = ReplicaID(hostile.publicKey)
        var author = TestPeer(identity: hostile)
        let video = try author.commit(.createItem(kind: .video, position: .middle, fields: []))
        let created = try #require(author.store.values.first)
        let say: [UInt8] = [10, 3] + Array("bad".utf8)
        let next = video.counter + 1
        let payloads: [(String, [UInt8])] = [
            ("rate 0", Self.payload(start: next, [Self.setPlayback(item: video.counter, playing: 1, position: 5, rate: 0), say])),
            ("rate 5000", Self.payload(start: next, [Self.setPlayback(item: video.counter, playing: 1, position: 5, rate: 5000), say])),
            ("playing 2", Self.payload(start: next, [Self.setPlayback(item: video.counter, playing: 2, position: 5, rate: 1000), say])),
            (
                "position past the bound",
                Self.payload(start: next, [Self.setPlayback(item: video.counter, playing: 1, position: Limits.maxMediaMillis + 1, rate: 1000), say])
            ),
            ("a range that ends before it starts", Self.payload(start: next, [Self.addPin(item: video.counter, span: [1, 9, 8]), say])),
            ("a range past the bound", Self.payload(start: next, [Self.addPin(item: video.counter, span: [1, 0] + Self.varint(Limits.maxMediaMillis + 1)), say])),
            ("a range presence byte of 2", Self.payload(start: next, [Self.addPin(item: video.counter, span: [2, 0, 0]), say])),
            ("playback in format 2", Self.payload(version: 2, start: next, [Self.setPlayback(item: video.counter, playing: 1, position: 5, rate: 1000), say])),
        ]
        // The control: the same bytes with good values are taken, so the refusals are about the values.
        let good = Self.payload(start: next, [Self.setPlayback(item: video.counter, playing: 1, position: 5, rate: 1000), say])
        #expect(try BatchCodec.decode(good, author: me).count == 2)
        #expect(try BatchCodec.decode(Self.payload(start: next, [Self.addPin(item: video.counter, span: [1, 8, 9]), say]), author: me).count == 2)

        for (name, payload) in payloads {
            #expect(throws: ReplicationError.self, "\(name)") { try BatchCodec.decode(payload, author: me) }
            let head = try #require(author.document.digest(of: BatchID(author: me, sequence: 1)))
            let sealed = BatchSealer.seal(
                payload: payload, sequence: 2, epoch: 0, previous: head, room: RoomAuthority.open.roomID, identity: hostile,
                contentKey: Fixtures.contentKey
            ).sealed
            var hashes: Set<String> = []
            for _ in 0..<3 {
                let replica = replicaReceiving([created, sealed])
                #expect(replica.vector[me] == 2, "\(name): counted as received")
                #expect(replica.document.chat.isEmpty, "\(name): nothing of the batch applies")
                #expect(replica.document.item(video)?.playback == nil, "\(name)")
                #expect(replica.document.marks(on: video).isEmpty, "\(name)")
                hashes.insert(replica.document.stateHash)
            }
            #expect(hashes.count == 1, "\(name)")
        }
    }

    @Test func batchesOfFormat2AreStillRead() throws {
        let author = Fixtures.identities(1)[0]
        let me = ReplicaID(author.publicKey)
        // A format-2 pin has no range byte: the operation after it decodes from the next byte.
        let old = Self.payload(version: 2, start: 2, [Self.addPin(item: 1, span: []), [10, 2] + Array("hi".utf8)])
        let operations = try BatchCodec.decode(old, author: me)
        #expect(operations.count == 2)
        guard case let .addMark(_, mark) = operations[0].edit else {
            Issue.record("not a mark: \(operations[0].edit)")
            return
        }
        #expect(mark.span == nil)
        #expect(operations[1].edit == .say("hi"))
        #expect(throws: ReplicationError.unsupportedFormat(4)) { try BatchCodec.decode([4] + old.dropFirst(), author: me) }
    }
}
