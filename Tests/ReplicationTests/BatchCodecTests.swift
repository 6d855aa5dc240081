import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// The batch payload and sync message encodings: round trips, limits, and strictness.
@Suite struct BatchCodecTests {
    let identities = Fixtures.identities(3)
    var author: ReplicaID { ReplicaID(identities[0].publicKey) }
    var other: ReplicaID { ReplicaID(identities[1].publicKey) }

    /// A batch that uses every kind of edit, referencing another participant's item and mark.
    func everyEdit() throws -> BatchDraft {
        var draft = BatchDraft(author: author, sequence: 1, startCounter: 40, previous: BatchSealer.noPrevious)
        let theirs = OpID(counter: 7, replica: other)
        let blob = BlobRef(id: [UInt8](repeating: 0xAB, count: 32), size: 123_456, mime: "image/jpeg", commitment: [UInt8](repeating: 0xCD, count: 32))
        let item = try draft.append(
            .createItem(
                kind: .productCard, position: .middle,
                fields: [
                    .title("Chair"), .text("Oak,\n\"solid\""), .price(Price(currency: "EUR", minorUnits: 12_900)),
                    .url("https://shop.example/chair"), .media(blob),
                ]), at: Fixtures.t0)
        let edits: [Edit] = [
            .setProfile(participant: author, Profile(name: "Ana 🙂", requestedRole: .agent)),
            .setItemField(item: theirs, .title("renamed")),
            .moveItem(theirs, to: PanelPosition(bytes: [0x10, 0x01])!),
            .addMark(item: theirs, Mark(shape: .pin(Fixtures.point(0.5, 0.25)), colour: Colour(rgba: 0xFF00_00FF))),
            .addMark(item: item, Mark(shape: .arrow(from: Fixtures.point(0, 0), to: Fixtures.point(1, 1)), colour: Colour(rgba: 1))),
            .addMark(item: item, Mark(shape: .rectangle(Fixtures.point(0.1, 0.2), Fixtures.point(0.3, 0.4)), colour: Colour(rgba: 2))),
            .addMark(
                item: item,
                Mark(shape: .stroke((0..<Limits.maxStrokePoints).map { Fixtures.point(Double($0) / 512, 0.5) }), colour: Colour(rgba: 3))),
            .addMark(item: item, Mark(shape: .text(Fixtures.point(0.9, 0.9), "look here"), colour: Colour(rgba: 4))),
            .addMark(item: item, Mark(shape: .labelledPin(Fixtures.point(0.2, 0.8), "this one?"), colour: Colour(rgba: 5))),
            .removeMark(OpID(counter: 8, replica: other)),
            .setViewport(participant: author, item: theirs, Viewport(zoom: 2500, centre: Fixtures.point(0.4, 0.6))),
            .setViewport(participant: other, item: theirs, Viewport(zoom: 10, centre: Fixtures.point(1, 1))),
            .setFocus(participant: author, item: theirs),
            .setFocus(participant: author, item: nil),
            .say("hello, \"world\"\n\t"),
            .commerce(.recommend(item: theirs, note: "")),
            .commerce(.addToCart(item: item, quantity: 3)),
            .commerce(.purchase(item: item, quantity: Limits.maxQuantity)),
            .removeItem(theirs),
        ]
        for (index, edit) in edits.enumerated() {
            try draft.append(edit, at: HLC(millis: Fixtures.t0.millis + UInt64(index), logical: UInt32(index)))
        }
        return draft
    }

