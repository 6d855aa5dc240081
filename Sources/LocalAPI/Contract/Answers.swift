/// `POST /api/share`'s answer: the new item, its blob, and what was removed from a photo's metadata.
public struct ShareAnswer: Codable, Sendable, Equatable {
    /// The new item's id.
    public var item: String
    /// The blob id in hex.
    public var blob: String
    /// The blob's size in bytes.
    public var size: UInt64
    /// The blob's media type.
    public var mime: String
    /// The item kind's name.
    public var kind: String
    /// True when the node checked the file and removed its metadata (false only when kept on purpose).
    public var metadataRemoved: Bool
    /// What was removed (`GPS location`, `make and model`, `title`, `creation dates`, `Exif`, `XMP`, …), each once.
    public var removed: [String]

    /// Creates the answer.
    public init(item: String, blob: String, size: UInt64, mime: String, kind: String, metadataRemoved: Bool, removed: [String]) {
        (self.item, self.blob, self.size, self.mime, self.kind) = (item, blob, size, mime, kind)
        (self.metadataRemoved, self.removed) = (metadataRemoved, removed)
    }
}

/// `GET /api/blob/…`'s 409 answer while a blob is still arriving.
public struct StillArrivingAnswer: Codable, Sendable, Equatable {
    /// `still arriving: H of T chunks`.
    public var error: String
    /// Chunks held and in all.
    public var have: Int
    public var total: Int

    /// Creates the answer, wording the error from the counts.
    public init(have: Int, total: Int) {
        (self.error, self.have, self.total) = ("still arriving: \(have) of \(total) chunks", have, total)
    }
}
