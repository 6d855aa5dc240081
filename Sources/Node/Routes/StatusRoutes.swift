import LocalAPI

extension NodeRoutes {
    /// The room's state, the node's status and the document's export, as the engine writes them.
    static func statusRoutes(engine: RoomEngine) -> [LocalAPIRoute] {
        [
            LocalAPIRoute(.get, "/api/state") { _ in
                await guarded { text(await engine.stateText()) }
            },
            LocalAPIRoute(.get, "/api/status") { _ in
                await guarded { text(await engine.statusText()) }
            },
            LocalAPIRoute(.get, "/api/export") { _ in
                await guarded { text(await engine.documentText()) }
            },
        ]
    }
}
