import Primitives

/// PNG metadata removal: chunks are checked (length, type, CRC, order) and copied or dropped.
///
/// Kept: every critical chunk (IHDR, PLTE, IDAT, IEND and any other a decoder must understand),
/// the colour chunks (iCCP, sRGB, gAMA, cHRM, cICP, mDCV, cLLI, sBIT), tRNS, bKGD, hIST, pHYs and
/// the APNG animation chunks. Dropped: eXIf, tEXt, zTXt, iTXt, tIME and every other ancillary
/// chunk (sPLT, for one, carries a free-text name; C2PA's caBX carries provenance), and anything
/// after IEND. Dropping an ancillary chunk is always safe: PNG requires decoders to ignore those
/// they do not know.
enum PNGMetadata {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Ancillary chunks that affect how the picture looks and say nothing about who took it.
    static let keptAncillary: Set<String> = [
        "iCCP", "sRGB", "gAMA", "cHRM", "cICP", "mDCV", "cLLI", "sBIT", "tRNS", "bKGD", "hIST", "pHYs",
        "acTL", "fcTL", "fdAT",
    ]

    /// PNG's limit on a chunk's length.
    static let maxChunkLength = 0x7FFF_FFFF
    /// Length (4), type (4) and CRC (4) around each chunk's data.
    static let chunkOverhead = 12

    struct Result {
        var bytes: [UInt8]
        var removed: RemovedParts
    }

    static func strip(_ b: [UInt8]) throws(MediaDefect) -> Result {
        let n = b.count
        guard b.starts(with: signature) else { throw MediaDefect(offset: 0, reason: "no PNG signature") }
        var out: [UInt8] = []
        out.reserveCapacity(n)
        out += signature
        var removed = RemovedParts()
        var sawData = false
        var i = signature.count
        while true {
            guard i < n else { throw MediaDefect(offset: i, reason: "the file ends before the IEND chunk") }
            guard n - i >= chunkOverhead else { throw MediaDefect(offset: i, reason: "the file ends inside a chunk header") }
            let length = b[i..<(i + 4)].reduce(0) { $0 << 8 | Int($1) }
            guard length <= maxChunkLength else { throw MediaDefect(offset: i, reason: "a chunk length over 2³¹−1") }
            let typeBytes = b[(i + 4)..<(i + 8)]
            guard typeBytes.allSatisfy({ (0x41...0x5A).contains($0 & ~0x20) && ($0 & 0x80) == 0 }) else {
                throw MediaDefect(offset: i + 4, reason: "a chunk type that is not four letters")
            }
            guard n - i - chunkOverhead >= length else {
                throw MediaDefect(offset: i, reason: "a chunk runs past the end of the file")
            }
            let end = i + chunkOverhead + length
            let stored = b[(end - 4)..<end].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard CRC32.checksum(b[(i + 4)..<(end - 4)]) == stored else {
                throw MediaDefect(offset: end - 4, reason: "a chunk's CRC does not match its contents")
            }
            let type = String(decoding: typeBytes, as: UTF8.self)
            if i == signature.count {
                guard type == "IHDR", length == 13 else { throw MediaDefect(offset: i, reason: "the first chunk is not IHDR") }
            } else if type == "IHDR" {
                throw MediaDefect(offset: i, reason: "a second IHDR chunk")
            }
            let critical = typeBytes.first! & 0x20 == 0
            switch type {
            case "IDAT":
                sawData = true
            case "IEND":
                guard sawData else { throw MediaDefect(offset: i, reason: "no image data before IEND") }
                out += b[i..<end]
                if end < n { removed.add("data after IEND") }
                return Result(bytes: out, removed: removed)
            default:
                break
            }
            if critical || keptAncillary.contains(type) {
                out += b[i..<end]
            } else {
                removed.add(type)
            }
            i = end
        }
    }
}
