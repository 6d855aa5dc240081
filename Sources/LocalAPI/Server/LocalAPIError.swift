/// Failures of the local API: refusing an unsafe configuration, a node that is not running, and
/// the statuses a route handler throws to refuse a request.
///
/// Descriptions are one line meant for the user of a control command; none of them contains the token.
public enum LocalAPIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The server was asked to listen on an address other machines could reach (the address asked for).
    case nonLoopbackHost(String)
    /// The configured port is outside 0…65535 (the port asked for).
    case invalidPort(Int)
    /// The listening socket could not be opened (port, reason).
    case listenFailed(port: Int, reason: String)
    /// `api.json` could not be written to the data folder (path, reason).
    case apiFileUnwritable(path: String, reason: String)
    /// No node answers for this data folder: `api.json` is missing, unreadable, or names a port nobody listens on.
    case nodeNotRunning(dataFolder: String)
    /// The node answered with an error status (HTTP status, the node's message).
    case requestFailed(status: Int, message: String)
    /// The node's answer could not be read or decoded (what went wrong).
    case malformedResponse(String)
    /// The node did not answer in time (seconds waited).
    case timedOut(seconds: Int)
    /// Thrown by a route handler: the request is malformed (message for the caller). Answered with 400.
    case badRequest(String)
    /// Thrown by a route handler: the thing asked for does not exist (message for the caller). Answered with 404.
    case notFound(String)
    /// Thrown by a body stream or handler: the body is larger than the route accepts (limit in bytes).
    /// Answered with 413.
    case payloadTooLarge(limit: Int)

    public var description: String {
        switch self {
        case .nonLoopbackHost(let host):
            "the local API listens on 127.0.0.1 only; "
                + "refusing to listen on \(host), where other machines could reach it"
        case .invalidPort(let port): "the local API port must be 0 (any free port) or 1…65535, not \(port)"
        case .listenFailed(let port, let reason): "cannot listen on 127.0.0.1:\(port): \(reason)"
        case .apiFileUnwritable(let path, let reason): "cannot write \(path): \(reason)"
        case .nodeNotRunning(let dataFolder):
            "no cvpeer node is running with data folder \(dataFolder) — start it with `cvpeer host` or `cvpeer join`"
        case .requestFailed(let status, let message): "the node refused the request: \(message) (HTTP \(status))"
        case .malformedResponse(let problem): "the node's answer could not be read: \(problem)"
        case .timedOut(let seconds): "the node did not answer within \(seconds) s"
        case .badRequest(let message): message
        case .notFound(let message): message
        case .payloadTooLarge(let limit): "the request body is larger than the \(limit) bytes this endpoint accepts"
        }
    }

    /// The HTTP status a server answers with when a handler throws this error; 500 for the non-request cases.
    package var httpStatus: Int {
        switch self {
        case .badRequest: 400
        case .notFound: 404
        case .payloadTooLarge: 413
        case .requestFailed(let status, _): status
        case .nonLoopbackHost, .invalidPort, .listenFailed, .apiFileUnwritable, .nodeNotRunning, .malformedResponse,
            .timedOut:
            500
        }
    }
}
