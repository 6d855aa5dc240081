import CVPeerTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A coviewing session of real `cvpeer` processes on 127.0.0.1, in a temporary folder that the
/// lab removes with every process it started, whatever the test's outcome.
final class SessionLab: @unchecked Sendable {
    let folder: String
    private let children = Mutex<[ChildProcess]>([])

    init() throws {
        folder = NSTemporaryDirectory() + "cvpeer-session-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    deinit {
        stopAll()
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Stops every child: SIGTERM, then SIGKILL after a grace period.
    func stopAll() {
        for child in children.withLock({ $0 }) { child.stop() }
    }

    /// Everything the children printed, for failure messages.
    var transcript: String {
        children.withLock { $0 }.map { "--- \($0.name)\n" + $0.output.suffix(40).joined(separator: "\n") }.joined(separator: "\n")
    }

    func data(_ name: String) -> String { folder + "/" + name }

    private func start(_ arguments: [String], name: String) throws -> ChildProcess {
        let child = try ChildProcess(BuiltBinary.url("cvpeer"), arguments, name: name)
        children.withLock { $0.append(child) }
        return child
    }

    /// `cvpeer rendezvous` on a free loopback port.
    func rendezvous(port: UInt16 = 0, extra: [String] = []) throws -> (ChildProcess, UInt16) {
        let child = try start(["rendezvous", "--listen", "127.0.0.1:\(port)"] + extra, name: "rendezvous")
        guard let line = child.line("rendezvous info: listening on ", timeout: 20),
            let address = line.dropFirst("rendezvous info: listening on ".count).split(separator: " ").first,
            let bound = address.split(separator: ":").last.flatMap({ UInt16($0) })
        else { throw LabFailure("the rendezvous did not start:\n\(child.output.joined(separator: "\n"))") }
        return (child, bound)
    }

    /// `cvpeer host`; returns the process and the invite code.
    func host(name: String, data: String, rendezvous: UInt16?, extra: [String] = []) throws -> (ChildProcess, String) {
        var arguments = ["host", "--data", self.data(data), "--name", name, "--listen", "127.0.0.1:0"] + extra
        if let rendezvous { arguments += ["--rendezvous", "127.0.0.1:\(rendezvous)"] }
        let child = try start(arguments, name: "host \(name)")
        guard let line = child.line("  cvpeer join '", timeout: 30), let start = line.range(of: "cvp2:") else {
            throw LabFailure("the host did not print an invite:\n\(child.output.joined(separator: "\n"))")
        }
        let code = String(line[start.lowerBound...].prefix { $0 != "'" })
        guard child.line("Your viewer", timeout: 30) != nil else { throw LabFailure("the host's viewer did not start") }
        return (child, code)
    }

    /// `cvpeer join`.
    func join(_ invite: String, name: String, data: String, extra: [String] = []) throws -> ChildProcess {
        let child = try start(
            ["join", invite, "--data", self.data(data), "--name", name, "--listen", "127.0.0.1:0"] + extra, name: "join \(name)")
        guard child.line("Your viewer", timeout: 30) != nil else {
            throw LabFailure("\(name) did not start:\n\(child.output.joined(separator: "\n"))")
        }
        return child
    }

    /// `cvpeer join` with no invite argument, the invite typed at its prompt as a person would.
    func joinAtPrompt(_ invite: String, name: String, data: String) throws -> ChildProcess {
        let child = try start(["join", "--data", self.data(data), "--name", name, "--listen", "127.0.0.1:0"], name: "join \(name)")
        child.send(invite)
        guard child.line("Your viewer", timeout: 30) != nil else {
            throw LabFailure("\(name) did not start:\n\(child.output.joined(separator: "\n"))")
        }
        return child
    }

    /// `cvpeer join --rendezvous` with a short code typed at its prompt; returns the process
    /// whether or not it got in (a wrong code ends it with an error).
    func joinWithCode(_ code: String, rendezvous: UInt16, name: String, data: String) throws -> ChildProcess {
        let child = try start(
            ["join", "--rendezvous", "127.0.0.1:\(rendezvous)", "--data", self.data(data), "--name", name, "--listen", "127.0.0.1:0"],
            name: "join \(name)")
        child.send(code)
        return child
    }

    /// Runs a control command against the node of `data`; throws with its stderr when it fails.
    @discardableResult
    func cli(_ data: String, _ arguments: [String]) throws -> String {
        let output = try CLIProcess.run(arguments + ["--data", self.data(data)], timeout: 60)
        guard output.status == 0 else {
            throw LabFailure("cvpeer \(arguments.joined(separator: " ")) failed (\(output.status)): \(output.stderr)")
        }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A command's JSON answer (`status --json`, `export --json`).
    func json(_ data: String, _ arguments: [String]) throws -> [String: Any] {
        let text = try cli(data, arguments)
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw LabFailure("not a JSON object: \(text.prefix(200))")
        }
        return object
    }

    /// Polls `condition` every 100 ms for up to `timeout` seconds; true once it holds.
    func wait(_ timeout: Double, _ condition: () throws -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if (try? condition()) == true { return true }
            usleep(100_000)
        } while Date() < deadline
        return (try? condition()) == true
    }

