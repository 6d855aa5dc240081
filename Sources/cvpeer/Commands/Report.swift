import ArgumentParser
import Insights
import Node
import PeerCrypto
import Store

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract:
            "Report on the sessions held in this node's store: views, recommendations, purchases and attribution.",
        discussion: """
            Reads the store directly (a running node may keep running) and opens no network connection: nothing leaves this machine. A session is one room; rooms are named by the first 8 hex digits of their public tag. docs/REPORT.md describes the figures, the JSON schema and the CSV columns.

            Examples:
              cvpeer report
              cvpeer report --data ~/cvpeer-ana --room 3fa2c1d0 --format json
              cvpeer report --all --format html --out report.html
            """
    )

    @OptionGroup var options: DataOptions

    @Option(help: "Only the room whose tag starts with these hex digits (as the text report lists them).")
    var room: String?

    @Flag(help: "Every room in the store (the default).")
    var all = false

    @Option(help: "Output format: text, json, csv or html.")
    var format: ReportFormat = .text

    @Option(help: "Write the report to this file (mode 0600) instead of standard output.")
    var out: String?

    func validate() throws {
        if room != nil, all { throw ValidationError("give --room or --all, not both") }
        if let room {
            guard (1...RoomKeys.tagLength * 2).contains(room.count), room.allSatisfy(\.isHexDigit) else {
                throw ValidationError(
                    "--room takes 1 to \(RoomKeys.tagLength * 2) hex digits of a room tag, got '\(room)'")
            }
        }
    }

    func run() throws {
        let path = options.data ?? DataFolder.defaultPath()
        // Checked before anything opens the folder or the store, both of which would create them.
        guard Self.exists(path) else { throw ReportError.noStore(path: path) }
        let folder = try DataFolder(path: path)
        guard Self.exists(folder.storePath) else { throw ReportError.noStore(path: path) }
        let store = try Store(path: folder.storePath)
        var rooms = try store.rooms()
        if let room {
            rooms = rooms.filter { RoomName(tag: $0.keys.tag).matches(prefix: room) }
            guard rooms.count == 1 else {
                throw rooms.isEmpty ? ReportError.noSuchRoom(room) : ReportError.ambiguousRoom(room, count: rooms.count)
            }
        }
        var histories: [RoomHistory] = []
        for stored in rooms {
            let (verified, unreadable) = try store.verifiedBatches(room: stored.keys)
            if !unreadable.isEmpty {
                Self.warn(
                    "room \(RoomName(tag: stored.keys.tag).short): \(unreadable.count) stored batches do not open; left out"
                )
            }
            histories.append(RoomHistory(tag: stored.keys.tag, batches: verified))
        }
        let report = Report(rooms: histories)
        let rendered =
            switch format {
            case .text: TextReport.render(report)
            case .json: JSONReport.render(report)
            case .csv: CSVReport.render(report)
            case .html: HTMLReport.render(report)
            }
        if let out {
            try Self.save(rendered, to: out)
            print("report written to \(out) (\(report.sessions.count) sessions)")
        } else {
            print(rendered, terminator: "")
        }
    }

    private static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    private static func warn(_ line: String) {
        _ = writeAll(STDERR_FILENO, "warning: \(line)\n")
    }

    /// Writes all of `text` to `fd`; the error's text if a write failed.
    private static func writeAll(_ fd: Int32, _ text: String) -> String? {
        Array(text.utf8).withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { return String(cString: strerror(errno)) }
                offset += written
            }
            return nil
        }
    }

    /// Writes beside the target and renames, so a reader never sees half a report; 0600, as it
    /// describes customers.
    private static func save(_ text: String, to path: String) throws {
        let temporary = path + ".partial"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ReportError.write(path: path, reason: String(cString: strerror(errno))) }
        var failure = writeAll(fd, text)
        if close(fd) != 0, failure == nil { failure = String(cString: strerror(errno)) }
        if failure == nil, rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw ReportError.write(path: path, reason: failure)
        }
    }
}

/// The report's output formats.
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, csv, html
}

/// What stops a report, said in one line.
enum ReportError: Error, CustomStringConvertible {
    /// The data folder has no store yet.
    case noStore(path: String)
    /// No room's tag starts with the prefix.
    case noSuchRoom(String)
    /// Several rooms' tags start with the prefix.
    case ambiguousRoom(String, count: Int)
    /// The output file could not be written.
    case write(path: String, reason: String)

    var description: String {
        switch self {
        case .noStore(let path):
            "no store in \(path): this node has not hosted or joined a room yet (or --data is wrong)"
        case .noSuchRoom(let prefix):
            "no room in the store has a tag starting with \(prefix); `cvpeer report` lists them"
        case .ambiguousRoom(let prefix, let count):
            "\(count) rooms have a tag starting with \(prefix); give more hex digits"
        case .write(let path, let reason): "cannot write \(path): \(reason)"
        }
    }
}
