import Foundation
import LocalAPI
import Replication
import Synchronization

extension NodeRoutes {
    /// The live feed: state and status pushed, pointers both ways.
    static func live(engine: RoomEngine) -> LocalAPIWebSocketRoute {
        let sessions = Mutex<[UInt64: UInt64]>([:])
        return LocalAPIWebSocketRoute(
            path: "/api/live",
            onConnect: { session in
                let (id, events) = await engine.subscribe()
                sessions.withLock { $0[session.id] = id }
                // The socket sends each event's JSON text; the engine's bound (newest 64) stays the bound.
                let (texts, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(64))
                let relay = Task {
                    for await event in events { continuation.yield(event.text) }
                    continuation.finish()
                }
                continuation.onTermination = { _ in relay.cancel() }
                return texts
            },
            onMessage: { _, text in
                guard let message = try? JSONDecoder().decode(PointerMessage.self, from: Data(text.utf8)), message.type == "pointer" else { return }
                let item = message.item.flatMap { try? OpID(canonical: $0) }
                await engine.setPointer(item: item, x: message.x ?? 0, y: message.y ?? 0)
            },
            onDisconnect: { session in
                guard let id = sessions.withLock({ $0.removeValue(forKey: session.id) }) else { return }
                await engine.unsubscribe(id)
                await engine.setPointer(item: nil, x: 0, y: 0)
            })
    }
}

struct PointerMessage: Decodable {
    var type: String
    var item: String?
    var x: Double?
    var y: Double?
}
