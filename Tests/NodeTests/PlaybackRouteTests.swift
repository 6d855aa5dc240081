import Foundation
import LocalAPI
import Replication
import Testing

@testable import Node

/// The local API's side of watching together: the engine seals a playback only for a visible
/// video, and the routes turn out-of-range requests into 400s before anything is sealed.
@Suite struct PlaybackRouteTests {
    @Test func theEngineSetsAVideosPlaybackAndRefusesAnyOtherItem() async throws {
        let owned = try OwnedEngine()
        defer { owned.remove() }
        let engine = owned.engine
        let video = try await engine.commit([.createItem(kind: .video, position: .middle, fields: [.title("Clip")])])[0]
        let note = try await engine.commit([.createItem(kind: .note, position: .middle, fields: [.title("Note")])])[0]
        let playback = try PlaybackRequest(playing: true, positionMillis: 12_500, rate: 1.5).playback()
        #expect(playback == Playback(playing: true, positionMillis: 12_500, rate: 1500))
        let id = try await engine.setPlayback(item: video, playback)
        #expect(await engine.replica.document.item(video)?.playback?.id == id)
        let before = await engine.replica.vector
        await #expect(throws: NodeError.self) { try await engine.setPlayback(item: note, playback) }
        #expect(await engine.replica.vector == before, "nothing sealed for a note")
    }

    /// A clock that observed a fast peer stamps ahead of the wall clock: the position written is
    /// moved on by as much, so a viewer extrapolating from the stamp finds the true position.
    @Test func aClockAheadOfTheWallMovesThePositionOnByAsMuch() async throws {
        let owned = try OwnedEngine()
        defer { owned.remove() }
        let engine = owned.engine
        let video = try await engine.commit([.createItem(kind: .video, position: .middle, fields: [])])[0]
        let wall = RoomEngine.wallMillis()
        await engine.observeForTest(HLC(millis: wall + 10_000, logical: 0), wallMillis: wall)
        _ = try await engine.setPlayback(item: video, Playback(playing: true, positionMillis: 1_000, rate: 2000))
        let shown = try #require(await engine.replica.document.item(video)?.playback)
        let now = RoomEngine.wallMillis()
        #expect(shown.updated.millis >= wall + 10_000)
        // What a viewer computes at `now`: position + (now − stamp) × rate.
        let seen = Double(shown.playback.positionMillis) + (Double(now) - Double(shown.updated.millis)) * 2
        #expect(abs(seen - 1_000) < 200, "a viewer would see \(seen) ms, not about 1000")
        // Paused: the position is where it is, whatever the stamp.
        _ = try await engine.setPlayback(item: video, Playback(playing: false, positionMillis: 1_000, rate: 2000))
        #expect(await engine.replica.document.item(video)?.playback?.playback.positionMillis == 1_000)
    }

    @Test func outOfRangeRequestsAreRefused() throws {
        let bad = [
            PlaybackRequest(playing: true, positionMillis: -1), PlaybackRequest(playing: true, positionMillis: Int(Limits.maxMediaMillis) + 1),
            PlaybackRequest(playing: true, positionMillis: 0, rate: 0), PlaybackRequest(playing: true, positionMillis: 0, rate: 0.2),
            PlaybackRequest(playing: true, positionMillis: 0, rate: 4.01), PlaybackRequest(playing: true, positionMillis: 0, rate: .nan),
        ]
        for request in bad { #expect(throws: NodeError.self, "\(request)") { try request.playback() } }
        #expect(try PlaybackRequest(playing: false, positionMillis: 0).playback().rate == Playback.normalRate)
        for span in [MarkSpanRequest(startMillis: 5, endMillis: 4), MarkSpanRequest(startMillis: -1, endMillis: 4),
            MarkSpanRequest(startMillis: 0, endMillis: Int(Limits.maxMediaMillis) + 1)] {
            #expect(throws: NodeError.self, "\(span)") { try span.markSpan() }
        }
        #expect(try MarkSpanRequest(startMillis: 4, endMillis: 4).markSpan() == MarkSpan(startMillis: 4, endMillis: 4))
    }
}

extension RoomEngine {
    fileprivate func observeForTest(_ remote: HLC, wallMillis: UInt64) {
        clock.observe(remote, wallMillis: wallMillis)
    }
}