    /// The number of linked peers the node of `data` reports.
    func peerCount(_ data: String) throws -> Int {
        (try json(data, ["status", "--json"])["peers"] as? [Any])?.count ?? -1
    }

    /// The state hash of the node of `data`.
    func stateHash(_ data: String) throws -> String {
        try json(data, ["export", "--json"])["stateHash"] as? String ?? ""
    }

    /// True when the node of `data` has no transfer in progress.
    func transfersDone(_ data: String) throws -> Bool {
        (try json(data, ["status", "--json"])["transfers"] as? [Any])?.isEmpty == true
    }

    /// A JPEG of noise, `width` × `height`, made with cjpeg (libjpeg-turbo-progs, installed by `./dev test`).
    func noiseJPEG(width: Int, height: Int, name: String) throws -> String {
        let ppm = folder + "/" + name + ".ppm"
        let jpeg = folder + "/" + name
        var bytes = Array("P6 \(width) \(height) 255\n".utf8)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        bytes.reserveCapacity(bytes.count + width * height * 3)
        for _ in 0..<(width * height * 3) {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes.append(UInt8(truncatingIfNeeded: state >> 56))
        }
        _ = FileManager.default.createFile(atPath: ppm, contents: Data(bytes))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/cjpeg")
        process.arguments = ["-quality", "98", "-outfile", jpeg, ppm]
        try process.run()
        CLIProcess.waitForExit(process, timeout: 60)
        guard process.terminationStatus == 0 else { throw LabFailure("cjpeg failed") }
        return jpeg
    }

    /// Random bytes in the `mdat` box of an MP4 that has only `ftyp` and `mdat`: a "video" of
    /// `size` bytes whose boxes the node's metadata removal reads (and finds nothing to remove in).
    func fakeVideo(size: Int, name: String) -> String {
        let path = folder + "/" + name
        let mdat = UInt32(size - 24)
        var bytes: [UInt8] = [0, 0, 0, 0x18] + Array("ftypisom".utf8) + [0, 0, 2, 0] + Array("isomiso2".utf8)
        bytes += [UInt8(mdat >> 24), UInt8(mdat >> 16 & 0xff), UInt8(mdat >> 8 & 0xff), UInt8(mdat & 0xff)] + Array("mdat".utf8)
        var state: UInt64 = 42
        while bytes.count < size {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            withUnsafeBytes(of: state) { bytes += $0 }
        }
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes.prefix(size)))
        return path
    }

    /// The item id `share` printed (its last line).
    static func itemID(_ shareOutput: String) -> String {
        String(shareOutput.split(separator: "\n").last ?? "")
    }
}

struct LabFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// True when cjpeg is installed (the JPEG fixtures need it).
var cjpegAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/cjpeg") }
