import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The control commands as a user runs them, without a node: help, refusals of bad input, and the
/// one clear line when no node is running. The lead's node tests drive them against a running node.
@Suite struct ControlCommandTests {
    static let commands = ["share", "mark", "view", "recommend", "cart", "buy", "say", "status", "export", "save"]

    /// A fresh empty folder, removed by the caller.
    private func emptyFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cvpeer-control-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func contents(_ folder: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    }

    private func lines(_ text: String) -> [Substring] { text.split(separator: "\n") }

    @Test(arguments: commands)
    func helpDescribesTheCommandWithAnExample(command: String) throws {
        let result = try CLIProcess.run([command, "--help"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("OVERVIEW:"))
        #expect(result.stdout.contains("Example"))
        #expect(result.stdout.contains("cvpeer \(command) "), "an example line runs the command")
        #expect(result.stdout.contains("--data"))
    }

    @Test func theRootHelpListsEveryControlCommand() throws {
        let result = try CLIProcess.run(["--help"])
        for command in Self.commands { #expect(result.stdout.contains("  \(command) "), "\(command)") }
    }

    /// Arguments a control command refuses before contacting anything, and a word its one line contains.
    static let badArguments: [([String], String)] = [
        (["mark", "sofa"], "exactly one shape"),
        (["mark", "sofa", "--pin", "0.5,0.5", "--arrow", "0,0,1,1"], "--pin and --arrow"),
        (["mark", "sofa", "--pin", "1.5,0.5"], "beyond the item"),
        (["mark", "sofa", "--pin", "0.5"], "X,Y"),
        (["mark", "sofa", "--pin", "nan,0.5"], "X,Y"),
        (["mark", "sofa", "--arrow", "0.5,0.5,0.5,0.5"], "starts where it ends"),
        (["mark", "sofa", "--rect", "0.5,0.5,0.6,0.1"], "beyond the item"),
        (["mark", "sofa", "--rect", "0.1,0.1,0,0.2"], "without width or height"),
        (["mark", "sofa", "--text", "0.5,0.5,"], "empty"),
        (["mark", "sofa", "--rect", "0,0,0.5,0.5", "--label", "a"], "--label goes with --pin"),
        (["mark", "sofa", "--pin", "0.5,0.5", "--color", "pink"], "not a colour"),
        (["mark", "sofa", "--pin", "0.5,0.5", "--color", "#12345"], "not a colour"),
        (["view", "sofa", "--zoom", "0"], "zoom"),
        (["view", "sofa", "--zoom=-1"], "--zoom"),
        (["view", "sofa", "--center", "0.5,2"], "beyond the item"),
        (["share", "photo.jpg", "--price", "129,90 EUR"], "use a dot"),
        (["share", "photo.jpg", "--price", "12.999 EUR"], "at most 2 decimals"),
        (["share", "photo.jpg", "--title", "two\nlines"], "control character"),
        (["cart", "sofa", "--quantity", "0"], "quantity 0"),
        (["buy", "sofa", "--quantity", "10001"], "quantity 10001"),
        (["say", ""], "empty"),
        (["recommend", "sofa", "--note", "a\u{1B}[2Jb"], "control character"),
        // ArgumentParser's own refusals are one line too (main.swift keeps only their first line).
        (["mark"], "Missing expected argument"),
        (["say", "hi", "--frobnicate"], "Unknown option"),
    ]

    @Test(arguments: badArguments)
    func badArgumentsAreOneLineAndExit64(arguments: [String], expected: String) throws {
        let data = try emptyFolder()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let result = try CLIProcess.run(arguments + ["--data", data])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(lines(result.stderr).count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("error: "))
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(!result.stderr.contains("\u{1B}"), "nothing typed reaches the terminal raw")
        #expect(result.stdout.isEmpty)
        #expect(contents(data).isEmpty)
    }

    @Test func withoutANodeEveryCommandSaysSoInOneLineAndLeavesNothing() throws {
        let data = try emptyFolder()
        let outside = try emptyFolder()
        defer {
            try? FileManager.default.removeItem(atPath: data)
            try? FileManager.default.removeItem(atPath: outside)
        }
        let photo = outside + "/photo.jpg"
        try Data([0xFF, 0xD8, 0xFF, 0xD9]).write(to: URL(fileURLWithPath: photo))
        let saved = outside + "/saved.jpg"
        let runs: [[String]] = [
            ["share", photo, "--title", "Sofa", "--price", "129.90 EUR"], ["mark", "sofa", "--pin", "0.5,0.5"],
            ["mark", "sofa", "--text", "0.1,0.1,hello, world", "--color", "#00A0FF80"],
            ["view", "sofa", "--zoom", "2"],
            ["recommend", "sofa", "--note", "in stock"], ["cart", "sofa"], ["buy", "sofa", "--quantity", "2"],
            ["say", "hello"], ["status"], ["status", "--json"], ["export"], ["export", "--json"],
            ["save", "sofa", "--out", saved],
        ]
        for arguments in runs {
            let result = try CLIProcess.run(arguments + ["--data", data])
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(
                lines(result.stderr) == [
                    "error: no cvpeer node is running with data folder \(data) — start it with `cvpeer host` or `cvpeer join`"
                ], "\(arguments)")
            #expect(result.stdout.isEmpty, "\(arguments)")
        }
        #expect(contents(data).isEmpty)
        #expect(contents(outside) == ["photo.jpg"])
    }

    @Test func aDataFolderThatDoesNotExistIsNotCreated() throws {
        let parent = try emptyFolder()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let data = parent + "/never"
        for arguments in [["status"], ["say", "hi"]] {
            let result = try CLIProcess.run(arguments + ["--data", data])
            #expect(result.status == 1)
            #expect(result.stderr.contains("no cvpeer node is running with data folder \(data)"))
        }
        #expect(contents(parent).isEmpty)
    }

    @Test func shareChecksTheFileBeforeContactingTheNode() throws {
        let data = try emptyFolder()
        defer { try? FileManager.default.removeItem(atPath: data) }
        // A listener that stands in for the node: nothing may connect to it.
        let listener = try Listener()
        let apiFile = #"{"pid":1,"port":\#(listener.port),"token":"test-token"}"#
        try Data(apiFile.utf8).write(to: URL(fileURLWithPath: data + "/api.json"))
        let empty = data + "/empty.jpg"
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        let cases: [(String, String)] = [
            (data + "/missing.jpg", "cannot read \(data)/missing.jpg: No such file or directory"),
            (data, "\(data) is not a regular file"),
            (empty, "\(empty) is empty"),
        ]
        for (file, message) in cases {
            let result = try CLIProcess.run(["share", file, "--data", data])
            #expect(result.status == 1)
            #expect(lines(result.stderr) == ["error: \(message)"], "\(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        #expect(!listener.hasPendingConnection, "share contacted the node about a file it could not send")
    }

    @Test func saveRefusesToReplaceAFileBeforeContactingTheNode() throws {
        let data = try emptyFolder()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let existing = data + "/kept.jpg"
        try Data("mine".utf8).write(to: URL(fileURLWithPath: existing))
        let result = try CLIProcess.run(["save", "sofa", "--out", existing, "--data", data])
        #expect(result.status == 1)
        #expect(lines(result.stderr) == ["error: \(existing) exists; --force replaces it"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: existing)) == Data("mine".utf8))
        #expect(contents(data) == ["kept.jpg"])
    }
}

/// A TCP listener on 127.0.0.1 that never accepts: it only tells whether someone connected.
private final class Listener {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ListenerError() }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw ListenerError()
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }

    /// True if a connection is waiting to be accepted.
    var hasPendingConnection: Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) > 0
    }

    struct ListenerError: Error {}
}
