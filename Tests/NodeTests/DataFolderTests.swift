import Foundation
import Node
import PeerCrypto
import Testing

@Suite struct DataFolderTests {
    private func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("cvpeer-node-\(UUID().uuidString)").path
    }

    @Test func createsPrivateFolderWithParents() throws {
        let root = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let folder = try DataFolder(path: root + "/a/b")
        let attributes = try FileManager.default.attributesOfItem(atPath: folder.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
    }

    @Test func identityIsCreatedOnceWithMode0600AndReloaded() throws {
        let root = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let folder = try DataFolder(path: root)
        let first = try folder.identity()
        let second = try folder.identity()
        #expect(first.publicKey == second.publicKey)
        let attributes = try FileManager.default.attributesOfItem(atPath: folder.identityPath)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test func refusesAFileWhereTheFolderShouldBe() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = FileManager.default.createFile(atPath: path, contents: Data("x".utf8))
        #expect(throws: NodeError.dataFolder(path: path, reason: "not a directory")) { try DataFolder(path: path) }
    }
}
