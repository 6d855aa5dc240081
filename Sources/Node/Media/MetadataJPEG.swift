/// JPEG metadata removal: a single bounded pass over the marker segments.
///
/// Kept: SOF/DHT/DQT/DRI/SOS and every other non-APP segment, the entropy-coded data byte for
/// byte, APP0 JFIF (without its thumbnail, which shows the uncropped picture), APP2 ICC_PROFILE,
/// APP14 Adobe (it says whether the data is YCbCr or RGB/CMYK), and the EXIF orientation, as a
/// new 36-byte APP1 in place of the original EXIF block. Dropped: EXIF (camera, time, GPS,
/// thumbnail), XMP, IPTC/Photoshop, comments, MPF and every other APPn, and anything after EOI
/// (where phones append depth maps, second images and motion-photo videos).
enum JPEGMetadata {
    static let startOfImage: [UInt8] = [0xFF, 0xD8]

    /// What an EXIF APP1 segment starts with.
    static let exifIdentifier: [UInt8] = Array("Exif\0\0".utf8)
    /// The one EXIF tag kept: without it a portrait photo shows on its side.
    static let orientationTag: UInt16 = 0x0112
    /// The IFD0 tag that points to the GPS IFD.
    static let gpsIFDTag: UInt16 = 0x8825
    /// The size of the replacement APP1 with the orientation only, marker included.
    static let minimalExifSize = 36

    struct Result {
        var bytes: [UInt8]
        var removed: RemovedParts
        var orientation: UInt16?
    }

    private enum Marker {
        static let tem: UInt8 = 0x01
        static let sof: ClosedRange<UInt8> = 0xC0...0xCF
        static let dht: UInt8 = 0xC4
        static let jpg: UInt8 = 0xC8
        static let dac: UInt8 = 0xCC
        static let rst: ClosedRange<UInt8> = 0xD0...0xD7
        static let soi: UInt8 = 0xD8
        static let eoi: UInt8 = 0xD9
        static let sos: UInt8 = 0xDA
        static let app0: UInt8 = 0xE0
        static let app1: UInt8 = 0xE1
        static let app2: UInt8 = 0xE2
        static let app13: UInt8 = 0xED
        static let app14: UInt8 = 0xEE
        static let app: ClosedRange<UInt8> = 0xE0...0xEF
        static let com: UInt8 = 0xFE
    }

    private enum Identifier {
        static let jfif = Array("JFIF\0".utf8)
        static let jfxx = Array("JFXX\0".utf8)
        static let xmp = Array("http://ns.adobe.com/xap/1.0/\0".utf8)
        static let xmpExtension = Array("http://ns.adobe.com/xmp/extension/\0".utf8)
        static let icc = Array("ICC_PROFILE\0".utf8)
        static let mpf = Array("MPF\0".utf8)
        static let photoshop = Array("Photoshop 3.0\0".utf8)
        static let adobe = Array("Adobe".utf8)
        static let xmpGPS = Array("GPSLatitude".utf8)
    }

    /// JFIF fields up to and including the thumbnail size: identifier 5, version 2, units 1, densities 4, sizes 2.
    private static let jfifHeaderLength = 14

