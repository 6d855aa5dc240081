/// What characters a document string may hold.
///
/// Control characters are refused (except newline and tab in multi-line text) because every
/// string ends up in someone's viewer or terminal, where they could hide or fake content; so
/// are the explicit bidirectional overrides and isolates, which can make a name read backwards.
enum TextRule {
    /// One line: no control characters at all.
    case line
    /// Free text: newlines and tabs allowed.
    case multiline

    func check(_ text: String, _ what: String, minBytes: Int = 0, maxBytes: Int) throws(ReplicationError) {
        let count = text.utf8.count
        guard count <= maxBytes else { throw .limitExceeded(what, limit: maxBytes) }
        guard count >= minBytes else { throw .invalidValue(what + " (empty)") }
        for scalar in text.unicodeScalars where Self.isControl(scalar) {
            switch self {
            case .line: throw .invalidValue(what + " (control character)")
            case .multiline: if scalar != "\n" && scalar != "\t" { throw .invalidValue(what + " (control character)") }
            }
        }
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return value < 0x20 || (0x7F...0x9F).contains(value) || (0x202A...0x202E).contains(value)
            || (0x2066...0x2069).contains(value)
    }
}
