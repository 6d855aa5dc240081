import LocalAPI
import Replication

extension NodeRoutes {
    /// What one does to an item: view, focus, recommend, add to the cart, buy, remove.
    static func itemRoutes(engine: RoomEngine) -> [LocalAPIRoute] {
        [
            LocalAPIRoute(.post, "/api/lookup") { request in
                await guarded { try .json(await engine.lookupItem(try request.decode(ItemLookupRequest.self).item)) }
            },
            LocalAPIRoute(.post, "/api/view") { request in
                await guarded {
                    let body = try request.decode(ViewRequest.self)
                    let item = try await engine.resolveItem(body.item)
                    let centre = body.centre ?? [0.5, 0.5]
                    guard centre.count == 2, centre.allSatisfy({ $0.isFinite && (0...1).contains($0) }) else {
                        throw NodeError.badRequest("centre must be two numbers from 0 to 1")
                    }
                    let zoom = body.zoom ?? 1
                    let thousandths = zoom.isFinite ? (zoom * 1000).rounded() : -1
                    guard thousandths >= Double(Viewport.zoomRange.lowerBound), thousandths <= Double(Viewport.zoomRange.upperBound) else {
                        throw NodeError.badRequest("zoom must be from 0.01 to 100")
                    }
                    try await engine.view(item: item, viewport: Viewport(zoom: UInt32(thousandths), centre: UnitPoint(fractionX: centre[0], fractionY: centre[1])))
                    return try .json(EmptyAnswer())
                }
            },
            LocalAPIRoute(.post, "/api/focus") { request in
                await guarded {
                    let body = try request.decode(FocusRequest.self)
                    let item = try await body.item.asyncMap { try await engine.resolveItem($0) }
                    try await engine.commit([.setFocus(participant: engine.me, item: item)])
                    return try .json(EmptyAnswer())
                }
            },
            LocalAPIRoute(.post, "/api/recommend") { request in
                await guarded {
                    let body = try request.decode(ItemRequest.self)
                    let item = try await engine.resolveItem(body.item)
                    let id = try await engine.commit([.commerce(.recommend(item: item, note: body.note ?? ""))])[0]
                    return try .json(EventAnswer(event: id.canonicalString))
                }
            },
            LocalAPIRoute(.post, "/api/cart") { request in
                await guarded { try await commerce(request, engine: engine) { .addToCart(item: $0, quantity: $1) } }
            },
            LocalAPIRoute(.post, "/api/buy") { request in
                await guarded { try await commerce(request, engine: engine) { .purchase(item: $0, quantity: $1) } }
            },
            LocalAPIRoute(.post, "/api/remove") { request in
                await guarded {
                    let body = try request.decode(ItemRequest.self)
                    let item = try await engine.resolveItem(body.item)
                    try await engine.commit([.removeItem(item)])
                    return try .json(EmptyAnswer())
                }
            },
        ]
    }

    private static func commerce(
        _ request: LocalAPIRequest, engine: RoomEngine, _ action: (OpID, UInt32) -> CommerceAction
    ) async throws -> LocalAPIResponse {
        let body = try request.decode(ItemRequest.self)
        let item = try await engine.resolveItem(body.item)
        let quantity = body.quantity ?? 1
        guard quantity >= 1, quantity <= Int(Limits.maxQuantity) else {
            throw NodeError.badRequest("quantity must be from 1 to \(Limits.maxQuantity)")
        }
        let id = try await engine.commit([.commerce(action(item, UInt32(quantity)))])[0]
        return try .json(EventAnswer(event: id.canonicalString))
    }
}

struct FocusRequest: Decodable { var item: String? }

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
