import ArgumentParser
import Foundation
import LocalAPI
import Node
import Primitives
import Synchronization

/// What every control command (`share`, `mark`, `view`, `status`, …) shares: finding the node,
/// checking input, and turning each failure into one line and an exit status.
///
/// A control command checks its arguments in `validate()` and its files before it contacts the node,
/// so bad input never reaches it. Every failure is one line on standard error starting with
/// `error:`, and the exit status says what kind it was: 64 for bad arguments, 1 for anything else
/// (no node running, the node refused, a file that cannot be written), 75 from `save` while the
/// media is still arriving. Results (ids, status, JSON) go to standard output; notes for people
/// (metadata removed, progress) to standard error, so scripts can capture the one and show the other.
enum Control {
    /// Runs a command's work, printing any failure as one `error:` line and exiting with its status.
    static func run(_ work: () async throws -> Void) async throws {
        do {
            try await work()
        } catch {
            throw report(error)
        }
    }

    /// Runs `validate()`'s checks, printing a refusal as one `error:` line and exiting with 64.
    ///
    /// ArgumentParser would print a `ValidationError` followed by the usage; one line is easier to read
    /// and to test, and `--help` shows the usage to whoever wants it.
    static func validate(_ checks: () throws -> Void) throws {
        do {
            try checks()
        } catch {
            throw report(error)
        }
    }

    /// Parses one option's value, naming the option in the message of a refusal.
    static func parse<Value>(_ option: String, _ parser: () throws -> Value) throws(ControlFailure) -> Value {
        do {
            return try parser()
        } catch {
            throw ControlFailure("\(option): \(error)", exitCode: .validationFailure)
        }
    }

    /// A client for the node of `options`' data folder.
    ///
    /// The path is used as given, without `DataFolder(path:)`, which would create the folder: a command
    /// that finds no node must leave nothing behind.
    static func client(_ options: DataOptions, timeout: Duration = .seconds(30)) -> LocalAPIClient {
        LocalAPIClient(dataFolderPath: options.data ?? DataFolder.defaultPath(), timeout: timeout)
    }

    /// Writes `text` to standard error as it is (no newline added).
    static func note(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// True when standard error is a terminal, where progress can be redrawn in place.
    static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }

    /// Prints `error` as one line and returns the exit status to end with.
    private static func report(_ error: any Error) -> ExitCode {
        let message: String
        let status: ExitCode
        switch error {
        case let exit as ExitCode:
            return exit
        case let failure as ControlFailure:
            (message, status) = (failure.message, failure.exitCode)
        case let input as CommandInputError:
            (message, status) = (input.description, .validationFailure)
        case let api as LocalAPIError:
            (message, status) = (api.description, .failure)
        default:
            (message, status) = ("\(error)", .failure)
        }
        note("error: \(TerminalText.oneLine(message))\n")
        return status
    }
}

/// A control command's failure: one line for people and the exit status.
struct ControlFailure: Error {
    /// What went wrong, one line without the `error:` prefix.
    let message: String
    /// How the process ends.
    let exitCode: ExitCode

    init(_ message: String, exitCode: ExitCode = .failure) {
        self.message = message
        self.exitCode = exitCode
    }
}

/// The help of every `ITEM` argument, which the node resolves.
let itemArgumentHelp = ArgumentHelp(
    "The item: its id, a unique prefix of it (4 characters or more), or its exact title.", valueName: "item")

/// Redraws "doing X: 42%" in place on a terminal, only when the whole percentage changes.
final class ProgressLine: Sendable {
    private let label: String
    private let shown = Mutex(-1)

    init(_ label: String) { self.label = label }

    /// Shows `done` of `total`.
    func update(_ done: Int64, of total: Int64) {
        guard total > 0 else { return }
        let percent = Int(done * 100 / total)
        let changed = shown.withLock { last in
            defer { last = percent }
            return last != percent
        }
        // \r returns to the line's start and ESC[K clears what a longer earlier line left.
        if changed { Control.note("\r\(label): \(percent)%\u{1B}[K") }
    }

    /// Removes the line, if one was drawn.
    func finish() {
        if shown.withLock({ $0 >= 0 }) { Control.note("\r\u{1B}[K") }
    }
}
