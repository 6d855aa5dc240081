/// WebP metadata removal: the RIFF chunks are checked and copied or dropped.
///
/// Kept: the image chunks (VP8, VP8L, VP8X, ALPH, ANIM, ANMF) and the colour profile (ICCP).
/// Dropped: EXIF and XMP (their VP8X flags cleared) and anything after the RIFF data. Any other
/// chunk is refused: it might carry metadata we cannot see.
enum WebPMetadata {
    static let kept: Set<String> = ["VP8 ", "VP8L", "VP8X", "ALPH", "ANIM", "ANMF", "ICCP"]

    static func strip(_ b: [UInt8]) throws(MediaDefect) -> (bytes: [UInt8], removed: RemovedParts) {
        func le32(_ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 | Int(b[at + 2]) << 16 | Int(b[at + 3]) << 24 }
        guard b.count >= 12, b[0..<4].elementsEqual("RIFF".utf8), b[8..<12].elementsEqual("WEBP".utf8) else {
            throw MediaDefect(offset: 0, reason: "no RIFF WEBP header")
        }
        let riffEnd = 8 + le32(4)
        guard riffEnd <= b.count, riffEnd >= 12 else { throw MediaDefect(offset: 4, reason: "the RIFF size runs past the end of the file") }
        var removed = RemovedParts()
        var out: [UInt8] = Array(b[0..<12])
        var vp8x: Int?
        var i = 12
        while i < riffEnd {
            guard riffEnd - i >= 8 else { throw MediaDefect(offset: i, reason: "the file ends inside a chunk header") }
            let type = String(decoding: b[i..<(i + 4)], as: UTF8.self)
            let size = le32(i + 4)
            let padded = size + (size & 1)
            guard padded <= riffEnd - i - 8 else { throw MediaDefect(offset: i, reason: "chunk '\(type)' runs past the end of the file") }
            let end = i + 8 + padded
            switch type {
            case "EXIF":
                removed.add("Exif")
                var tiff = b[(i + 8)..<(i + 8 + size)]
                if tiff.starts(with: JPEGMetadata.exifIdentifier) { tiff = tiff.dropFirst(JPEGMetadata.exifIdentifier.count) }
                for name in ExifTags.identifying(tiff) { removed.add(name) }
            case "XMP ":
                var parts = RemovedParts()
                MediaBytes.describe(b[(i + 8)..<(i + 8 + size)], into: &parts)
                removed.add("XMP")
                for name in parts.names where name != "tags" && name != "XMP" { removed.add(name) }
            case _ where kept.contains(type):
                if type == "VP8X" {
                    guard size >= 10 else { throw MediaDefect(offset: i, reason: "a short VP8X chunk") }
                    vp8x = out.count + 8
                }
                out += b[i..<end]
            default:
                throw MediaDefect(offset: i, reason: "unknown chunk '\(type)'", unsupported: true)
            }
            i = end
        }
        if riffEnd < b.count { removed.add("data after the end of the image") }
        // The VP8X flags no longer announce EXIF (0x08) or XMP (0x04).
        if let vp8x { out[vp8x] &= ~UInt8(0x0C) }
        let riffSize = UInt32(out.count - 8)
        for k in 0..<4 { out[4 + k] = UInt8(truncatingIfNeeded: riffSize >> (8 * k)) }
        return (out, removed)
    }
}
