import CVPeerTestSupport
import Foundation
import Testing

/// Metadata removal as a customer meets it: files made by ffmpeg, exiftool and heif-enc, shared by
/// one real node with `cvpeer share`, fetched by another and saved with `cvpeer save`.
@Suite(
    "Metadata removal between real nodes", .serialized,
    .enabled(if: MediaSamples.available, "ffmpeg, exiftool and libheif-examples are needed; ./dev test installs them"))
struct MediaMetadataEndToEndTests {
    @Test(
        "MP4, QuickTime, HEIC, AVIF, WebM and WebP shared by A: B's saved copy holds no location, camera, title or date and decodes; the CLI names what was removed; an unknown box is refused by name"
    )
    func sharedFilesLoseTheirMetadata() throws {
        let lab = try SessionLab()
        defer { lab.stopAll() }
        let (_, invite) = try lab.host(name: "Ana", data: "agent", rendezvous: nil)
        _ = try lab.join(invite, name: "Ben", data: "customer")
        #expect(lab.wait(30) { try lab.peerCount("agent") == 1 }, "no link:\n\(lab.transcript)")
        let samples = lab.data("samples")
        try FileManager.default.createDirectory(atPath: samples, withIntermediateDirectories: true)

        var items: [(MediaSamples.Format, String)] = []
        for format in MediaSamples.Format.allCases {
            let path = try MediaSamples.make(format, in: samples, name: "clip-\(format.rawValue)")
            #expect(try !MediaSamples.leaks(path).isEmpty)
            let output = try CLIProcess.run(["share", path, "--title", format.rawValue, "--data", lab.data("agent")])
            #expect(output.status == 0, "\(format): \(output.stderr)")
            // The note names what went; it never claims there was nothing.
            let note = output.stderr
            #expect(note.contains("metadata removed: "), "\(format): \(note)")
            for name in ["GPS location", "make and model", "title", "creation dates"] {
                #expect(note.contains(name), "\(format): \(note) lacks \(name)")
            }
            #expect(!note.contains("no metadata") && !note.contains("found none"))
            items.append((format, SessionLab.itemID(output.stdout)))
        }
        let converged = lab.wait(60) {
            try lab.stateHash("customer") == lab.stateHash("agent") && lab.transfersDone("customer") && lab.transfersDone("agent")
        }
        #expect(converged, "no convergence:\n\(lab.transcript)")

        for (format, item) in items {
            let out = lab.data("saved-\(format.rawValue).\(format.rawValue)")
            try lab.cli("customer", ["save", item, "--out", out])
            let report = try MediaSamples.report(out)
            #expect(try MediaSamples.leaks(out) == [], "\(format): \(report)")
            #expect(try MediaSamples.decodeErrors(out, format) == "", "\(format)")
        }

        // A box the node does not know: refused, by name and offset, and nothing is shared.
        let clip = try MediaSamples.make(.mp4, in: samples, name: "strange")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: clip))
        let offset = bytes.count
        bytes.append(contentsOf: [0, 0, 0, 8] + Array("abcd".utf8))
        try bytes.write(to: URL(fileURLWithPath: clip))
        let refused = try CLIProcess.run(["share", clip, "--data", lab.data("agent")])
        #expect(refused.status != 0)
        #expect(
            refused.stderr.contains(
                "cannot remove metadata from this video: unknown box 'abcd' at offset \(offset); pass --keep-metadata to share it unchanged"),
            "\(refused.stderr)")
        let kept = try CLIProcess.run(["share", clip, "--keep-metadata", "--data", lab.data("agent")])
        #expect(kept.status == 0 && kept.stderr.contains("kept metadata (--keep-metadata)"), "\(kept.stderr)")
    }
}
