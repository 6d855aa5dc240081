/// `POST /api/lookup`: which item a person means by what they typed (an id, a unique id prefix of
/// 4 characters or more, or an exact title), resolved by the node the way every item route does.
public struct ItemLookupRequest: Codable, Sendable, Equatable {
    /// What was typed.
    public var item: String
    /// Creates the body.
    public init(item: String) { self.item = item }
}

/// `POST /api/lookup`'s answer: the panel items the reference matches and, when it names exactly
/// one, that item's kind and media. No match and several matches are answers, not errors, so the
/// command can word them itself.
public struct ItemLookupAnswer: Codable, Sendable, Equatable {
    /// The matching items' ids: one when the reference names an item, none, or several when it is ambiguous.
    public var matches: [String]
    /// The one match's kind (`photo`, `video`, `product`, …), absent unless exactly one matched.
    public var kind: String?
    /// The one match's photo or video, absent when it has none or the match is not one item.
    public var media: Media?

    /// A photo or video as the document holds it.
    public struct Media: Codable, Sendable, Equatable {
        /// The blob id in hex: what `GET /api/blobs/ID` takes.
        public var id: String
        /// Its size in bytes.
        public var size: UInt64
        /// Its media type.
        public var mime: String
        /// Creates the description.
        public init(id: String, size: UInt64, mime: String) { (self.id, self.size, self.mime) = (id, size, mime) }
    }

    /// Creates the answer.
    public init(matches: [String], kind: String? = nil, media: Media? = nil) {
        (self.matches, self.kind, self.media) = (matches, kind, media)
    }
}
