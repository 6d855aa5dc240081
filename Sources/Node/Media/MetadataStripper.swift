/// Removes location, camera and editing metadata from a photo before it is shared.
///
/// Sharing flow: the share command reads the file, calls `strip(_:)`, and sends `bytes` if
/// `stripped` is true. If the format is unsupported (`stripped == false`, a video say), or if
/// `strip` throws because the file is damaged, the file is not shared unless the user passed
/// `--keep-metadata`; the viewer lists `removed` so the user sees what left the file.
///
/// What is kept is what a decoder needs to show the picture as the camera meant it: image data,
/// tables, colour profiles and colour-transform markers, and (JPEG) the EXIF orientation rewritten
/// as a tiny EXIF block of that one tag. Everything else that is not known to be harmless is
/// dropped, so a new metadata kind is removed by default rather than leaked by default.
///
/// Parsing is total: any input gives a result or a `NodeError.unreadableMedia`; no input traps,
/// loops without consuming bytes, or makes the stripper allocate much more than the input's size.
/// Stateless and thread-safe.
package enum MetadataStripper {
    /// The `reason` given for files whose format the stripper does not understand.
    package static let unsupportedFormatReason = "unsupported format"

    /// The format `bytes` claim by their first bytes, or nil if neither JPEG nor PNG.
    public static func format(of bytes: [UInt8]) -> MediaFormat? {
        if bytes.starts(with: JPEGMetadata.startOfImage) { return .jpeg }
        if bytes.starts(with: PNGMetadata.signature) { return .png }
        return nil
    }

    /// Returns `bytes` without metadata, and the names of what was removed.
    ///
    /// - Parameter bytes: a whole file.
    /// - Returns: the cleaned file; for unsupported formats the input unchanged with `stripped == false`.
    /// - Throws: `NodeError.unreadableMedia` if a JPEG or PNG is truncated or malformed.
    package static func strip(_ bytes: [UInt8]) throws -> StrippedMedia {
        guard let format = format(of: bytes) else {
            return StrippedMedia(
                bytes: bytes, format: nil, stripped: false, reason: unsupportedFormatReason, removed: [], orientation: nil)
        }
        do throws(MediaDefect) {
            switch format {
            case .jpeg:
                let result = try JPEGMetadata.strip(bytes)
                return StrippedMedia(
                    bytes: result.bytes, format: .jpeg, stripped: true, reason: nil, removed: result.removed.names,
                    orientation: result.orientation)
            case .png:
                let result = try PNGMetadata.strip(bytes)
                return StrippedMedia(
                    bytes: result.bytes, format: .png, stripped: true, reason: nil, removed: result.removed.names,
                    orientation: nil)
            }
        } catch {
            throw NodeError.unreadableMedia(format: format.rawValue, offset: error.offset, reason: error.reason)
        }
    }
}

/// The image formats whose metadata the stripper removes.
package enum MediaFormat: String, Sendable, Equatable {
    /// JPEG/JFIF/EXIF files.
    case jpeg = "JPEG"
    /// PNG files (including APNG).
    case png = "PNG"
}

/// A file as it may be shared, and what was taken out of it.
package struct StrippedMedia: Sendable, Equatable {
    /// The file to share: cleaned if `stripped`, else the input unchanged.
    public let bytes: [UInt8]
    /// The format recognised, or nil if unsupported.
    public let format: MediaFormat?
    /// True if the file was checked and its metadata removed; false means it still carries whatever it had.
    package let stripped: Bool
    /// Why the file was not stripped (`MetadataStripper.unsupportedFormatReason`), or nil.
    public let reason: String?
    /// What was removed, each kind once, in file order (for example "EXIF", "GPS location", "comment", "tEXt").
    public let removed: [String]
    /// The EXIF orientation (2…8) kept in a minimal EXIF block so the photo is not shown rotated, or nil.
    package let orientation: UInt16?
}

/// Why a file could not be parsed: where, and what was found there.
struct MediaDefect: Error {
    let offset: Int
    let reason: String
    /// True when the file may be sound but holds a part the node cannot clean (an unknown box).
    var unsupported = false
}

/// The names of removed parts, each once, in the order first met.
struct RemovedParts {
    private(set) var names: [String] = []

    mutating func add(_ name: String) {
        if !names.contains(name) { names.append(name) }
    }
}
