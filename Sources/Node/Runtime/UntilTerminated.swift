import Logging
import ServiceLifecycle
import UnixSignals

/// Runs what a long-running command (`host`, `join`, `demo`) starts until SIGINT or SIGTERM, on
/// ServiceLifecycle: the command's work is the group's one service, and either signal triggers its
/// graceful shutdown, which `untilShutdown()` waits for.
///
/// The command line blocks both signals in every thread before any thread starts: a signal that
/// arrives while the node is still starting then stays pending instead of killing the process
/// halfway, and the group takes it as soon as it listens, so the command stops once started.
public enum UntilTerminated {
    /// Runs `work` as a service until it returns; a termination signal asks it to finish.
    public static func run(_ work: @escaping @Sendable () async throws -> Void) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    // The work returns only after a shutdown was asked for; returning is then no failure.
                    ServiceGroupConfiguration.ServiceConfiguration(
                        service: Work(body: work), successTerminationBehavior: .gracefullyShutdownGroup)
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                // The group's own lines would mix with the command's output, which tests and scripts read.
                logger: Logger(label: "cvpeer", factory: { _ in SwiftLogNoOpLogHandler() })))
        try await group.run()
    }

    /// Returns once a termination signal asked the running work to stop (at once if one already has).
    public static func untilShutdown() async {
        try? await gracefulShutdown()
    }

    private struct Work: Service {
        let body: @Sendable () async throws -> Void
        func run() async throws { try await body() }
    }
}
