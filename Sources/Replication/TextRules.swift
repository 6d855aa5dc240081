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
        let multiline = self == .multiline
        let clean =
            text.utf8.withContiguousStorageIfAvailable { Self.isClean($0, multiline: multiline) }
            ?? Array(text.utf8).withUnsafeBufferPointer { Self.isClean($0, multiline: multiline) }
        guard clean else { throw .invalidValue(what + " (control character)") }
    }

    /// True if valid UTF-8 `bytes` hold none of the refused characters, in one pass over the bytes:
    /// C0 controls are single bytes below 0x20 (newline and tab allowed in multi-line text), DEL
    /// is 0x7F, the C1 controls U+0080…U+009F are C2 80…C2 9F, the overrides U+202A…U+202E are
    /// E2 80 AA…AE and the isolates U+2066…U+2069 are E2 81 A6…A9. Lead bytes never occur as
    /// continuation bytes, so matching them never straddles two characters.
    static func isClean(_ bytes: UnsafeBufferPointer<UInt8>, multiline: Bool) -> Bool {
        let count = bytes.count
        var index = 0
        while index < count {
            let byte = bytes[index]
            switch byte {
            case 0x0A, 0x09:
                if !multiline { return false }
            case 0x00..<0x20, 0x7F:
                return false
            case 0xC2:
                if index + 1 < count, bytes[index + 1] <= 0x9F { return false }
            case 0xE2:
                if index + 2 < count {
                    let second = bytes[index + 1]
                    let third = bytes[index + 2]
                    if second == 0x80, (0xAA...0xAE).contains(third) { return false }
                    if second == 0x81, (0xA6...0xA9).contains(third) { return false }
                }
            default: break
            }
            index += 1
        }
        return true
    }
}
