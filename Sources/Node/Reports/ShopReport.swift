import Foundation
import Insights
import PeerCrypto
import Replication
import Store

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `cvpeer report`: the shop's figures from a data folder's own store, rendered in one format.
///
/// Reads the store file directly, next to a running node if there is one (SQLite's WAL lets both
/// read), and touches no socket: nothing of a report leaves the machine that computes it.
public enum ShopReport {
    /// The most hex digits of a room tag `--room` takes: the whole tag.
    public static let roomPrefixMaxDigits = RoomKeys.tagLength * 2

    /// The output formats.
    public enum Format: String, CaseIterable, Sendable {
        case text, json, csv, html
    }

    /// A rendered report.
    public struct Rendered: Sendable {
        /// The report in the format asked for.
        public let text: String
        /// How many sessions (rooms) it covers.
        public let sessions: Int
        /// One line per room whose stored batches did not all open (they are left out).
        public let warnings: [String]
    }

    /// Renders the report of every room in the store of the data folder at `path`, or of the one
    /// room whose tag starts with `roomPrefix`.
    ///
    /// - Throws: `ShopReportError` when there is no store or the room prefix names none or several;
    ///   `StoreError` when the store cannot be read.
    public static func render(dataFolder path: String, roomPrefix: String?, format: Format) throws -> Rendered {
        // Checked before anything opens the folder or the store, both of which would create them.
        guard exists(path) else { throw ShopReportError.noStore(path: path) }
        let folder = try DataFolder(path: path)
        guard exists(folder.storePath) else { throw ShopReportError.noStore(path: path) }
        let store = try Store(path: folder.storePath)
        var rooms = try store.rooms()
        if let roomPrefix {
            rooms = rooms.filter { RoomName(tag: $0.keys.tag).matches(prefix: roomPrefix) }
            guard rooms.count == 1 else {
                throw rooms.isEmpty
                    ? ShopReportError.noSuchRoom(roomPrefix) : ShopReportError.ambiguousRoom(roomPrefix, count: rooms.count)
            }
        }
        var histories: [RoomHistory] = []
        var warnings: [String] = []
        for stored in rooms {
            let now = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
            let (verified, unreadable) = try store.verifiedBatches(room: stored.keys, nowMillis: now)
            if !unreadable.isEmpty {
                warnings.append("room \(RoomName(tag: stored.keys.tag).short): \(unreadable.count) stored batches do not open; left out")
            }
            histories.append(RoomHistory(tag: stored.keys.tag, authority: RoomAuthority(room: stored.keys), batches: verified))
        }
        let report = Report(rooms: histories)
        let text =
            switch format {
            case .text: TextReport.render(report)
            case .json: JSONReport.render(report)
            case .csv: CSVReport.render(report)
            case .html: HTMLReport.render(report)
            }
        return Rendered(text: text, sessions: report.sessions.count, warnings: warnings)
    }

    private static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }
}

/// What stops a report, said in one line.
package enum ShopReportError: Error, CustomStringConvertible {
    /// The data folder has no store yet.
    case noStore(path: String)
    /// No room's tag starts with the prefix.
    case noSuchRoom(String)
    /// Several rooms' tags start with the prefix.
    case ambiguousRoom(String, count: Int)

    public var description: String {
        switch self {
        case .noStore(let path):
            "no store in \(path): this node has not hosted or joined a room yet (or --data is wrong)"
        case .noSuchRoom(let prefix):
            "no room in the store has a tag starting with \(prefix); `cvpeer report` lists them"
        case .ambiguousRoom(let prefix, let count):
            "\(count) rooms have a tag starting with \(prefix); give more hex digits"
        }
    }
}
