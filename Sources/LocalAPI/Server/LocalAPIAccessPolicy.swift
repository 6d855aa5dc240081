import Foundation

/// Who may use the local API: the one decision every request and every WebSocket upgrade goes through.
///
/// Pure: no I/O, no clock, no randomness, so tests drive it with plain values and both the HTTP
/// responder and the upgrade guard call the same function. Rules, in order:
///
/// 1. **Host** must be exactly `127.0.0.1:PORT` or `localhost:PORT`. A web page that rebinds its own
///    DNS name to 127.0.0.1 still sends its own name as Host, so DNS rebinding ends here.
/// 2. **Origin**, when present, must be `http://127.0.0.1:PORT` or `http://localhost:PORT`. Browsers
///    send it on every cross-site request that could change something and on every WebSocket
///    handshake, so a foreign page can neither post to the API nor open its socket.
/// 3. **Token**: `Authorization: Bearer TOKEN` (control commands), else on GET/HEAD a `?token=TOKEN`
///    query (the first load of the printed viewer URL, and the WebSocket), else the cookie. A bearer
///    header that is present but wrong is refused outright rather than falling back to the cookie.
/// 4. A request that changes something (not GET/HEAD) authorised by the cookie alone must carry a
///    same-origin Origin: the cookie is sent by the browser on its own, the bearer header never is.
///
/// Immutable and thread-safe.
package struct LocalAPIAccessPolicy: Sendable {
    /// The port the server listens on; part of every Host and Origin it accepts.
    package let port: Int
    /// The token of this run.
    package let token: LocalAPIToken

    /// The policy of a server on `port` with `token`.
    package init(port: Int, token: LocalAPIToken) {
        self.port = port
        self.token = token
    }

    /// The query parameter that carries the token on a viewer page load or a WebSocket handshake.
    package static let queryTokenName = "token"

    /// The cookie carrying the token. The port is part of the name because browsers keep cookies per
    /// host, not per port: two nodes on one machine (`cvpeer demo` runs two) would otherwise
    /// overwrite each other's cookie and lock each other's viewer out.
    package var cookieName: String { "cvpeer_token_\(port)" }

    /// The `Set-Cookie` value that stores the token in the viewer's browser for this run.
    ///
    /// HttpOnly keeps page scripts from reading it; SameSite=Strict keeps the browser from sending it
    /// with requests other sites start; no Max-Age makes it end with the browser session, as the
    /// token ends with the node.
    package var setCookieValue: String { "\(cookieName)=\(token.text); HttpOnly; SameSite=Strict; Path=/" }

    /// What the policy looks at, taken from an HTTP request head.
    package struct Request: Sendable {
        /// The method, e.g. `GET`.
        package var method: String
        /// The Host header (HTTP/1.1) or `:authority`; nil when missing or given more than once.
        package var host: String?
        /// The Origin header; nil when absent. Several Origin headers arrive joined and so never match.
        package var origin: String?
        /// The Authorization header, if any.
        package var authorization: String?
        /// Every Cookie header's value.
        package var cookieHeaders: [String]
        /// The path as sent (before `?`), still percent-encoded.
        package var path: String
        /// The raw query string (after `?`), if any.
        package var query: String?
        /// True for a WebSocket handshake: a query token is then accepted without a redirect.
        package var isWebSocketUpgrade: Bool

        /// Takes the parts of a request head the policy looks at.
        package init(
            method: String, host: String?, origin: String?, authorization: String?, cookieHeaders: [String], path: String,
            query: String?, isWebSocketUpgrade: Bool
        ) {
            (self.method, self.host, self.origin, self.authorization) = (method, host, origin, authorization)
            (self.cookieHeaders, self.path, self.query, self.isWebSocketUpgrade) = (cookieHeaders, path, query, isWebSocketUpgrade)
        }
    }

    /// Why a request is refused; the text goes back to the client, so it names the rule, never a value.
    package enum Denial: Equatable, Sendable {
        /// Host is not this server's own (DNS rebinding, or a proxy passing on a foreign Host).
        case foreignHost
        /// Origin is present and not this server's own (a request started by another site).
        case foreignOrigin
        /// No token in any accepted place.
        case missingToken
        /// A token is present but wrong.
        case wrongToken
        /// A change authorised by the cookie alone, without an Origin to prove it comes from the viewer.
        case originRequired

        package var message: String {
            switch self {
            case .foreignHost: "forbidden: the Host header is not this node's local address"
            case .foreignOrigin: "forbidden: the request comes from another site"
            case .missingToken: "forbidden: the access token is missing"
            case .wrongToken: "forbidden: the access token is wrong"
            case .originRequired: "forbidden: a change made with the cookie needs this node's Origin header"
            }
        }
    }

    /// The outcome for one request.
    package enum Decision: Equatable, Sendable {
        /// Serve the request.
        case allow
        /// A page load with a valid `?token=`: store the cookie and redirect to the same URL without the token.
        case setCookieAndRedirect(location: String)
        /// Answer 403.
        case deny(Denial)
    }

    /// Decides one request; see the type's documentation for the rules.
    package func decide(_ request: Request) -> Decision {
        guard let host = request.host, isOwnHost(host) else { return .deny(.foreignHost) }
        if let origin = request.origin, !isOwnOrigin(origin) { return .deny(.foreignOrigin) }
        let method = request.method.uppercased()
        let isSafe = method == "GET" || method == "HEAD"

        if let authorization = request.authorization {
            guard let bearer = Self.bearerToken(authorization), token.matches(bearer) else { return .deny(.wrongToken) }
            return .allow
        }
        if isSafe, let queryToken = LocalAPIQuery.value(of: Self.queryTokenName, in: request.query) {
            guard token.matches(queryToken) else { return .deny(.wrongToken) }
            if request.isWebSocketUpgrade { return .allow }
            // `//host/…` (or `/\host/…`, which browsers read the same way) would send the browser to
            // another site: only plain local paths are kept.
            let isLocal = request.path.hasPrefix("/") && !request.path.hasPrefix("//") && !request.path.contains("\\")
            let path = isLocal ? request.path : "/"
            let rest = LocalAPIQuery.removing(Self.queryTokenName, from: request.query)
            return .setCookieAndRedirect(location: rest.isEmpty ? path : path + "?" + rest)
        }
        let cookies = request.cookieHeaders.flatMap { Self.cookieValues(named: cookieName, in: $0) }
        guard !cookies.isEmpty else { return .deny(.missingToken) }
        // Checks every value so that a stale cookie from an earlier run beside the current one still works.
        guard cookies.contains(where: { token.matches($0) }) else { return .deny(.wrongToken) }
        if !isSafe && request.origin == nil { return .deny(.originRequired) }
        return .allow
    }

    private var acceptedAuthorities: [String] {
        port == 80
            ? ["127.0.0.1:80", "localhost:80", "127.0.0.1", "localhost"] : ["127.0.0.1:\(port)", "localhost:\(port)"]
    }

    private func isOwnHost(_ host: String) -> Bool {
        acceptedAuthorities.contains(host.lowercased())
    }

    private func isOwnOrigin(_ origin: String) -> Bool {
        acceptedAuthorities.contains { "http://" + $0 == origin.lowercased() }
    }

    /// The token of an `Authorization: Bearer …` header; nil for any other scheme.
    package static func bearerToken(_ authorization: String) -> Substring? {
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].drop { $0 == " " }
    }

    /// The values of every cookie called `name` in one Cookie header (`a=1; b=2`).
    package static func cookieValues(named name: String, in header: String) -> [Substring] {
        header.split(separator: ";").compactMap { pair in
            let trimmed = pair.drop { $0 == " " }
            guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == name else { return nil }
            return trimmed[trimmed.index(after: equals)...]
        }
    }
}

/// Reading URL query strings (`a=1&b=two%20words`) without a URL type, for requests and the policy.
package enum LocalAPIQuery {
    /// Every parameter, decoded; a repeated name keeps its first value.
    package static func parameters(_ query: String?) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in pairs(query) where result[name] == nil { result[name] = value }
        return result
    }

    /// The decoded value of the first parameter called `name`.
    package static func value(of name: String, in query: String?) -> String? {
        pairs(query).first { $0.name == name }?.value
    }

    /// The query without any parameter called `name`, the others kept as they were sent.
    package static func removing(_ name: String, from query: String?) -> String {
        guard let query else { return "" }
        return query.split(separator: "&").filter { decode($0.prefix { $0 != "=" }) != name }.joined(separator: "&")
    }

    private static func pairs(_ query: String?) -> [(name: String, value: String)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&").map { pair in
            guard let equals = pair.firstIndex(of: "=") else { return (decode(pair), "") }
            return (decode(pair[..<equals]), decode(pair[pair.index(after: equals)...]))
        }
    }

    private static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
