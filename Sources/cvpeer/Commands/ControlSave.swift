import ArgumentParser
import CommandLineKit
import Foundation
import LocalAPI
import Node
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
                ? ProgressLine("receiving \(CommandInput.oneLine(URL(fileURLWithPath: out).lastPathComponent))") : nil
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

/// The file `save` writes: a private temporary file beside the target, put in place only when whole.
///
/// Thread-safe: the download hands it pieces from the client's threads.
private final class TargetFile: Sendable {
    let path: String
    let temporaryPath: String
    private let fd: Int32
    private let state = Mutex((written: Int64(0), open: true, placed: false))

    /// Creates the temporary file (0600) in the target's folder, so the final rename stays on one file system.
    init(path: String) throws(ControlFailure) {
        self.path = path
        let url = URL(fileURLWithPath: path)
        temporaryPath =
            url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).cvpeer-\(getpid()).part")
            .path
        // O_EXCL also refuses to follow a symlink planted at the temporary name.
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ControlFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
        fchmod(fd, 0o600)
    }

    var written: Int64 { state.withLock { $0.written } }

    /// Appends one piece of the body.
    @Sendable func append(_ bytes: UnsafeRawBufferPointer) throws(LocalAPIError) {
        var offset = 0
        while offset < bytes.count {
            let result = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if result < 0 {
                if errno == EINTR { continue }
                throw .badRequest("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += result
        }
        state.withLock { $0.written += Int64(bytes.count) }
    }

    /// Flushes the file to disk and gives it its final name, replacing an existing file only if `replacing`.
    func commit(replacing: Bool) throws(ControlFailure) {
        guard fsync(fd) == 0 else { throw ControlFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
        closeOnce()
        if replacing {
            guard rename(temporaryPath, path) == 0 else {
                throw ControlFailure("cannot write \(path): \(String(cString: strerror(errno)))")
            }
        } else if link(temporaryPath, path) != 0 {
            // link() is the portable "create only if absent"; a file system without hard links gets a
            // check-then-rename, racy only against someone creating the same file in that instant.
            let reason = errno
            guard reason != EEXIST else { throw ControlFailure("\(path) exists; --force replaces it") }
            guard !FileManager.default.fileExists(atPath: path), rename(temporaryPath, path) == 0 else {
                throw ControlFailure("cannot write \(path): \(String(cString: strerror(reason)))")
            }
        }
        state.withLock { $0.placed = true }
        if !replacing { unlink(temporaryPath) }
    }

    /// Removes the temporary file unless it was put in place; safe to call more than once.
    func discard() {
        closeOnce()
        if !state.withLock({ $0.placed }) { unlink(temporaryPath) }
    }

    private func closeOnce() {
        let wasOpen = state.withLock { state in
            defer { state.open = false }
            return state.open
        }
        if wasOpen { close(fd) }
    }
}
