import Foundation
import Node
import Testing

// MARK: - Test images, built byte by byte

/// A baseline greyscale JPEG writer for DC-only blocks: each 8×8 block is one flat grey level.
///
/// Enough to make real, decodable files without an image library: quantisation 1, the standard
/// luminance DC table, and an AC table whose only symbol is end-of-block.
enum TestJPEG {
    static func segment(_ marker: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let length = payload.count + 2
        return [0xFF, marker, UInt8(length >> 8), UInt8(length & 0xff)] + payload
    }

    /// Category → (code, length) from the standard luminance DC table (ITU T.81 Table K.3).
    static let dcCodes: [(UInt32, Int)] = [
        (0b00, 2), (0b010, 3), (0b011, 3), (0b100, 3), (0b101, 3), (0b110, 3), (0b1110, 4), (0b11110, 5),
        (0b111110, 6), (0b1111110, 7), (0b11111110, 8), (0b111111110, 9),
    ]

    struct BitWriter {
        var bytes: [UInt8] = []
        private var accumulator: UInt32 = 0
        private var count = 0

        mutating func write(_ value: UInt32, bits: Int) {
            for shift in stride(from: bits - 1, through: 0, by: -1) {
                accumulator = accumulator << 1 | (value >> UInt32(shift)) & 1
                count += 1
                if count == 8 {
                    bytes.append(UInt8(accumulator))
                    if accumulator == 0xFF { bytes.append(0) }  // byte stuffing
                    accumulator = 0
                    count = 0
                }
            }
        }

        mutating func finish() -> [UInt8] {
            while count != 0 { write(1, bits: 1) }
            return bytes
        }
    }

    /// The entropy-coded data for blocks of the given grey levels, in raster order.
    static func scanData(levels: [UInt8]) -> [UInt8] {
        var writer = BitWriter()
        var previous = 0
        for level in levels {
            let dc = 8 * (Int(level) - 128)
            let diff = dc - previous
            previous = dc
            let category = diff == 0 ? 0 : Int.bitWidth - abs(diff).leadingZeroBitCount
            let (code, length) = dcCodes[category]
            writer.write(code, bits: length)
            if category > 0 {
                let extra = diff > 0 ? diff : diff + (1 << category) - 1
                writer.write(UInt32(extra), bits: category)
            }
            writer.write(0, bits: 1)  // end of block
        }
        return writer.finish()
    }

    /// A 16×16 image of four flat blocks, with `metadata` segments after SOI.
    static func image(metadata: [[UInt8]] = [], levels: [UInt8] = [40, 90, 160, 230], trailer: [UInt8] = []) -> [UInt8] {
        var out: [UInt8] = [0xFF, 0xD8]
        for segment in metadata { out += segment }
        out += segment(0xDB, [0x00] + [UInt8](repeating: 1, count: 64))
        out += segment(0xC0, [8, 0, 16, 0, 16, 1, 1, 0x11, 0])
        out += segment(0xC4, [0x00, 0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0] + Array(0...11))
        out += segment(0xC4, [0x10, 1] + [UInt8](repeating: 0, count: 15) + [0x00])
        out += segment(0xDA, [1, 1, 0x00, 0, 63, 0])
        out += scanData(levels: levels)
        out += [0xFF, 0xD9]
        return out + trailer
    }

    static func jfif(thumbnail: (UInt8, UInt8) = (0, 0)) -> [UInt8] {
        let pixels = [UInt8](repeating: 0x7F, count: 3 * Int(thumbnail.0) * Int(thumbnail.1))
        return segment(0xE0, Array("JFIF\0".utf8) + [1, 2, 0, 0, 1, 0, 1, thumbnail.0, thumbnail.1] + pixels)
    }

