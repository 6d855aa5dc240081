/// The module boundaries the build alone does not state: which code must stay pure, which layer may
/// not see which, and what the command line may import.
struct ArchitectureRules {
    /// A rule: files under these folders must not import modules that `forbids` accepts.
    struct Rule: Sendable {
        var name: String
        var folders: [String]
        var forbids: @Sendable (String) -> Bool
    }

    /// Modules any target may import without declaring them: the toolchain's own.
    static let system: Set<String> = [
        "Foundation", "FoundationEssentials", "Glibc", "Darwin", "Musl", "Dispatch", "Synchronization", "Testing",
        "XCTest", "_Concurrency", "Observation",
    ]

    /// What the command-line target may import: it parses arguments and starts things.
    static let commandLineAllowed: Set<String> = [
        "Node", "LocalAPI", "CommandLineKit", "Primitives", "Sockets", "ArgumentParser",
    ]

    static let rules: [Rule] = [
        Rule(
            name: "pure code does no networking or storage",
            folders: ["Sources/Primitives", "Sources/Replication", "Sources/Insights", "Sources/Transport/Link", "Sources/Transport/Reliability"],
            forbids: { module in
                ["FoundationNetworking", "Store", "CSQLite", "Sockets", "LocalAPI", "Node", "Network"].contains(module)
                    || module.hasPrefix("NIO") || module.hasPrefix("Hummingbird")
            }),
        Rule(
            name: "Transport knows nothing of the document or the node",
            folders: ["Sources/Transport"],
            forbids: { ["Replication", "Store", "Node", "Insights", "LocalAPI", "CSQLite"].contains($0) }),
        Rule(
            name: "the command line imports only its allowed modules",
            folders: ["Sources/cvpeer"],
            forbids: { !commandLineAllowed.contains($0) && !system.contains($0) }),
        Rule(
            name: "the command line's library sees only the local API's contract",
            folders: ["Sources/CommandLineKit"],
            forbids: { ["Node", "Replication", "Store", "Transport", "Rendezvous", "PeerCrypto", "Insights", "ArgumentParser"].contains($0) }),
    ]

    /// Folders whose code is pure: besides the rule's imports, no socket calls through Glibc or Darwin
    /// (which such code may import for a clock).
    static let pureFolders = rules[0].folders

    /// Folders that leave sockets, polling, the interface walk and file locks to `Sockets`, though
    /// they may use the C library for other things.
    static let socketFreeFolders = ["Sources/Node", "Sources/cvpeer"]
    static let socketFreeRule = "Node and the command line leave socket calls to Sockets"

    /// The C library's socket, polling, interface and lock calls (a call, not a method of ours:
    /// `transport.connect(` is not one).
    static var socketCall: Regex<AnyRegexOutput> {
        try! Regex(
            #"(^|[^.\w])(socket|bind|connect|sendto|recvfrom|sendmsg|recvmsg|sendmmsg|recvmmsg|getifaddrs|getaddrinfo|setsockopt|poll|ppoll|flock)\s*\("#
        )
    }

    /// A file's import that breaks a rule or is not declared by its target.
    struct Violation: Equatable, CustomStringConvertible {
        var file: String
        var module: String
        var reason: String
        var description: String { "\(file): import \(module) — \(reason)" }
    }

    /// Every violation in the given files (path relative to the package root → source text).
    static func violations(files: [String: String], targets: [PackageTarget]) -> [Violation] {
        var found: [Violation] = []
        let names = Set(targets.map(\.name))
        for (path, source) in files.sorted(by: { $0.key < $1.key }) {
            // The deepest target folder holding the file owns it.
            let imports = SwiftImports.modules(in: source)
            if pureFolders.contains(where: { path.hasPrefix($0 + "/") }), !imports.isDisjoint(with: ["Glibc", "Darwin", "Musl"]),
                source.contains(socketCall)
            {
                found.append(Violation(file: path, module: "Glibc sockets", reason: rules[0].name))
            }
            if socketFreeFolders.contains(where: { path.hasPrefix($0 + "/") }),
                !imports.isDisjoint(with: ["Glibc", "Darwin", "Musl"]), source.contains(socketCall)
            {
                found.append(Violation(file: path, module: "Glibc sockets", reason: socketFreeRule))
            }
            let owner = targets.filter { path.hasPrefix($0.path + "/") }.max { $0.path.count < $1.path.count }
            for module in imports.sorted() {
                for rule in rules where rule.folders.contains(where: { path.hasPrefix($0 + "/") }) && rule.forbids(module) {
                    found.append(Violation(file: path, module: module, reason: rule.name))
                }
                if let owner, !system.contains(module), module != owner.name, !owner.dependencies.contains(module),
                    names.contains(module) || !owner.isTest
                {
                    found.append(Violation(file: path, module: module, reason: "not a declared dependency of \(owner.name)"))
                }
            }
        }
        return found
    }
}
