import PeerCrypto
import Sockets

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A node's data folder: created private (0700), holding the identity key and, later, the store.
public struct DataFolder: Sendable {
    /// The folder's path.
    public let path: String

    /// The per-user default: `$XDG_DATA_HOME/cvpeer`, else `~/.local/share/cvpeer`.
    public static func defaultPath() -> String {
        if let xdg = getenv("XDG_DATA_HOME").map({ String(cString: $0) }), xdg.hasPrefix("/") {
            return xdg + "/cvpeer"
        }
        let home = getenv("HOME").map { String(cString: $0) } ?? "."
        return home + "/.local/share/cvpeer"
    }

    /// Opens the folder at `path`, creating it (and missing parents) with mode 0700.
    ///
    /// - Throws: `NodeError.dataFolder` if it cannot be created or is not a directory.
    public init(path: String) throws {
        self.path = path
        try Self.makeDirectory(path)
    }

    /// Where the identity key lives.
    package var identityPath: String { path + "/identity.key" }

    /// Where the store (SQLite, 0600) lives.
    package var storePath: String { path + "/store.sqlite" }

    /// Loads this node's identity, creating one (mode 0600) on first use.
    public func identity() throws -> Identity {
        if access(identityPath, F_OK) != 0, errno == ENOENT {
            let identity = Identity.generate()
            try Self.save(identity, to: identityPath)
            return identity
        }
        return try Identity.load(from: identityPath)
    }

    /// Writes `identity` to a new private file at `path`: whole or not at all, flushed to disk,
    /// an existing file never overwritten.
    ///
    /// - Throws: `CryptoError.keyFile` if the file exists or cannot be written.
    static func save(_ identity: Identity, to path: String) throws {
        var contents = identity.keyFileContents()
        defer { Sodium.zero(&contents) }
        let placed: Bool
        do throws(SocketError) {
            placed = try PrivateFile.write(contents, to: path, replacing: false, durable: true)
        } catch {
            throw CryptoError.keyFile(path: path, reason: error.reason)
        }
        guard placed else { throw CryptoError.keyFile(path: path, reason: "already exists; not overwritten") }
    }

    /// The identity's fingerprint, as `cvpeer identity` prints it (creating the identity on first use).
    package func identityFingerprint() throws -> String {
        try identity().publicKey.fingerprint
    }

    private static func makeDirectory(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else { throw NodeError.dataFolder(path: path, reason: "not a directory") }
            return
        }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectory(String(path[..<slash]))
        }
        if mkdir(path, 0o700) != 0, errno != EEXIST {
            throw NodeError.dataFolder(path: path, reason: String(cString: strerror(errno)))
        }
    }
}
