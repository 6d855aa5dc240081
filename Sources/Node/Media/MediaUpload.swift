import PeerCrypto
import Primitives

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What `share` does to a file before it is sealed: recognise it, and remove its metadata.
///
/// JPEG and PNG photos are rewritten without their metadata; HEIC/AVIF photos and MP4, QuickTime
/// and WebM videos are cleaned in place by same-length patches (`BMFFMetadata`, `MatroskaMetadata`).
/// WebP photos lose their EXIF and XMP chunks. What cannot be cleaned (GIF, an unknown box or chunk) is refused unless the user keeps the
/// metadata knowingly. The answer names what was removed.
package enum MediaUpload {
    /// A file ready to seal.
    package struct Prepared {
        package var bytes: [UInt8]
        package var mime: String
        package var metadataRemoved: Bool
        package var removed: [String]
    }

    /// The media types the node shares, and nothing else.
    package static let mediaTypes: [String] = [
        "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/avif", "video/mp4", "video/quicktime",
        "video/webm",
    ]

    /// Recognises and cleans `bytes` (a file called `name`).
    ///
    /// - Throws: `NodeError.badRequest` for what cannot be shared, `.unreadableMedia` for a damaged photo.
    package static func prepare(_ bytes: [UInt8], name: String, keepMetadata: Bool) throws -> Prepared {
        guard !bytes.isEmpty else { throw NodeError.badRequest("\(name.prefix(80)) is empty") }
        guard let mime = mimeType(of: bytes) else { throw unrecognised(name) }
        if keepMetadata { return Prepared(bytes: bytes, mime: mime, metadataRemoved: false, removed: []) }
        switch mime {
        case "image/jpeg", "image/png":
            let stripped = try MetadataStripper.strip(bytes)
            return Prepared(bytes: stripped.bytes, mime: mime, metadataRemoved: true, removed: stripped.removed)
        case "image/heic", "image/avif", "video/mp4", "video/quicktime", "video/webm":
            let cleaning = try clean(ArraySource(bytes: bytes), mime: mime)
            var cleaned = bytes
            cleaning.apply(to: &cleaned)
            return Prepared(bytes: cleaned, mime: mime, metadataRemoved: true, removed: cleaning.removed.names)
        case "image/webp":
            do throws(MediaDefect) {
                let stripped = try WebPMetadata.strip(bytes)
                return Prepared(bytes: stripped.bytes, mime: mime, metadataRemoved: true, removed: stripped.removed.names)
            } catch where error.unsupported {
                throw NodeError.badRequest(
                    "cannot remove metadata from this photo: \(error.reason) at offset \(error.offset); pass --keep-metadata to share it unchanged")
            } catch {
                throw NodeError.unreadableMedia(format: "WebP", offset: error.offset, reason: error.reason)
            }
        default:
            throw NodeError.badRequest(
                "cannot remove metadata from \(mime) files; share a JPEG, PNG, WebP, HEIC or AVIF, or pass --keep-metadata to share it unchanged")
        }
    }

    /// The refusal for a file that is none of the media types.
    static func unrecognised(_ name: String) -> NodeError {
        .badRequest(
            "\(name.prefix(80)) is not a photo or video cvpeer can show (JPEG, PNG, GIF, WebP, HEIC, AVIF, MP4, QuickTime, WebM)")
    }

    /// The patches that clean a HEIF/AVIF photo or a video held by `source`.
    ///
    /// - Throws: `NodeError.badRequest` naming an unknown box or element, `.unreadableMedia` for a damaged file.
    static func clean(_ source: any MediaSource, mime: String) throws -> MediaCleaning {
        let noun = mime.hasPrefix("video/") ? "video" : "photo"
        let format = mime == "video/webm" ? "WebM" : mime == "video/quicktime" ? "QuickTime" : mime == "video/mp4" ? "MP4" : (mime == "image/heic" ? "HEIC" : "AVIF")
        do throws(MediaDefect) {
            return mime == "video/webm" ? try MatroskaMetadata.clean(source) : try BMFFMetadata.clean(source)
        } catch where error.unsupported {
            throw NodeError.badRequest(
                "cannot remove metadata from this \(noun): \(error.reason) at offset \(error.offset); "
                    + "pass --keep-metadata to share it unchanged")
        } catch {
            throw NodeError.unreadableMedia(format: format, offset: error.offset, reason: error.reason)
        }
    }

    /// Cleans the file open (read-write) as `descriptor` in place; whether it changed, and what was removed.
    ///
    /// - Throws: as `clean(_:mime:)`, or `NodeError.badRequest` if the file cannot be written.
    package static func clean(file descriptor: Int32, size: Int, mime: String) throws -> (patched: Bool, removed: [String]) {
        let cleaning = try clean(FileSource(descriptor: descriptor, size: size), mime: mime)
        do throws(MediaDefect) {
            try cleaning.apply(toFile: descriptor)
        } catch {
            throw NodeError.badRequest("cannot keep the upload: \(error.reason)")
        }
        return (!cleaning.patches.isEmpty, cleaning.removed.names)
    }

    /// The media type the file's first bytes announce (one of `mediaTypes`), or nil.
    package static func mimeType(of bytes: [UInt8]) -> String? {
        func at(_ offset: Int, _ text: String) -> Bool {
            let pattern = Array(text.utf8)
            return bytes.count >= offset + pattern.count && Array(bytes[offset..<offset + pattern.count]) == pattern
        }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if at(0, "GIF87a") || at(0, "GIF89a") { return "image/gif" }
        if at(0, "RIFF"), at(8, "WEBP") { return "image/webp" }
        if bytes.starts(with: [0x1A, 0x45, 0xDF, 0xA3]) { return "video/webm" }
        if at(4, "ftyp") { return isoMediaType(bytes) }
        return nil
    }

    /// HEIF brands that make an `ftyp` file a HEIC photo; `mif1`/`msf1` count only beside one of them.
    static let heicBrands: Set<String> = ["heic", "heix", "heim", "heis", "hevc", "hevx"]
    /// Brands of MP4 video files.
    static let mp4Brands: Set<String> = [
        "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso7", "iso8", "iso9", "mp41", "mp42", "avc1", "M4V ", "M4VP",
        "dash", "mmp4", "MSNV", "XAVC", "f4v ", "3gp4", "3gp5", "3gp6", "3g2a",
    ]

    /// The media type of an ISO BMFF file by its `ftyp` brands, or nil for brands we do not know.
    static func isoMediaType(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 16 else { return nil }
        let size = Int(MediaBytes.bigEndian(bytes[0..<4]))
        guard size >= 16, size % 4 == 0 else { return nil }
        let end = min(size, bytes.count)
        func brand(_ at: Int) -> String { String(decoding: bytes[at..<(at + 4)], as: UTF8.self) }
        let major = brand(8)
        let compatible = stride(from: 16, to: end - 3, by: 4).map(brand)
        let all = [major] + compatible
        func classify(_ brands: [String]) -> String? {
            if brands.contains(where: { $0 == "avif" || $0 == "avis" }) { return "image/avif" }
            if brands.contains(where: heicBrands.contains) { return "image/heic" }
            if brands.contains("qt  ") { return "video/quicktime" }
            if brands.contains(where: mp4Brands.contains) { return "video/mp4" }
            return nil
        }
        return classify([major]) ?? classify(all)
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

    /// Removes the metadata of the video at `path` in place, and the new blob id of its bytes.
    ///
    /// Only headers and the small `moov`/header elements are read; the patches are written with
    /// `pwrite`, and the file is hashed again (the id is over the cleaned bytes).
    static func clean(_ upload: Received, mime: String, contentKey: SecretBytes) throws -> (Received, [String]) {
        let descriptor = open(upload.path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw NodeError.badRequest("cannot read the upload: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let (patched, removed) = try MediaUpload.clean(file: descriptor, size: upload.size, mime: mime)
        guard patched else { return (upload, removed) }
        let source = FileSource(descriptor: descriptor, size: upload.size)
        let hasher = BlobHasher(contentKey: contentKey)
        var offset = 0
        while offset < upload.size {
            let count = min(1 << 20, upload.size - offset)
            do throws(MediaDefect) {
                hasher.update(try source.read(offset, count))
            } catch {
                throw NodeError.badRequest("cannot read the upload: \(error.reason)")
            }
            offset += count
        }
        return (Received(path: upload.path, size: upload.size, id: hasher.finalize()), removed)
    }
}
