/// ISO BMFF metadata removal (MP4, QuickTime, HEIF/HEIC/AVIF), as same-length patches.
///
/// Nothing moves: a removed box becomes a `free` box of the same size with a zeroed payload, the
/// dates in `mvhd`/`tkhd`/`mdhd` become zero, and a HEIF photo's Exif and XMP items have their
/// data zeroed and their `infe` entries and `cdsc` references retyped so readers skip them (the
/// image, its `ipco` properties and orientation stay). So every offset in `stco`/`co64`/`iloc`
/// stays valid and a 2 GiB video is cleaned by reading its headers and its `moov` only.
///
/// Every box type at every level is on a list; an unknown one makes the file refused (it might
/// carry metadata we cannot see), unless the sharer keeps the metadata on purpose.
enum BMFFMetadata {
    /// The largest `moov` or `meta` box held in memory to be cleaned.
    static let maxHeldBox = 64 << 20
    /// How deep boxes may nest inside `moov`.
    static let maxDepth = 12

    /// The XMP `uuid` box's user type.
    static let xmpUUID: [UInt8] = [
        0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC,
    ]

    struct Box {
        let type: String
        let start: Int
        let headerSize: Int
        let size: Int
        var payload: Int { start + headerSize }
        var end: Int { start + size }
    }

    private enum Action {
        case keep, container, dates, remove, track, handler
    }

    /// What each container may hold. `free`, `skip`, `wide`, `udta`, `meta` and `uuid` may be anywhere.
    private static let children: [String: [String: Action]] = [
        "moov": [
            "mvhd": .dates, "trak": .track, "mvex": .container, "iods": .keep, "pssh": .keep, "ctab": .keep,
            "clip": .keep, "prfl": .keep, "ipmc": .keep,
        ],
        "trak": [
            "tkhd": .dates, "edts": .container, "tref": .keep, "mdia": .container, "load": .keep, "tapt": .keep,
            "txas": .keep, "trgr": .keep, "matt": .keep, "imap": .keep, "clip": .keep,
        ],
        "edts": ["elst": .keep],
        "mdia": ["mdhd": .dates, "hdlr": .handler, "minf": .container, "elng": .keep],
        "minf": [
            "vmhd": .keep, "smhd": .keep, "hmhd": .keep, "nmhd": .keep, "sthd": .keep, "gmhd": .keep, "hdlr": .keep,
            "dinf": .keep, "stbl": .container,
        ],
        "stbl": [
            "stsd": .keep, "stts": .keep, "ctts": .keep, "cslg": .keep, "stss": .keep, "stps": .keep, "sdtp": .keep,
            "stsc": .keep, "stsz": .keep, "stz2": .keep, "stco": .keep, "co64": .keep, "sgpd": .keep, "sbgp": .keep,
            "subs": .keep, "saiz": .keep, "saio": .keep, "padb": .keep, "stsh": .keep, "stdp": .keep,
        ],
        "mvex": ["mehd": .keep, "trex": .keep, "leva": .keep, "trep": .keep],
    ]

    /// Top-level boxes kept as they are (media data, fragments, indexes and padding).
    private static let keptTopLevel: Set<String> = [
        "ftyp", "mdat", "free", "skip", "wide", "moof", "mfra", "sidx", "ssix", "styp", "prft", "emsg",
    ]

    /// The patches that remove `source`'s metadata, or the defect or unknown box that stops it.
    static func clean(_ source: any MediaSource) throws(MediaDefect) -> MediaCleaning {
        var cleaner = Cleaner(source: source)
        try cleaner.run()
        return cleaner.result
    }

