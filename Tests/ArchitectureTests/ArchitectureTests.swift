import Foundation
import Testing

/// The module boundaries hold in the code, and ARCHITECTURE.md tells the truth about them.
@Suite struct ArchitectureTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func read(_ relative: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
    }

    static func targets() throws -> [PackageTarget] {
        PackageManifest.targets(in: try read("Package.swift"))
    }

    /// Every Swift file under Sources/ and Tests/, by path relative to the package root.
    static func swiftFiles() throws -> [String: String] {
        var files: [String: String] = [:]
        for folder in ["Sources", "Tests"] {
            let base = root.appendingPathComponent(folder)
            guard let walk = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { continue }
            for case let url as URL in walk where url.pathExtension == "swift" {
                let relative = String(url.path.dropFirst(root.path.count + 1))
                files[relative] = try String(contentsOf: url, encoding: .utf8)
            }
        }
        return files
    }

    /// ARCHITECTURE.md's module table: module → (folder, dependencies).
    static func documentedModules() throws -> [String: (folder: String, dependencies: Set<String>)] {
        let text = try read("ARCHITECTURE.md")
        let start = try #require(text.range(of: "| module | folder | depends on |"))
        var rows: [String: (String, Set<String>)] = [:]
        for line in text[start.upperBound...].split(separator: "\n").dropFirst() {
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "")
            }
            guard cells.count >= 5, !cells[1].hasPrefix("-") else { continue }
            let dependencies = cells[3] == "—" ? [] : cells[3].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            rows[cells[1]] = (cells[2], Set(dependencies))
        }
        return rows
    }

    @Test func theManifestIsReadAsSwiftPMReadsIt() throws {
        let targets = try Self.targets()
        let replication = try #require(targets.first { $0.name == "Replication" })
        #expect(replication.kind == "target")
        #expect(replication.path == "Sources/Replication")
        #expect(replication.dependencies.contains("PeerCrypto"))
        let crypto = try #require(targets.first { $0.name == "PeerCrypto" })
        #expect(crypto.path == "Sources/Crypto")
        let cli = try #require(targets.first { $0.name == "cvpeer" })
        #expect(cli.kind == "executableTarget")
        #expect(cli.dependencies.contains("ArgumentParser"))
        #expect(targets.filter(\.isTest).count >= 8)
    }

    @Test func everyImportKeepsTheBoundaries() throws {
        let violations = ArchitectureRules.violations(files: try Self.swiftFiles(), targets: try Self.targets())
        #expect(violations.isEmpty, "\(violations.map(\.description).joined(separator: "\n"))")
    }

    @Test func theRulesCatchWhatTheyForbid() throws {
        let targets = try Self.targets()
        let planted: [String: String] = [
            "Sources/Replication/Planted.swift": "import PeerCrypto\nimport NIOCore\n",
            "Sources/Insights/Planted.swift": "@preconcurrency import FoundationNetworking\n",
            "Sources/Transport/Link/Planted.swift": "import Glibc\nlet fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)\n",
            "Sources/Primitives/Planted.swift": "import Glibc\nvar time = timespec()\n",
            "Sources/Transport/Planted.swift": "import Replication\n",
            "Sources/Transport/Runtime/Planted.swift": "public import Store\n",
            "Sources/cvpeer/Planted.swift": "import Store\nimport PeerCrypto\n",
            "Sources/CommandLineKit/Planted.swift": "import Node\n",
            "Sources/Node/Planted.swift": "import Glibc\nlet taken = flock(fd, LOCK_EX)\n",
            "Sources/Node/Runtime/Planted.swift": "import Glibc\nlet path = stat()\ntransport.connect(to: [])\n",
            "Sources/Primitives/PlantedSockets.swift": "import Sockets\n",
        ]
        let violations = ArchitectureRules.violations(files: planted, targets: targets)
        let flagged = Set(violations.map { "\($0.file) \($0.module)" })
        #expect(flagged.contains("Sources/Replication/Planted.swift NIOCore"))
        #expect(!flagged.contains("Sources/Replication/Planted.swift PeerCrypto"))
        #expect(flagged.contains("Sources/Insights/Planted.swift FoundationNetworking"))
        #expect(flagged.contains("Sources/Transport/Link/Planted.swift Glibc sockets"))
        #expect(!flagged.contains("Sources/Primitives/Planted.swift Glibc sockets"), "a clock is not a socket")
        #expect(flagged.contains("Sources/Transport/Planted.swift Replication"))
        #expect(flagged.contains("Sources/Transport/Runtime/Planted.swift Store"))
        #expect(flagged.contains("Sources/cvpeer/Planted.swift Store"))
        #expect(flagged.contains("Sources/cvpeer/Planted.swift PeerCrypto"))
        #expect(flagged.contains("Sources/CommandLineKit/Planted.swift Node"))
        #expect(flagged.contains("Sources/Node/Planted.swift Glibc sockets"))
        #expect(!flagged.contains("Sources/Node/Runtime/Planted.swift Glibc sockets"), "a method named connect is no socket call")
        #expect(flagged.contains("Sources/Primitives/PlantedSockets.swift Sockets"))
        // An import the target does not declare, even of an allowed module.
        let undeclared = ArchitectureRules.violations(files: ["Sources/Insights/Planted.swift": "import Store\n"], targets: targets)
        #expect(undeclared.contains { $0.reason.contains("not a declared dependency of Insights") })
    }

    @Test func architectureDocumentMatchesThePackage() throws {
        let documented = try Self.documentedModules()
        let targets = try Self.targets().filter { !$0.isTest && !$0.path.hasPrefix("Tests/") }
        #expect(Set(documented.keys) == Set(targets.map(\.name)), "ARCHITECTURE.md lists other modules than Package.swift")
        for target in targets {
            guard let row = documented[target.name] else { continue }
            #expect(row.folder == target.path, "\(target.name)'s folder")
            #expect(row.dependencies == Set(target.dependencies), "\(target.name)'s dependencies")
        }
    }

    @Test func theBuildEnforcesDeclaredImports() throws {
        let dev = try Self.read("dev")
        #expect(dev.contains("--explicit-target-dependency-import-check error"))
        let manifest = try Self.read("Package.swift")
        // The strict settings make a file import the module of every member it uses, so a module
        // cannot reach a lower layer through a typealias or a type another import brought in.
        let strict = try #require(manifest.range(of: "let strict: [SwiftSetting] = ["))
        let settings = manifest[strict.upperBound...].prefix { $0 != "]" }
        let lines = settings.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains(".enableUpcomingFeature(\"MemberImportVisibility\"),"))
        // Every Swift target of ours takes the shared strict settings (Swift 6 mode, ExistentialAny, MemberImportVisibility).
        for target in try Self.targets() where target.kind != "systemLibrary" && target.name != "CBenchRef" {
            // Declarations come after `targets: [`; the products above name some targets too.
            let targetList = try #require(manifest.range(of: "\n    targets: ["))
            let declaration = try #require(manifest.range(of: "name: \"\(target.name)\"", range: targetList.upperBound..<manifest.endIndex))
            let rest = manifest[declaration.upperBound...]
            let end = rest.range(of: "\n        .")?.lowerBound ?? rest.endIndex
            #expect(rest[..<end].contains("swiftSettings: strict"), "\(target.name) lacks the strict settings")
        }
    }
}
