import CVPeerTestSupport
import Foundation
import Testing

/// A video shared by one member plays in another member's viewer before its last chunk has
/// arrived: the index box at the end of the file is fetched early, and the ranges the player asks
/// for are answered as their chunks come.
@Suite("Progressive playback in the viewer", .serialized)
struct ProgressivePlaybackBrowserTests {
    static var ffmpegAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/ffmpeg") }

    /// A 2-second VP9 video made by ffmpeg (its `moov` at the end, ffmpeg's default), with a
    /// `free` box of `padding` bytes put before the `moov`: a file of about that size whose index
    /// sits at its very end, as in most recordings.
    static func paddedVideo(folder: String, padding: Int) throws -> String {
        let small = folder + "/small.mp4"
        let ffmpeg = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/ffmpeg"),
            ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=25",
             "-c:v", "libvpx-vp9", "-deadline", "realtime", "-pix_fmt", "yuv420p", "-y", small], name: "ffmpeg")
        defer { ffmpeg.stop() }
        guard ffmpeg.waitForExit(timeout: 120) == 0 else { throw LabFailure("ffmpeg failed: \(ffmpeg.output)") }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: small)))
        var offset = 0
        var moov: Int?
        while offset + 8 <= bytes.count {
            let size = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            if String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self) == "moov" { moov = offset }
            guard size >= 8 else { break }
            offset += size
        }
        guard let moov else { throw LabFailure("ffmpeg's file has no moov box") }
        let path = folder + "/padded.mp4"
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.write(contentsOf: Data(bytes[..<moov]))
        try handle.write(contentsOf: Data(withUnsafeBytes(of: UInt32(padding + 8).bigEndian, Array.init) + Array("free".utf8)))
        let block = Data(count: 1 << 20)
        var written = 0
        while written < padding {
            let part = min(block.count, padding - written)
            try handle.write(contentsOf: block.prefix(part))
            written += part
        }
        try handle.write(contentsOf: Data(bytes[moov...]))
        return path
    }

    @Test(
        "a 200 MB video with its index at the end plays in the other member's viewer before its last chunk has arrived (time to first frame printed)",
        .enabled(if: ViewerTests.browserAvailable && ffmpegAvailable, "chromium, chromium-driver, python3-selenium and ffmpeg are needed"),
        .timeLimit(.minutes(6)))
    func playsWhileArriving() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        let member = try lab.join(invite, name: "Ben", data: "member")
        try #require(lab.wait(40) { try lab.peerCount("agent") == 1 }, "no link:\n\(lab.transcript)")
        let video = try Self.paddedVideo(folder: lab.folder, padding: 200_000_000)
        guard let line = member.line("Your viewer", timeout: 5), let url = line.split(separator: " ").last else {
            Issue.record("no viewer URL")
            return
        }
        var script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        script.appendPathComponent("Browser/viewer_test.py")
        let browser = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/python3"), [script.path, "--progressive", String(url), "any", "--timeout", "120"],
            name: "viewer_test.py --progressive")
        defer { browser.stop() }
        try #require(browser.line("ok   (setup)", timeout: 60) != nil, "the page did not open:\n\(browser.output.joined(separator: "\n"))")
        _ = try lab.cli("agent", ["share", video, "--title", "clip"])
        let status = browser.waitForExit(timeout: 240)
        let transcript = browser.output.joined(separator: "\n")
        print(transcript)
        #expect(status == 0, "the browser check failed:\n\(transcript)\n--- nodes\n\(lab.transcript)")
        #expect(browser.output.contains { $0.hasPrefix("ok   (p1)") }, "\(transcript)")
    }
}
