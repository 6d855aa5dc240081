import CVPeerTestSupport
import Foundation
import Node
import Primitives
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Metadata removal from MP4, QuickTime, HEIC, AVIF and WebM files made by ffmpeg, exiftool and
/// heif-enc in the test, checked with exiftool and decoded with ffmpeg or heif-convert.
@Suite(
    "Metadata removal from videos, HEIF and WebP photos", .serialized,
    .enabled(if: MediaSamples.available, "ffmpeg, exiftool and libheif-examples are needed; ./dev test installs them"))
struct ContainerMetadataTests {
    static let mimes: [MediaSamples.Format: String] = [
        .mp4: "video/mp4", .mov: "video/quicktime", .heic: "image/heic", .avif: "image/avif", .webm: "video/webm", .webp: "image/webp",
    ]

    let folder: String

    init() throws {
        folder = NSTemporaryDirectory() + "cvpeer-media-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    func sample(_ format: MediaSamples.Format) throws -> (path: String, bytes: [UInt8]) {
        let path = try MediaSamples.make(format, in: folder)
        return (path, Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    func write(_ bytes: [UInt8], _ name: String) -> String {
        let path = folder + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    @Test("the cleaned file holds no location, camera, title or date, still decodes, and the answer names what went", arguments: MediaSamples.Format.allCases)
    func cleanedCopyHoldsNoneAndDecodes(format: MediaSamples.Format) throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (path, original) = try sample(format)
        // The sample carries every kind of secret, as the tools report them.
        let before = try MediaSamples.leaks(path)
        #expect(before.contains("Secret Title") && before.contains("Canon") && before.contains(where: { $0.contains("48") }), "\(before)")
        #expect(before.contains(where: { $0.hasPrefix("2024") }))

        let prepared = try MediaUpload.prepare(original, name: "sample", keepMetadata: false)
        #expect(prepared.mime == Self.mimes[format])
        #expect(prepared.metadataRemoved)
        if format == .webp {
            #expect(prepared.bytes.count < original.count, "WebP chunks are dropped")
        } else {
            #expect(prepared.bytes.count == original.count, "cleaning moves no byte")
        }
        let cleaned = write(prepared.bytes, "cleaned." + format.rawValue)
        let report = try MediaSamples.report(cleaned)
        #expect(try MediaSamples.leaks(cleaned) == [], "\(report)")
        #expect(try MediaSamples.decodeErrors(cleaned, format) == "")
        for name in ["GPS location", "make and model", "title", "creation dates"] {
            #expect(prepared.removed.contains(name), "\(format): \(prepared.removed) lacks \(name)")
        }
        if format == .heic || format == .avif || format == .webp {
            #expect(prepared.removed.contains("Exif") && prepared.removed.contains("XMP"), "\(prepared.removed)")
        }
        // Kept on purpose, the file goes unchanged.
        let kept = try MediaUpload.prepare(original, name: "sample", keepMetadata: true)
        #expect(kept.bytes == original && !kept.metadataRemoved && kept.removed.isEmpty)
    }

    @Test("a video cleaned in its upload file (pread/pwrite) comes out as the same bytes as in memory", arguments: [MediaSamples.Format.mp4, .mov, .webm])
    func fileAndMemoryAgree(format: MediaSamples.Format) throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (path, original) = try sample(format)
        let inMemory = try MediaUpload.prepare(original, name: "sample", keepMetadata: false)
        let descriptor = open(path, O_RDWR)
        #expect(descriptor >= 0)
        let (patched, removed) = try MediaUpload.clean(file: descriptor, size: original.count, mime: Self.mimes[format]!)
        close(descriptor)
        #expect(patched)
        #expect(removed == inMemory.removed)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == inMemory.bytes)
    }

    @Test("an unknown box, at the top or inside moov, is refused with a message naming it and its offset; --keep-metadata shares it")
    func unknownBoxesAreRefused() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (_, original) = try sample(.mp4)
        let appended = original + [0, 0, 0, 8] + Array("abcd".utf8)
        #expect {
            _ = try MediaUpload.prepare(appended, name: "clip.mp4", keepMetadata: false)
        } throws: { error in
            "\(error)"
                == "cannot remove metadata from this video: unknown box 'abcd' at offset \(original.count); pass --keep-metadata to share it unchanged"
        }
        #expect(try MediaUpload.prepare(appended, name: "clip.mp4", keepMetadata: true).bytes == appended)

