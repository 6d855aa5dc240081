import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// The small value types: clock, vector, positions, points, canonical JSON.
@Suite struct ValueTests {
    @Test func theHybridClockNeverGoesBackwards() {
        var clock = HybridClock()
        let a = clock.now(wallMillis: 1000)
        #expect(a == HLC(millis: 1000, logical: 0))
        let b = clock.now(wallMillis: 1000)
        #expect(b == HLC(millis: 1000, logical: 1))
        let c = clock.now(wallMillis: 900)
        #expect(c == HLC(millis: 1000, logical: 2))
        let d = clock.now(wallMillis: 2000)
        #expect(d == HLC(millis: 2000, logical: 0))
        #expect(a < b && b < c && c < d)
    }

    @Test func theHybridClockFollowsRemoteTimestampsButNotFarFutureOnes() {
        var clock = HybridClock()
        let followed = clock.observe(HLC(millis: 5000, logical: 3), wallMillis: 4000)
        #expect(followed)
        #expect(clock.now(wallMillis: 4000) == HLC(millis: 5000, logical: 4))
        let tooFar = clock.observe(HLC(millis: 4000 + HybridClock.maxForwardSkewMillis + 1, logical: 0), wallMillis: 4000)
        #expect(!tooFar)
        #expect(clock.now(wallMillis: 4000) == HLC(millis: 5000, logical: 5))
        let nearTheEndOfTime = clock.observe(HLC(millis: 100, logical: 0), wallMillis: UInt64.max)
        #expect(nearTheEndOfTime)
    }

    @Test func theHybridClockCarriesIntoTheNextMillisecondInsteadOfWrapping() {
        var clock = HybridClock(latest: HLC(millis: 10, logical: UInt32.max))
        #expect(clock.now(wallMillis: 10) == HLC(millis: 11, logical: 0))
    }

    @Test func versionVectorsSayWhatIsMissing() {
        let ids = Fixtures.identities(3).map { ReplicaID($0.publicKey) }
        var mine = VersionVector()
        mine.advance(ids[0], to: 5)
        mine.advance(ids[1], to: 2)
        var theirs = VersionVector()
        theirs.advance(ids[0], to: 3)
        theirs.advance(ids[2], to: 9)
        theirs.advance(ids[0], to: 1)
        #expect(theirs[ids[0]] == 3)
        let missing = mine.missing(from: theirs)
        #expect(missing.map(\.author) == [ids[0], ids[1]])
        #expect(missing.map(\.sequences) == [4...5, 1...2])
        #expect(!mine.isIncluded(in: theirs))
        let merged = mine.merged(with: theirs)
        #expect(mine.isIncluded(in: merged) && theirs.isIncluded(in: merged))
        #expect(merged[ids[2]] == 9 && merged[ids[0]] == 5)
        #expect(mine.contains(BatchID(author: ids[1], sequence: 2)))
        #expect(!mine.contains(BatchID(author: ids[1], sequence: 3)))
        #expect(!mine.contains(BatchID(author: ids[1], sequence: 0)))
    }

    @Test func panelPositionsCanAlwaysBeInsertedBetweenUntilTheLimit() {
        var random = SeededRandom(seed: 11)
        var positions: [PanelPosition] = [.middle]
        for _ in 0..<2000 {
            let gap = Int.random(in: 0...positions.count, using: &random)
            let lower = gap > 0 ? positions[gap - 1] : nil
            let upper = gap < positions.count ? positions[gap] : nil
            guard let new = PanelPosition.between(lower, upper) else { continue }
            if let lower { #expect(lower < new) }
            if let upper { #expect(new < upper) }
            #expect(new.bytes.last != 0 && new.bytes.count <= Limits.maxPositionBytes)
            positions.insert(new, at: gap)
        }
        #expect(positions == positions.sorted())
        #expect(Set(positions).count == positions.count)
        #expect(positions.count > 1900)
        #expect(PanelPosition.between(.middle, .middle) == nil)
        #expect(PanelPosition(bytes: [1, 0]) == nil)
        #expect(PanelPosition(bytes: []) == nil)
    }

    @Test func insertingAtOneSpotAgainAndAgainEndsInNilNotACrash() {
        var upper = PanelPosition.middle
        var count = 0
        while let next = PanelPosition.between(nil, upper) {
            #expect(next < upper)
            upper = next
            count += 1
        }
        #expect(count > 200)
    }

    @Test func unitPointsAreFixedPointMillionths() {
        #expect(UnitPoint(fractionX: 0.5, fractionY: 1) == UnitPoint(x: 500_000, y: 1_000_000))
        #expect(UnitPoint(fractionX: -3, fractionY: .nan) == UnitPoint(x: 0, y: 0))
        #expect(UnitPoint(fractionX: 2, fractionY: 0.1234567) == UnitPoint(x: 1_000_000, y: 123_457))
        #expect(UnitPoint(x: 1_000_001, y: 0) == nil)
    }

    @Test func canonicalJSONSortsKeysAndEscapesOnlyWhatItMust() {
        let value = CanonicalJSON.object([
            "b": .array([.integer(0), .integer(UInt64.max), .bool(true), .null]),
            "a": .string("q\"b\\s/é🙂\n\t\u{1}\u{7F}"),
            "B": .object([:]),
        ])
        let expected = #"{"B":{},"a":"q\"b\\s/é🙂\n\t\u0001"# + "\u{7F}" + #"","b":[0,18446744073709551615,true,null]}"#
        #expect(String(decoding: value.bytes, as: UTF8.self) == expected)
    }

    @Test func theEmptyDocumentHasAFixedCanonicalForm() {
        let document = Document()
        #expect(
            String(decoding: document.canonicalBytes, as: UTF8.self)
                == #"{"chat":[],"commerce":[],"focus":{},"items":{},"panel":[],"participants":{},"viewports":[]}"#)
        #expect(document.stateHash.count == 64)
        #expect(document.stateHash == Document().stateHash)
    }

    @Test func theCanonicalFormShowsEveryPart() throws {
        var peer = TestPeer(identity: Fixtures.identities(1)[0])
        let item = try peer.commit(.createItem(kind: .productCard, position: .middle, fields: [.price(Price(currency: "EUR", minorUnits: 999))]))
        try peer.commit([
            .setProfile(participant: peer.id, Profile(name: "Ana", requestedRole: .agent)),
            .addMark(item: item, Mark(shape: .pin(Fixtures.point(0.25, 0.5)), colour: Colour(rgba: 0x11223344))),
            .setViewport(participant: peer.id, item: item, Viewport(zoom: 1500, centre: Fixtures.point(0.5, 0.5))),
            .setFocus(participant: peer.id, item: item),
            .say("hi"),
            .commerce(.purchase(item: item, quantity: 1)),
        ])
        let text = String(decoding: peer.document.canonicalBytes, as: UTF8.self)
        for fragment in [
            #""minorUnits":999"#, ##""colour":"#11223344""##, #""at":{"x":250000,"y":500000}"#, #""zoomThousandths":1500"#,
            #""name":"Ana","role":"agent""#, #""text":"hi""#, #""kind":"purchase""#, "\"panel\":[\"\(item.canonicalString)\"]",
            "\"item\":\"\(item.canonicalString)\"",
        ] {
            #expect(text.contains(fragment), "missing \(fragment)")
        }
        #expect(!text.contains("."))
    }
}
