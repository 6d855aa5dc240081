import LocalAPI
import Replication

extension NodeRoutes {
    /// Watching together: play, pause, seek and the rate of a video, shared with the room.
    static func playbackRoutes(engine: RoomEngine) -> [LocalAPIRoute] {
        [
            LocalAPIRoute(.post, "/api/items/:item/playback") { request in
                await guarded {
                    let body = try request.decode(PlaybackRequest.self)
                    let item = try await engine.resolveItem(request.parameters["item"] ?? "")
                    let id = try await engine.setPlayback(item: item, try body.playback())
                    return try .json(EventAnswer(event: id.canonicalString))
                }
            }
        ]
    }
}

extension PlaybackRequest {
    func playback() throws -> Playback {
        let bound = Int(clamping: Limits.maxMediaMillis)
        guard (0...bound).contains(positionMillis) else {
            throw NodeError.badRequest("positionMillis must be from 0 to \(bound)")
        }
        let rate = self.rate ?? 1
        let thousandths = rate.isFinite ? (rate * 1000).rounded() : -1
        guard thousandths >= Double(Playback.rateRange.lowerBound), thousandths <= Double(Playback.rateRange.upperBound) else {
            throw NodeError.badRequest("rate must be from 0.25 to 4")
        }
        return Playback(playing: playing, positionMillis: UInt64(positionMillis), rate: UInt32(thousandths))
    }
}
