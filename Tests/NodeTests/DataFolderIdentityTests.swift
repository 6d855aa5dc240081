import Foundation
import PeerCrypto
import Testing

@testable import Node

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The data folder writes the node's identity key through `Sockets.PrivateFile` (moved here from
/// PeerCrypto's IdentityTests with the writing itself).
@Suite struct DataFolderIdentityTests {
    /// Runs `body` with a fresh empty directory, removed afterwards whatever happens.
    private func withIdentityTestDirectory(_ body: (String) throws -> Void) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cvpeer-identity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: url) }
        try body(url.path)
    }

    private func readKeyFile(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    private func writeKeyFile(_ bytes: [UInt8], to path: String, mode: mode_t) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(chmod(path, mode) == 0)
    }

    private func permissionBits(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    /// The path and reason of the `CryptoError.keyFile` that `body` throws, or nil.
    private func keyFileError(_ body: () throws -> Void) -> (path: String, reason: String)? {
        do {
            try body()
            Issue.record("no error thrown")
        } catch CryptoError.keyFile(let path, let reason) {
            return (path, reason)
        } catch {
            Issue.record("expected CryptoError.keyFile, got \(error)")
        }
        return nil
    }

    @Test func saveCreatesAFileWithMode0600AndNoLeftovers() throws {
        try withIdentityTestDirectory { dir in
            let path = dir + "/identity.key"
            let identity = Identity.generate()
            try DataFolder.save(identity, to: path)
            #expect(permissionBits(path) == 0o600)
            #expect(try readKeyFile(path).count == 8 + 32 + 32)
            #expect(try readKeyFile(path).prefix(8) == ArraySlice("cvpeerK1".utf8))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["identity.key"])
        }
    }

    @Test func saveRefusesToOverwriteAnExistingFile() throws {
        try withIdentityTestDirectory { dir in
            let path = dir + "/identity.key"
            let first = Identity.generate()
            try DataFolder.save(first, to: path)
            let before = try readKeyFile(path)
            let error = keyFileError { try DataFolder.save(Identity.generate(), to: path) }
            #expect(error?.path == path)
            #expect(error?.reason.contains("already exists") == true)
            #expect(try readKeyFile(path) == before)
            #expect(try Identity.load(from: path).publicKey == first.publicKey)
            // Someone else's file, even an empty one, is not replaced either.
            let other = dir + "/other"
            try writeKeyFile([], to: other, mode: 0o644)
            #expect(keyFileError { try DataFolder.save(first, to: other) } != nil)
            #expect(try readKeyFile(other).isEmpty)
            #expect(permissionBits(other) == 0o644)
        }
    }

    @Test func saveIntoAMissingDirectoryFailsCleanly() throws {
        try withIdentityTestDirectory { dir in
            let path = dir + "/missing/identity.key"
            let error = keyFileError { try DataFolder.save(Identity.generate(), to: path) }
            #expect(error?.path == path)
            let entries = try FileManager.default.contentsOfDirectory(atPath: dir)
            #expect(entries.isEmpty, "nothing was left behind: \(entries)")
        }
    }

    @Test func identityIsCreatedOnceThenLoaded() throws {
        try withIdentityTestDirectory { dir in
            let folder = try DataFolder(path: dir)
            let path = folder.identityPath
            let created = try folder.identity()
            #expect(permissionBits(path) == 0o600)
            let again = try folder.identity()
            #expect(again.publicKey == created.publicKey)
        }
    }
}
