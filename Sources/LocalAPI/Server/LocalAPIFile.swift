import Foundation
import Sockets

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `api.json` in a data folder: how control commands find the node running with that folder.
///
///     {"pid":1234,"port":40123,"token":"…52 base32 characters…"}
///
/// Mode 0600 because the token in it is the key to the node; written to a temporary file and renamed
/// so a reader never sees half a file. Nothing is fsynced: the file describes one run of a process and
/// is worthless after a crash, so durability would only cost time.
package struct LocalAPIFile: Codable, Equatable, Sendable {
    /// The file's name inside the data folder.
    package static let fileName = "api.json"
    /// The most `read(from:)` looks at: the real file is under 100 bytes.
    package static let maxSize = 4096

    /// The process serving the API, for people reading the file and for telling runs apart.
    package var pid: Int32
    /// The port on 127.0.0.1.
    package var port: Int
    /// The bearer token.
    package var token: String

    /// Describes the run of process `pid` serving on `port` with `token`.
    package init(pid: Int32, port: Int, token: String) {
        (self.pid, self.port, self.token) = (pid, port, token)
    }

    /// The file's path inside `dataFolder`.
    package static func path(inDataFolder dataFolder: String) -> String {
        dataFolder.hasSuffix("/") ? dataFolder + fileName : dataFolder + "/" + fileName
    }

    /// Writes the file atomically with mode 0600, replacing any earlier one.
    ///
    /// - Throws: `LocalAPIError.apiFileUnwritable` with the failing step's reason.
    package func save(to path: String) throws(LocalAPIError) {
        let bytes: [UInt8]
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            bytes = Array(try encoder.encode(self))
        } catch {
            throw .apiFileUnwritable(path: path, reason: "\(error)")
        }
        do throws(SocketError) {
            try PrivateFile.write(bytes, to: path, replacing: true, durable: false)
        } catch {
            throw .apiFileUnwritable(path: path, reason: error.reason)
        }
    }

    /// Reads the file; nil if it is missing, too large or not a valid description of a running API.
    package static func read(from path: String) -> LocalAPIFile? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: maxSize + 1), data.count <= maxSize,
            let file = try? JSONDecoder().decode(LocalAPIFile.self, from: data),
            (1...65535).contains(file.port), !file.token.isEmpty
        else { return nil }
        return file
    }

    /// Removes the file at `path` if it still holds `token`.
    ///
    /// A second node started on the same folder after this one has replaced the file with its own;
    /// deleting that would strand the control commands of a node that is still running.
    package static func remove(at path: String, ifTokenIs token: String) {
        guard let current = read(from: path), current.token == token else { return }
        unlink(path)
    }
}
