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
    public var identityPath: String { path + "/identity.key" }

    /// Where the store (SQLite, 0600) lives.
    public var storePath: String { path + "/store.sqlite" }

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

/// Failures of a running node that the command line reports to the user.
public enum NodeError: Error, Equatable, CustomStringConvertible {
    /// The data folder could not be created or used (path, reason).
    case dataFolder(path: String, reason: String)
    /// An invite could not be made or read (what is wrong; never the code itself).
    case invalidInvite(InviteError)
    /// A photo's metadata could not be removed because the file is damaged (format, byte offset, reason).
    case unreadableMedia(format: String, offset: Int, reason: String)
    /// Another node runs with this data folder (its pid if known).
    case alreadyRunning(path: String)
    /// A request the node cannot carry out as asked (what is wrong).
    case badRequest(String)
    /// Nothing matches (what was looked for).
    case notFound(String)
    /// Several things match a short name (what, how many).
    case ambiguous(String, count: Int)
    /// A blob is still arriving (chunks held, chunks in all).
    case blobIncomplete(have: Int, total: Int)
    /// A blob's chunks all arrived but do not add up to its id.
    case blobCorrupt
    /// The room's rules do not let this participant do that (what, and why).
    case forbidden(String)
    /// A state the code rules out was reached (a bug, described).
    case internalInconsistency(String)
    /// This node's own edit quota is spent for now (the API answers 429).
    case quotaExceeded(QuotaExceeded)

    public var description: String {
        switch self {
        case let .dataFolder(path, reason): "data folder \(path): \(reason)"
        case let .invalidInvite(problem): problem.description
        case let .unreadableMedia(format, offset, reason):
            "cannot remove metadata from this \(format) file, it is damaged at byte \(offset) (\(reason)); "
                + "refusing to share it with its metadata unchecked; --keep-metadata shares it unchanged"
        case let .alreadyRunning(path): "another cvpeer node is running with the data folder \(path); stop it or pass another --data"
        case let .badRequest(problem): problem
        case let .notFound(what): "no such \(what)"
        case let .ambiguous(what, count): "\(count) items match \(what); give more of the id"
        case let .blobIncomplete(have, total): "still arriving: \(have) of \(total) chunks"
        case .blobCorrupt: "the file's chunks do not match its id (a member sent a damaged or forged file)"
        case let .forbidden(why): why
        case let .internalInconsistency(what): "internal error: \(what)"
        case let .quotaExceeded(refusal): refusal.description
        }
    }
}
