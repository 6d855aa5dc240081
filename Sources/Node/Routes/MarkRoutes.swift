import LocalAPI
import Replication

extension NodeRoutes {
    /// Adding a mark to an item and removing one's own.
    static func markRoutes(engine: RoomEngine) -> [LocalAPIRoute] {
        [
            LocalAPIRoute(.post, "/api/mark") { request in
                await guarded {
                    let body = try request.decode(MarkRequest.self)
                    let item = try await engine.resolveItem(body.item)
                    let mark = Mark(
                        shape: try body.shape.markShape(), colour: try CommandInput.colour(body.colour ?? "#ff0000"),
                        span: try body.during.map { try $0.markSpan() })
                    let id = try await engine.commit([.addMark(item: item, mark)])[0]
                    return try .json(MarkAnswer(mark: id.canonicalString))
                }
            },
            LocalAPIRoute(.post, "/api/unmark") { request in
                await guarded {
                    let body = try request.decode(MarkReference.self)
                    try await engine.removeOwnMark(body.mark)
                    return try .json(EmptyAnswer())
                }
            },
        ]
    }
}

extension ShapeRequest {
    func markShape() throws -> MarkShape {
        func point(_ pair: [Double]?, _ name: String) throws -> UnitPoint {
            guard let pair, pair.count == 2, pair.allSatisfy({ $0.isFinite && (0...1).contains($0) }) else {
                throw NodeError.badRequest("\(name) must be two numbers from 0 to 1")
            }
            return UnitPoint(fractionX: pair[0], fractionY: pair[1])
        }
        switch type {
        case "pin":
            let at = try point(at, "at")
            if let label, !label.isEmpty { return .labelledPin(at, label) }
            return .pin(at)
        case "arrow": return .arrow(from: try point(from, "from"), to: try point(to, "to"))
        case "rectangle": return .rectangle(try point(corner1, "corner1"), try point(corner2, "corner2"))
        case "stroke":
            guard let points, (2...Limits.maxStrokePoints).contains(points.count) else {
                throw NodeError.badRequest("a stroke has 2 to \(Limits.maxStrokePoints) points")
            }
            return .stroke(try points.map { try point($0, "points") })
        case "text":
            guard let text, !text.isEmpty else { throw NodeError.badRequest("a text mark needs text") }
            return .text(try point(at, "at"), text)
        default:
            throw NodeError.badRequest("unknown shape type \(type.prefix(32)); use pin, arrow, rectangle, stroke or text")
        }
    }
}

extension MarkSpanRequest {
    func markSpan() throws -> MarkSpan {
        let bound = Int(clamping: Limits.maxMediaMillis)
        guard (0...bound).contains(startMillis), (startMillis...bound).contains(endMillis) else {
            throw NodeError.badRequest("during: startMillis and endMillis are milliseconds, 0 ≤ start ≤ end ≤ \(bound)")
        }
        return MarkSpan(startMillis: UInt64(startMillis), endMillis: UInt64(endMillis))
    }
}

struct MarkReference: Decodable { var mark: String }
