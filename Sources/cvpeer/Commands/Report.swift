import ArgumentParser
import Node
import Sockets

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
    var format: ShopReport.Format = .text

    @Option(help: "Write the report to this file (mode 0600) instead of standard output.")
    var out: String?

    func validate() throws {
        if room != nil, all { throw ValidationError("give --room or --all, not both") }
        if let room {
            guard (1...ShopReport.roomPrefixMaxDigits).contains(room.count), room.allSatisfy(\.isHexDigit) else {
                throw ValidationError(
                    "--room takes 1 to \(ShopReport.roomPrefixMaxDigits) hex digits of a room tag, got '\(room)'")
            }
        }
    }

    func run() throws {
        let rendered = try ShopReport.render(
            dataFolder: options.data ?? DataFolder.defaultPath(), roomPrefix: room, format: format)
        for warning in rendered.warnings { Self.warn(warning) }
        if let out {
            try Self.save(rendered.text, to: out)
            print("report written to \(out) (\(rendered.sessions) sessions)")
        } else {
            print(rendered.text, terminator: "")
        }
    }

    private static func warn(_ line: String) {
        Array("warning: \(line)\n".utf8).withUnsafeBytes { try? SystemCall.writeAll(STDERR_FILENO, $0) }
    }

    /// Writes beside the target and renames, so a reader never sees half a report; 0600, as it
    /// describes customers.
    private static func save(_ text: String, to path: String) throws {
        do throws(SocketError) {
            try PrivateFile.write(Array(text.utf8), to: path, replacing: true, durable: false)
        } catch {
            throw ReportWriteError(path: path, reason: error.reason)
        }
    }
}

extension ShopReport.Format: ExpressibleByArgument {}

/// The output file could not be written.
struct ReportWriteError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "cannot write \(path): \(reason)" }
}
