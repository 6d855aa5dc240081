/// Failures of a running node that the command line reports to the user.
package enum NodeError: Error, Equatable, CustomStringConvertible {
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
