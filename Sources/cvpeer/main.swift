import ArgumentParser

// Commands that run until SIGINT/SIGTERM (host, join, rendezvous, demo) take those signals with
// `sigwait`, which needs them blocked in every thread. They are synchronous commands run here on
// the main thread, after the mask is set and before the concurrency runtime starts any thread, so
// every later thread inherits it; async work inside them goes through `runBlocking`.
//
// The rest are asynchronous commands. This is what `AsyncParsableCommand.main()` does, spelled
// out: in top-level code overload resolution picks the synchronous `main` (and `run`), which
// refuse asynchronous commands; inside an async function the asynchronous ones are chosen.
func runAsyncCommand() async {
    do {
        var command = try CVPeer.parseAsRoot()
        if var asyncCommand = command as? any AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
    } catch {
        CVPeer.exit(withError: error)
    }
}

if let name = CommandLine.arguments.dropFirst().first, TerminationSignals.longRunningCommands.contains(name) {
    TerminationSignals.block()
    do {
        var command = try CVPeer.parseAsRoot()
        try command.run()
    } catch {
        CVPeer.exit(withError: error)
    }
} else {
    await runAsyncCommand()
}
