import Foundation
import Sockets
import Testing

@Suite struct PrivateFileTests {
    private func makeFolder() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cvpeer-private-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        return folder
    }

    private func write(_ text: String, to path: String, replacing: Bool) throws -> Bool {
        try PrivateFile.write(Array(text.utf8), to: path, replacing: replacing, durable: true)
    }

    @Test func theFileHasMode0600AndNoTemporaryFileIsLeft() throws {
        let folder = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/secret"
        let old = umask(0)
        defer { umask(old) }
        #expect(try write("hello", to: path, replacing: false))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "hello")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["secret"])
    }

    @Test func replacingSwapsTheWholeFileAndCreateOnlyLeavesItAlone() throws {
        let folder = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/file"
        #expect(try write("first", to: path, replacing: false))
        #expect(try write("second", to: path, replacing: false) == false)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "first")
        #expect(try write("third", to: path, replacing: true))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "third")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["file"])
    }

    @Test func aFailureLeavesNothingBehind() throws {
        let folder = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(throws: SocketError.self) {
            try write("x", to: folder + "/missing/file", replacing: true)
        }
        // Renaming over a folder fails after the temporary file was written.
        try FileManager.default.createDirectory(
            atPath: folder + "/taken", withIntermediateDirectories: false)
        try FileManager.default.createDirectory(
            atPath: folder + "/taken/inside", withIntermediateDirectories: false)
        #expect(throws: SocketError.self) { try write("x", to: folder + "/taken", replacing: true) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["taken"])
    }

    @Test func aDiscardedFileLeavesNothing() throws {
        let folder = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = try PrivateFile(writingTo: folder + "/partial")
        try [1, 2, 3].withUnsafeBytes { try file.append($0) }
        #expect(file.written == 3 * Int64(MemoryLayout<Int>.size))
        file.discard()
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }
}
