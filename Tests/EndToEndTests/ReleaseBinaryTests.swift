import CVPeerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The one file a customer downloads (`./dev release`), copied alone into a minimal Debian root made
/// with `debootstrap --variant=minbase` (no libsodium, no SQLite, no Swift) and run there with chroot.
///
/// chroot keeps the network namespace, so the processes inside and the test outside meet on 127.0.0.1.
/// Each command gets a mount namespace of its own (unshare) with /proc mounted in the root, as on any
/// real machine (the Swift runtime reads the arguments from /proc/self/cmdline); the mount ends with it.
/// Heavy (a release build, ~10 minutes the first time): `./dev test` runs it; CI short of time may set
/// CVPEER_SKIP_RELEASE_TEST=1 and the test prints why it skipped; `./dev release-test` runs it alone.
@Suite("The release binary alone in a minimal Debian root", .serialized)
struct ReleaseBinaryTests {
    static let package = RawHTTP.packageRoot
    static let debianRoot = package.appendingPathComponent(".build-debootstrap/bookworm").path
    /// What the processes inside the root see: nothing of the host's environment (its TMPDIR, HOME).
    static let rootEnvironment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"]

    /// The executable and arguments that run `command` inside the root (see the type's comment).
    static func inRoot(_ command: [String]) -> (URL, [String]) {
        let script = "mount -t proc proc \"$0/proc\" && exec /usr/sbin/chroot \"$0\" \"$@\""
        return (URL(fileURLWithPath: "/usr/bin/unshare"), ["--mount", "--propagation", "private", "/bin/sh", "-c", script, debianRoot] + command)
    }

