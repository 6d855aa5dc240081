import Primitives

/// WebM/Matroska metadata removal, as same-length patches.
///
/// Tags, Attachments and Chapters, the Info's Title, MuxingApp, WritingApp, DateUTC and file
/// names, and each track's Name become Void elements (0xEC) of the same total length, so no
/// position in the SeekHead or Cues moves; SeekHead entries for the removed level-1 elements are
/// voided too, and a changed parent's CRC-32 is recomputed. Level-1 elements are on a list; an
/// unknown one makes the file refused. Clusters are skipped by their size (walked header by header
/// when the size is unknown, as browsers' recorders write them), so a large video is never held.
enum MatroskaMetadata {
    static let maxHeld = 64 << 20
    static let maxDepth = 8

    enum ID {
        static let ebml: UInt32 = 0x1A45_DFA3
        static let segment: UInt32 = 0x1853_8067
        static let seekHead: UInt32 = 0x114D_9B74
        static let seek: UInt32 = 0x4DBB
        static let seekID: UInt32 = 0x53AB
        static let info: UInt32 = 0x1549_A966
        static let tracks: UInt32 = 0x1654_AE6B
        static let trackEntry: UInt32 = 0xAE
        static let trackName: UInt32 = 0x536E
        static let cluster: UInt32 = 0x1F43_B675
        static let cues: UInt32 = 0x1C53_BB6B
        static let chapters: UInt32 = 0x1043_A770
        static let attachments: UInt32 = 0x1941_A469
        static let tags: UInt32 = 0x1254_C367
        static let void: UInt32 = 0xEC
        static let crc: UInt32 = 0xBF
    }

    /// Info children that identify the file, its maker or its time.
    static let infoRemoved: [UInt32: String] = [
        0x7BA9: "title", 0x4D80: "muxing and writing app", 0x5741: "muxing and writing app", 0x4461: "creation dates",
        0x7384: "file names", 0x3C83AB: "file names", 0x3E83BB: "file names",
    ]
    /// Level-1 elements removed whole, and how the answer names them.
    static let removedLevel1: [UInt32: String] = [ID.tags: "tags", ID.attachments: "attachments", ID.chapters: "chapters"]
    /// What may follow inside a cluster of unknown size.
    static let clusterChildren: Set<UInt32> = [0xE7, 0xA3, 0xA0, 0xA7, 0xAB, 0x5854, 0xAF, ID.void, ID.crc]

    struct Element {
        let id: UInt32
        let start: Int
        let headerSize: Int
        /// nil for an element of unknown size.
        let dataSize: Int?
        var data: Int { start + headerSize }
    }

    /// The patches that remove `source`'s metadata, or the defect or unknown element that stops it.
    static func clean(_ source: any MediaSource) throws(MediaDefect) -> MediaCleaning {
        var result = MediaCleaning()
        let size = source.size
        var offset = 0
        var sawSegment = false
        var first = true
        while offset < size {
            let element = try readElement(source, at: offset, end: size)
            if first {
                guard element.id == ID.ebml else { throw MediaDefect(offset: 0, reason: "no EBML header") }
                first = false
            }
            let end = element.dataSize.map { element.data + $0 } ?? size
            switch element.id {
            case ID.ebml, ID.void:
                guard element.dataSize != nil else { throw MediaDefect(offset: offset, reason: "an EBML header of unknown size") }
            case ID.segment:
                sawSegment = true
                try cleanSegment(source, from: element.data, to: end, into: &result)
            default:
                throw unknown(element)
            }
            offset = end
        }
        guard sawSegment else { throw MediaDefect(offset: size, reason: "no Segment") }
        return result
    }

    static func unknown(_ element: Element) -> MediaDefect {
        MediaDefect(offset: element.start, reason: "unknown element 0x\(String(element.id, radix: 16, uppercase: true))", unsupported: true)
    }

