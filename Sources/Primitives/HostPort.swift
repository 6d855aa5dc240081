/// A `HOST:PORT` pair as people type it: `127.0.0.1:7700`, `rv.shop.example:7700`, `[::1]:7700`.
public struct HostPort: Hashable, Sendable, CustomStringConvertible {
    /// The host name or address literal, without brackets.
    public let host: String
    /// The UDP or TCP port.
    public let port: UInt16

    /// Creates a pair from its parts.
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, `[IPV6]:PORT`; nil if the text is not of that form.
    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            // An unbracketed host with a colon would be an ambiguous IPv6 literal.
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, host.utf8.count <= 253, !portText.isEmpty, portText.utf8.count <= 5, portText.allSatisfy(\.isWholeNumber), portText.allSatisfy(\.isASCII),
            let port = UInt16(portText)
        else { return nil }
        let allowed = host.unicodeScalars.allSatisfy { c in
            c.properties.isAlphabetic && c.isASCII || ("0"..."9").contains(c) || c == "." || c == "-" || c == ":"
                || c == "_"
        }
        guard allowed else { return nil }
        self.host = String(host)
        self.port = port
    }

    /// `host:port`, with brackets around an IPv6 literal.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