    /// Reads the box header at `offset`, which must end by `end`.
    static func box(_ source: any MediaSource, at offset: Int, end: Int) throws(MediaDefect) -> Box {
        guard end - offset >= 8 else { throw MediaDefect(offset: offset, reason: "the file ends inside a box header") }
        let head = try source.read(offset, 8)
        let size32 = Int(MediaBytes.bigEndian(head[0..<4]))
        let typeBytes = head[4..<8]
        guard typeBytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
            throw MediaDefect(offset: offset + 4, reason: "a box type that is not four characters")
        }
        let type = String(typeBytes.map { Character(Unicode.Scalar($0)) })
        var headerSize = 8
        var size: Int
        switch size32 {
        case 0:
            size = end - offset
        case 1:
            guard end - offset >= 16 else { throw MediaDefect(offset: offset, reason: "the file ends inside a box header") }
            let large = MediaBytes.bigEndian(try source.read(offset + 8, 8)[...])
            guard large <= UInt64(Int.max) else { throw MediaDefect(offset: offset, reason: "a box size beyond any file") }
            size = Int(large)
            headerSize = 16
        default:
            size = size32
        }
        if type == "uuid" { headerSize += 16 }
        guard size >= headerSize else { throw MediaDefect(offset: offset, reason: "box '\(type)' is smaller than its header") }
        guard size <= end - offset else { throw MediaDefect(offset: offset, reason: "box '\(type)' runs past its container") }
        return Box(type: type, start: offset, headerSize: headerSize, size: size)
    }

    /// The boxes from `start` to `end`, in order.
    static func boxes(_ source: any MediaSource, from start: Int, to end: Int) throws(MediaDefect) -> [Box] {
        var list: [Box] = []
        var offset = start
        while offset < end {
            let next = try box(source, at: offset, end: end)
            list.append(next)
            offset = next.end
        }
        return list
    }

    private struct Cleaner {
        let source: any MediaSource
        var result = MediaCleaning()

        mutating func run() throws(MediaDefect) {
            let top = try BMFFMetadata.boxes(source, from: 0, to: source.size)
            guard let first = top.first, first.type == "ftyp" else {
                throw MediaDefect(offset: 0, reason: "the file does not start with an ftyp box")
            }
            for box in top {
                switch box.type {
                case _ where keptTopLevel.contains(box.type):
                    continue
                case "moov":
                    var held = try Held(source: source, box: box)
                    try walk(&held, container: box, kind: "moov", depth: 1)
                    held.flush(into: &result)
                case "meta":
                    var held = try Held(source: source, box: box)
                    if try handlerType(held, meta: box) == "pict" {
                        try cleanHEIF(&held, meta: box)
                    } else {
                        MediaBytes.describe(held.bytes[...], into: &result.removed)
                        held.free(box)
                    }
                    held.flush(into: &result)
                case "uuid":
                    let user = try source.read(box.start + box.headerSize - 16, 16)
                    result.removed.add(user == xmpUUID ? "XMP" : "uuid box")
                    freeOutside(box)
                case "pnot", "PICT":
                    result.removed.add("preview")
                    freeOutside(box)
                default:
                    throw unknown(box)
                }
            }
        }

        func unknown(_ box: Box) -> MediaDefect {
            MediaDefect(offset: box.start, reason: "unknown box '\(box.type)'", unsupported: true)
        }

        /// Turns a box not held in memory into `free` with a zeroed payload.
        mutating func freeOutside(_ box: Box) {
            // A 64-bit size stays; a uuid box's user type goes with the payload.
            let kept = box.headerSize == 16 || box.headerSize == 32 ? 16 : 8
            result.patches.append(.write(offset: box.start + 4, bytes: Array("free".utf8)))
            result.patches.append(.zero(offset: box.start + kept, count: box.size - kept))
        }

        mutating func walk(_ held: inout Held, container: Box, kind: String, depth: Int) throws(MediaDefect) {
            guard depth <= maxDepth else { throw MediaDefect(offset: container.start, reason: "boxes nested too deeply") }
            let allowed = children[kind] ?? [:]
            for box in try BMFFMetadata.boxes(held.source, from: container.payload, to: container.end) {
                switch box.type {
                case "free", "skip", "wide":
                    continue
                case "udta", "meta":
                    MediaBytes.describe(held.bytes(box), into: &result.removed)
                    held.free(box)
                    continue
                case "uuid":
                    let user = held.bytes(box).dropFirst(box.headerSize - 16).prefix(16)
                    result.removed.add(Array(user) == xmpUUID ? "XMP" : "uuid box")
                    held.free(box)
                    continue
                default:
                    break
                }
                guard let action = allowed[box.type] else { throw unknown(box) }
                switch action {
                case .keep:
                    break
                case .container:
                    try walk(&held, container: box, kind: box.type, depth: depth + 1)
                case .dates:
                    try zeroDates(&held, box)
                case .handler:
                    break
                case .track:
                    if try trackHandler(held, track: box, depth: depth + 1) == "meta" {
                        // A timed metadata track (a phone's location, orientation, live-photo data):
                        // nothing plays it, so it goes whole.
                        result.removed.add("timed metadata track")
                        held.free(box)
                    } else {
                        try walk(&held, container: box, kind: "trak", depth: depth + 1)
                    }
                case .remove:
                    held.free(box)
                }
            }
        }

        /// The `hdlr` handler type of a track's `mdia`, or nil.
        func trackHandler(_ held: Held, track: Box, depth: Int) throws(MediaDefect) -> String? {
            for mdia in try BMFFMetadata.boxes(held.source, from: track.payload, to: track.end) where mdia.type == "mdia" {
                for hdlr in try BMFFMetadata.boxes(held.source, from: mdia.payload, to: mdia.end) where hdlr.type == "hdlr" {
                    guard hdlr.size - hdlr.headerSize >= 12 else { throw MediaDefect(offset: hdlr.start, reason: "a short hdlr box") }
                    return String(decoding: held.bytes(hdlr).dropFirst(hdlr.headerSize + 8).prefix(4), as: UTF8.self)
                }
            }
            return nil
        }

        /// The handler type of a `meta` box (a full box: version and flags, then children).
        func handlerType(_ held: Held, meta: Box) throws(MediaDefect) -> String? {
            guard meta.size - meta.headerSize >= 4 else { throw MediaDefect(offset: meta.start, reason: "a short meta box") }
            for hdlr in try BMFFMetadata.boxes(held.source, from: meta.payload + 4, to: meta.end) where hdlr.type == "hdlr" {
                guard hdlr.size - hdlr.headerSize >= 12 else { throw MediaDefect(offset: hdlr.start, reason: "a short hdlr box") }
                return String(decoding: held.bytes(hdlr).dropFirst(hdlr.headerSize + 8).prefix(4), as: UTF8.self)
            }
            return nil
        }

        /// Zeroes the creation and modification times of an `mvhd`, `tkhd` or `mdhd` box.
        mutating func zeroDates(_ held: inout Held, _ box: Box) throws(MediaDefect) {
            let payload = box.payload
            guard box.size - box.headerSize >= 4 else { throw MediaDefect(offset: box.start, reason: "a short '\(box.type)' box") }
            let version = held.region(payload..<(payload + 1))[0]
            let width = version == 1 ? 8 : 4
            guard box.size - box.headerSize >= 4 + 2 * width else {
                throw MediaDefect(offset: box.start, reason: "a short '\(box.type)' box")
            }
            let range = (payload + 4)..<(payload + 4 + 2 * width)
            if held.region(range).contains(where: { $0 != 0 }) {
                result.removed.add("creation dates")
                held.zero(range)
            }
        }

        // MARK: HEIF

        struct Item {
            var name: String
            var infeStart: Int
            var typeOffset: Int
            var stringsStart: Int
            var infeEnd: Int
        }

        /// Removes the Exif, XMP and other non-image items from a HEIF `meta` box.
        mutating func cleanHEIF(_ held: inout Held, meta: Box) throws(MediaDefect) {
            let known: Set<String> = ["hdlr", "pitm", "iloc", "iinf", "iref", "iprp", "idat", "dinf", "grpl", "free", "skip"]
            let boxes = try BMFFMetadata.boxes(held.source, from: meta.payload + 4, to: meta.end)
            var items: [UInt32: Item] = [:]
            for box in boxes {
                switch box.type {
                case "uuid", "xml ", "bxml":
                    MediaBytes.describe(held.bytes(box), into: &result.removed)
                    held.free(box)
                case "iinf":
                    items = try metadataItems(held, iinf: box)
                case _ where known.contains(box.type):
                    continue
                default:
                    throw unknown(box)
                }
            }
            guard !items.isEmpty else { return }
            let idat = boxes.first { $0.type == "idat" }
            guard let iloc = boxes.first(where: { $0.type == "iloc" }) else {
                throw MediaDefect(offset: meta.start, reason: "metadata items without an iloc box")
            }
            try zeroItemData(&held, iloc: iloc, idat: idat, items: items)
            for (_, item) in items.sorted(by: { $0.key < $1.key }) {
                result.removed.add(item.name)
                held.write(item.typeOffset, Array("free".utf8))
                held.zero(item.stringsStart..<item.infeEnd)
            }
            if let iref = boxes.first(where: { $0.type == "iref" }) {
                try neutraliseReferences(&held, iref: iref, items: Set(items.keys))
            }
        }

        /// The items of an `iinf` box that are not pictures: Exif, XMP and any other `mime`/`uri ` item.
        func metadataItems(_ held: Held, iinf: Box) throws(MediaDefect) -> [UInt32: Item] {
            let b = held.region(iinf.payload..<iinf.end)
            guard b.count >= 6 else { throw MediaDefect(offset: iinf.start, reason: "a short iinf box") }
            let countSize = b[0] == 0 ? 2 : 4
            var items: [UInt32: Item] = [:]
            for infe in try BMFFMetadata.boxes(held.source, from: iinf.payload + 4 + countSize, to: iinf.end) {
                guard infe.type == "infe" else { continue }
                let p = held.region(infe.payload..<infe.end)
                guard p.count >= 4 else { throw MediaDefect(offset: infe.start, reason: "a short infe box") }
                let version = p[0]
                guard version >= 2 else {
                    throw MediaDefect(offset: infe.start, reason: "an infe box of version \(version)", unsupported: true)
                }
                let idSize = version == 2 ? 2 : 4
                guard p.count >= 4 + idSize + 2 + 4 else { throw MediaDefect(offset: infe.start, reason: "a short infe box") }
                let id = UInt32(MediaBytes.bigEndian(p[4..<(4 + idSize)]))
                let typeAt = 4 + idSize + 2
                let type = String(decoding: p[typeAt..<(typeAt + 4)], as: UTF8.self)
                let strings = Array(p[(typeAt + 4)...])
                let name: String
                switch type {
                case "Exif": name = "Exif"
                case "mime":
                    let parts = strings.split(separator: 0, omittingEmptySubsequences: false)
                    let contentType = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : ""
                    name = contentType == "application/rdf+xml" ? "XMP" : "metadata item"
                case "uri ": name = "metadata item"
                default: continue
                }
                items[id] = Item(
                    name: name, infeStart: infe.start, typeOffset: infe.payload + typeAt, stringsStart: infe.payload + typeAt + 4,
                    infeEnd: infe.end)
            }
            return items
        }

        /// Zeroes the data of `items`, found through `iloc` in the file or in `idat`.
        mutating func zeroItemData(_ held: inout Held, iloc: Box, idat: Box?, items: [UInt32: Item]) throws(MediaDefect) {
            let b = held.region(iloc.payload..<iloc.end)
            var i = 0
            func take(_ count: Int) throws(MediaDefect) -> UInt64 {
                guard count >= 0, b.count - i >= count else { throw MediaDefect(offset: iloc.start, reason: "a short iloc box") }
                defer { i += count }
                return MediaBytes.bigEndian(b[i..<(i + count)])
            }
            let version = try take(1)
            _ = try take(3)
            guard version <= 2 else { throw MediaDefect(offset: iloc.start, reason: "an iloc box of version \(version)", unsupported: true) }
            let sizes = try take(1)
            let more = try take(1)
            let offsetSize = Int(sizes >> 4)
            let lengthSize = Int(sizes & 15)
            let baseSize = Int(more >> 4)
            let indexSize = version == 0 ? 0 : Int(more & 15)
            for size in [offsetSize, lengthSize, baseSize, indexSize] where ![0, 4, 8].contains(size) {
                throw MediaDefect(offset: iloc.start, reason: "an iloc field size of \(size)")
            }
            let count = try take(version < 2 ? 2 : 4)
            // Extents of zero-byte fields take no room: bound the work by the box's size instead.
            var budget = b.count + 1024
            var k: UInt64 = 0
            while k < count {
                k += 1
                let id = UInt32(try take(version < 2 ? 2 : 4))
                let method = version == 0 ? 0 : (try take(2)) & 15
                _ = try take(2)
                let base = try take(baseSize)
                let extents = try take(2)
                var e: UInt64 = 0
                while e < extents {
                    e += 1
                    budget -= 1
                    guard budget > 0 else { throw MediaDefect(offset: iloc.start, reason: "an iloc box with too many extents") }
                    _ = try take(indexSize)
                    let offset = try take(offsetSize)
                    let length = try take(lengthSize)
                    guard let item = items[id] else { continue }
                    let (start, overflow) = base.addingReportingOverflow(offset)
                    guard !overflow, length > 0 else {
                        throw MediaDefect(offset: iloc.start, reason: "a metadata item whose extent cannot be located", unsupported: true)
                    }
                    switch method {
                    case 0:
                        guard start <= UInt64(source.size), length <= UInt64(source.size) - start else {
                            throw MediaDefect(offset: iloc.start, reason: "an item extent past the end of the file")
                        }
                        if length <= 1 << 20 { describe(item, try source.read(Int(start), Int(length))) }
                        zeroAnywhere(&held, Int(start)..<Int(start + length))
                    case 1:
                        guard let idat, start <= UInt64(idat.size - idat.headerSize),
                            length <= UInt64(idat.size - idat.headerSize) - start
                        else { throw MediaDefect(offset: iloc.start, reason: "an item extent past its idat box") }
                        describe(item, held.region((idat.payload + Int(start))..<(idat.payload + Int(start + length))))
                        held.zero((idat.payload + Int(start))..<(idat.payload + Int(start + length)))
                    default:
                        throw MediaDefect(offset: iloc.start, reason: "a metadata item built from other items", unsupported: true)
                    }
                }
            }
        }

        /// Names what an Exif or XMP item held (location, camera, dates) before it is zeroed.
        mutating func describe(_ item: Item, _ data: [UInt8]) {
            if item.name == "Exif" {
                // exif_tiff_header_offset, then the TIFF structure.
                guard data.count >= 4 else { return }
                let skip = 4 + Int(MediaBytes.bigEndian(data[0..<4]))
                guard skip < data.count else { return }
                for name in ExifTags.identifying(data[skip...]) { result.removed.add(name) }
            } else if item.name == "XMP" {
                var parts = RemovedParts()
                MediaBytes.describe(data[...], into: &parts)
                for name in parts.names where name != "tags" && name != "XMP" { result.removed.add(name) }
            }
        }

        /// Zeroes a range that may lie in the held box or elsewhere in the file.
        mutating func zeroAnywhere(_ held: inout Held, _ range: Range<Int>) {
            let inside = range.clamped(to: held.box.start..<held.box.end)
            if !inside.isEmpty { held.zero(inside) }
            if range.lowerBound < inside.lowerBound || inside.isEmpty {
                let end = inside.isEmpty ? range.upperBound : inside.lowerBound
                if range.lowerBound < end { result.patches.append(.zero(offset: range.lowerBound, count: end - range.lowerBound)) }
            }
            if !inside.isEmpty, range.upperBound > inside.upperBound {
                result.patches.append(.zero(offset: inside.upperBound, count: range.upperBound - inside.upperBound))
            }
        }

        /// Retypes the `cdsc` (and any other) references from removed items so readers skip them.
        mutating func neutraliseReferences(_ held: inout Held, iref: Box, items: Set<UInt32>) throws(MediaDefect) {
            let head = held.region(iref.payload..<iref.end)
            guard head.count >= 4 else { throw MediaDefect(offset: iref.start, reason: "a short iref box") }
            let idSize = head[0] == 0 ? 2 : 4
            for reference in try BMFFMetadata.boxes(held.source, from: iref.payload + 4, to: iref.end) {
                let body = held.region(reference.payload..<reference.end)
                guard body.count >= idSize else { throw MediaDefect(offset: reference.start, reason: "a short item reference") }
                let from = UInt32(MediaBytes.bigEndian(body[0..<idSize]))
                if items.contains(from) { held.write(reference.start + 4, Array("free".utf8)) }
            }
        }
    }

    /// A small box read whole, changed in memory, and written back as one patch if it changed.
    struct Held {
        let box: Box
        private(set) var bytes: [UInt8]
        private var changed = false
        var source: ArraySource { ArraySource(bytes: bytes, base: box.start) }

        init(source: any MediaSource, box: Box) throws(MediaDefect) {
            guard box.size <= maxHeldBox else {
                throw MediaDefect(offset: box.start, reason: "a '\(box.type)' box over 64 MiB", unsupported: true)
            }
            self.box = box
            bytes = try source.read(box.start, box.size)
        }

        /// The bytes of a box inside this one.
        func bytes(_ inner: Box) -> ArraySlice<UInt8> { bytes[(inner.start - box.start)..<(inner.end - box.start)] }

        /// File range → bytes.
        func region(_ range: Range<Int>) -> [UInt8] { Array(bytes[(range.lowerBound - box.start)..<(range.upperBound - box.start)]) }

        mutating func zero(_ range: Range<Int>) {
            for i in (range.lowerBound - box.start)..<(range.upperBound - box.start) { bytes[i] = 0 }
            changed = true
        }

        mutating func write(_ offset: Int, _ new: [UInt8]) {
            bytes.replaceSubrange((offset - box.start)..<(offset - box.start + new.count), with: new)
            changed = true
        }

        /// Turns a box inside this one into `free`, keeping its size field (32- or 64-bit).
        mutating func free(_ inner: Box) {
            write(inner.start + 4, Array("free".utf8))
            let sizeEnd = inner.start + (inner.headerSize == 16 || inner.headerSize == 32 ? 16 : 8)
            zero(sizeEnd..<inner.end)
        }

        func flush(into result: inout MediaCleaning) {
            if changed { result.patches.append(.write(offset: box.start, bytes: bytes)) }
        }
    }
}


/// Reads which identifying tags an EXIF (TIFF) block holds, so the answer can name them.
enum ExifTags {
    /// "GPS location", "make and model", "creation dates" for the tags found in IFD0; nothing if unreadable.
    static func identifying(_ tiff: ArraySlice<UInt8>) -> [String] {
        let t = Array(tiff)
        guard t.count >= 8 else { return [] }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return []
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at <= t.count - 2 else { return nil }
            return little ? Int(t[at]) | Int(t[at + 1]) << 8 : Int(t[at]) << 8 | Int(t[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let high = u16(little ? at + 2 : at), let low = u16(little ? at : at + 2) else { return nil }
            return high << 16 | low
        }
        guard let ifd = u32(4), let count = u16(ifd) else { return [] }
        var names: [String] = []
        for k in 0..<min(count, 1000) {
            guard let tag = u16(ifd + 2 + 12 * k) else { break }
            let name: String? =
                switch tag {
                case 0x8825: "GPS location"
                case 0x010F, 0x0110: "make and model"
                case 0x0132, 0x8769: "creation dates"
                default: nil
                }
            if let name, !names.contains(name) { names.append(name) }
        }
        return names
    }
}
