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
