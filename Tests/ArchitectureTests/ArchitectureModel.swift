import Foundation

/// One target of Package.swift as the architecture test reads it: its name, kind, folder and the
/// targets and products it depends on.
struct PackageTarget: Equatable {
    /// `target`, `executableTarget`, `testTarget` or `systemLibrary`.
    var kind: String
    var name: String
    /// The folder relative to the package root (Package.swift's `path:` or the default).
    var path: String
    /// Targets and products named in `dependencies:`, in order.
    var dependencies: [String]

    var isTest: Bool { kind == "testTarget" }
}

/// Reads Package.swift's target declarations without running SwiftPM.
///
/// SwiftPM holds a lock on `.build` while `swift test` runs, so asking it for the manifest from a test
/// would wait forever; the manifest is plain enough to read as text: each `.target(…)` call's
/// `name:`, `path:` and `dependencies: [...]`, with `.product(name: "X", package: …)` read as `X`.
enum PackageManifest {
    static let kinds = ["executableTarget", "testTarget", "systemLibrary", "target"]

    static func targets(in manifest: String) -> [PackageTarget] {
        let text = Array(stripComments(manifest))
        var result: [PackageTarget] = []
        var index = 0
        while index < text.count {
            guard text[index] == ".", let kind = kinds.first(where: { matches("\($0)(", in: text, at: index + 1) }) else {
                index += 1
                continue
            }
            let open = index + 1 + kind.count
            guard let close = matching(text, from: open) else { break }
            let body = String(text[(open + 1)..<close])
            if let name = stringArgument("name", in: body) {
                let folder = kind == "testTarget" ? "Tests" : "Sources"
                result.append(
                    PackageTarget(
                        kind: kind, name: name, path: stringArgument("path", in: body) ?? "\(folder)/\(name)",
                        dependencies: dependencies(in: body)))
            }
            index = close + 1
        }
        return result
    }

    /// Drops `//` comments, which may mention targets that are not dependencies.
    static func stripComments(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            guard let range = line.range(of: "//") else { return line }
            return line[line.startIndex..<range.lowerBound]
        }.joined(separator: "\n")
    }

    static func matches(_ word: String, in text: [Character], at index: Int) -> Bool {
        let characters = Array(word)
        guard index + characters.count <= text.count else { return false }
        return Array(text[index..<(index + characters.count)]) == characters
    }

    /// The index of the bracket that closes the one at `open` (`(` or `[`).
    static func matching(_ text: [Character], from open: Int) -> Int? {
        var depth = 0
        var inString = false
        for index in open..<text.count {
            let c = text[index]
            if c == "\"" { inString.toggle() }
            if inString { continue }
            if c == "(" || c == "[" { depth += 1 }
            if c == ")" || c == "]" {
                depth -= 1
                if depth == 0 { return index }
            }
        }
        return nil
    }

    /// A `label: "value"` argument of the call itself, outside its dependency list (where
    /// `.product(name:)` would otherwise be taken for the target's name).
    static func stringArgument(_ label: String, in body: String) -> String? {
        let own = withoutDependencyList(body)
        let pattern = try! NSRegularExpression(pattern: "(?:^|[,(\\s])\(label):\\s*\"([^\"]+)\"")
        guard let match = pattern.firstMatch(in: own, range: NSRange(own.startIndex..., in: own)) else { return nil }
        return Range(match.range(at: 1), in: own).map { String(own[$0]) }
    }

    static func withoutDependencyList(_ body: String) -> String {
        guard let start = body.range(of: "dependencies:") else { return body }
        let chars = Array(body[start.upperBound...])
        guard let open = chars.firstIndex(of: "["), let close = matching(chars, from: open) else { return body }
        return String(body[..<start.lowerBound]) + String(chars[(close + 1)...])
    }

    static func dependencies(in body: String) -> [String] {
        guard let start = body.range(of: "dependencies:") else { return [] }
        let chars = Array(body[start.upperBound...])
        guard let open = chars.firstIndex(of: "["), let close = matching(chars, from: open) else { return [] }
        let list = String(chars[(open + 1)..<close])
        let pattern = try! NSRegularExpression(pattern: "\\.product\\(name:\\s*\"([^\"]+)\"[^)]*\\)|\"([^\"]+)\"")
        return pattern.matches(in: list, range: NSRange(list.startIndex..., in: list)).compactMap { match in
            let group = match.range(at: 1).location != NSNotFound ? 1 : 2
            return Range(match.range(at: group), in: list).map { String(list[$0]) }
        }
    }
}

/// The `import` lines of a Swift file (`@testable`, `@_exported` and access-level imports included;
/// submodules reduced to their module).
enum SwiftImports {
    static func modules(in source: String) -> Set<String> {
        var found: Set<String> = []
        for raw in source.split(separator: "\n") {
            var words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            while let first = words.first, first.hasPrefix("@") || ["public", "package", "internal", "private", "fileprivate"].contains(first) {
                words.removeFirst()
            }
            guard words.count >= 2, words[0] == "import" else { continue }
            var module = words[1]
            // `import struct Foo.Bar` names a declaration kind first.
            if ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"].contains(module), words.count >= 3 {
                module = words[2]
            }
            found.insert(String(module.split(separator: ".").first ?? Substring(module)))
        }
        return found
    }
}
