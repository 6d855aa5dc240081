#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Entry point: `cvpeer-bench [--quick] <suite>|all`. Exit status 2 is a usage error, 1 a failed suite.

switch Invocation.parse(Array(CommandLine.arguments.dropFirst())) {
case .help:
    print(Invocation.usage)
case .failure(let message):
    // Straight to fd 2: the C `stderr` global is shared mutable state to Swift 6.
    let line = Array("cvpeer-bench: \(message) (see --help)\n".utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(2)
case .run(let suites, let options):
    var failed = false
    for (index, suite) in suites.enumerated() {
        if index > 0 { print() }
        if !(await suite.run(options)) { failed = true }
    }
    exit(failed ? 1 : 0)
}
