/// Text that a node or a peer wrote, made safe for a terminal.
public enum TerminalText {
    /// `text` made safe to print on one terminal line: control characters, line breaks and
    /// bidirectional overrides become visible `\u{…}` escapes.
    ///
    /// For anything a node or a peer wrote that a command prints, so that neither can move the cursor,
    /// recolour the terminal or split one error line into several.
    public static func oneLine(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if isRefused(scalar, multiline: false) {
                result += "\\u{\(hex4(scalar.value))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Replication's text rule, seen from the command line: C0 and C1 controls, DEL, and the
    /// bidirectional embeddings, overrides and isolates (newline and tab allowed when `multiline`).
    public static func isRefused(_ scalar: Unicode.Scalar, multiline: Bool) -> Bool {
        switch scalar.value {
        case 0x0A, 0x09: !multiline
        case 0x00..<0x20, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// A scalar's value as at least four upper-case hex digits, as `U+` and `\u{…}` spell it.
    public static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
