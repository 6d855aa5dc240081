import LocalAPI
import Replication
import Store

/// The local API of a running node (docs/LOCAL-API.md): what control commands and the viewer call.
///
/// Every handler turns a request into engine calls and a JSON answer; errors a person can act on
/// become 4xx answers with one line, anything else a 500 whose detail stays in the node's log.
/// Each resource registers its routes in its own file of this folder.
enum NodeRoutes {
    /// Every route of the node's local API.
    static func routes(engine: RoomEngine) -> [LocalAPIRoute] {
        viewerRoutes() + statusRoutes(engine: engine) + mediaRoutes(engine: engine) + markRoutes(engine: engine)
            + itemRoutes(engine: engine) + playbackRoutes(engine: engine) + chatRoutes(engine: engine) + memberRoutes(engine: engine)
    }

    /// A JSON answer the engine has already written.
    static func text(_ json: String) -> LocalAPIResponse {
        .bytes(Array(json.utf8), contentType: "application/json")
    }

    /// Runs a handler, turning the errors people can act on into 4xx answers.
    static func guarded(_ body: () async throws -> LocalAPIResponse) async -> LocalAPIResponse {
        do {
            return try await body()
        } catch let error as NodeError {
            switch error {
            case .notFound: return .error(404, error.description)
            case .forbidden: return .error(403, error.description)
            case .quotaExceeded(let refusal):
                var response = LocalAPIResponse.error(429, error.description)
                if let seconds = refusal.retryAfterSeconds { response.headers["Retry-After"] = String(seconds) }
                return response
            case .ambiguous, .blobIncomplete: return .error(409, error.description)
            case .internalInconsistency, .blobCorrupt, .dataFolder: return .error(500, error.description)
            default: return .error(400, error.description)
            }
        } catch let error as ReplicationError {
            return .error(400, "\(error)")
        } catch let error as CommandInputError {
            return .error(400, error.description)
        } catch let error as LocalAPIError {
            return .error(error.httpStatus, error.description)
        } catch let error as StoreError {
            return .error(500, "the store refused the write: \(error)")
        } catch {
            return .error(500, "internal error: \(error)")
        }
    }
}
