import LocalAPI
import Testing


@Suite struct LocalAPIAccessPolicyTests {
    private let token = LocalAPIToken.random()
    private var policy: LocalAPIAccessPolicy { LocalAPIAccessPolicy(port: 4321, token: token) }

    private func request(
        _ method: String = "GET", host: String? = "127.0.0.1:4321", origin: String? = nil, authorization: String? = nil,
        cookies: [String] = [], path: String = "/", query: String? = nil, upgrade: Bool = false
    ) -> LocalAPIAccessPolicy.Request {
        .init(
            method: method, host: host, origin: origin, authorization: authorization, cookieHeaders: cookies,
            path: path,
            query: query, isWebSocketUpgrade: upgrade)
    }

    @Test func tokensAreFreshLongAndRedacted() {
        let other = LocalAPIToken.random()
        #expect(token.text.count == 52)
        #expect(token.text != other.text)
        #expect(!"\(token)".contains(token.text))
        #expect(token.matches(token.text))
        #expect(!token.matches(other.text))
        #expect(!token.matches(token.text.dropLast()))
        #expect(!token.matches(""))
    }

    @Test func theBearerHeaderAuthorisesAnyMethod() {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            #expect(policy.decide(request(method, authorization: "Bearer \(token.text)")) == .allow)
            #expect(policy.decide(request(method, authorization: "bearer \(token.text)")) == .allow)
        }
        #expect(policy.decide(request(authorization: "Basic \(token.text)")) == .deny(.wrongToken))
        #expect(policy.decide(request(authorization: "Bearer x\(token.text)")) == .deny(.wrongToken))
        #expect(policy.decide(request()) == .deny(.missingToken))
    }

    @Test func hostMustBeThisServer() {
        let bearer = "Bearer \(token.text)"
        #expect(policy.decide(request(host: "localhost:4321", authorization: bearer)) == .allow)
        #expect(policy.decide(request(host: "LOCALHOST:4321", authorization: bearer)) == .allow)
        for host in ["evil.example:4321", "127.0.0.1", "127.0.0.1:80", "[::1]:4321", "127.0.0.1:43210", ""] {
            #expect(policy.decide(request(host: host, authorization: bearer)) == .deny(.foreignHost), "\(host)")
        }
        #expect(policy.decide(request(host: nil, authorization: bearer)) == .deny(.foreignHost))
    }

    @Test func originWhenPresentMustBeThisServer() {
        let bearer = "Bearer \(token.text)"
        #expect(policy.decide(request(origin: "http://localhost:4321", authorization: bearer)) == .allow)
        for origin in [
            "http://evil.example", "null", "https://127.0.0.1:4321", "http://127.0.0.1:4321, http://evil.example",
            "http://127.0.0.1",
        ] {
            #expect(policy.decide(request(origin: origin, authorization: bearer)) == .deny(.foreignOrigin), "\(origin)")
        }
    }

    @Test func aQueryTokenOnAPageLoadBecomesACookieAndARedirect() {
        #expect(
            policy.decide(request(path: "/room", query: "a=1&token=\(token.text)&b=2"))
                == .setCookieAndRedirect(location: "/room?a=1&b=2"))
        #expect(policy.decide(request(query: "token=\(token.text)")) == .setCookieAndRedirect(location: "/"))
        #expect(
            policy.decide(request(path: "//evil.example", query: "token=\(token.text)"))
                == .setCookieAndRedirect(location: "/"))
        #expect(
            policy.decide(request(path: "/\\evil.example", query: "token=\(token.text)"))
                == .setCookieAndRedirect(location: "/"))
        #expect(policy.decide(request(query: "token=wrong")) == .deny(.wrongToken))
        #expect(policy.setCookieValue == "cvpeer_token_4321=\(token.text); HttpOnly; SameSite=Strict; Path=/")
    }

    @Test func aQueryTokenOpensAWebSocketWithoutRedirect() {
        #expect(policy.decide(request(path: "/ws", query: "token=\(token.text)", upgrade: true)) == .allow)
    }

    @Test func aQueryTokenNeverAuthorisesAChange() {
        #expect(
            policy.decide(request("POST", origin: "http://127.0.0.1:4321", query: "token=\(token.text)"))
                == .deny(.missingToken))
    }

    @Test func theCookieAuthorisesReadsAndSameOriginChangesOnly() {
        let cookie = "theme=dark; cvpeer_token_4321=\(token.text)"
        #expect(policy.decide(request(cookies: [cookie])) == .allow)
        #expect(policy.decide(request("POST", cookies: [cookie])) == .deny(.originRequired))
        #expect(policy.decide(request("POST", origin: "http://127.0.0.1:4321", cookies: [cookie])) == .allow)
        #expect(
            policy.decide(request("DELETE", origin: "http://evil.example", cookies: [cookie])) == .deny(.foreignOrigin))
        // Another node's cookie (another port) is not this node's.
        #expect(policy.decide(request(cookies: ["cvpeer_token_1234=\(token.text)"])) == .deny(.missingToken))
        // A stale cookie next to the current one does not lock the viewer out.
        #expect(policy.decide(request(cookies: ["cvpeer_token_4321=old", cookie])) == .allow)
        #expect(policy.decide(request(cookies: ["cvpeer_token_4321=old"])) == .deny(.wrongToken))
    }

    @Test func queryParsingDecodesAndDropsOnlyTheToken() {
        #expect(
            LocalAPIQuery.parameters("a=1&b=two%20words&c=x+y&a=2&flag") == [
                "a": "1", "b": "two words", "c": "x y", "flag": "",
            ])
        #expect(LocalAPIQuery.removing("token", from: "token=1&x=%2F&token=2") == "x=%2F")
    }
}
