import Foundation

/// What `cvpeer join` reads: a short code or an invite line, typed, pasted or given as an argument.
public enum JoinInput {
    /// True if the text looks like a short code (a number of 1 to 3 digits, then a separator
    /// and letters), not an invite line or an address.
    public static func isShortCode(_ text: String) -> Bool {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        let rest = trimmed.dropFirst(digits.count)
        return (1...3).contains(digits.count) && (rest.first == "-" || rest.first == " ")
            && rest.contains { $0.isLetter } && !rest.contains { $0 == ":" || $0 == "." }
    }

    /// The invite code starting with `prefix` inside whatever was pasted: the bare code, or the
    /// whole `cvpeer join '…'` line.
    public static func inviteCode(in text: String, prefix: String) -> String {
        guard let start = text.range(of: prefix) else { return text.trimmingCharacters(in: .whitespacesAndNewlines) }
        return String(text[start.lowerBound...].prefix { !$0.isWhitespace && $0 != "'" && $0 != "\"" })
    }
}