    static func comment(_ text: String) -> [UInt8] { segment(0xFE, Array(text.utf8)) }
    static let icc = segment(0xE2, Array("ICC_PROFILE\0".utf8) + [1, 1] + Array("not-a-real-profile".utf8))
    static let adobe = segment(0xEE, Array("Adobe".utf8) + [0, 100, 0, 0, 0, 0, 0])
    static let xmp = segment(
        0xE1, Array("http://ns.adobe.com/xap/1.0/\0".utf8) + Array("<x:xmpmeta exif:GPSLatitude=\"48,51.494N\"/>".utf8))
    static let iptc = segment(0xED, Array("Photoshop 3.0\08BIM".utf8) + [4, 4, 0, 0, 0, 0, 0, 8, 0x1c, 2, 0x50, 0, 3, 0x4A, 0x6F, 0x65])

    /// The GPS latitude 48°51′29.64″ as three little-endian RATIONALs: the bytes that must not survive.
    static let latitude: [UInt8] = rationals([(48, 1), (51, 1), (2964, 100)])
    static let longitude: [UInt8] = rationals([(2, 1), (17, 1), (4020, 100)])

    static func rationals(_ values: [(UInt32, UInt32)]) -> [UInt8] {
        values.flatMap { le32($0.0) + le32($0.1) }
    }

    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xff) } }

    /// An EXIF APP1 (little-endian TIFF) with a camera make, optionally an orientation, and a GPS IFD.
    static func exif(orientation: UInt16? = nil) -> [UInt8] {
        func entry(_ tag: UInt16, _ type: UInt16, _ count: UInt32, _ value: [UInt8]) -> [UInt8] {
            le16(tag) + le16(type) + le32(count) + value + [UInt8](repeating: 0, count: 4 - value.count)
        }
        let ifd0Count = orientation == nil ? 2 : 3
        let ifd0Size = 2 + 12 * ifd0Count + 4
        let makeOffset = 8 + ifd0Size
        let make = Array("Canon\0".utf8)
        let gpsOffset = makeOffset + make.count
        let gpsSize = 2 + 12 * 5 + 4
        let latitudeOffset = gpsOffset + gpsSize
        let longitudeOffset = latitudeOffset + latitude.count
        var tiff: [UInt8] = Array("II".utf8) + le16(42) + le32(8)
        tiff += le16(UInt16(ifd0Count))
        tiff += entry(0x010F, 2, UInt32(make.count), le32(UInt32(makeOffset)))
        if let orientation { tiff += entry(0x0112, 3, 1, le16(orientation)) }
        tiff += entry(0x8825, 4, 1, le32(UInt32(gpsOffset)))
        tiff += le32(0)
        tiff += make
        tiff += le16(5)
        tiff += entry(0x0000, 1, 4, [2, 2, 0, 0])
        tiff += entry(0x0001, 2, 2, Array("N\0".utf8))
        tiff += entry(0x0002, 5, 3, le32(UInt32(latitudeOffset)))
        tiff += entry(0x0003, 2, 2, Array("E\0".utf8))
        tiff += entry(0x0004, 5, 3, le32(UInt32(longitudeOffset)))
        tiff += le32(0)
        tiff += latitude + longitude
        return segment(0xE1, Array("Exif\0\0".utf8) + tiff)
    }

    /// The markers of a JPEG in order, checked the way a decoder walks it; nil if the structure is broken.
    static func markers(_ b: [UInt8]) -> [UInt8]? {
        guard b.count >= 4, b[0] == 0xFF, b[1] == 0xD8 else { return nil }
        var found: [UInt8] = [0xD8]
        var i = 2
        while i + 1 < b.count {
            guard b[i] == 0xFF else { return nil }
            let marker = b[i + 1]
            found.append(marker)
            if marker == 0xD9 { return i + 2 == b.count ? found : nil }
            guard i + 3 < b.count else { return nil }
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            guard length >= 2, i + 2 + length <= b.count else { return nil }
            i += 2 + length
            if marker == 0xDA {
                while i + 1 < b.count, !(b[i] == 0xFF && b[i + 1] != 0 && !(0xD0...0xD7).contains(b[i + 1])) { i += 1 }
            }
        }
        return nil
    }

    /// The bytes from SOS to EOI: the image data that stripping must not touch.
    static func imageData(_ b: [UInt8]) -> ArraySlice<UInt8>? {
        guard let sos = b.indices.dropLast().first(where: { b[$0] == 0xFF && b[$0 + 1] == 0xDA }) else { return nil }
        return b[sos...]
    }
}