    /// Reads an element header at `offset` whose data (if its size is known) ends by `end`.
    static func readElement(_ source: any MediaSource, at offset: Int, end: Int) throws(MediaDefect) -> Element {
        guard offset < end else { throw MediaDefect(offset: offset, reason: "the file ends inside an element header") }
        let head = try source.read(offset, min(12, end - offset))
        guard let first = head.first, first != 0 else { throw MediaDefect(offset: offset, reason: "an invalid element id") }
        let idLength = first.leadingZeroBitCount + 1
        guard idLength <= 4, head.count > idLength else { throw MediaDefect(offset: offset, reason: "an invalid element id") }
        let id = UInt32(MediaBytes.bigEndian(head[0..<idLength]))
        let sizeFirst = head[idLength]
        guard sizeFirst != 0 else { throw MediaDefect(offset: offset + idLength, reason: "an invalid element size") }
        let sizeLength = sizeFirst.leadingZeroBitCount + 1
        guard head.count >= idLength + sizeLength else { throw MediaDefect(offset: offset, reason: "the file ends inside an element header") }
        var value = MediaBytes.bigEndian(head[idLength..<(idLength + sizeLength)])
        let bits = 7 * sizeLength
        value &= (UInt64(1) << bits) - 1
        let headerSize = idLength + sizeLength
        if value == (UInt64(1) << bits) - 1 {
            return Element(id: id, start: offset, headerSize: headerSize, dataSize: nil)
        }
        guard value <= UInt64(end - offset - headerSize) else {
            throw MediaDefect(offset: offset, reason: "element 0x\(String(id, radix: 16, uppercase: true)) runs past its parent")
        }
        return Element(id: id, start: offset, headerSize: headerSize, dataSize: Int(value))
    }

    /// The id and size of a Void element of exactly `length` bytes (at least 2) in all.
    static func voidHeader(length: Int) -> [UInt8] {
        let sizeLength = length - 1 >= 9 ? 8 : 1
        let dataSize = UInt64(length - 1 - sizeLength)
        let marked = dataSize | UInt64(1) << (7 * sizeLength)
        return [0xEC] + stride(from: sizeLength - 1, through: 0, by: -1).map { UInt8(truncatingIfNeeded: marked >> (8 * $0)) }
    }

    /// A whole Void element of `length` bytes: its header, then zeros.
    static func void(length: Int) -> [UInt8] {
        let header = voidHeader(length: length)
        return header + [UInt8](repeating: 0, count: length - header.count)
    }

    private static func cleanSegment(_ source: any MediaSource, from start: Int, to end: Int, into result: inout MediaCleaning)
        throws(MediaDefect)
    {
        var offset = start
        var seekHeads: [Element] = []
        var removedIDs: Set<UInt32> = []
        var sawCRC = false
        var changed = false
        while offset < end {
            let element = try readElement(source, at: offset, end: end)
            guard let dataSize = element.dataSize else {
                guard element.id == ID.cluster else {
                    throw MediaDefect(offset: offset, reason: "an element of unknown size that is not a Cluster", unsupported: true)
                }
                offset = try clusterEnd(source, from: element.data, to: end)
                continue
            }
            let elementEnd = element.data + dataSize
            switch element.id {
            case ID.cluster, ID.cues, ID.void:
                break
            case ID.crc:
                sawCRC = true
            case ID.seekHead:
                seekHeads.append(element)
            case ID.info:
                try cleanHeld(source, element, into: &result) { (held: inout Held, child: Element, depth: Int) throws(MediaDefect) -> Bool? in
                    guard depth == 0, let name = infoRemoved[child.id] else { return false }
                    held.removed.add(name)
                    return true
                }
            case ID.tracks:
                try cleanHeld(source, element, into: &result) { (held: inout Held, child: Element, depth: Int) throws(MediaDefect) -> Bool? in
                    if depth == 0, child.id == ID.trackEntry { return nil }
                    guard depth == 1, child.id == ID.trackName else { return false }
                    held.removed.add("track names")
                    return true
                }
            case _ where removedLevel1[element.id] != nil:
                if element.id == ID.tags, dataSize <= maxHeld {
                    MediaBytes.describe(try source.read(element.data, dataSize)[...], into: &result.removed)
                }
                result.removed.add(removedLevel1[element.id]!)
                removedIDs.insert(element.id)
                let length = elementEnd - element.start
                let header = voidHeader(length: length)
                result.patches.append(.write(offset: element.start, bytes: header))
                result.patches.append(.zero(offset: element.start + header.count, count: length - header.count))
                changed = true
            default:
                throw unknown(element)
            }
            offset = elementEnd
        }
        for seekHead in seekHeads where !removedIDs.isEmpty {
            try cleanHeld(source, seekHead, into: &result) { (held: inout Held, child: Element, depth: Int) throws(MediaDefect) -> Bool? in
                guard depth == 0, child.id == ID.seek else { return false }
                // Void the entry if it points at a removed element.
                let data = try held.source.read(child.data, child.dataSize ?? 0)
                var inner = 0
                while inner < data.count {
                    let entry = try readElement(ArraySource(bytes: data, base: 0), at: inner, end: data.count)
                    guard let size = entry.dataSize else { break }
                    if entry.id == ID.seekID, size <= 4, removedIDs.contains(UInt32(MediaBytes.bigEndian(data[entry.data..<(entry.data + size)]))) {
                        return true
                    }
                    inner = entry.data + size
                }
                return false
            }
        }
        if changed, sawCRC {
            throw MediaDefect(offset: start, reason: "a Segment with a CRC-32", unsupported: true)
        }
    }

