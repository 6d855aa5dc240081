import Foundation

/// Runs the built `cvpeer` binary as a child process and collects what it printed.
///
/// The binary sits beside the test bundle in SwiftPM's build folder (`swift build --build-tests`
/// builds every product), so the tests exercise exactly what a user runs.
struct CLIProcess {
    /// The result of one run.
    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static var binary: URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // On Linux the test runner is `.build/<config>/cvpeerPackageTests.xctest`; elsewhere it may sit inside a bundle.
        while !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("cvpeer").path),
            directory.pathComponents.count > 1
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("cvpeer")
    }

    /// Waits up to `timeout` seconds for `process` to exit, then kills it; true if it exited by itself.
    @discardableResult
    static func waitForExit(_ process: Process, timeout: TimeInterval = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        guard process.isRunning else { return true }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return false
    }

    /// Runs `cvpeer` with `arguments`, waiting at most `timeout` seconds before killing it.
    static func run(_ arguments: [String], timeout: TimeInterval = 60) throws -> Output {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        // Read both pipes to the end on their own threads so a chatty child cannot block on a full pipe.
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        waitForExit(process, timeout: max(0, deadline.timeIntervalSinceNow))
        group.wait()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }
}
