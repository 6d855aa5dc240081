#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Child processes, peak memory and scratch folders for suites that measure a workload in a
/// process of its own (so that its peak memory is its own, not the sum of everything before it).
enum Subprocess {
    /// How a child ended and what it printed on standard output (standard error passes through).
    struct Finished {
        /// The exit code, or nil if the child was killed by a signal.
        let exitCode: Int32?
        /// The signal that killed it, if one did.
        let signal: Int32?
        /// Everything it wrote to standard output.
        let output: String

        var succeeded: Bool { exitCode == 0 }

        /// "exit status 3" or "killed by signal 9", for error lines.
        var ending: String {
            if let exitCode { return "exit status \(exitCode)" }
            return "killed by signal \(signal ?? 0)"
        }
    }

    /// Runs `program` with `arguments` and waits for it, capturing its standard output.
    ///
    /// - Parameter searchPath: look `program` up on PATH (for `python3`); otherwise it is a path.
    /// - Returns: nil if the program could not be started at all (not found, not executable).
    static func run(_ program: String, _ arguments: [String], searchPath: Bool = false) -> Finished? {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        #if canImport(Darwin)
            var actions: posix_spawn_file_actions_t? = nil
        #else
            var actions = posix_spawn_file_actions_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])

        let argv: [UnsafeMutablePointer<CChar>?] = ([program] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let spawned =
            searchPath
            ? posix_spawnp(&pid, program, &actions, nil, argv, environ)
            : posix_spawn(&pid, program, &actions, nil, argv, environ)
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            return nil
        }

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if count > 0 {
                output.append(contentsOf: buffer[0..<count])
            } else if count < 0, errno == EINTR {
                continue
            } else {
                break
            }
        }
        close(fds[0])

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return Finished(exitCode: nil, signal: nil, output: "") }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let text = String(decoding: output, as: UTF8.self)
        if status & 0x7f == 0 {
            return Finished(exitCode: (status >> 8) & 0xff, signal: nil, output: text)
        }
        return Finished(exitCode: nil, signal: status & 0x7f, output: text)
    }

    /// This process's own executable, to run it again as a child.
    static var ownExecutable: String {
        #if os(Linux)
            // Works however the benchmark was started (relative path, symlink, PATH lookup).
            return "/proc/self/exe"
        #else
            return CommandLine.arguments[0]
        #endif
    }

    /// The peak resident set size of this process so far, in KiB (`ru_maxrss`, Linux's VmHWM).
    static func peakResidentKiB() -> Int {
        var usage = rusage()
        #if canImport(Glibc)
            let who = RUSAGE_SELF.rawValue
        #else
            let who = RUSAGE_SELF
        #endif
        guard getrusage(who, &usage) == 0 else { return 0 }
        #if canImport(Darwin)
            return Int(usage.ru_maxrss) / 1024  // bytes on Darwin
        #else
            return Int(usage.ru_maxrss)  // KiB on Linux
        #endif
    }

    /// The resident set size of this process now, in KiB; 0 where /proc is not available.
    static func currentResidentKiB() -> Int {
        // statm: size resident shared text lib data dt, in pages.
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return 0 }
        let fields = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
    }

    /// Creates a fresh private folder under $TMPDIR (or /tmp); nil if that fails.
    static func makeTemporaryFolder(prefix: String) -> String? {
        let base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { buffer in
            mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
        }
    }

    /// Removes `names` inside `folder` (missing ones are fine), then the folder itself.
    static func removeFolder(_ folder: String, containing names: [String]) {
        for name in names { unlink("\(folder)/\(name)") }
        rmdir(folder)
    }

    /// The size of a file in bytes, or nil if it does not exist.
    static func fileSize(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_size)
    }

    /// True if `path` names a readable file.
    static func isReadable(_ path: String) -> Bool {
        access(path, R_OK) == 0
    }

    /// The folder holding this executable, resolved through symlinks; nil if unknown.
    static var executableFolder: String? {
        #if os(Linux)
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
            guard length > 0 else { return nil }
            let path = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #else
            let path = CommandLine.arguments[0]
        #endif
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }

    /// Writes a line to standard error (fd 2 directly: the C `stderr` global is shared mutable state to Swift 6).
    static func printError(_ message: String) {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
