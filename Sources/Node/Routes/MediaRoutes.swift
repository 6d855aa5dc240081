import LocalAPI
import PeerCrypto
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
                    let hex = request.parameters["id"] ?? ""
                    var plan = try await engine.blobReadPlan(hex: hex)
                    var range = request.headers["range"]
                    if !plan.whole, case .partial(let asked) = rangeAnswer(range, count: plan.size),
                        let ready = try await arriving(asked, openEnded: range?.hasSuffix("-") == true, plan: plan, hex: hex, engine: engine)
                    {
                        (plan, range) = (ready.plan, "bytes=\(ready.range.lowerBound)-\(ready.range.upperBound)")
                    }
                    let reads = engine.blobReads
                    do {
                        return try await blobResponse(plan, reads: reads, range: range) { id in
                            Task { await engine.blobDamaged(id) }
                        }
                    } catch BlobReadError.noList where plan.whole {
                        // Held whole but its list is not in the store (a damaged row): the one
                        // check left is the whole blob against its id, on the actor.
                        let blob = try await engine.blob(hex: hex)
                        return blobResponse(blob.bytes, mime: blob.mime, range: request.headers["range"])
                    }
                }
            },
            .upload("/api/share") { request in
                await guarded { try await share(request, engine: engine) }
            },
        ]
    }

    /// Chunks a player waits for while a blob arrives: asked for first, then waited for.
    static let arrivingWindow = 16
    /// The most chunks one answer of an arriving blob carries (16 MiB), so a player asks again.
    static let arrivingMaxChunks = 256
    /// How long a range of an arriving blob waits for its chunks (50 ms steps, 20 s).
    static let arrivingWaitSteps = 400

    /// A range of a blob still arriving, made answerable: its chunks (for an open-ended range,
    /// `bytes=A-` as players ask, the first `arrivingWindow` of them) move to the front of the
    /// fetch and the answer waits for them, boundedly. An open-ended range also moves the
    /// `arrivingMaxChunks` after its start to the front, unwaited: a player that sought there reads
    /// on from there, and without this each of its next requests would wait for a fetch of its own. An open-ended range is answered with the
    /// run of chunks held from its start (a 206 shorter than asked, which players follow with
    /// another request). Nil when they did not come in time (the answer is then 409).
    static func arriving(_ asked: ClosedRange<Int>, openEnded: Bool, plan first: BlobReadPlan, hex: String, engine: RoomEngine)
        async throws -> (plan: BlobReadPlan, range: ClosedRange<Int>)?
    {
        let chunks = first.chunks(covering: asked)
        let needed = openEnded ? chunks.lowerBound...min(chunks.upperBound, chunks.lowerBound + arrivingWindow - 1) : chunks
        guard needed.count <= arrivingMaxChunks else { return nil }
        var plan = first
        let ahead = openEnded ? chunks.lowerBound...min(chunks.upperBound, chunks.lowerBound + arrivingMaxChunks - 1) : needed
        if !plan.holds(ahead) { await engine.prioritize(blobHex: hex, chunks: ahead) }
        for _ in 0..<arrivingWaitSteps {
            if plan.whole || plan.holds(openEnded ? chunks.lowerBound...chunks.lowerBound : needed) { break }
            try await Task.sleep(for: .milliseconds(50))
            plan = try await engine.blobReadPlan(hex: hex)
        }
        guard plan.whole || plan.holds(openEnded ? chunks.lowerBound...chunks.lowerBound : needed) else { return nil }
        guard openEnded, !plan.whole else { return (plan, asked) }
        var last = chunks.lowerBound
        while last < chunks.upperBound, last - chunks.lowerBound + 1 < arrivingMaxChunks, plan.holds((last + 1)...(last + 1)) { last += 1 }
        return (plan, asked.lowerBound...min(asked.upperBound, (last + 1) * BlobSealer.chunkSize - 1))
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

    /// What a `Range` header asks of a blob of `count` bytes.
    enum RangeAnswer: Equatable {
        /// No range, or one ignored (malformed, several parts): the whole blob, 200.
        case whole
        /// One satisfiable range: these bytes, 206.
        case partial(ClosedRange<Int>)
        /// A range past the end: 416.
        case unsatisfiable
    }

    /// Reads the one byte range a video player asks for (`Range: bytes=A-B`, `A-`, `-N`).
    static func rangeAnswer(_ range: String?, count: Int) -> RangeAnswer {
        guard let range, range.hasPrefix("bytes="), !range.contains(",") else { return .whole }
        let spec = range.dropFirst("bytes=".count).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard spec.count == 2 else { return .whole }
        var lower: Int
        var upper: Int
        if spec[0].isEmpty {
            guard let suffix = Int(spec[1]), suffix > 0 else { return .whole }
            lower = max(0, count - suffix)
            upper = count - 1
        } else {
            guard let start = Int(spec[0]) else { return .whole }
            lower = start
            if spec[1].isEmpty {
                upper = count - 1
            } else {
                // An end past the blob (even past Int) means "to the end"; anything else malformed is ignored.
                guard spec[1].allSatisfy(\.isASCII), spec[1].allSatisfy(\.isNumber) else { return .whole }
                upper = min(Int(spec[1]) ?? Int.max, count - 1)
            }
        }
        guard lower < count, lower <= upper else { return .unsatisfiable }
        lower = max(0, lower)
        return .partial(lower...upper)
    }

    /// Headers on every blob answer, whatever its bytes: a browser shows the blob as the listed
    /// type it was named with, never sniffs another, and runs nothing in it on the viewer's origin
    /// even when the blob is opened in a tab of its own (the sandbox gives it a unique origin,
    /// `default-src 'none'` forbids script, style and every fetch). The file name is fixed, so
    /// no member's text reaches a header.
    static func blobHeaders(mime: String) -> [String: String] {
        [
            "content-type": BlobRef.mediaTypes.contains(mime) ? mime : "application/octet-stream",
            "Cache-Control": "private, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Content-Disposition": BlobRef.mediaTypes.contains(mime) ? "inline; filename=\"blob\"" : "attachment; filename=\"blob\"",
            "Accept-Ranges": "bytes",
        ]
    }

    /// The whole blob, or the one byte range a video player asks for, from its plaintext in memory.
    static func blobResponse(_ bytes: [UInt8], mime: String, range: String?) -> LocalAPIResponse {
        var response = LocalAPIResponse(status: 200, headers: blobHeaders(mime: mime), body: bytes)
        switch rangeAnswer(range, count: bytes.count) {
        case .whole:
            return response
        case .unsatisfiable:
            return unsatisfiable(count: bytes.count)
        case .partial(let range):
            response.status = 206
            response.body = Array(bytes[range])
            response.headers["Content-Range"] = "bytes \(range.lowerBound)-\(range.upperBound)/\(bytes.count)"
            return response
        }
    }

    private static func unsatisfiable(count: Int) -> LocalAPIResponse {
        var refused = LocalAPIResponse(status: 416, headers: ["Content-Range": "bytes */\(count)"])
        refused.headers["X-Content-Type-Options"] = "nosniff"
        return refused
    }

    /// The whole blob or one byte range of it, read chunk by chunk off the engine (each chunk
    /// opened and checked against the author's chunk-hash list as it is sent), never held whole.
    ///
    /// A range whose chunks are not all here yet is 409 with what has arrived; so is the whole
    /// of a blob still arriving. A chunk found damaged is reported with `damaged` (the blob's id).
    /// - Throws: `BlobReadError.noList` if no verified list is held for the blob.
    static func blobResponse(
        _ plan: BlobReadPlan, reads: BlobReads, range header: String?, damaged: @escaping @Sendable ([UInt8]) -> Void
    ) async throws -> LocalAPIResponse {
        guard BlobRef.mediaTypes.contains(plan.mime) else {
            return .error(415, "the blob's media type is not one cvpeer serves")
        }
        var response = LocalAPIResponse(status: 200, headers: blobHeaders(mime: plan.mime))
        // An empty blob (a member may name one) has no byte to range over.
        guard plan.size > 0 else { return response }
        let range: ClosedRange<Int>
        switch rangeAnswer(header, count: plan.size) {
        case .whole:
            range = 0...(plan.size - 1)
        case .unsatisfiable:
            return unsatisfiable(count: plan.size)
        case .partial(let asked):
            range = asked
            response.status = 206
            response.headers["Content-Range"] = "bytes \(asked.lowerBound)-\(asked.upperBound)/\(plan.size)"
        }
        let chunks = plan.chunks(covering: range)
        guard plan.holds(chunks), response.status == 206 || plan.whole else {
            return stillArriving(have: plan.haveCount, total: plan.count)
        }
        let hashes = try reads.hashes(for: plan)
        let id = plan.id.bytes
        // The first chunk is read before the head goes, so a plain failure is a plain answer.
        let first: [UInt8]
        do {
            first = try reads.chunk(chunks.lowerBound, of: plan, hashes: hashes)
        } catch let error as BlobReadError {
            if plan.whole, case .damaged = error { damaged(id) }
            if plan.whole { throw NodeError.blobCorrupt }
            return stillArriving(have: plan.haveCount, total: plan.count)
        }
        response.streamed = LocalAPIStreamedBody(length: range.count, pieces: chunks.count) { piece in
            let index = chunks.lowerBound + piece
            do {
                let chunk = piece == 0 ? first : try reads.chunk(index, of: plan, hashes: hashes)
                return Array(BlobReads.slice(chunk, index: index, range: range))
            } catch {
                if plan.whole, case BlobReadError.damaged = error { damaged(id) }
                throw error
            }
        }
        return response
    }

    private static func stillArriving(have: Int, total: Int) -> LocalAPIResponse {
        var response = text(APIJSON.text(StillArrivingAnswer(have: have, total: total)))
        response.status = 409
        return response
    }
}