    /// The end of a cluster of unknown size: the first element that cannot be inside a cluster.
    private static func clusterEnd(_ source: any MediaSource, from start: Int, to end: Int) throws(MediaDefect) -> Int {
        var offset = start
        while offset < end {
            let child = try readElement(source, at: offset, end: end)
            guard clusterChildren.contains(child.id) else { return offset }
            guard let size = child.dataSize else {
                throw MediaDefect(offset: offset, reason: "an element of unknown size inside a Cluster")
            }
            offset = child.data + size
        }
        return end
    }

    /// A master element read whole, with what was removed from it.
    struct Held {
        var bytes: [UInt8]
        let base: Int
        var removed = RemovedParts()
        var source: ArraySource { ArraySource(bytes: bytes, base: base) }
    }

    /// Reads `element` whole and voids the children `remove` picks (true), descending where it
    /// answers nil; recomputes each changed master's CRC-32 and adds one patch if anything changed.
    private static func cleanHeld(
        _ source: any MediaSource, _ element: Element, into result: inout MediaCleaning,
        remove: (inout Held, Element, Int) throws(MediaDefect) -> Bool?
    ) throws(MediaDefect) {
        let size = element.dataSize ?? 0
        guard size <= maxHeld else {
            throw MediaDefect(offset: element.start, reason: "a level-1 element over 64 MiB", unsupported: true)
        }
        var held = Held(bytes: try source.read(element.start, element.headerSize + size), base: element.start)
        let changed = try walk(&held, element, depth: 0, remove: remove)
        if changed {
            result.patches.append(.write(offset: element.start, bytes: held.bytes))
            for name in held.removed.names { result.removed.add(name) }
        }
    }

    private static func walk(
        _ held: inout Held, _ parent: Element, depth: Int, remove: (inout Held, Element, Int) throws(MediaDefect) -> Bool?
    ) throws(MediaDefect) -> Bool {
        guard depth < maxDepth, let size = parent.dataSize else {
            throw MediaDefect(offset: parent.start, reason: "elements nested too deeply or of unknown size")
        }
        let end = parent.data + size
        var offset = parent.data
        var crc: Element?
        var changed = false
        while offset < end {
            let child = try readElement(held.source, at: offset, end: end)
            guard let childSize = child.dataSize else {
                throw MediaDefect(offset: offset, reason: "an element of unknown size inside a header element")
            }
            if child.id == ID.crc, offset == parent.data, childSize == 4 { crc = child }
            switch try remove(&held, child, depth) {
            case true:
                let length = child.headerSize + childSize
                let at = child.start - held.base
                held.bytes.replaceSubrange(at..<(at + length), with: void(length: length))
                changed = true
            case false:
                break
            case nil:
                if try walk(&held, child, depth: depth + 1, remove: remove) { changed = true }
            }
            offset = child.data + childSize
        }
        if changed, let crc {
            // Matroska's CRC-32 covers the parent's data after the CRC element, stored little-endian.
            let from = crc.data + 4 - held.base
            let value = CRC32.checksum(held.bytes[from..<(end - held.base)])
            let at = crc.data - held.base
            for k in 0..<4 { held.bytes[at + k] = UInt8(truncatingIfNeeded: value >> (8 * k)) }
        }
        return changed
    }
}
