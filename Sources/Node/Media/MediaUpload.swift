import PeerCrypto
import Primitives

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What `share` does to a file before it is sealed: recognise it, and remove a photo's metadata.
///
/// Photos (JPEG, PNG) lose their EXIF/GPS and other metadata unless the user keeps it. Other
/// images cannot be cleaned, so they are refused unless the user keeps the metadata knowingly.
/// Videos are shared as they are (their containers are not rewritten) and the answer says so.
enum MediaUpload {
    /// A file ready to seal.
    struct Prepared {
        var bytes: [UInt8]
        var mime: String
        var metadataRemoved: Bool
        var removed: [String]
    }

    /// Recognises and cleans `bytes` (a file called `name`).
    ///
    /// - Throws: `NodeError.badRequest` for what cannot be shared, `.unreadableMedia` for a damaged photo.
    static func prepare(_ bytes: [UInt8], name: String, keepMetadata: Bool) throws -> Prepared {
        guard !bytes.isEmpty else { throw NodeError.badRequest("\(name.prefix(80)) is empty") }
        guard let mime = mimeType(of: bytes) else {
            throw NodeError.badRequest(
                "\(name.prefix(80)) is not a photo or video cvpeer can show (JPEG, PNG, GIF, WebP, MP4, WebM, QuickTime)")
        }
        if keepMetadata { return Prepared(bytes: bytes, mime: mime, metadataRemoved: false, removed: []) }
        if mime.hasPrefix("video/") { return Prepared(bytes: bytes, mime: mime, metadataRemoved: false, removed: []) }
        let stripped = try MetadataStripper.strip(bytes)
        guard stripped.stripped else {
            throw NodeError.badRequest(
                "cannot remove metadata from \(mime) files; share a JPEG or PNG, or pass --keep-metadata to share it unchanged")
        }
        return Prepared(bytes: stripped.bytes, mime: mime, metadataRemoved: true, removed: stripped.removed)
    }

    /// The MIME type the file's first bytes announce, or nil if it is no photo or video we know.
    static func mimeType(of bytes: [UInt8]) -> String? {
        func at(_ offset: Int, _ text: String) -> Bool {
            let pattern = Array(text.utf8)
            return bytes.count >= offset + pattern.count && Array(bytes[offset..<offset + pattern.count]) == pattern
        }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if at(0, "GIF87a") || at(0, "GIF89a") { return "image/gif" }
        if at(0, "RIFF"), at(8, "WEBP") { return "image/webp" }
        if bytes.starts(with: [0x1A, 0x45, 0xDF, 0xA3]) { return "video/webm" }
        if at(4, "ftyp") {
            return at(8, "qt  ") ? "video/quicktime" : "video/mp4"
        }
        return nil
    }
}

/// A video upload written to a private file beside the store while its blob id is computed.
enum VideoUpload {
    /// The file, its size and the blob id of its bytes.
    struct Received {
        let path: String
        let size: Int
        let id: BlobID
    }

    /// Writes `head` and the rest of the body to a new 0600 file next to `storePath`.
    ///
    /// - Throws: `NodeError.badRequest` if the file cannot be written (the file is then removed).
    static func receive(
        head: [UInt8], rest body: inout LocalAPIBodyStream.AsyncIterator, beside storePath: String, contentKey: SecretBytes
    ) async throws -> Received {
        let path = storePath + ".upload-" + Hex.string((0..<8).map { _ in UInt8.random(in: 0...255) })
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw NodeError.badRequest("cannot keep the upload: \(String(cString: strerror(errno)))") }
        let hasher = BlobHasher(contentKey: contentKey)
        var size = 0
        do {
            func append(_ bytes: [UInt8]) throws {
                hasher.update(bytes)
                var written = 0
                while written < bytes.count {
                    let n = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, bytes.count - written) }
                    if n < 0, errno == EINTR { continue }
                    guard n > 0 else { throw NodeError.badRequest("cannot keep the upload: \(String(cString: strerror(errno)))") }
                    written += n
                }
                size += bytes.count
            }
            try append(head)
            while let chunk = try await body.next() { try append(chunk) }
            close(descriptor)
        } catch {
            close(descriptor)
            unlink(path)
            throw error
        }
        return Received(path: path, size: size, id: hasher.finalize())
    }
}
