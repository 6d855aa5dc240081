import CVPeerTestSupport
import Foundation
import Testing

/// A video shared by one member plays in another member's viewer before its last chunk has
/// arrived: the index box at the end of the file is fetched early, and the ranges the player asks
/// for are answered as their chunks come, and a seek far ahead is fetched before the rest.
@Suite("Progressive playback in the viewer", .serialized)
struct ProgressivePlaybackBrowserTests {
    static var ffmpegAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/ffmpeg") }

    /// A 22-second H.264 video of about 200 MB made by ffmpeg: noise on a test pattern at a fixed
    /// low quantiser keeps every frame large, so its samples spread evenly over the file and 80% of
    /// its time sits near 80% of its bytes; a key frame each second, as phones and streams have. Its `moov` stays at the end (ffmpeg's default, as in
    /// most recordings), so the player's first need is the file's last bytes.
    static func longVideo(folder: String) throws -> (path: String, moovOffset: Int, size: Int) {
        let path = folder + "/long.mp4"
        let ffmpeg = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/ffmpeg"),
            ["-hide_banner", "-loglevel", "error", "-f", "lavfi",
             "-i", "testsrc2=size=640x360:rate=25,noise=alls=80:allf=t+u", "-t", "22",
             "-c:v", "libx264", "-preset", "ultrafast", "-qp", "6", "-g", "25", "-pix_fmt", "yuv420p", "-y", path], name: "ffmpeg")
        defer { ffmpeg.stop() }
        guard ffmpeg.waitForExit(timeout: 300) == 0 else { throw LabFailure("ffmpeg failed: \(ffmpeg.output)") }
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let size = Int(try handle.seekToEnd())
        var offset = 0
        while offset + 8 <= size {
            try handle.seek(toOffset: UInt64(offset))
            let header = [UInt8](try handle.read(upToCount: 8) ?? Data())
            guard header.count == 8 else { break }
            if String(decoding: header[4..<8], as: UTF8.self) == "moov" { return (path, offset, size) }
            let boxSize = header[0..<4].reduce(0) { $0 << 8 | Int($1) }
            guard boxSize >= 8 else { break }
            offset += boxSize
        }
        throw LabFailure("ffmpeg's file has no moov box")
    }

    @Test(
        "a 200 MB video with its index at the end plays in the other member's viewer before its last chunk has arrived, and a seek to 80% plays there before the rest (both times printed)",
        .enabled(if: ViewerTests.browserAvailable && ffmpegAvailable, "chromium, chromium-driver, python3-selenium and ffmpeg are needed"),
        .timeLimit(.minutes(6)))
    func playsWhileArriving() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        let member = try lab.join(invite, name: "Ben", data: "member")
        try #require(lab.wait(40) { try lab.peerCount("agent") == 1 }, "no link:\n\(lab.transcript)")
        let video = try Self.longVideo(folder: lab.folder)
        try #require(video.size > 150_000_000 && video.moovOffset > video.size * 9 / 10,
                     "the sample is not a large video with its index at the end: \(video)")
        guard let line = member.line("Your viewer", timeout: 5), let url = line.split(separator: " ").last else {
            Issue.record("no viewer URL")
            return
        }
        let script = ViewerTests.browserScript("viewer_test.py")
        let browser = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/python3"), [script.path, "--progressive", String(url), "any", "--seek", "--timeout", "120"],
            name: "viewer_test.py --progressive")
        defer { browser.stop() }
        try #require(browser.line("ok   (setup)", timeout: 60) != nil, "the page did not open:\n\(browser.output.joined(separator: "\n"))")
        _ = try lab.cli("agent", ["share", video.path, "--title", "clip"])
        let status = browser.waitForExit(timeout: 240)
        let transcript = browser.output.joined(separator: "\n")
        print(transcript)
        #expect(status == 0, "the browser check failed:\n\(transcript)\n--- nodes\n\(lab.transcript)")
        #expect(browser.output.contains { $0.hasPrefix("ok   (p1)") }, "\(transcript)")
        #expect(browser.output.contains { $0.hasPrefix("ok   (p2)") }, "\(transcript)")
    }
}
