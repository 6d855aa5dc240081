import LocalAPI
import Primitives
import Replication
import Store

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension NodeRoutes {
    /// Blobs by id (with byte ranges for video players) and sharing a file.
    static func mediaRoutes(engine: RoomEngine) -> [LocalAPIRoute] {
        [
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
        ]
    }

    private static func share(_ request: LocalAPIRequest, engine: RoomEngine) async throws -> LocalAPIResponse {
        let name = request.query["name"] ?? "file"
        let keepMetadata = ["1", "true", "yes"].contains(request.query["keepMetadata"]?.lowercased() ?? "")
        let price = try request.query["price"].flatMap { $0.isEmpty ? nil : $0 }.map { text throws in try CommandInput.price(text) }
        let title = request.query["title"].flatMap { $0.isEmpty ? nil : $0 }
        guard let stream = request.bodyStream else { throw NodeError.badRequest("\(name.prefix(80)) is empty") }
        var body = stream.makeAsyncIterator()
        var head: [UInt8] = []
        // Enough of the start to read an ftyp box's brands.
        while head.count < 4096, let chunk = try await body.next() { head += chunk }
        let result: RoomEngine.ShareResult
        let prepared: MediaUpload.Prepared
        if let mime = MediaUpload.mimeType(of: head), mime.hasPrefix("video/") {
            // Videos are streamed to a file and hashed on the way, never held whole; their metadata
            // is removed in place (same-length patches) and the file hashed again.
            var upload = try await VideoUpload.receive(head: head, rest: &body, beside: engine.store.path, contentKey: engine.contentKey)
            defer { unlink(upload.path) }
            var removed: [String] = []
            if !keepMetadata {
                let received = upload
                (upload, removed) = try await Task.detached {
                    try VideoUpload.clean(received, mime: mime, contentKey: engine.contentKey)
                }.value
            }
            result = try await engine.share(file: upload.path, size: upload.size, id: upload.id, mime: mime, title: title, price: price)
            prepared = MediaUpload.Prepared(bytes: [], mime: mime, metadataRemoved: !keepMetadata, removed: removed)
        } else {
            // Photos are small and cleaned whole in memory.
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
}