    /// Why the test cannot run here, or nil.
    static func unavailableReason() -> String? {
        if let why = ProcessInfo.processInfo.environment["CVPEER_SKIP_RELEASE_TEST"] {
            return "CVPEER_SKIP_RELEASE_TEST is set (\(why)); `./dev release-test` runs this test"
        }
        guard getuid() == 0 else { return "not root: chroot and mounting /proc in the root need CAP_SYS_CHROOT and CAP_SYS_ADMIN" }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return "unshare (util-linux) is not installed" }
        guard FileManager.default.isExecutableFile(atPath: debianRoot + "/bin/sh") else {
            return "no Debian root at .build-debootstrap/bookworm (`./dev test` and `./dev release-test` make it with debootstrap)"
        }
        return nil
    }

    @Test(
        "./dev release builds a binary that, copied alone into a minbase Debian root, prints its version and commit, runs the demo with both viewers answering, and joins a host outside the root to the same state hash"
    )
    func aloneInMinimalDebian() throws {
        if let reason = Self.unavailableReason() {
            print("release binary test skipped: \(reason)")
            return
        }
        let release = try Self.buildRelease()
        try Self.expectNothingInstalled()

        // The binary alone in a fresh folder of the root.
        let folderName = "cvpeer-" + UUID().uuidString
        let inside = Self.debianRoot + "/srv/" + folderName
        try FileManager.default.createDirectory(atPath: inside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: inside) }
        try FileManager.default.copyItem(atPath: release, toPath: inside + "/cvpeer")
        let binary = "/srv/\(folderName)/cvpeer"

        // --version names the commit the tree is at.
        let version = try Self.runInRoot([binary, "--version"])
        #expect(version.status == 0)
        let expected = Self.gitCommit().map { "cvpeer 0.1.0 (commit \($0)" } ?? "cvpeer 0.1.0 (unknown commit)"
        #expect(version.stdout.hasPrefix(expected), "\(version.stdout)\(version.stderr)")

        try Self.demo(binary: binary, folder: "/srv/\(folderName)")
        try Self.join(binary: binary, folder: "/srv/\(folderName)")
    }

    /// `cvpeer demo` from inside the root: both printed viewers serve the viewer's page.
    static func demo(binary: String, folder: String) throws {
        let started = Date()
        let (executable, arguments) = inRoot(["/bin/sh", "-c", "cd \(folder) && exec ./cvpeer demo"])
        let demo = try ChildProcess(executable, arguments, name: "demo in the Debian root", environment: rootEnvironment)
        defer { demo.stop() }
        let agent = demo.line("  Agent's viewer:", timeout: 90)
        let startup = Date().timeIntervalSince(started)
        let customer = demo.line("  Customer's viewer:", timeout: 30)
        try #require(agent != nil && customer != nil, "the demo did not print its viewers:\n\(demo.output.joined(separator: "\n"))")
        print("release binary: demo printed its first viewer address \(Int(startup * 1000)) ms after start (in the chroot)")
        let page = try Data(contentsOf: package.appendingPathComponent("Sources/Node/Viewer/index.html"))
        for line in [agent, customer].compactMap({ $0 }) {
            let (port, token) = try RawHTTP.viewerAddress(in: line)
            let answer = try RawHTTP.get(port: port, token: token, path: "/")
            #expect(answer.status == 200)
            #expect(answer.body == Array(page), "\(line) did not answer with the viewer's page")
            #expect(try RawHTTP.get(port: port, token: token, path: "/viewer/app.js").status == 200)
        }
    }

    /// `cvpeer join` inside the root, the invite typed at its prompt, against a host outside it:
    /// the joiner receives the shared photo and its chat line reaches the host; both end on one state hash.
    static func join(binary: String, folder: String) throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        let photo = package.appendingPathComponent("Sources/Node/Samples/armchair.jpg").path
        try lab.cli("agent", ["share", photo, "--title", "Armchair", "--price", "499 EUR"])

        let data = folder + "/data"
        let (executable, arguments) = inRoot([binary, "join", "--data", data, "--name", "Ben", "--listen", "127.0.0.1:0"])
        let joiner = try ChildProcess(executable, arguments, name: "join in the Debian root", environment: rootEnvironment)
        defer { joiner.stop() }
        joiner.send(invite)
        try #require(joiner.line("Your viewer", timeout: 60) != nil, "the joiner did not start:\n\(joiner.output.joined(separator: "\n"))")

        let said = try runInRoot([binary, "say", "hello from the minimal root", "--data", data])
        #expect(said.status == 0, "\(said.stderr)")
        var last = ("", "")
        let converged = lab.wait(90) {
            let outside = try lab.stateHash("agent")
            let insideHash = try json(binary: binary, ["export", "--json", "--data", data])["stateHash"] as? String ?? ""
            last = (outside, insideHash)
            let insideDone = (try json(binary: binary, ["status", "--json", "--data", data])["transfers"] as? [Any])?.isEmpty == true
            return !outside.isEmpty && outside == insideHash && insideDone
        }
        #expect(converged, "state hashes differ (outside \(last.0), inside \(last.1)):\n\(lab.transcript)\n\(joiner.output.suffix(30).joined(separator: "\n"))")
        let chat = (try lab.json("agent", ["export", "--json"])["document"] as? [String: Any])?["chat"] as? [[String: Any]] ?? []
        #expect(chat.contains { ($0["text"] as? String) == "hello from the minimal root" }, "\(chat)")
        #expect(joiner.stop() != nil, "the joiner did not stop on SIGTERM")
    }

    /// A control command's JSON answer from the joiner, asked with the release binary inside the root.
    static func json(binary: String, _ arguments: [String]) throws -> [String: Any] {
        let answer = try runInRoot([binary] + arguments)
        guard answer.status == 0, let object = try JSONSerialization.jsonObject(with: Data(answer.stdout.utf8)) as? [String: Any] else {
            throw LabFailure("\(arguments.first ?? "") inside the root failed: \(answer.stderr)")
        }
        return object
    }

    /// Runs `./dev release` and returns the path it printed, checking the printed SHA-256.
    static func buildRelease() throws -> String {
        let build = try run(URL(fileURLWithPath: "/bin/bash"), [package.appendingPathComponent("dev").path, "release"], timeout: 3600)
        guard build.status == 0 else { throw LabFailure("./dev release failed (\(build.status)):\n\(build.stderr.suffix(3000))") }
        let fields = Dictionary(
            build.stdout.split(separator: "\n").compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }, uniquingKeysWith: { $1 })
        guard let path = fields["path"], let sha = fields["sha256"] else { throw LabFailure("./dev release printed no path:\n\(build.stdout)") }
        let sum = try run(URL(fileURLWithPath: "/usr/bin/sha256sum"), [path], timeout: 60)
        #expect(sum.stdout.hasPrefix(sha + " "), "printed \(sha), file has \(sum.stdout)")
        // Only the C library and what it loads: no libsodium, SQLite or Swift runtime.
        let ldd = try run(URL(fileURLWithPath: "/usr/bin/ldd"), [path], timeout: 60)
        print("release binary: \(fields["size"] ?? "?"), sha256 \(sha)\nldd:\n\(ldd.stdout)")
        #expect(!ldd.stdout.contains("sodium") && !ldd.stdout.contains("sqlite") && !ldd.stdout.contains("swift"), "\(ldd.stdout)")
        return path
    }

    /// The root really lacks what the binary must carry itself.
    static func expectNothingInstalled() throws {
        var found: [String] = []
        for folder in ["/usr/lib", "/lib", "/usr/local"] {
            guard let walk = FileManager.default.enumerator(atPath: debianRoot + folder) else { continue }
            while let path = walk.nextObject() as? String {
                let name = (path as NSString).lastPathComponent
                if name.hasPrefix("libsodium") || name.hasPrefix("libsqlite3") || name.hasPrefix("libswift") || name.hasPrefix("libFoundation") {
                    found.append(folder + "/" + path)
                }
            }
        }
        #expect(found.isEmpty, "the Debian root has \(found)")
    }

    /// The commit `git` sees at the package's folder (12 hex digits), or nil without git.
    static func gitCommit() -> String? {
        guard let result = try? run(URL(fileURLWithPath: "/usr/bin/git"), ["-C", package.path, "rev-parse", "--short=12", "HEAD"], timeout: 30),
            result.status == 0
        else { return nil }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a command inside the root with chroot and waits for it (at most a minute).
    static func runInRoot(_ arguments: [String]) throws -> CLIProcess.Output {
        let (executable, command) = inRoot(arguments)
        return try run(executable, command, timeout: 60, environment: rootEnvironment)
    }

    /// Runs `executable` to its end (killed after `timeout` seconds); its status and what it printed.
    static func run(_ executable: URL, _ arguments: [String], timeout: Double, environment: [String: String]? = nil) throws
        -> CLIProcess.Output
    {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = package
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        CLIProcess.waitForExit(process, timeout: timeout)
        group.wait()
        process.waitUntilExit()
        return CLIProcess.Output(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// `cvpeer --version` names the commit the binary was built from, baked in by the BuildCommit plugin.
@Suite("The version and the commit built from")
struct VersionTests {
    @Test("--version prints the version and the commit git sees at the package's folder")
    func versionNamesTheCommit() throws {
        let version = try CLIProcess.run(["--version"])
        #expect(version.status == 0)
        let expected = ReleaseBinaryTests.gitCommit().map { "cvpeer 0.1.0 (commit \($0)" } ?? "cvpeer 0.1.0 (unknown commit)"
        #expect(version.stdout.hasPrefix(expected), "\(version.stdout)")
    }

    @Test("a tree without git (a source tarball), even inside another repository, is built as \"unknown commit\"")
    func treeWithoutGit() throws {
        let folder = NSTemporaryDirectory() + "cvpeer-nogit-" + UUID().uuidString
        // Inside the package's own folder, so a careless `git rev-parse` would find this repository.
        let nested = ReleaseBinaryTests.package.appendingPathComponent(".build-nogit-" + UUID().uuidString).path
        defer {
            try? FileManager.default.removeItem(atPath: folder)
            try? FileManager.default.removeItem(atPath: nested)
        }
        let script = ReleaseBinaryTests.package.appendingPathComponent("Plugins/BuildCommit/build-commit.sh").path
        for tree in [folder, nested] {
            try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
            let generated = tree + "/BuildCommit.swift"
            let result = try ReleaseBinaryTests.run(URL(fileURLWithPath: "/bin/sh"), [script, tree, generated], timeout: 30)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try String(contentsOfFile: generated, encoding: .utf8).contains("let buildCommit = \"unknown commit\""), "\(tree)")
        }
        // And the package's own tree names its commit.
        let own = folder + "/Own.swift"
        _ = try ReleaseBinaryTests.run(URL(fileURLWithPath: "/bin/sh"), [script, ReleaseBinaryTests.package.path, own], timeout: 30)
        if let commit = ReleaseBinaryTests.gitCommit() {
            #expect(try String(contentsOfFile: own, encoding: .utf8).contains("let buildCommit = \"commit \(commit)"))
        }
    }
}