    @Test func everyEditRoundTrips() throws {
        let draft = try everyEdit()
        let payload = try BatchCodec.encode(draft.operations, author: author)
        #expect(try BatchCodec.decode(payload, author: author) == draft.operations)
        // The author is not in the payload: decoded as a third participant's, every id moves with it.
        let third = ReplicaID(identities[2].publicKey)
        #expect(try BatchCodec.decode(payload, author: third).allSatisfy { $0.author == third })
        // But the author may not also appear in its own key table: one spelling per batch.
        #expect(throws: ReplicationError.invalidValue("key table (repeated key)")) {
            try BatchCodec.decode(payload, author: other)
        }
    }

    @Test func aChatBatchIsSmall() throws {
        var draft = BatchDraft(author: author, sequence: 1, startCounter: 1, previous: BatchSealer.noPrevious)
        try draft.append(.say("hi"), at: Fixtures.t0)
        let payload = try BatchCodec.encode(draft.operations, author: author)
        // 15 bytes, 6 of them the timestamp's milliseconds.
        #expect(payload.count <= 16)
    }

    @Test func sealedAndOpenedTheBatchIsTheSame() throws {
        let draft = try everyEdit()
        let sealed = try draft.seal(identity: identities[0], epoch: 0, contentKey: Fixtures.contentKey, room: RoomAuthority.open.roomID)
        let opened = VerifiedBatch(opened: try BatchSealer.open(sealed.sealed, room: RoomAuthority.open.roomID, contentKey: Fixtures.contentKey(_:)))
        #expect(opened == sealed.batch)
        #expect(opened.operations == draft.operations)
        #expect(opened.author == author)
    }

    @Test(arguments: [
        Edit.setProfile(participant: ReplicaID(Fixtures.identities(1)[0].publicKey), Profile(name: "", requestedRole: .guest)),
        .setProfile(participant: ReplicaID(Fixtures.identities(1)[0].publicKey), Profile(name: String(repeating: "n", count: 65), requestedRole: .guest)),
        .setProfile(participant: ReplicaID(Fixtures.identities(1)[0].publicKey), Profile(name: "bell\u{7}", requestedRole: .guest)),
        .createItem(kind: .note, position: .middle, fields: [.text("a"), .text("b")]),
        .setItemField(item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)), .url("javascript:alert(1)")),
        .setItemField(item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)), .url("https://a b")),
        .setItemField(item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)), .price(Price(currency: "eur", minorUnits: 1))),
        .setItemField(
            item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)),
            .price(Price(currency: "EUR", minorUnits: Limits.maxPriceMinorUnits + 1))),
        .setItemField(item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)), .media(BlobRef(id: [1, 2, 3], size: 1, mime: "image/png", commitment: [UInt8](repeating: 1, count: 32)))),
        .setItemField(
            item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)),
            .media(BlobRef(id: [UInt8](repeating: 1, count: 32), size: 1, mime: "image/png", commitment: [UInt8](repeating: 1, count: 31)))),
        .setItemField(
            item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)),
            .media(BlobRef(id: [UInt8](repeating: 1, count: 32), size: 1, mime: "image", commitment: [UInt8](repeating: 1, count: 32)))),
        .setItemField(
            item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)),
            .media(BlobRef(id: [UInt8](repeating: 1, count: 32), size: 1, mime: "image/svg+xml", commitment: [UInt8](repeating: 1, count: 32)))),
        .setItemField(
            item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)),
            .media(BlobRef(id: [UInt8](repeating: 1, count: 32), size: 1, mime: "text/html", commitment: [UInt8](repeating: 1, count: 32)))),
        .setItemField(item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)), .title(String(repeating: "t", count: 257))),
        .addMark(item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)), Mark(shape: .stroke([Fixtures.point(0, 0)]), colour: Colour(rgba: 0))),
        .addMark(
            item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)),
            Mark(shape: .stroke(Array(repeating: Fixtures.point(0, 0), count: Limits.maxStrokePoints + 1)), colour: Colour(rgba: 0))),
        .addMark(item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)), Mark(shape: .text(Fixtures.point(0, 0), ""), colour: Colour(rgba: 0))),
        .setViewport(
            participant: ReplicaID(Fixtures.identities(1)[0].publicKey), item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)),
            Viewport(zoom: 0, centre: Fixtures.point(0, 0))),
        .say(""),
        .say(String(repeating: "x", count: Limits.maxTextBytes + 1)),
        .commerce(.addToCart(item: OpID(counter: 1, replica: ReplicaID(Fixtures.identities(1)[0].publicKey)), quantity: 0)),
        .removeItem(OpID(counter: 0, replica: ReplicaID(Fixtures.identities(1)[0].publicKey))),
    ])
    func invalidEditsAreRefusedBeforeSealing(_ edit: Edit) throws {
        var draft = BatchDraft(author: author, sequence: 1, startCounter: 1, previous: BatchSealer.noPrevious)
        do {
            try draft.append(edit, at: Fixtures.t0)
            // A reference with counter 0 is only caught when encoding.
            _ = try BatchCodec.encode(draft.operations, author: author)
            Issue.record("accepted \(edit)")
        } catch {}
    }

    @Test func aBatchHoldsAtMostTheOperationLimit() throws {
        var draft = BatchDraft(author: author, sequence: 1, startCounter: 1, previous: BatchSealer.noPrevious)
        for _ in 0..<Limits.maxOperationsPerBatch { try draft.append(.say("x"), at: Fixtures.t0) }
        #expect(throws: ReplicationError.limitExceeded("operations per batch", limit: Limits.maxOperationsPerBatch)) {
            try draft.append(.say("one too many"), at: Fixtures.t0)
        }
    }

    @Test func everyStrictPrefixOfAValidPayloadIsRejected() throws {
        let payload = try BatchCodec.encode(try everyEdit().operations, author: author)
        for length in 0..<payload.count {
            #expect(throws: ReplicationError.self) { try BatchCodec.decode(Array(payload[..<length]), author: author) }
        }
        #expect(throws: ReplicationError.trailingBytes(1)) { try BatchCodec.decode(payload + [0], author: author) }
    }

    @Test func theDecoderIsStrict() throws {
        var draft = BatchDraft(author: author, sequence: 1, startCounter: 1, previous: BatchSealer.noPrevious)
        try draft.append(.say("hi"), at: HLC(millis: 5, logical: 0))
        let payload = try BatchCodec.encode(draft.operations, author: author)
        // version, counter, keys, count, millis, logical, tag, length, "hi"
        #expect(payload == [3, 1, 0, 1, 5, 0, 10, 2, 0x68, 0x69])
        let cases: [([UInt8], ReplicationError)] = [
            ([1] + payload.dropFirst(), .unsupportedFormat(1)),
            ([4] + payload.dropFirst(), .unsupportedFormat(4)),
            ([3, 0x81, 0x00] + payload.dropFirst(2), .invalidValue("Lamport counter (varint not minimal)")),
            ([3, 0] + payload.dropFirst(2), .invalidValue("Lamport counter")),
            ([3, 1, 0, 0] + payload.dropFirst(4), .invalidValue("operation count")),
            ([3, 1, 65] + payload.dropFirst(3), .limitExceeded("key count", limit: Limits.maxKeysPerBatch)),
            ([3, 1, 1] + author.bytes + payload.dropFirst(3), .invalidValue("key table (repeated key)")),
            (Array(payload[..<6]) + [99] + payload[7...], .invalidValue("operation tag")),
            (Array(payload[..<8]) + [0xFF, 0xFE], .invalidValue("chat message (not UTF-8)")),
            ([3, 1, 0, 1] + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02] + payload[5...], .invalidValue("timestamp (varint overflows 64 bits)")),
        ]
        for (bytes, error) in cases {
            #expect(throws: error) { try BatchCodec.decode(bytes, author: author) }
        }
    }

    @Test func counterRangesCannotOverflow() throws {
        var draft = BatchDraft(author: author, sequence: 1, startCounter: Limits.maxCounter, previous: BatchSealer.noPrevious)
        try draft.append(.say("last"), at: Fixtures.t0)
        #expect(throws: ReplicationError.self) { try draft.append(.say("past the end"), at: Fixtures.t0) }
        var w: [UInt8] = [BatchCodec.formatVersion]
        var value = Limits.maxCounter
        while value >= 0x80 {
            w.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        w.append(UInt8(value))
        let twoOps = w + [0, 2, 0, 0, 10, 1, 0x61, 0, 0, 10, 1, 0x62]
        #expect(throws: ReplicationError.invalidValue("Lamport counter")) { try BatchCodec.decode(twoOps, author: author) }
    }

    @Test func syncMessagesRoundTrip() throws {
        var vector = VersionVector()
        for (index, identity) in identities.enumerated() { vector.advance(ReplicaID(identity.publicKey), to: UInt64(index) * 1000 + 1) }
        let batch = try BatchDraft(author: author, sequence: 1, startCounter: 1, previous: BatchSealer.noPrevious).appending(.say("x"))
            .seal(identity: identities[0], epoch: 0, contentKey: Fixtures.contentKey, room: RoomAuthority.open.roomID).sealed
        let message = SyncMessage(vector: vector, batches: [batch, batch])
        let bytes = try SyncMessageCodec.encode(message)
        #expect(try SyncMessageCodec.decode(bytes) == message)
        #expect(try SyncMessageCodec.decode(try SyncMessageCodec.encode(SyncMessage(vector: VersionVector()))) == SyncMessage(vector: VersionVector()))
        for length in 0..<bytes.count {
            #expect(throws: ReplicationError.self) { try SyncMessageCodec.decode(Array(bytes[..<length])) }
        }
    }

    @Test func theSyncDecoderIsStrict() throws {
        let keys = identities.map { ReplicaID($0.publicKey) }
        let head = [UInt8](repeating: 5, count: 32)
        #expect(throws: ReplicationError.invalidValue("summary (keys not ascending)")) {
            try SyncMessageCodec.decode([2, 2] + keys[1].bytes + [1] + head + keys[0].bytes + [1] + head + [0, 0, 0])
        }
        #expect(throws: ReplicationError.invalidValue("summary sequence")) { try SyncMessageCodec.decode([2, 1] + keys[0].bytes + [0] + head + [0, 0, 0]) }
        #expect(throws: ReplicationError.invalidValue("sealed batch length")) { try SyncMessageCodec.decode([2, 0, 0, 0, 1, 3, 1, 2, 3]) }
        #expect(throws: ReplicationError.limitExceeded("batch count", limit: Limits.maxBatchesPerSyncMessage)) {
            try SyncMessageCodec.decode([2, 0, 0, 0, 65])
        }
        #expect(throws: ReplicationError.limitExceeded("proofs", limit: Limits.maxProofsPerSyncMessage)) {
            try SyncMessageCodec.decode([2, 0, 0, 3])
        }
        #expect(throws: ReplicationError.limitExceeded("summary entries", limit: Limits.summaryPageEntries)) {
            try SyncMessageCodec.decode([2, 0x81, 0x08])
        }
        #expect(throws: ReplicationError.trailingBytes(1)) { try SyncMessageCodec.decode([2, 0, 0, 0, 0, 0]) }
        #expect(throws: ReplicationError.unsupportedFormat(1)) { try SyncMessageCodec.decode([1, 0, 0, 0, 0]) }
        #expect(throws: ReplicationError.self) { try SyncMessageCodec.decode([UInt8](repeating: 0, count: Limits.maxSyncMessageBytes + 1)) }
    }
}

extension BatchDraft {
    /// The draft with one more edit, for building fixtures inline.
    func appending(_ edit: Edit) throws -> BatchDraft {
        var copy = self
        try copy.append(edit, at: Fixtures.t0)
        return copy
    }
}
