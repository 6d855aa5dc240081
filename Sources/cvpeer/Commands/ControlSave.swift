import ArgumentParser
import CommandLineKit
import Foundation
import LocalAPI
import Node
import Primitives
import Sockets
import Synchronization

struct SaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "save",
        abstract: "Save an item's photo or video to a file.",
        discussion: """
            Writes the media exactly as it was shared, once every chunk has arrived and been verified. The file is created with mode 0600 and appears whole or not at all; an existing file is replaced only with --force. While the media is still arriving the command says how much is here and exits with status 75, so a script can try again later.

            Example:
              cvpeer save sofa --out ~/Downloads/sofa.jpg
            """
    )

    @Argument(help: itemArgumentHelp)
    var item: String

    @Option(help: ArgumentHelp("The file to write.", valueName: "file"))
    var out: String

    @Flag(help: "Replace the file if it exists.")
    var force = false

    @OptionGroup var options: DataOptions

    /// EX_TEMPFAIL: the media is still arriving; trying again later will work.
    static let stillArriving = ExitCode(75)

    func run() async throws {
        try await Control.run {
            // Refused before anything is fetched, and checked again when the file is put in place.
            if !force, FileManager.default.fileExists(atPath: out) {
                throw ControlFailure("\(out) exists; --force replaces it")
            }
            let client = Control.client(options)
            // The node resolves the item, as for every other command; only the wording is ours.
            let lookup: ItemLookupAnswer = try await client.send(.post, "/api/lookup", json: ItemLookupRequest(item: item))
            let media: ItemLookupAnswer.Media
            do throws(ItemLookupText.Failure) {
                media = try ItemLookupText.media(of: item, in: lookup)
            } catch {
                throw ControlFailure(error.description)
            }
            let target = try TargetFile(path: out)
            defer { target.discard() }
            let progress =
                Control.standardErrorIsTerminal && Int64(clamping: media.size) >= ShareCommand.progressThreshold
                ? ProgressLine("receiving \(TerminalText.oneLine(URL(fileURLWithPath: out).lastPathComponent))") : nil
            let response: LocalAPIClient.Response
            do {
                response = try await client.download("/api/blobs/\(media.id)", to: target.append) { received, total in
                    progress?.update(received, of: total ?? Int64(clamping: media.size))
                }
                progress?.finish()
            } catch {
                progress?.finish()
                throw error
            }
            if response.status == 409, let arriving = try? response.decode(StillArrivingAnswer.self) {
                let percent = arriving.total > 0 ? " (\(arriving.have * 100 / arriving.total)%)" : ""
                throw ControlFailure(
                    "the media of \(item) is still arriving: \(arriving.have) of \(arriving.total) chunks\(percent); "
                        + "try again when it is complete",
                    exitCode: Self.stillArriving)
            }
            _ = try response.successful()
            if target.written != Int64(clamping: media.size) {
                throw ControlFailure("the node sent \(target.written) bytes of a \(media.size)-byte file; nothing was saved")
            }
            try target.commit(replacing: force)
            Control.note("saved \(ByteCount(target.written)) to \(out)\n")
        }
    }
}

/// The file `save` writes: a `PrivateFile` beside the target, put in place only when whole, its
/// failures worded for this command.
///
/// Thread-safe: the download hands it pieces from the client's threads.
private final class TargetFile: Sendable {
    let path: String
    private let file: PrivateFile

    init(path: String) throws(ControlFailure) {
        self.path = path
        do throws(SocketError) {
            file = try PrivateFile(writingTo: path)
        } catch {
            throw ControlFailure("cannot write \(path): \(error.reason)")
        }
    }

    var written: Int64 { file.written }

    /// Appends one piece of the body.
    @Sendable func append(_ bytes: UnsafeRawBufferPointer) throws(LocalAPIError) {
        do throws(SocketError) {
            try file.append(bytes)
        } catch {
            throw .badRequest("cannot write \(path): \(error.reason)")
        }
    }

    /// Flushes the file to disk and gives it its final name, replacing an existing file only if `replacing`.
    func commit(replacing: Bool) throws(ControlFailure) {
        let placed: Bool
        do throws(SocketError) {
            placed = try file.commit(replacing: replacing, durable: true)
        } catch {
            throw ControlFailure("cannot write \(path): \(error.reason)")
        }
        guard placed else { throw ControlFailure("\(path) exists; --force replaces it") }
    }

    /// Removes the temporary file unless it was put in place; safe to call more than once.
    func discard() {
        file.discard()
    }
}