/// A tiny PNG writer: a 2×2 greyscale image in a stored (uncompressed) zlib stream.
enum TestPNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// CRC-32, written bit by bit so that it is independent of the table-driven one under test.
    static func crc(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }

    static func be32(_ v: UInt32) -> [UInt8] { (0..<4).reversed().map { UInt8(v >> (8 * $0) & 0xff) } }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeBytes = Array(type.utf8)
        return be32(UInt32(data.count)) + typeBytes + data + be32(crc(typeBytes + data))
    }

    static let header = chunk("IHDR", be32(2) + be32(2) + [8, 0, 0, 0, 0])
    static let imageData: [UInt8] = {
        let raw: [UInt8] = [0, 10, 200, 0, 250, 30]
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in raw {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        let length = UInt16(raw.count)
        let stored: [UInt8] = [0x01, UInt8(length & 0xff), UInt8(length >> 8), UInt8(~length & 0xff), UInt8(~length >> 8)]
        return chunk("IDAT", [0x78, 0x01] + stored + raw + be32(b << 16 | a))
    }()
    static let end = chunk("IEND", [])

    static func image(_ middle: [[UInt8]], trailer: [UInt8] = []) -> [UInt8] {
        signature + header + middle.joined() + imageData + end + trailer
    }

    /// (type, data) of each chunk, with every length and CRC checked; nil if anything is off.
    static func chunks(_ b: [UInt8]) -> [(String, [UInt8])]? {
        guard b.starts(with: signature) else { return nil }
        var out: [(String, [UInt8])] = []
        var i = 8
        while i + 12 <= b.count {
            let length = Int(b[i..<(i + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard i + 12 + length <= b.count else { return nil }
            let typeAndData = Array(b[(i + 4)..<(i + 8 + length)])
            let stored = b[(i + 8 + length)..<(i + 12 + length)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard crc(typeAndData) == stored else { return nil }
            out.append((String(decoding: typeAndData.prefix(4), as: UTF8.self), Array(typeAndData.dropFirst(4))))
            i += 12 + length
        }
        return i == b.count ? out : nil
    }
}

/// A SplitMix64 generator: NodeTests has no test-support dependency, and the fuzz run must be repeatable.
struct FuzzRandom: RandomNumberGenerator {
    let seed: UInt64
    private var state: UInt64

    init(seed: UInt64) {
        self.seed = seed
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// An external JPEG decoder, if this machine has one: djpeg (libjpeg-turbo-progs) or Python's PIL.
enum ExternalDecoder {
    static let djpeg: String? = ["/usr/bin/djpeg", "/usr/local/bin/djpeg", "/opt/homebrew/bin/djpeg"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    static let pythonWithPIL: String? = {
        for path in ["/usr/bin/python3", "/usr/local/bin/python3", "/opt/homebrew/bin/python3"]
        where FileManager.default.isExecutableFile(atPath: path) {
            if (try? run(path, ["-c", "import PIL.Image"], input: [])) != nil { return path }
        }
        return nil
    }()

    static var available: Bool { djpeg != nil || pythonWithPIL != nil }

    /// The decoded 8-bit grey pixels of a JPEG.
    static func greyPixels(_ jpeg: [UInt8]) throws -> [UInt8] {
        if let djpeg {
            // PGM: "P5\n16 16\n255\n" then the pixels.
            let pgm = try run(djpeg, ["-pnm"], input: jpeg)
            return Array(pgm.suffix(16 * 16))
        }
        let script = "import sys, io, PIL.Image; sys.stdout.buffer.write(PIL.Image.open(io.BytesIO(sys.stdin.buffer.read())).convert('L').tobytes())"
        return try run(pythonWithPIL!, ["-c", script], input: jpeg)
    }

    struct Failed: Error { let status: Int32 }

    static func run(_ tool: String, _ arguments: [String], input: [UInt8]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Failed(status: process.terminationStatus) }
        return Array(output)
    }
}

extension Array where Element == UInt8 {
    func contains(bytes needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return false }
        return (0...(count - needle.count)).contains { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}

// MARK: - JPEG

@Suite struct MetadataStripperJPEGTests {
    private let camera = TestJPEG.image(metadata: [
        TestJPEG.jfif(), TestJPEG.exif(), TestJPEG.icc, TestJPEG.xmp, TestJPEG.iptc,
        TestJPEG.comment("taken at home, 12 Rue Example"), TestJPEG.adobe, TestJPEG.segment(0xEB, Array("JP c2pa".utf8)),
    ])

    @Test func testImageIsAWellFormedJPEG() {
        #expect(TestJPEG.markers(camera) == [0xD8, 0xE0, 0xE1, 0xE2, 0xE1, 0xED, 0xFE, 0xEE, 0xEB, 0xDB, 0xC0, 0xC4, 0xC4, 0xDA, 0xD9])
    }

    @Test func exifGPSXMPIPTCAndCommentsAreRemovedAndImageDataKept() throws {
        let result = try MetadataStripper.strip(camera)
        #expect(result.stripped)
        #expect(result.format == .jpeg)
        #expect(result.reason == nil)
        #expect(result.orientation == nil)
        #expect(result.removed == ["EXIF", "GPS location", "XMP", "IPTC/Photoshop", "comment", "APP11"])
        let out = result.bytes
        #expect(!out.contains(bytes: Array("Exif".utf8)))
        #expect(!out.contains(bytes: TestJPEG.latitude))
        #expect(!out.contains(bytes: TestJPEG.longitude))
        #expect(!out.contains(bytes: [0x25, 0x88]))  // the GPS IFD pointer tag, little-endian
        #expect(!out.contains(bytes: Array("Canon".utf8)))
        #expect(!out.contains(bytes: Array("GPS".utf8)))
        #expect(!out.contains(bytes: Array("Rue Example".utf8)))
        #expect(!out.contains(bytes: Array("Photoshop".utf8)))
        #expect(!out.contains(bytes: Array("c2pa".utf8)))
        // JFIF, the ICC profile and Adobe's colour-transform marker stay, in their original order.
        #expect(TestJPEG.markers(out) == [0xD8, 0xE0, 0xE2, 0xEE, 0xDB, 0xC0, 0xC4, 0xC4, 0xDA, 0xD9])
        #expect(out.contains(bytes: TestJPEG.icc))
        #expect(out.contains(bytes: TestJPEG.adobe))
        #expect(TestJPEG.imageData(out) == TestJPEG.imageData(camera))
    }

    @Test(
        .enabled(if: ExternalDecoder.available, "needs djpeg (Debian libjpeg-turbo-progs) or Python with PIL; structure is checked without them"))
    func strippedImageDecodesToTheSamePixels() throws {
        let stripped = try MetadataStripper.strip(camera).bytes
        let original = try ExternalDecoder.greyPixels(camera)
        let decoded = try ExternalDecoder.greyPixels(stripped)
        #expect(decoded == original)
        // Four flat 8×8 blocks of 40, 90, 160 and 230, as written.
        let expected: [UInt8] = (0..<256).map { i in
            let (row, column) = (i / 16, i % 16)
            return [40, 90, 160, 230][(row / 8) * 2 + column / 8]
        }
        #expect(decoded == expected)
        let rotated = try MetadataStripper.strip(TestJPEG.image(metadata: [TestJPEG.exif(orientation: 6)])).bytes
        #expect(try ExternalDecoder.greyPixels(rotated) == expected)
    }

    @Test(arguments: [UInt16(3), 6, 8])
    func orientationSurvivesAsAOneTagExifBlock(orientation: UInt16) throws {
        let input = TestJPEG.image(metadata: [TestJPEG.exif(orientation: orientation), TestJPEG.comment("hi")])
        let result = try MetadataStripper.strip(input)
        #expect(result.orientation == orientation)
        #expect(result.removed == ["EXIF", "GPS location", "comment"])
        let minimal: [UInt8] =
            [0xFF, 0xE1, 0x00, 0x22] + Array("Exif\0\0MM".utf8)
            + [0x00, 0x2A, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, UInt8(orientation >> 8), UInt8(orientation & 0xff), 0, 0, 0, 0, 0, 0]
        #expect(Array(result.bytes[2..<(2 + minimal.count)]) == minimal)
        #expect(!result.bytes.contains(bytes: TestJPEG.latitude))
        #expect(!result.bytes.contains(bytes: Array("Canon".utf8)))
        #expect(TestJPEG.markers(result.bytes) == [0xD8, 0xE1, 0xDB, 0xC0, 0xC4, 0xC4, 0xDA, 0xD9])
        // Stripping again keeps the same single tag: the output is a fixed point.
        #expect(try MetadataStripper.strip(result.bytes).bytes == result.bytes)
    }

    @Test func normalOrientationNeedsNoExifAtAll() throws {
        let result = try MetadataStripper.strip(TestJPEG.image(metadata: [TestJPEG.exif(orientation: 1)]))
        #expect(result.orientation == nil)
        #expect(!result.bytes.contains(bytes: Array("Exif".utf8)))
    }

    @Test func jfifThumbnailAndDataAfterTheImageAreRemoved() throws {
        let input = TestJPEG.image(
            metadata: [TestJPEG.jfif(thumbnail: (2, 1))], trailer: Array("\0\0\0\u{1C}ftypmp42 motion photo video".utf8))
        let result = try MetadataStripper.strip(input)
        #expect(result.removed == ["JFIF thumbnail", "data after the end of the image"])
        #expect(result.bytes.starts(with: [0xFF, 0xD8] + TestJPEG.jfif()))
        #expect(result.bytes.suffix(2) == [0xFF, 0xD9])
        #expect(!result.bytes.contains(bytes: Array("ftyp".utf8)))
    }

    @Test func aCleanImageComesBackByteForByte() throws {
        let clean = TestJPEG.image(metadata: [TestJPEG.jfif(), TestJPEG.icc, TestJPEG.adobe])
        let result = try MetadataStripper.strip(clean)
        #expect(result.bytes == clean)
        #expect(result.removed.isEmpty)
    }

    @Test func restartMarkersStuffedBytesAndFillBytesAreHandled() throws {
        // 0xFF 0x00 (stuffed) and RST0 inside the scan, and fill bytes before EOI.
        var input = TestJPEG.image()
        let eoi = input.count - 2
        input.replaceSubrange(eoi..<eoi, with: [0xFF, 0x00, 0x12, 0xFF, 0xD0, 0x34, 0xFF, 0xFF, 0xFF])
        let result = try MetadataStripper.strip(input)
        #expect(Array(result.bytes.suffix(8)) == [0xFF, 0x00, 0x12, 0xFF, 0xD0, 0x34, 0xFF, 0xD9])
        #expect(result.bytes.count == input.count - 3)  // the fill bytes go; the marker's own 0xFF stays
    }

    @Test func everyTruncationIsAClearError() throws {
        for length in 2..<camera.count {
            let error = #expect(throws: NodeError.self) { try MetadataStripper.strip(Array(camera.prefix(length))) }
            guard case let .unreadableMedia(format, offset, _) = error else {
                Issue.record("length \(length): \(String(describing: error))")
                continue
            }
            #expect(format == "JPEG")
            #expect(offset <= length)
        }
    }

    @Test(arguments: [
        ([0xFF, 0xD8, 0xFF, 0xD9] as [UInt8], "no image data before the end"),
        ([0xFF, 0xD8, 0x00, 0x00], "expected a marker"),
        ([0xFF, 0xD8, 0xFF, 0xD8], "a second start-of-image marker"),
        ([0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01], "a segment length below 2"),
        ([0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 0x00], "a segment runs past the end of the file"),
        ([0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x00, 0xFF, 0xD9], "image data before the frame header"),
    ])
    func malformedStructureIsNamed(input: [UInt8], reason: String) {
        let error = #expect(throws: NodeError.self) { try MetadataStripper.strip(input) }
        guard case let .unreadableMedia(format, _, found) = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        #expect(format == "JPEG")
        #expect(found == reason)
        #expect(error?.description.contains("--keep-metadata") == true)
    }
}

// MARK: - PNG

@Suite struct MetadataStripperPNGTests {
    private let exifChunk = TestPNG.chunk("eXIf", Array(TestJPEG.exif().dropFirst(10)))
    private var camera: [UInt8] {
        TestPNG.image([
            TestPNG.chunk("sRGB", [0]), TestPNG.chunk("gAMA", TestPNG.be32(45455)),
            TestPNG.chunk("iCCP", Array("profile\0\0".utf8) + [0x78, 0x01]),
            TestPNG.chunk("pHYs", TestPNG.be32(2835) + TestPNG.be32(2835) + [1]),
            TestPNG.chunk("tEXt", Array("Author\0Jane Doe".utf8)), exifChunk,
            TestPNG.chunk("tIME", [0x07, 0xE9, 1, 2, 3, 4, 5]),
            TestPNG.chunk("iTXt", Array("Comment\0\0\0\0\0at home".utf8)),
            TestPNG.chunk("zTXt", Array("Software\0\0".utf8) + [0x78, 0x01]),
            TestPNG.chunk("prVW", [1, 2, 3]),
        ])
    }

    @Test func textExifAndTimeChunksAreRemovedAndTheRestIntact() throws {
        let input = camera
        #expect(TestPNG.chunks(input) != nil)
        let result = try MetadataStripper.strip(input)
        #expect(result.stripped)
        #expect(result.format == .png)
        #expect(result.removed == ["tEXt", "eXIf", "tIME", "iTXt", "zTXt", "prVW"])
        let chunks = try #require(TestPNG.chunks(result.bytes), "a length or CRC is wrong")
        #expect(chunks.map(\.0) == ["IHDR", "sRGB", "gAMA", "iCCP", "pHYs", "IDAT", "IEND"])
        #expect(result.bytes.starts(with: TestPNG.signature + TestPNG.header))
        #expect(result.bytes.suffix(TestPNG.imageData.count + TestPNG.end.count) == ArraySlice(TestPNG.imageData + TestPNG.end))
        #expect(!result.bytes.contains(bytes: Array("Jane Doe".utf8)))
        #expect(!result.bytes.contains(bytes: TestJPEG.latitude))
        #expect(!result.bytes.contains(bytes: Array("at home".utf8)))
    }

    @Test func dataAfterIENDIsRemovedAndACleanImageIsUnchanged() throws {
        let clean = TestPNG.image([TestPNG.chunk("sRGB", [0])])
        #expect(try MetadataStripper.strip(clean).bytes == clean)
        let trailed = try MetadataStripper.strip(TestPNG.image([], trailer: Array("hidden".utf8)))
        #expect(trailed.removed == ["data after IEND"])
        #expect(trailed.bytes == TestPNG.image([]))
    }

    @Test func aBadCRCIsAnError() {
        var input = camera
        input[TestPNG.signature.count + 10] ^= 1  // inside IHDR's data
        let error = #expect(throws: NodeError.self) { try MetadataStripper.strip(input) }
        #expect(error == .unreadableMedia(format: "PNG", offset: 29, reason: "a chunk's CRC does not match its contents"))
    }

    @Test func everyTruncationIsAnError() {
        let input = camera
        for length in TestPNG.signature.count..<input.count {
            let error = #expect(throws: NodeError.self) { try MetadataStripper.strip(Array(input.prefix(length))) }
            guard case .unreadableMedia(format: "PNG", _, _) = error else {
                Issue.record("length \(length): \(String(describing: error))")
                continue
            }
        }
    }

    @Test func structureIsChecked() {
        let noHeader = TestPNG.signature + TestPNG.imageData + TestPNG.end
        let noData = TestPNG.signature + TestPNG.header + TestPNG.end
        let twoHeaders = TestPNG.image([TestPNG.header])
        let badType = TestPNG.image([TestPNG.chunk("t3Xt", [])])
        for (input, reason) in [
            (noHeader, "the first chunk is not IHDR"), (noData, "no image data before IEND"),
            (twoHeaders, "a second IHDR chunk"), (badType, "a chunk type that is not four letters"),
        ] {
            let error = #expect(throws: NodeError.self) { try MetadataStripper.strip(input) }
            guard case let .unreadableMedia(_, _, found) = error else { continue }
            #expect(found == reason)
        }
    }
}

// MARK: - Other formats and fuzzing

@Suite struct MetadataStripperGeneralTests {
    @Test(arguments: [
        [0, 0, 0, 0x18] + Array("ftypmp42".utf8) + [UInt8](repeating: 7, count: 40),  // MP4
        [0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01],  // WebM/Matroska
        Array("GIF89a".utf8), [], [0xFF], [0x89, 0x50, 0x4E],
    ] as [[UInt8]])
    func otherFormatsComeBackUnchangedAndFlagged(input: [UInt8]) throws {
        let result = try MetadataStripper.strip(input)
        #expect(result.bytes == input)
        #expect(!result.stripped)
        #expect(result.format == nil)
        #expect(result.reason == "unsupported format")
        #expect(result.removed.isEmpty)
    }

    /// 50,000 inputs, random and mutated from real images: each gives a result or a clear error,
    /// never a trap; no output is larger than its input plus the orientation block; and a
    /// stripped output strips to itself.
    @Test(.timeLimit(.minutes(2))) func fuzzedInputsGiveAResultOrAnError() throws {
        let seed = ProcessInfo.processInfo.environment["CVPEER_TEST_SEED"].flatMap(UInt64.init) ?? 0x5EED_0F_F11E
        var random = FuzzRandom(seed: seed)
        let seeds: [[UInt8]] = [
            TestJPEG.image(metadata: [TestJPEG.jfif(thumbnail: (1, 1)), TestJPEG.exif(orientation: 6), TestJPEG.xmp, TestJPEG.icc]),
            TestJPEG.image(metadata: [TestJPEG.comment("x"), TestJPEG.adobe, TestJPEG.iptc]),
            TestPNG.image([TestPNG.chunk("tEXt", Array("a\0b".utf8)), TestPNG.chunk("sRGB", [0])]),
        ]
        var results = 0
        var errors = 0
        for iteration in 0..<50_000 {
            let input = Self.fuzzInput(iteration: iteration, seeds: seeds, random: &random)
            do {
                let result = try MetadataStripper.strip(input)
                results += 1
                #expect(result.bytes.count <= input.count + 36, "seed \(seed), iteration \(iteration)")
                if result.stripped {
                    let again = try? MetadataStripper.strip(result.bytes)
                    #expect(again?.bytes == result.bytes, "seed \(seed), iteration \(iteration)")
                }
            } catch let error as NodeError {
                guard case .unreadableMedia = error else {
                    Issue.record("seed \(seed), iteration \(iteration): \(error)")
                    continue
                }
                errors += 1
            }
        }
        #expect(results > 1000 && errors > 1000, "results \(results), errors \(errors)")
    }

    private static func fuzzInput(iteration: Int, seeds: [[UInt8]], random: inout FuzzRandom) -> [UInt8] {
        if iteration % 4 == 0 {
            // Random bytes behind a real signature, so they reach the parsers.
            let head: [UInt8] = Bool.random(using: &random) ? [0xFF, 0xD8] : TestPNG.signature
            return head + (0..<Int.random(in: 0...200, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        }
        var input = seeds[Int.random(in: seeds.indices, using: &random)]
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            guard !input.isEmpty else { break }
            let at = Int.random(in: input.indices, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0: input[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &random)
            case 1: input[at] = [0x00, 0xFF, 0xD9, 0xDA, 0xE1, 0x7F][Int.random(in: 0..<6, using: &random)]
            case 2: input.removeSubrange(at..<min(input.count, at + Int.random(in: 1...16, using: &random)))
            case 3: input.insert(contentsOf: [0xFF, UInt8.random(in: 0...255, using: &random)], at: at)
            case 4: input = Array(input.prefix(at))
            default:
                let end = min(input.count, at + Int.random(in: 1...40, using: &random))
                input.insert(contentsOf: input[at..<end], at: Int.random(in: 0...input.count, using: &random))
            }
        }
        return input
    }
}
