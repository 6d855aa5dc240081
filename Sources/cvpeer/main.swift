import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

// Commands that run until SIGINT/SIGTERM (host, join, rendezvous, demo) have those signals blocked
// here, on the main thread before the concurrency runtime starts any thread, so every later thread
// inherits the mask: a signal that arrives while a node is still starting stays pending instead of
// killing the process halfway. host, join and demo then take it through ServiceLifecycle
// (`UntilTerminated`), which reads blocked signals as they are pending; the rendezvous, synchronous
// and also reloading on SIGHUP, with `sigwait`.
//
// Parsing and running at the end is what `AsyncParsableCommand.main()` does, spelled out: in
// top-level code overload resolution picks the synchronous `main` (and `run`), which refuse
// asynchronous commands; inside an async function the asynchronous ones are chosen.
func runAsync(_ command: any AsyncParsableCommand) async throws {
    var command = command
    try await command.run()
}

/// Help and version requests print as ArgumentParser prints them; every error is one line on
/// standard error, naming the subcommand's `--help`, with ArgumentParser's exit code.
func fail(_ error: any Error) -> Never {
    let code = CVPeer.exitCode(for: error)
    // Help and version print as ArgumentParser prints them; a bare ExitCode was thrown by a
    // command that has already said what went wrong.
    if code == .success { CVPeer.exit(withError: error) }
    if let exitCode = error as? ExitCode { exit(exitCode.rawValue) }
    if CVPeer.message(for: error).isEmpty { exit(code.rawValue) }
    // ArgumentParser's own messages add "Help:" and "Usage:" lines; the first line says what is wrong.
    let message = CVPeer.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    let text = message.lowercased().hasPrefix("error:") ? message : "error: " + message
    let names = CVPeer.configuration.subcommands.map { $0.configuration.commandName ?? "" }
    let command = CommandLine.arguments.dropFirst().first.flatMap { names.contains($0) ? " \($0)" : nil } ?? ""
    let hint = code == .validationFailure ? " (see `cvpeer\(command) --help`)" : ""
    FileHandleOutput.stderr(text + hint + "\n")
    exit(code.rawValue)
}

if let name = CommandLine.arguments.dropFirst().first, TerminationSignals.longRunningCommands.contains(name) {
    TerminationSignals.block()
}
// Top-level code runs on the main thread: the synchronous rendezvous waits there with `sigwait`,
// as it did before any asynchronous command existed.
do {
    var command = try CVPeer.parseAsRoot()
    if let asyncCommand = command as? any AsyncParsableCommand {
        try await runAsync(asyncCommand)
    } else {
        try command.run()
    }
} catch {
    fail(error)
}
