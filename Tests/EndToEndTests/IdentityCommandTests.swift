import Foundation
import Testing

@Suite struct IdentityCommandTests {
    private func temporaryFolder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("cvpeer-e2e-\(UUID().uuidString)").path
    }

    @Test func helpListsTheIdentityCommand() throws {
        let result = try CLIProcess.run(["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("identity"))
    }

    @Test func identityIsCreatedPrivateAndStable() throws {
        let data = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let first = try CLIProcess.run(["identity", "--data", data])
        #expect(first.status == 0, "\(first.stderr)")
        let fingerprint = try #require(first.stdout.split(separator: "\n").first { $0.hasPrefix("fingerprint:") })
        #expect(fingerprint.split(separator: " ").last?.count == 19)
        let keyMode = try FileManager.default.attributesOfItem(atPath: data + "/identity.key")[.posixPermissions] as? Int
        #expect(keyMode == 0o600)
        let folderMode = try FileManager.default.attributesOfItem(atPath: data)[.posixPermissions] as? Int
        #expect(folderMode == 0o700)
        let second = try CLIProcess.run(["identity", "--data", data])
        #expect(second.stdout.contains(String(fingerprint)))
    }

    @Test func aKeyFileOthersCanReadIsRefusedWithOneClearLine() throws {
        let data = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: data) }
        _ = try CLIProcess.run(["identity", "--data", data])
        chmod(data + "/identity.key", 0o644)
        let result = try CLIProcess.run(["identity", "--data", data])
        #expect(result.status != 0)
        #expect(result.stderr.contains("chmod 600"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func aTruncatedKeyFileGivesAClearError() throws {
        let data = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: data) }
        _ = try CLIProcess.run(["identity", "--data", data])
        let key = data + "/identity.key"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: key))
        try bytes.prefix(40).write(to: URL(fileURLWithPath: key))
        chmod(key, 0o600)
        let result = try CLIProcess.run(["identity", "--data", data])
        #expect(result.status != 0)
        #expect(result.stderr.contains("truncated"))
    }
}
