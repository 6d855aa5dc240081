import Primitives
import Replication

/// # Insights: business intelligence from a node's own rooms
///
/// A report is computed on a participant's own node, from the verified batches its store holds,
/// and nothing leaves the node. One room is one **session**. The figures come from the operation
/// history, not only from the merged document, because the document keeps only each person's
/// latest focus while dwell times need every focus change.
///
/// ## The flow
///
///     let rooms = try store.rooms().map { RoomHistory(tag: $0.keys.tag, batches: try store.verifiedBatches(room: $0.keys).verified) }
///     let report = Report(rooms: rooms)
///     print(TextReport.render(report))          // or JSONReport, CSVReport, HTMLReport
///
/// ## The rules (docs/REPORT.md says the same for readers of the output)
///
/// - **Which operations count.** Exactly those the document merges: batches are applied in the
///   same way `Document` applies them (a batch after a gap of its author, or with counters that
///   do not increase, contributes nothing), and a focus, viewport or profile written by someone
///   other than its owner is left out, as the document rejects it.
/// - **Order and time.** Operations are ordered by hybrid-clock timestamp, ties by operation id.
///   A session starts at its first operation and ends at its last.
/// - **Views.** A view is a focus on an item. It lasts until that person's next focus change, the
///   item's removal, or the session's end, whichever comes first; a view begun after the item's
///   removal (the two were concurrent) lasts 0 ms. Focusing the item already in view does not
///   start a new view. Viewports are not views.
/// - **Attribution.** A purchase is influenced when an agent recommended the same item earlier
///   in the session; the most recent such recommendation gets the credit, and the time from it to
///   the purchase is reported.
///
/// ## Purity
///
/// No I/O, no clock, no randomness: the same batches always give the same report, byte for byte
/// in every format. Every type is a value and safe to share.
public enum Insights {}

/// One room's history as the store holds it: what a session is computed from.
public struct RoomHistory: Sendable {
    /// The room's public tag (never its secret).
    public let room: RoomName
    /// The room's verified batches, in any order.
    public let batches: [VerifiedBatch]
    /// Who rules the room: its owner's grants decide who counts as an agent.
    public let authority: RoomAuthority

    /// Pairs a room's tag and authority with its verified batches.
    public init(tag: [UInt8], authority: RoomAuthority, batches: [VerifiedBatch]) {
        room = RoomName(tag: tag)
        self.authority = authority
        self.batches = batches
    }
}

/// How a report names a room: by its public tag, shortened to 8 hex digits for people.
public struct RoomName: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Hex digits in the short name: 32 bits, so two rooms of one node share one only by a rare chance
    /// (and `--room` accepts a longer prefix to tell them apart).
    package static let shortLength = 8

    /// The room tag's bytes.
    public let tag: [UInt8]

    /// Names the room with this tag.
    public init(tag: [UInt8]) {
        self.tag = tag
    }

    /// The whole tag in lower-case hex.
    public var hex: String { Hex.string(tag) }

    /// The first `shortLength` hex digits of the tag: the room's name in every format.
    package var short: String { String(hex.prefix(Self.shortLength)) }

    /// True if `prefix` (hex, any case) begins the tag's hex form.
    public func matches(prefix: String) -> Bool {
        !prefix.isEmpty && hex.hasPrefix(prefix.lowercased())
    }

    /// Orders by tag bytes.
    public static func < (lhs: RoomName, rhs: RoomName) -> Bool { lhs.tag.lexicographicallyPrecedes(rhs.tag) }

    public var description: String { short }
}

extension ReplicaID {
    /// The participant's short name in reports: the first 5 key bytes in hex, as in logs.
    var short: String { description }
}

extension OpID {
    /// An item's short name in CSV and text: counter, a dash, the author's short id.
    var short: String { "\(counter)-\(replica.short)" }
}