        // Inside the movie box: vmhd renamed.
        var inner = original
        let at = try #require(Self.find(Array("vmhd".utf8), in: inner))
        inner.replaceSubrange(at..<(at + 4), with: Array("zzzz".utf8))
        #expect {
            _ = try MediaUpload.prepare(inner, name: "clip.mp4", keepMetadata: false)
        } throws: { error in
            "\(error)"
                == "cannot remove metadata from this video: unknown box 'zzzz' at offset \(at - 4); pass --keep-metadata to share it unchanged"
        }
        // A WebM with an unknown level-1 element.
        let (_, webm) = try sample(.webm)
        // The last Cues id is the element itself (the first is the SeekHead's pointer to it).
        let idAt = try #require(Self.find([0x1C, 0x53, 0xBB, 0x6B], in: webm, last: true))
        var strange = webm
        strange.replaceSubrange(idAt..<(idAt + 4), with: [0x1A, 0x11, 0x22, 0x33])
        #expect {
            _ = try MediaUpload.prepare(strange, name: "clip.webm", keepMetadata: false)
        } throws: { error in
            "\(error)".hasPrefix("cannot remove metadata from this video: unknown element 0x1A112233 at offset \(idAt)")
        }
    }

    @Test("a Matroska Info element with a CRC-32 gets its checksum recomputed after the title is voided")
    func matroskaChecksumFollows() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/crc.mkv"
        let made = try MediaSamples.run(
            "ffmpeg",
            [
                "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10", "-t", "1", "-c:v", "libvpx",
                "-metadata", "title=Secret Title", "-f", "matroska", path,
            ])
        #expect(made.status == 0, "\(made.stderr)")
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        /// The Info element's stored CRC-32 and the one its data has now.
        func checksums(_ bytes: [UInt8]) throws -> (stored: UInt32, actual: UInt32) {
            // The last Info id is the element (the SeekHead points at it first).
            let at = try #require(Self.find([0x15, 0x49, 0xA9, 0x66], in: bytes, last: true))
            let sizeLength = bytes[at + 4].leadingZeroBitCount + 1
            var size = Int(bytes[at + 4] & (0xFF >> sizeLength))
            for k in 1..<sizeLength { size = size << 8 | Int(bytes[at + 4 + k]) }
            let data = at + 4 + sizeLength
            #expect(bytes[data] == 0xBF && bytes[data + 1] == 0x84, "ffmpeg wrote no CRC-32 in Info")
            let stored = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[data + 2 + $1]) << (8 * $1) }
            return (stored, CRC32.checksum(bytes[(data + 6)..<(data + size)]))
        }
        let before = try checksums(original)
        #expect(before.stored == before.actual)
        let prepared = try MediaUpload.prepare(original, name: "crc.mkv", keepMetadata: false)
        #expect(prepared.removed.contains("title"))
        #expect(!Self.contains(prepared.bytes, Array("Secret Title".utf8)))
        let after = try checksums(prepared.bytes)
        #expect(after.stored == after.actual)
        #expect(after.stored != before.stored)
        let cleaned = write(prepared.bytes, "cleaned.mkv")
        #expect(try MediaSamples.decodeErrors(cleaned, .webm) == "")
    }

    /// A box with a 32-bit size, or a 64-bit one (`size` field 1).
    static func box(_ type: String, _ payload: [UInt8], large: Bool = false) -> [UInt8] {
        func be(_ value: Int, _ count: Int) -> [UInt8] { (0..<count).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        return large
            ? [0, 0, 0, 1] + Array(type.utf8) + be(16 + payload.count, 8) + payload
            : be(8 + payload.count, 4) + Array(type.utf8) + payload
    }

    static let ftypMP4 = box("ftyp", Array("isom".utf8) + [0, 0, 2, 0] + Array("isomiso2".utf8))

    @Test("hand-built boxes: a 64-bit XMP uuid box becomes free with its size kept, a size-0 box runs to the end, impossible sizes are damage")
    func boxSizes() throws {
        let xmpUUID: [UInt8] = [0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC]
        let xmp = Self.box("uuid", xmpUUID + Array("<x:xmpmeta>Secret</x:xmpmeta>".utf8), large: true)
        let mdat: [UInt8] = [0, 0, 0, 0] + Array("mdat".utf8) + [1, 2, 3, 4]
        let file = Self.ftypMP4 + xmp + mdat
        let prepared = try MediaUpload.prepare(file, name: "x.mp4", keepMetadata: false)
        #expect(prepared.removed == ["XMP"])
        let at = Self.ftypMP4.count
        #expect(Array(prepared.bytes[at..<(at + 16)]) == [0, 0, 0, 1] + Array("free".utf8) + Array(xmp[8..<16]))
        #expect(prepared.bytes[(at + 16)..<(at + xmp.count)].allSatisfy { $0 == 0 })
        #expect(Array(prepared.bytes.suffix(mdat.count)) == mdat)

        for damaged in [
            Self.ftypMP4 + [0, 0, 0, 1] + Array("mdat".utf8) + [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],  // 64-bit size past the end
            Self.ftypMP4 + [0, 0, 0, 4] + Array("mdat".utf8),  // smaller than its header
            Self.ftypMP4 + [0, 0, 0, 1] + Array("mdat".utf8),  // 64-bit size cut off
            Self.ftypMP4 + [0xFF, 0xFF, 0xFF, 0xFF] + Array("moov".utf8),  // past the end
            Self.ftypMP4 + Self.box("moov", Self.box("mvhd", [0, 0, 0])),  // a short mvhd
        ] {
            #expect {
                _ = try MediaUpload.prepare(damaged, name: "x.mp4", keepMetadata: false)
            } throws: { error in
                "\(error)".hasPrefix("cannot remove metadata from this MP4 file, it is damaged at byte")
            }
        }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool { find(needle, in: haystack) != nil }

    static func find(_ needle: [UInt8], in haystack: [UInt8], last: Bool = false) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        let starts = Array(0...(haystack.count - needle.count))
        for i in last ? starts.reversed() : starts where haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }

    @Test("ftyp brands decide the type: HEIC and AVIF are photos, MP4 and QuickTime videos, anything else refused")
    func brands() throws {
        func ftyp(_ major: String, _ compatible: [String]) -> [UInt8] {
            let size = 16 + 4 * compatible.count
            return [0, 0, 0, UInt8(size)] + Array("ftyp\(major)".utf8) + [0, 0, 0, 0] + compatible.flatMap { Array($0.utf8) }
                + [UInt8](repeating: 0, count: 16)
        }
        #expect(MediaUpload.mimeType(of: ftyp("heic", ["mif1", "heic"])) == "image/heic")
        #expect(MediaUpload.mimeType(of: ftyp("mif1", ["mif1", "heic", "miaf"])) == "image/heic")
        #expect(MediaUpload.mimeType(of: ftyp("avif", ["avif", "mif1", "miaf"])) == "image/avif")
        #expect(MediaUpload.mimeType(of: ftyp("mif1", ["avis", "msf1"])) == "image/avif")
        #expect(MediaUpload.mimeType(of: ftyp("isom", ["isom", "iso2", "avc1", "mp41"])) == "video/mp4")
        #expect(MediaUpload.mimeType(of: ftyp("qt  ", ["qt  "])) == "video/quicktime")
        #expect(MediaUpload.mimeType(of: ftyp("abcd", ["efgh"])) == nil)
        #expect(MediaUpload.mimeType(of: ftyp("mif1", ["mif1"])) == nil)
        #expect(throws: (any Error).self) { try MediaUpload.prepare(ftyp("abcd", ["efgh"]), name: "x", keepMetadata: true) }
        for mime in MediaUpload.mediaTypes { #expect(mime.split(separator: "/").count == 2) }
    }

    @Test("truncations and random byte flips of each container never crash or hang", arguments: MediaSamples.Format.allCases)
    func damagedFilesFailCleanly(format: MediaSamples.Format) throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (_, original) = try sample(format)
        var random = SeededRandom(seed: SeededRandom.seedFromEnvironment(default: 0x5EED_0015))
        var outcomes = (cleaned: 0, refused: 0)
        func attempt(_ bytes: [UInt8]) {
            do {
                let prepared = try MediaUpload.prepare(bytes, name: "f", keepMetadata: false)
                #expect(format == .webp ? prepared.bytes.count <= bytes.count : prepared.bytes.count == bytes.count)
                outcomes.cleaned += 1
            } catch {
                #expect(!"\(error)".isEmpty)
                outcomes.refused += 1
            }
        }
        for k in 1...150 { attempt(Array(original.prefix(original.count * k / 151))) }
        for _ in 0..<400 {
            var damaged = original
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                // Mostly in the first and last 4 KiB, where the headers and the movie box are.
                let window = min(4096, damaged.count)
                let index =
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0: Int.random(in: 0..<window, using: &random)
                    case 1: damaged.count - 1 - Int.random(in: 0..<window, using: &random)
                    default: Int.random(in: 0..<damaged.count, using: &random)
                    }
                damaged[index] = UInt8.random(in: 0...255, using: &random)
            }
            attempt(damaged)
        }
        #expect(outcomes.cleaned + outcomes.refused == 550, "seed \(random.seed)")
    }
}
