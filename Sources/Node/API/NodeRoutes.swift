import Foundation
import LocalAPI
import PeerCrypto
import Primitives
import Replication
import Store
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The local API of a running node (docs/LOCAL-API.md): what control commands and the viewer call.
///
/// Every handler turns a request into engine calls and a JSON answer; errors a person can act on
/// become 4xx answers with one line, anything else a 500 whose detail stays in the node's log.
enum NodeRoutes {
    /// The viewer's Content-Security-Policy: only the node's own files, nothing inline, no other host.
    static let contentSecurityPolicy =
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; "
        + "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

    static func routes(engine: RoomEngine) -> [LocalAPIRoute] {
        [
            LocalAPIRoute(.get, "/") { _ in try viewerFile("index.html") },
            LocalAPIRoute(.get, "/viewer/:file") { request in try viewerFile(request.parameters["file"] ?? "") },
            LocalAPIRoute(.get, "/api/state") { _ in
                await guarded { text(await engine.stateText()) }
            },
            LocalAPIRoute(.get, "/api/status") { _ in
                await guarded { text(await engine.statusText()) }
            },
            LocalAPIRoute(.get, "/api/export") { _ in
                await guarded { text(await engine.documentText()) }
            },
            LocalAPIRoute(.get, "/api/blobs/:id") { request in
                await guarded {
                    do {
                        let blob = try await engine.blob(hex: request.parameters["id"] ?? "")
                        return blobResponse(blob.bytes, mime: blob.mime, range: request.headers["range"])
                    } catch NodeError.blobIncomplete(let have, let total) {
                        var response = text(APIJSON.text(StillArrivingAnswer(have: have, total: total)))
                        response.status = 409
                        return response
                    }
                }
            },
            .upload("/api/share") { request in
                await guarded { try await share(request, engine: engine) }
            },
            LocalAPIRoute(.post, "/api/mark") { request in
                await guarded {
                    let body = try request.decode(MarkRequest.self)
                    let item = try await engine.resolveItem(body.item)
                    let mark = Mark(shape: try body.shape.markShape(), colour: try CommandInput.colour(body.colour ?? "#ff0000"))
                    let id = try await engine.commit([.addMark(item: item, mark)])[0]
                    return try .json(MarkAnswer(mark: id.canonicalString))
                }
            },
            LocalAPIRoute(.post, "/api/lookup") { request in
                await guarded { try .json(await engine.lookupItem(try request.decode(ItemLookupRequest.self).item)) }
            },
            LocalAPIRoute(.post, "/api/unmark") { request in
                await guarded {
                    let body = try request.decode(MarkReference.self)
                    try await engine.removeOwnMark(body.mark)
                    return try .json(EmptyAnswer())
                }
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
            LocalAPIRoute(.post, "/api/say") { request in
                await guarded {
                    let body = try request.decode(SayRequest.self)
                    let id = try await engine.commit([.say(body.text)])[0]
                    return try .json(MessageAnswer(message: id.canonicalString))
                }
            },
            LocalAPIRoute(.post, "/api/grant") { request in
                await guarded {
                    let body = try request.decode(GrantRequest.self)
                    guard let role = Role.allCases.first(where: { $0.name == body.role }) else {
                        throw NodeError.badRequest("role must be agent, customer, guest or archive")
                    }
                    try await engine.grant(role, to: try await engine.resolveParticipant(body.participant))
                    return try .json(EmptyAnswer())
                }
            },
            LocalAPIRoute(.post, "/api/epoch") { request in
                await guarded {
                    let body = try request.decode(EpochRequest.self)
                    var removing: [ReplicaID] = []
                    for participant in body.remove ?? [] { removing.append(try await engine.resolveParticipant(participant)) }
                    let epoch = try await engine.startEpoch(removing: removing)
                    return try .json(EpochAnswer(epoch: Int(epoch), invite: try await engine.currentInvite().code))
                }
            },
            LocalAPIRoute(.post, "/api/code") { request in
                await guarded {
                    let body = try request.decode(CodeRequest.self)
                    let maximum = Int(ShortCodeExchange.defaultLifetime.components.seconds)
                    let seconds = body.seconds ?? maximum
                    guard (30...maximum).contains(seconds) else { throw NodeError.badRequest("a code lives 30 to \(maximum) seconds") }
                    let given = try await engine.giveCode(lifetime: .seconds(seconds))
                    return try .json(CodeAnswer(code: given.code, nameplate: given.record.nameplate, expires: given.record.expiresMillis))
                }
            },
            LocalAPIRoute(.post, "/api/admit") { request in
                await guarded {
                    let body = try request.decode(AdmitRequest.self)
                    try await engine.decide(try await engine.resolveParticipant(body.participant), admit: body.admit)
                    return try .json(EmptyAnswer())
                }
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

    // MARK: Handlers

    private static func share(_ request: LocalAPIRequest, engine: RoomEngine) async throws -> LocalAPIResponse {
        let name = request.query["name"] ?? "file"
        let keepMetadata = ["1", "true", "yes"].contains(request.query["keepMetadata"]?.lowercased() ?? "")
        let price = try request.query["price"].flatMap { $0.isEmpty ? nil : $0 }.map { text throws in try CommandInput.price(text) }
        let title = request.query["title"].flatMap { $0.isEmpty ? nil : $0 }
        guard let stream = request.bodyStream else { throw NodeError.badRequest("\(name.prefix(80)) is empty") }
        var body = stream.makeAsyncIterator()
        var head: [UInt8] = []
        while head.count < 64, let chunk = try await body.next() { head += chunk }
        let result: RoomEngine.ShareResult
        let prepared: MediaUpload.Prepared
        if let mime = MediaUpload.mimeType(of: head), mime.hasPrefix("video/") {
            // Videos are shared as they are: streamed to a file and hashed on the way, never held whole.
            let upload = try await VideoUpload.receive(head: head, rest: &body, beside: engine.store.path, contentKey: engine.contentKey)
            defer { unlink(upload.path) }
            result = try await engine.share(file: upload.path, size: upload.size, id: upload.id, mime: mime, title: title, price: price)
            prepared = MediaUpload.Prepared(bytes: [], mime: mime, metadataRemoved: false, removed: [])
        } else {
            // Photos are small and their metadata is removed from the whole file.
            while let chunk = try await body.next() { head += chunk }
            prepared = try MediaUpload.prepare(head, name: name, keepMetadata: keepMetadata)
            result = try await engine.share(bytes: prepared.bytes, mime: prepared.mime, title: title, price: price)
        }
        let answer = ShareAnswer(
            item: result.item.canonicalString, blob: Hex.string(result.blob.id), size: result.blob.size,
            mime: result.blob.mime, kind: result.kind.name, metadataRemoved: prepared.metadataRemoved,
            removed: prepared.removed)
        return text(APIJSON.text(answer))
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

    // MARK: Helpers

    /// The whole blob, or the one byte range a video player asks for (`Range: bytes=A-B`, `A-`, `-N`).
    static func blobResponse(_ bytes: [UInt8], mime: String, range: String?) -> LocalAPIResponse {
        var response = LocalAPIResponse.bytes(bytes, contentType: mime)
        response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Accept-Ranges"] = "bytes"
        guard let range, range.hasPrefix("bytes="), !range.contains(",") else { return response }
        let spec = range.dropFirst("bytes=".count).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard spec.count == 2 else { return response }
        let count = bytes.count
        var lower: Int
        var upper: Int
        if spec[0].isEmpty {
            guard let suffix = Int(spec[1]), suffix > 0 else { return response }
            lower = max(0, count - suffix)
            upper = count - 1
        } else {
            guard let start = Int(spec[0]) else { return response }
            lower = start
            if spec[1].isEmpty {
                upper = count - 1
            } else {
                // An end past the blob (even past Int) means "to the end"; anything else malformed is ignored.
                guard spec[1].allSatisfy(\.isASCII), spec[1].allSatisfy(\.isNumber) else { return response }
                upper = min(Int(spec[1]) ?? Int.max, count - 1)
            }
        }
        guard lower < count, lower <= upper else {
            var refused = LocalAPIResponse(status: 416, headers: ["Content-Range": "bytes */\(count)"])
            refused.headers["X-Content-Type-Options"] = "nosniff"
            return refused
        }
        lower = max(0, lower)
        response.status = 206
        response.body = Array(bytes[lower...upper])
        response.headers["Content-Range"] = "bytes \(lower)-\(upper)/\(count)"
        return response
    }

    private static func text(_ json: String) -> LocalAPIResponse {
        .bytes(Array(json.utf8), contentType: "application/json")
    }

    /// Runs a handler, turning the errors people can act on into 4xx answers.
    private static func guarded(_ body: () async throws -> LocalAPIResponse) async -> LocalAPIResponse {
        do {
            return try await body()
        } catch let error as NodeError {
            switch error {
            case .notFound: return .error(404, error.description)
            case .forbidden: return .error(403, error.description)
            case .quotaExceeded(let refusal):
                var response = LocalAPIResponse.error(429, error.description)
                if let seconds = refusal.retryAfterSeconds { response.headers["Retry-After"] = String(seconds) }
                return response
            case .ambiguous, .blobIncomplete: return .error(409, error.description)
            case .internalInconsistency, .blobCorrupt, .dataFolder: return .error(500, error.description)
            default: return .error(400, error.description)
            }
        } catch let error as ReplicationError {
            return .error(400, "\(error)")
        } catch let error as CommandInputError {
            return .error(400, error.description)
        } catch let error as LocalAPIError {
            return .error(error.httpStatus, error.description)
        } catch let error as StoreError {
            return .error(500, "the store refused the write: \(error)")
        } catch {
            return .error(500, "internal error: \(error)")
        }
    }

    private static func viewerFile(_ name: String) throws -> LocalAPIResponse {
        let types = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "svg": "image/svg+xml", "png": "image/png"]
        guard name.range(of: #"^[A-Za-z0-9_-]+\.[a-z]+$"#, options: .regularExpression) != nil,
            let type = types[String(name.split(separator: ".").last ?? "")]
        else { return .error(404, "no such file") }
        guard let data = NodeResources.contents("Viewer/" + name) else {
            return NodeResources.folder == nil ? .error(500, NodeResources.missingHint) : .error(404, "no such file")
        }
        var response = LocalAPIResponse.bytes(Array(data), contentType: type)
        response.headers["Content-Security-Policy"] = contentSecurityPolicy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response
    }
}

// MARK: Request bodies

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

struct MarkReference: Decodable { var mark: String }
struct FocusRequest: Decodable { var item: String? }
struct PointerMessage: Decodable {
    var type: String
    var item: String?
    var x: Double?
    var y: Double?
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
