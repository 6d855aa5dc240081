import Foundation
import LocalAPI

extension NodeRoutes {
    /// The viewer's Content-Security-Policy: only the node's own files, nothing inline, no other host.
    static let contentSecurityPolicy =
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; "
        + "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

    /// The viewer's page and its scripts and styles.
    static func viewerRoutes() -> [LocalAPIRoute] {
        [
            LocalAPIRoute(.get, "/") { _ in try viewerFile("index.html") },
            LocalAPIRoute(.get, "/viewer/:file") { request in try viewerFile(request.parameters["file"] ?? "") },
        ]
    }

    private static func viewerFile(_ name: String) throws -> LocalAPIResponse {
        let types = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "svg": "image/svg+xml", "png": "image/png"]
        guard name.range(of: #"^[A-Za-z0-9_-]+\.[a-z]+$"#, options: .regularExpression) != nil,
            let type = types[String(name.split(separator: ".").last ?? "")]
        else { return .error(404, "no such file") }
        guard let data = NodeResources.contents("Viewer/" + name) else { return .error(404, "no such file") }
        var response = LocalAPIResponse.bytes(Array(data), contentType: type)
        response.headers["Content-Security-Policy"] = contentSecurityPolicy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response
    }
}
