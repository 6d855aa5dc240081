import PeerCrypto

/// The owner keys an operator allows to create rooms at a rendezvous (`cvpeer rendezvous --allow FILE`).
///
/// The file holds one agent identity per line, exactly as `cvpeer identity` prints it: the line
/// `fingerprint: abcd-efgh-ijkl-mnop` or the fingerprint alone (four groups of four base32
/// characters, case ignored). Blank lines and lines starting with `#` are ignored, and so is
/// anything after a `#` on a line. The fingerprint is 80 bits of a hash of the key, so nobody can
/// make a second key that matches a listed one. Immutable and thread-safe.
public struct AllowedOwners: Equatable, Sendable {
    /// The listed fingerprints, lowercase.
    package let fingerprints: Set<String>

    /// Why an allow file was refused: the first bad line, 1-based.
    public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The line number, counting from 1.
        public let line: Int
        /// What is wrong with it.
        public let reason: String

        /// One line for people.
        public var description: String { "line \(line): \(reason)" }
    }

    /// A list of these fingerprints (as `PublicKey.fingerprint` prints them).
    public init(fingerprints: some Sequence<String>) {
        self.fingerprints = Set(fingerprints.map { $0.lowercased() })
    }

    /// A list of these keys.
    public init(keys: some Sequence<PublicKey>) {
        self.init(fingerprints: keys.map(\.fingerprint))
    }

    /// Parses an allow file's text.
    ///
    /// - Throws: `ParseError` naming the first line that is neither blank, a comment, nor a fingerprint.
    public init(parsing text: String) throws(ParseError) {
        var found: Set<String> = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            var trimmed = line.trimmingSpaces
            if trimmed.isEmpty { continue }
            if trimmed.lowercased().hasPrefix("fingerprint:") {
                trimmed = Substring(trimmed.dropFirst("fingerprint:".count)).trimmingSpaces
            }
            let candidate = trimmed.lowercased()
            guard Self.isFingerprint(candidate) else {
                throw ParseError(
                    line: index + 1,
                    reason: "'\(trimmed.prefix(40))' is not an agent identity as `cvpeer identity` prints it "
                        + "(four groups of four letters or digits 2-7, like abcd-efgh-ijkl-mnop)")
            }
            found.insert(candidate)
        }
        fingerprints = found
    }

    /// True if `key`'s fingerprint is listed.
    public func contains(_ key: PublicKey) -> Bool { fingerprints.contains(key.fingerprint) }

    /// How many identities are listed.
    public var count: Int { fingerprints.count }

    private static func isFingerprint(_ text: String) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        return groups.count == 4
            && groups.allSatisfy { group in
                group.count == 4 && group.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x32...0x37).contains($0) }
            }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" || first == "\r" { result = result.dropFirst() }
        while let last = result.last, last == " " || last == "\t" || last == "\r" { result = result.dropLast() }
        return result
    }
}
