import Foundation

/// Photos and videos carrying a location, a camera make and model, a title and dates, made by
/// ffmpeg, exiftool and heif-enc (Debian's ffmpeg, libimage-exiftool-perl, libheif-examples),
/// and the tools' verdicts on a cleaned copy.
public enum MediaSamples {
    /// The formats made.
    public enum Format: String, CaseIterable, Sendable {
        case mp4, mov, heic, avif, webm, webp
    }

    /// What the samples carry; none of it may appear in exiftool's report on a cleaned copy.
    public static let secrets = [
        "Secret Title", "Canon", "EOS5", "2024:05:01", "2024-05-01", "48 deg", "+48.8584", "48.8584", "Lat=48",
    ]

    /// True when every tool is installed.
    public static var available: Bool {
        ["/usr/bin/ffmpeg", "/usr/bin/exiftool", "/usr/bin/heif-enc", "/usr/bin/heif-convert"].allSatisfy {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// A tool's exit status and output.
    public struct Output: Sendable {
        /// The exit status.
        public let status: Int32
        /// Standard output.
        public let stdout: String
        /// Standard error.
        public let stderr: String
    }

    /// Runs `/usr/bin/tool` with `arguments`, waiting at most `timeout` seconds.
    public static func run(_ tool: String, _ arguments: [String], timeout: Double = 120) throws -> Output {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cvpeer-tool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("out")
        let err = folder.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/" + tool)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw SampleFailure("\(tool) did not finish within \(timeout) s")
        }
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    private static func check(_ tool: String, _ arguments: [String]) throws {
        let output = try run(tool, arguments)
        guard output.status == 0 else { throw SampleFailure("\(tool) \(arguments.joined(separator: " ")) failed: \(output.stderr)") }
    }

    /// Makes a sample of `format` in `folder` (named `name`.ext) and returns its path.
    public static func make(_ format: Format, in folder: String, name: String = "sample") throws -> String {
        let path = folder + "/" + name + "." + format.rawValue
        let tags = [
            "-metadata", "title=Secret Title", "-metadata", "location=+48.8584+002.2945/", "-metadata",
            "creation_time=2024-05-01T10:00:00Z", "-metadata", "make=Canon", "-metadata", "model=EOS5",
        ]
        let exif = [
            "-q", "-overwrite_original", "-GPSLatitude=48.8584", "-GPSLatitudeRef=N", "-GPSLongitude=2.2945",
            "-GPSLongitudeRef=E", "-Make=Canon", "-Model=EOS5", "-XMP:Title=Secret Title",
            "-DateTimeOriginal=2024:05:01 10:00:00", "-CreateDate=2024:05:01 10:00:00",
        ]
        let quickTime = [
            "-q", "-overwrite_original", "-Keys:GPSCoordinates=48.8584, 2.2945", "-Make=Canon", "-Model=EOS5",
            "-Keys:Title=Secret Title", "-XMP:Title=Secret Title", "-CreateDate=2024:05:01 10:00:00",
        ]
        let source = ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10", "-f", "lavfi", "-i", "sine=d=1", "-t", "1"]
        switch format {
        case .mp4, .mov:
            try check("ffmpeg", source + ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"] + tags + [path])
            try check("exiftool", quickTime + [path])
        case .webm:
            try check("ffmpeg", source + ["-c:v", "libvpx", "-c:a", "libopus"] + tags + [path])
        case .webp:
            try check("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64", "-frames:v", "1", "-c:v", "libwebp", path])
            try check("exiftool", exif + [path])
        case .heic, .avif:
            let png = folder + "/" + name + "-source.png"
            try check("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64", "-frames:v", "1", png])
            try check("heif-enc", (format == .avif ? ["-A"] : []) + ["-q", "50", png, "-o", path])
            try check("exiftool", exif + [path])
        }
        return path
    }

    /// exiftool's report on `path` (`-j -a -G1`: every tag, with its group).
    public static func report(_ path: String) throws -> String {
        let output = try run("exiftool", ["-j", "-a", "-G1", path])
        guard output.status == 0 else { throw SampleFailure("exiftool \(path) failed: \(output.stderr)") }
        return output.stdout
    }

    /// The secrets exiftool still finds in `path`.
    public static func leaks(_ path: String) throws -> [String] {
        let text = try report(path)
        return secrets.filter { text.contains($0) }
    }

    /// What the decoder says about `path` (ffmpeg for videos, heif-convert for photos): empty when
    /// it decodes every frame without an error.
    public static func decodeErrors(_ path: String, _ format: Format) throws -> String {
        switch format {
        case .heic, .avif:
            let png = path + ".decoded.png"
            defer { try? FileManager.default.removeItem(atPath: png) }
            let output = try run("heif-convert", [path, png])
            let decoded = FileManager.default.fileExists(atPath: png)
            return output.status == 0 && decoded ? "" : "heif-convert failed (\(output.status)): \(output.stdout) \(output.stderr)"
        case .mp4, .mov, .webm, .webp:
            let output = try run("ffmpeg", ["-v", "error", "-i", path, "-f", "null", "-"])
            return output.status == 0 && output.stderr.isEmpty ? "" : "ffmpeg (\(output.status)): \(output.stderr)"
        }
    }
}

/// A sample could not be made or checked.
public struct SampleFailure: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String

    /// Creates the failure.
    public init(_ description: String) { self.description = description }
}
