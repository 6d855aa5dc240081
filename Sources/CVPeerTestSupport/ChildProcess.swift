import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Built executables beside the test bundle (`swift build --build-tests` builds every product).
public enum BuiltBinary {
    /// The executable `name` in the build folder that holds the running test bundle.
    public static func url(_ name: String) -> URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent(name).path),
            directory.pathComponents.count > 1
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent(name)
    }
}

/// One child process whose standard output is read line by line as it comes.
///
/// `@unchecked Sendable`: `Process` and `Pipe` are only touched through their thread-safe calls
/// (run, isRunning, terminationStatus, writing a pipe); the lines live under a mutex.
public final class ChildProcess: @unchecked Sendable {
    /// A name for failure messages.
    public let name: String
    private let process: Process
    private let input: Pipe
    private let lines = LineBuffer()
    private let finishedReading = DispatchSemaphore(value: 0)

    /// Starts `executable` with `arguments`; standard output and error are read as lines.
    public init(_ executable: URL, _ arguments: [String], name: String, environment: [String: String]? = nil) throws {
        self.name = name
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let lines = self.lines
        let done = finishedReading
        let handle = output.fileHandleForReading
        Thread.detachNewThread {
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    lines.append(line)
                }
            }
            done.signal()
        }
    }

    /// Every line printed so far.
    public var output: [String] { lines.all }

    /// The first line starting with `prefix` (waiting up to `timeout` seconds), or nil.
    public func line(_ prefix: String, timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if let line = output.first(where: { $0.hasPrefix(prefix) }) { return line }
            usleep(10_000)
        } while Date() < deadline
        return output.first(where: { $0.hasPrefix(prefix) })
    }

    /// The last line starting with `prefix` printed after `after` lines, waiting up to `timeout` seconds.
    public func nextLine(_ prefix: String, after: Int, timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if let line = output.dropFirst(after).last(where: { $0.hasPrefix(prefix) }) { return line }
            usleep(10_000)
        } while Date() < deadline
        return nil
    }

    /// Writes one command line to the child's standard input.
    public func send(_ command: String) {
        try? input.fileHandleForWriting.write(contentsOf: Data((command + "\n").utf8))
    }

    /// Asks for `status` and returns the JSON that answers it.
    public func status(timeout: Double = 5) -> String? {
        let before = output.count
        send("status")
        return nextLine("status ", after: before, timeout: timeout).map { String($0.dropFirst("status ".count)) }
    }

    public var isRunning: Bool { process.isRunning }
    public var processIdentifier: Int32 { process.processIdentifier }

    /// Waits up to `timeout` seconds for the child to exit by itself; its exit status, or nil if still running.
    public func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        guard !process.isRunning else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; returns the exit status (nil if it had to be killed).
    @discardableResult
    public func stop(grace: Double = 5) -> Int32? {
        guard process.isRunning else {
            process.waitUntilExit()
            _ = finishedReading.wait(timeout: .now() + 2)
            return process.terminationStatus
        }
        kill(process.processIdentifier, SIGTERM)
        if let status = waitForExit(timeout: grace) {
            _ = finishedReading.wait(timeout: .now() + 2)
            return status
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        _ = finishedReading.wait(timeout: .now() + 2)
        return nil
    }

    /// The resident set size from /proc, in KiB (0 if unknown).
    public var residentKiB: Int {
        guard let text = try? String(contentsOfFile: "/proc/\(processIdentifier)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
}

/// Lines shared between the reader thread and the test.
public final class LineBuffer: Sendable {
    /// An empty buffer.
    public init() {}
    private let lines = Mutex<[String]>([])
    /// Adds a line.
    public func append(_ line: String) { lines.withLock { $0.append(line) } }
    /// Every line so far.
    public var all: [String] { lines.withLock { $0 } }
}
