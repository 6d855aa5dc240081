import ArgumentParser
import Rendezvous

#if canImport(Glibc)
    import Glibc
#endif

struct RendezvousCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rendezvous",
        abstract: "Run the rendezvous helper that introduces a shop's peers and relays for them blindly.",
        discussion: """
            The rendezvous sees only room tags and encrypted packets: it can neither read a session nor join one. It keeps nothing on disk and bounds every table and rate. Run it on a host with a public address; stop it with Ctrl-C (or SIGTERM).

            Example:
              cvpeer rendezvous --listen 0.0.0.0:7700
            """
    )

    @Option(help: "UDP address and port to listen on (port 0 picks a free port).")
    var listen: String = RendezvousService.defaultListenAddress.description

    @Option(help: "Log level: debug, info, warning or error.")
    var logLevel: String = "info"

    @Option(help: "The most rooms held at once.")
    var maxRooms: Int = RendezvousServer.Configuration.defaultMaxRooms

    @Option(help: "The most peers in one room.")
    var maxPeersPerRoom: Int = RendezvousServer.Configuration.defaultMaxPeersPerRoom

    @Option(help: "Relayed bytes per second allowed per room.")
    var relayBytesPerSecond: Double = RendezvousServer.Configuration.defaultRoomRelayBytesPerSecond

    func validate() throws {
        guard HostPort(parsing: listen) != nil else { throw ValidationError("--listen must be HOST:PORT, got '\(listen)'") }
        guard Self.level(logLevel) != nil else { throw ValidationError("--log-level must be debug, info, warning or error") }
        guard maxRooms > 0, maxPeersPerRoom >= 2 else {
            throw ValidationError("--max-rooms must be at least 1 and --max-peers-per-room at least 2")
        }
        guard relayBytesPerSecond > 0 else { throw ValidationError("--relay-bytes-per-second must be positive") }
    }

    func run() throws {
        var configuration = RendezvousServer.Configuration()
        configuration.maxRooms = maxRooms
        configuration.maxPeersPerRoom = maxPeersPerRoom
        configuration.roomRelayBytesPerSecond = relayBytesPerSecond
        configuration.roomRelayBurstBytes = relayBytesPerSecond
        TerminationSignals.block()
        let service = RendezvousService(
            listenAddress: HostPort(parsing: listen)!, configuration: configuration, logLevel: Self.level(logLevel)!)
        try service.start()
        TerminationSignals.wait()
        service.stop()
    }

    private static func level(_ text: String) -> RendezvousService.LogLevel? {
        switch text {
        case "debug": .debug
        case "info": .info
        case "warning": .warning
        case "error": .error
        default: nil
        }
    }
}

/// Termination signals, blocked in every thread and taken synchronously with `sigwait`.
///
/// Blocking them before any thread starts (threads inherit the mask) and waiting with `sigwait`
/// works whatever mask the parent handed down — a parent that spawns from a thread with signals
/// blocked passes that mask on — and a signal that arrives early stays pending instead of killing
/// the process halfway through its start.
enum TerminationSignals {
    private static var set: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        return set
    }

    /// The commands that run until a termination signal.
    static let longRunningCommands: Set<String> = ["host", "join", "rendezvous", "demo"]

    /// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards.
    static func block() {
        var signals = set
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    /// Waits until SIGINT or SIGTERM arrives; `block()` must have been called first.
    static func wait() {
        var signals = set
        var received: Int32 = 0
        sigwait(&signals, &received)
    }
}
