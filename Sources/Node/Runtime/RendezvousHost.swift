import Foundation
import Primitives
import Rendezvous

/// The address type of the node's options, invites and the rendezvous: `HOST:PORT` as people type it.
///
/// Named here so the command line, which starts nodes and the rendezvous through this module, needs
/// no import of the modules beneath it.
public typealias HostPort = Primitives.HostPort

/// `cvpeer rendezvous`: the rendezvous service with the command line's settings and allow file.
public final class RendezvousHost: Sendable {
    /// How much the service logs.
    public enum LogLevel: String, CaseIterable, Sendable {
        case debug, info, warning, error

        var service: RendezvousService.LogLevel {
            switch self {
            case .debug: .debug
            case .info: .info
            case .warning: .warning
            case .error: .error
            }
        }
    }

    /// The command line's defaults, shown in its `--help`.
    public enum Defaults {
        /// Where the service listens.
        public static let listen = RendezvousService.defaultListenAddress.description
        /// How many rooms it holds at once.
        public static let maxRooms = RendezvousServer.Configuration.defaultMaxRooms
        /// How many members a room may have.
        public static let maxPeersPerRoom = RendezvousServer.Configuration.defaultMaxPeersPerRoom
        /// How many bytes a second it relays for one room.
        public static let relayBytesPerSecond = RendezvousServer.Configuration.defaultRoomRelayBytesPerSecond
    }

    private let service: RendezvousService
    private let allowFile: String?

    /// Reads the allow file (if any) and prepares the service; nothing listens until `start()`.
    ///
    /// - Throws: `AllowFileError` naming the file, and the line when one is bad.
    public init(
        listen: HostPort, maxRooms: Int, maxPeersPerRoom: Int, relayBytesPerSecond: Double, logLevel: LogLevel,
        allowFile: String?, unlistedOwnersMayCreate: Bool
    ) throws(AllowFileError) {
        var configuration = RendezvousServer.Configuration()
        configuration.maxRooms = maxRooms
        configuration.maxPeersPerRoom = maxPeersPerRoom
        configuration.roomRelayBytesPerSecond = relayBytesPerSecond
        configuration.roomRelayBurstBytes = relayBytesPerSecond
        let owners = try allowFile.map(Self.loadAllowFile)
        self.allowFile = allowFile
        service = RendezvousService(
            listenAddress: listen, configuration: configuration, logLevel: logLevel.service, allowedOwners: owners,
            unlistedOwnersMayCreate: unlistedOwnersMayCreate)
    }

    /// Opens the socket and starts the service's thread.
    public func start() throws {
        _ = try service.start()
    }

    /// Reads the allow file again (SIGHUP); a file that cannot be used leaves the previous list in
    /// force. Either way one log line says what happened.
    public func reloadAllowFile() {
        guard let allowFile else {
            RendezvousService.standardOutputLog(.info, "SIGHUP ignored: no --allow file to reload")
            return
        }
        do {
            service.setAllowedOwners(try Self.loadAllowFile(allowFile))
        } catch {
            RendezvousService.standardOutputLog(.warning, "allow file not reloaded, the previous list stays in force: \(error)")
        }
    }

    /// Stops the service and closes its socket.
    public func stop() {
        service.stop()
    }

    /// Reads and parses an allow file.
    static func loadAllowFile(_ path: String) throws(AllowFileError) -> AllowedOwners {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw AllowFileError(path: path, reason: "cannot be read (\(error.localizedDescription))")
        }
        do {
            return try AllowedOwners(parsing: text)
        } catch {
            throw AllowFileError(path: path, reason: error.description)
        }
    }
}

/// An allow file that cannot be used: one line for people.
public struct AllowFileError: Error, CustomStringConvertible {
    /// The file named by --allow.
    public let path: String
    /// What is wrong, with the line number when a line is bad.
    public let reason: String

    public var description: String { "--allow \(path): \(reason)" }
}
