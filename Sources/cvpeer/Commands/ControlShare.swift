import ArgumentParser
import CommandLineKit
import Foundation
import LocalAPI
import Node
import Primitives

struct ShareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "share",
        abstract: "Share a photo or video with everyone in the room.",
        discussion: """
            Streams FILE to the node running with the same data folder, which stores it, adds it to the shared panel and sends it, end-to-end encrypted, to every peer. A photo's or video's location, camera, title, dates and other metadata (EXIF, XMP, tags) are removed before it leaves the node unless --keep-metadata is given; a file the node cannot clean is refused. Prints the new item's id on standard output once it is stored; what happened to the metadata, and progress for large files, go to standard error.

            Examples:
              cvpeer share sofa.jpg --title "Sofa, left arm" --price "129.90 EUR"
              item=$(cvpeer share --data ~/cvpeer-ana clip.mp4 --keep-metadata)
            """
    )

    @Argument(help: ArgumentHelp("The photo or video to share.", valueName: "file"))
    var file: String

    @Option(help: ArgumentHelp("A title for the item, one line.", valueName: "text"))
    var title: String?

    @Option(
        help: ArgumentHelp(
            "A price for the item: \"129.90 EUR\", \"EUR 129.90\" or \"129.90\" (EUR).", valueName: "price"))
    var price: String?

    @Flag(help: "Share the file exactly as it is, with its location, camera and other metadata.")
    var keepMetadata = false

    @OptionGroup var options: DataOptions

    /// Below this size an upload is over before progress would be readable.
    static let progressThreshold: Int64 = 8 << 20

    mutating func validate() throws {
        try Control.validate {
            _ = try checkedPrice()
            if let title { _ = try CommandInput.text(title, as: .title) }
        }
    }

    func run() async throws {
        try await Control.run {
            let size = try Self.checkFile(file)
            let name = URL(fileURLWithPath: file).lastPathComponent
            let path = LocalAPIClient.path(
                "/api/share",
                query: [
                    ("name", name), ("title", title), ("price", try checkedPrice()),
                    ("keepMetadata", keepMetadata ? "1" : nil),
                ])
            let showsProgress = Control.standardErrorIsTerminal && size >= Self.progressThreshold
            let progress = showsProgress ? ProgressLine("sending \(TerminalText.oneLine(name))") : nil
            // The node answers once the item is stored: hashing and sealing a large video can keep it
            // silent for a while after the last byte.
            let client = Control.client(options, timeout: .seconds(120))
            let response: LocalAPIClient.Response
            do {
                response = try await client.upload(path, file: file) { sent, total in
                    progress?.update(sent, of: total)
                }
                progress?.finish()
            } catch {
                progress?.finish()
                throw error
            }
            let answer = try response.successful().decode(ShareAnswer.self)
            Control.note(Self.metadataNote(answer, keptOnPurpose: keepMetadata) + "\n")
            print(TerminalText.oneLine(answer.item))
        }
    }

    /// What the node did to the file's metadata, as the node's answer says it.
    static func metadataNote(_ answer: ShareAnswer, keptOnPurpose: Bool) -> String {
        let kind = TerminalText.oneLine(answer.kind)
        guard answer.metadataRemoved else {
            return keptOnPurpose ? "kept metadata (--keep-metadata)" : "metadata kept: the node did not clean this \(kind)"
        }
        let removed = answer.removed.map { TerminalText.oneLine($0) }
        return removed.isEmpty
            ? "metadata checked: the node found nothing identifying in this \(TerminalText.oneLine(answer.mime)) file"
            : "metadata removed: " + removed.joined(separator: ", ")
    }

    /// The price as the node reads it most plainly (`129.90 EUR`), or nil without `--price`.
    private func checkedPrice() throws(ControlFailure) -> String? {
        guard let price else { return nil }
        return try Control.parse("--price") { try CommandInput.format(CommandInput.price(price)) }
    }

    /// The file's size, once it is known to be a readable, non-empty regular file the node can take.
    private static func checkFile(_ path: String) throws(ControlFailure) -> Int64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ControlFailure("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ControlFailure("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw ControlFailure("\(path) is not a regular file") }
        let size = Int64(info.st_size)
        guard size > 0 else { throw ControlFailure("\(path) is empty") }
        guard size <= Int64(RoomEngine.maxBlobSize) else {
            let limit = ByteCount(Int64(RoomEngine.maxBlobSize))
            throw ControlFailure("\(path) is \(ByteCount(size)); the node takes files up to \(limit)")
        }
        return size
    }
}
