import Foundation
import Primitives

/// Something a node or a peer wrote, safe for one line; "?" when missing.
func text(_ value: String?) -> String {
    value.map(TerminalText.oneLine) ?? "?"
}

/// An item id shortened to its counter and the author's first 8 hex digits: still a prefix that
/// names the item for the other commands.
package func shortID(_ id: String?) -> String {
    guard let id else { return "?" }
    guard let dash = id.firstIndex(of: "-") else { return TerminalText.oneLine(String(id.prefix(16))) }
    return TerminalText.oneLine(String(id[...dash]) + id[id.index(after: dash)...].prefix(8))
}

/// A byte count for people: 512 B, 3.4 MB, 4.3 GB (powers of 1000, as file managers show them).
public struct ByteCount: CustomStringConvertible, Sendable {
    /// The count.
    public let bytes: Int64

    /// Wraps a count.
    public init(_ bytes: Int64) { self.bytes = bytes }

    /// Wraps an unsigned count (the local API's sizes).
    public init(_ bytes: UInt64) { self.bytes = Int64(clamping: bytes) }

    public var description: String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