    static func strip(_ b: [UInt8]) throws(MediaDefect) -> Result {
        let n = b.count
        guard b.starts(with: startOfImage) else { throw MediaDefect(offset: 0, reason: "no start-of-image marker") }
        var out: [UInt8] = []
        // The only growth is the orientation block replacing an EXIF block that may be shorter.
        out.reserveCapacity(n + minimalExifSize)
        out += startOfImage
        var removed = RemovedParts()
        var orientation: UInt16?
        var sawExif = false
        var sawFrame = false
        var sawScan = false
        var i = 2
        while true {
            guard i < n else { throw MediaDefect(offset: i, reason: "the file ends before the end-of-image marker") }
            guard b[i] == 0xFF else { throw MediaDefect(offset: i, reason: "expected a marker") }
            // Any number of 0xFF fill bytes may precede a marker; they are not copied.
            while i < n, b[i] == 0xFF { i += 1 }
            guard i < n else { throw MediaDefect(offset: i, reason: "the file ends inside a marker") }
            let marker = b[i]
            let markerOffset = i - 1
            i += 1
            switch marker {
            case 0x00:
                throw MediaDefect(offset: markerOffset, reason: "expected a marker")
            case Marker.soi:
                throw MediaDefect(offset: markerOffset, reason: "a second start-of-image marker")
            case Marker.eoi:
                guard sawScan else { throw MediaDefect(offset: markerOffset, reason: "no image data before the end") }
                out += [0xFF, Marker.eoi]
                if i < n { removed.add("data after the end of the image") }
                return Result(bytes: out, removed: removed, orientation: orientation)
            case Marker.tem, Marker.rst:
                out += [0xFF, marker]
                continue
            default:
                break
            }

            guard n - i >= 2 else { throw MediaDefect(offset: i, reason: "the file ends inside a segment length") }
            let length = Int(b[i]) << 8 | Int(b[i + 1])
            guard length >= 2 else { throw MediaDefect(offset: i, reason: "a segment length below 2") }
            guard n - i >= length else { throw MediaDefect(offset: i, reason: "a segment runs past the end of the file") }
            let end = i + length
            let payload = b[(i + 2)..<end]
            let segment = b[markerOffset..<end]
            i = end

            switch marker {
            case Marker.app0:
                if payload.starts(with: Identifier.jfif), payload.count >= jfifHeaderLength {
                    let thumbnail = payload[payload.startIndex + 12] != 0 || payload[payload.startIndex + 13] != 0
                    if thumbnail || payload.count > jfifHeaderLength {
                        out += [0xFF, Marker.app0, 0, UInt8(jfifHeaderLength + 2)]
                        out += payload.prefix(12)
                        out += [0, 0]
                        removed.add("JFIF thumbnail")
                    } else {
                        out += segment
                    }
                } else if payload.starts(with: Identifier.jfxx) {
                    removed.add("JFIF thumbnail")
                } else {
                    removed.add("APP0")
                }
            case Marker.app1:
                if payload.starts(with: exifIdentifier) {
                    let summary = exifSummary(payload.dropFirst(exifIdentifier.count))
                    removed.add("EXIF")
                    if summary.hasGPS { removed.add("GPS location") }
                    if !sawExif, let value = summary.orientation, (2...8).contains(value) {
                        out += minimalExif(orientation: value)
                        orientation = value
                    }
                    sawExif = true
                } else if payload.starts(with: Identifier.xmp) || payload.starts(with: Identifier.xmpExtension) {
                    removed.add("XMP")
                    if MediaBytes.contains(payload, Identifier.xmpGPS) { removed.add("GPS location") }
                } else {
                    removed.add("APP1")
                }
            case Marker.app2:
                if payload.starts(with: Identifier.icc) {
                    out += segment
                } else {
                    removed.add(payload.starts(with: Identifier.mpf) ? "MPF" : "APP2")
                }
            case Marker.app13:
                removed.add(payload.starts(with: Identifier.photoshop) ? "IPTC/Photoshop" : "APP13")
            case Marker.app14:
                if payload.starts(with: Identifier.adobe) {
                    out += segment
                } else {
                    removed.add("APP14")
                }
            case Marker.app:
                removed.add("APP\(marker - Marker.app0)")
            case Marker.com:
                removed.add("comment")
            case Marker.sos:
                guard sawFrame else { throw MediaDefect(offset: markerOffset, reason: "image data before the frame header") }
                out += segment
                let dataEnd = try entropyCodedEnd(b, from: i)
                out += b[i..<dataEnd]
                i = dataEnd
                sawScan = true
            case Marker.sof where marker != Marker.dht && marker != Marker.jpg && marker != Marker.dac:
                sawFrame = true
                out += segment
            default:
                out += segment
            }
        }
    }

    /// The offset of the marker that ends the entropy-coded data starting at `start`.
    ///
    /// Inside the data 0xFF is followed by 0x00 (a stuffed byte) or a restart marker; any other
    /// byte after 0xFF begins the next segment.
    private static func entropyCodedEnd(_ b: [UInt8], from start: Int) throws(MediaDefect) -> Int {
        var j = start
        let n = b.count
        while j < n {
            if b[j] != 0xFF {
                j += 1
                continue
            }
            guard j + 1 < n else { break }
            let next = b[j + 1]
            if next == 0x00 || Marker.rst.contains(next) {
                j += 2
            } else {
                return j
            }
        }
        throw MediaDefect(offset: n, reason: "the file ends inside the image data")
    }

    /// The orientation and whether a GPS IFD is present, read from a TIFF structure; nil/false if
    /// unreadable, which is harmless because the whole block is dropped anyway.
    static func exifSummary(_ tiff: ArraySlice<UInt8>) -> (orientation: UInt16?, hasGPS: Bool) {
        let t = Array(tiff)
        guard t.count >= 8 else { return (nil, false) }
        let littleEndian: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): littleEndian = true
        case (0x4D, 0x4D): littleEndian = false
        default: return (nil, false)
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at <= t.count - 2 else { return nil }
            return littleEndian ? Int(t[at]) | Int(t[at + 1]) << 8 : Int(t[at]) << 8 | Int(t[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let high = u16(littleEndian ? at + 2 : at), let low = u16(littleEndian ? at : at + 2) else { return nil }
            return high << 16 | low
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return (nil, false) }
        var orientation: UInt16?
        var hasGPS = false
        for k in 0..<count {
            let entry = ifd + 2 + 12 * k
            guard let tag = u16(entry), let type = u16(entry + 2), let values = u32(entry + 4), let value = u16(entry + 8)
            else { break }
            if tag == Int(orientationTag), type == 3, values == 1 { orientation = UInt16(value) }
            if tag == Int(gpsIFDTag) { hasGPS = true }
        }
        return (orientation, hasGPS)
    }

    /// An APP1 segment holding a big-endian TIFF whose IFD0 has only the orientation tag.
    static func minimalExif(orientation: UInt16) -> [UInt8] {
        let tiff: [UInt8] = [
            0x4D, 0x4D, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08,  // "MM", 42, IFD0 at 8
            0x00, 0x01,  // one entry
            0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,  // orientation, SHORT, count 1
            UInt8(orientation >> 8), UInt8(orientation & 0xff), 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00,  // no next IFD
        ]
        let length = 2 + exifIdentifier.count + tiff.count
        return [0xFF, Marker.app1, UInt8(length >> 8), UInt8(length & 0xff)] + exifIdentifier + tiff
    }
}
