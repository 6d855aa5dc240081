import ArgumentParser
import Foundation
import Node
import Primitives

#if canImport(Glibc)
    import Glibc
#endif

struct RendezvousCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rendezvous",
        abstract: "Run the rendezvous helper that introduces a shop's peers and relays for them blindly.",
        discussion: """
            The rendezvous sees only room tags and encrypted packets: it can neither read a session nor join one. It keeps nothing on disk and bounds every table and rate. Run it on a host with a public address; stop it with Ctrl-C (or SIGTERM).

            With --allow FILE only the agents listed may open rooms (anyone with a room's key may still join it): one identity per line, as `cvpeer identity` prints it; blank lines and # comments are ignored. Send SIGHUP to reload the file. Without --allow anyone may open rooms.

            With --allow FILE --open, agents not on the list may open rooms too, within the per-network limits (64 rooms per IPv4 address or IPv6 /64, 256 per IPv4 /24 or IPv6 /56, 1,024 per IPv6 /48) and --max-rooms; the listed agents' rooms always get in: when the table is full, the oldest room of an unlisted agent makes way.

            Examples:
              cvpeer rendezvous --listen 0.0.0.0:7700 --allow /etc/cvpeer/agents
              cvpeer rendezvous --listen 0.0.0.0:7700 --allow /etc/cvpeer/agents --open
            """
    )

    @Option(help: "UDP address and port to listen on (port 0 picks a free port).")
    var listen: String = RendezvousHost.Defaults.listen

    @Option(help: "File of agent identities allowed to open rooms, one per line as `cvpeer identity` prints them; reloaded on SIGHUP.")
    var allow: String?

    @Flag(help: "With --allow: agents not on the list may open rooms too, within the per-network limits; listed agents' rooms always get in.")
    var open = false

    @Option(help: "Log level: debug, info, warning or error.")
    var logLevel: RendezvousHost.LogLevel = .info

    @Option(help: "The most rooms held at once.")
    var maxRooms: Int = RendezvousHost.Defaults.maxRooms

    @Option(help: "The most peers in one room.")
    var maxPeersPerRoom: Int = RendezvousHost.Defaults.maxPeersPerRoom

    @Option(help: "Relayed bytes per second allowed per room.")
    var relayBytesPerSecond: Double = RendezvousHost.Defaults.relayBytesPerSecond

    func validate() throws {
        guard HostPort(parsing: listen) != nil else { throw ValidationError("--listen must be HOST:PORT, got '\(listen)'") }
        guard maxRooms > 0, maxPeersPerRoom >= 2 else {
            throw ValidationError("--max-rooms must be at least 1 and --max-peers-per-room at least 2")
        }
        guard relayBytesPerSecond > 0 else { throw ValidationError("--relay-bytes-per-second must be positive") }
        guard !open || allow != nil else {
            throw ValidationError("--open goes with --allow FILE: without an allow list anyone may open rooms already")
        }
    }

    func run() throws {
        let rendezvous = try RendezvousHost(
            listen: HostPort(parsing: listen)!, maxRooms: maxRooms, maxPeersPerRoom: maxPeersPerRoom,
            relayBytesPerSecond: relayBytesPerSecond, logLevel: logLevel, allowFile: allow,
            unlistedOwnersMayCreate: open)
        TerminationSignals.block()
        // SIGHUP reloads the allow file: blocked before the loop thread starts and taken with sigwait.
        var hangup = sigset_t()
        sigemptyset(&hangup)
        sigaddset(&hangup, SIGHUP)
        pthread_sigmask(SIG_BLOCK, &hangup, nil)
        try rendezvous.start()
        while TerminationSignals.wait(alsoFor: SIGHUP) == SIGHUP {
            rendezvous.reloadAllowFile()
        }
        rendezvous.stop()
    }
}

/// Termination signals, blocked in every thread; the rendezvous takes them with `sigwait`, the
/// node commands through ServiceLifecycle (`UntilTerminated`).
///
/// Blocking them before any thread starts (threads inherit the mask) works whatever mask the
/// parent handed down — a parent that spawns from a thread with signals blocked passes that mask
/// on — and a signal that arrives early stays pending instead of killing the process halfway
/// through its start.
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

    /// Waits until SIGINT, SIGTERM or `extra` (blocked by the caller too) arrives; returns the signal.
    static func wait(alsoFor extra: Int32) -> Int32 {
        var signals = set
        sigaddset(&signals, extra)
        var received: Int32 = 0
        sigwait(&signals, &received)
        return received
    }
}
