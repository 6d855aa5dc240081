/// What an item in the shared panel is; fixed when the item is created.
public enum ItemKind: UInt8, Hashable, Sendable, CaseIterable {
    /// A photo, shown from its blob.
    case image = 1
    /// A video, played from its blob.
    case video = 2
    /// A product: title, price, link and picture.
    case productCard = 3
    /// A text note.
    case note = 4

    /// The kind's name in canonical JSON.
    public var name: String {
        switch self {
        case .image: "image"
        case .video: "video"
        case .productCard: "productCard"
        case .note: "note"
        }
    }

    /// The fields an item of this kind shows; writes to other fields are kept but never shown,
    /// because a write may arrive before the creation that tells its kind.
    public var fields: Set<ItemFieldKey> {
        switch self {
        case .image, .video: [.title, .text, .media]
        case .productCard: [.title, .text, .price, .url, .media]
        case .note: [.title, .text]
        }
    }
}

/// The name of one LWW field of an item.
public enum ItemFieldKey: UInt8, Hashable, Sendable, CaseIterable, Comparable {
    /// A title or caption line.
    case title = 1
    /// Body text: a note's content, a caption, a product description.
    case text = 2
    /// A product's price.
    case price = 3
    /// A product's link.
    case url = 4
    /// The photo or video, or a product's picture.
    case media = 5

    /// The field's name in canonical JSON.
    public var name: String {
        switch self {
        case .title: "title"
        case .text: "text"
        case .price: "price"
        case .url: "url"
        case .media: "media"
        }
    }

    /// Orders by wire tag, which is also canonical JSON's order of the names.
    public static func < (lhs: ItemFieldKey, rhs: ItemFieldKey) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One field value of an item.
public enum ItemField: Hashable, Sendable {
    /// A title, one line.
    case title(String)
    /// Body text.
    case text(String)
    /// A price.
    case price(Price)
    /// An http(s) link.
    case url(String)
    /// A blob: the photo, video or product picture.
    case media(BlobRef)

    /// Which field this value is for.
    public var key: ItemFieldKey {
        switch self {
        case .title: .title
        case .text: .text
        case .price: .price
        case .url: .url
        case .media: .media
        }
    }

    func validate() throws(ReplicationError) {
        switch self {
        case let .title(title): try TextRule.line.check(title, "title", maxBytes: Limits.maxTitleBytes)
        case let .text(text): try TextRule.multiline.check(text, "text", maxBytes: Limits.maxTextBytes)
        case let .price(price): try price.validate()
        case let .url(url): try Self.validateURL(url)
        case let .media(blob): try blob.validate()
        }
    }

    /// Only http and https: the viewer turns this into a link, and `javascript:` must never be one.
    static func validateURL(_ url: String) throws(ReplicationError) {
        try TextRule.line.check(url, "url", minBytes: 1, maxBytes: Limits.maxURLBytes)
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else { throw .invalidValue("url (not http or https)") }
        guard !url.utf8.contains(UInt8(ascii: " ")) else { throw .invalidValue("url (contains a space)") }
    }
}

/// A price in minor units of a currency, so no floating point is ever involved.
public struct Price: Hashable, Sendable {
    /// ISO 4217 code: three upper-case ASCII letters.
    public var currency: String
    /// The amount in the currency's minor unit (cents for EUR), at most `Limits.maxPriceMinorUnits`.
    public var minorUnits: UInt64

    /// Creates a price.
    public init(currency: String, minorUnits: UInt64) {
        self.currency = currency
        self.minorUnits = minorUnits
    }

    func validate() throws(ReplicationError) {
        guard currency.utf8.count == 3, currency.utf8.allSatisfy({ (65...90).contains($0) }) else {
            throw .invalidValue("currency code")
        }
        guard minorUnits <= Limits.maxPriceMinorUnits else {
            throw .invalidValue("price (above \(Limits.maxPriceMinorUnits) minor units)")
        }
    }
}

/// A reference to a blob (photo, video) that travels separately in encrypted chunks.
public struct BlobRef: Hashable, Sendable {
    /// The blob id: a keyed hash of the content.
    public var id: [UInt8]
    /// The blob's size in bytes.
    public var size: UInt64
    /// Its MIME type, such as `image/jpeg`.
    public var mime: String
    /// The author's commitment to every chunk (`BlobCommitment`, 32 bytes): receivers check each
    /// chunk against the list it commits to, so a member cannot poison a chunk it serves.
    public var commitment: [UInt8]

    /// Creates a blob reference.
    public init(id: [UInt8], size: UInt64, mime: String, commitment: [UInt8]) {
        self.id = id
        self.size = size
        self.mime = mime
        self.commitment = commitment
    }

    func validate() throws(ReplicationError) {
        guard (Limits.minBlobIDBytes...Limits.maxBlobIDBytes).contains(id.count) else {
            throw .invalidValue("blob id length")
        }
        guard size <= Limits.maxBlobSize else { throw .invalidValue("blob size") }
        guard commitment.count == Limits.blobCommitmentBytes else { throw .invalidValue("blob commitment length") }
        // A fixed list, checked where every replica applies it: the viewer serves a blob under its
        // type on its own origin, and a type a browser runs (SVG, HTML) would run there.
        guard Self.mediaTypes.contains(mime) else { throw .invalidValue("MIME type (not a photo or video type cvpeer shows)") }
    }

    /// The media types an item's blob may have: photos and videos a browser shows but never runs.
    public static let mediaTypes: Set<String> = [
        "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/avif",
        "video/mp4", "video/quicktime", "video/webm",
    ]
}
