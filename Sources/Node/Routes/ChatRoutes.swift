import LocalAPI
import Replication

extension NodeRoutes {
    /// Saying something in the room's chat.
    static func chatRoutes(engine: RoomEngine) -> [LocalAPIRoute] {
        [
            LocalAPIRoute(.post, "/api/say") { request in
                await guarded {
                    let body = try request.decode(SayRequest.self)
                    let id = try await engine.commit([.say(body.text)])[0]
                    return try .json(MessageAnswer(message: id.canonicalString))
                }
            },
        ]
    }
}
