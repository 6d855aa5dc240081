#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Random access to a file being cleaned: the bytes of a photo in memory, or a video's upload file.
///
/// Cleaners read only box/element headers and the small parts they must look into, so a 2 GiB
/// video is cleaned without being held.
protocol MediaSource {
    /// The file's size in bytes.
    var size: Int { get }
    /// `count` bytes at `offset`; throws a `MediaDefect` if they are not all in the file.
    func read(_ offset: Int, _ count: Int) throws(MediaDefect) -> [UInt8]
}

/// A file held in memory, or part of one (`base` is the file offset of `bytes[0]`).
struct ArraySource: MediaSource {
    let bytes: [UInt8]
    var base = 0

    var size: Int { base + bytes.count }

    func read(_ offset: Int, _ count: Int) throws(MediaDefect) -> [UInt8] {
        guard count >= 0, offset >= base, offset - base <= bytes.count, count <= bytes.count - (offset - base) else {
            throw MediaDefect(offset: offset, reason: "the file ends early")
        }
        return Array(bytes[(offset - base)..<(offset - base + count)])
    }
}

/// A file on disk read with `pread`.
struct FileSource: MediaSource {
    let descriptor: Int32
    let size: Int

    func read(_ offset: Int, _ count: Int) throws(MediaDefect) -> [UInt8] {
        guard count >= 0, offset >= 0, offset <= size, count <= size - offset else {
            throw MediaDefect(offset: offset, reason: "the file ends early")
        }
        var buffer = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + got, count - got, off_t(offset + got)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw MediaDefect(offset: offset + got, reason: "the file could not be read") }
            got += n
        }
        return buffer
    }
}

/// A same-length change to a file: cleaning never moves a byte, so every offset in it stays valid.
enum MediaPatch: Equatable {
    /// These bytes at this offset.
    case write(offset: Int, bytes: [UInt8])
    /// This many zero bytes at this offset.
    case zero(offset: Int, count: Int)
}

/// What a cleaner found: the patches that remove the metadata, and the names of what they remove.
struct MediaCleaning {
    var patches: [MediaPatch] = []
    var removed = RemovedParts()

    /// Applies the patches to a file held in memory.
    func apply(to bytes: inout [UInt8]) {
        for patch in patches {
            switch patch {
            case let .write(offset, new):
                bytes.replaceSubrange(offset..<(offset + new.count), with: new)
            case let .zero(offset, count):
                bytes.replaceSubrange(offset..<(offset + count), with: repeatElement(0, count: count))
            }
        }
    }

    /// Applies the patches to a file on disk with `pwrite`.
    func apply(toFile descriptor: Int32) throws(MediaDefect) {
        func write(_ bytes: [UInt8], at offset: Int) throws(MediaDefect) {
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw MediaDefect(offset: offset + done, reason: "the upload could not be rewritten") }
                done += n
            }
        }
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        for patch in patches {
            switch patch {
            case let .write(offset, bytes):
                try write(bytes, at: offset)
            case let .zero(offset, count):
                var done = 0
                while done < count {
                    let n = min(zeros.count, count - done)
                    try write(Array(zeros[0..<n]), at: offset + done)
                    done += n
                }
            }
        }
    }
}

/// Byte helpers shared by the container cleaners.
enum MediaBytes {
    static func bigEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func contains(_ haystack: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, haystack.count >= needle.count else { return false }
        var i = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while i <= last {
            if haystack[i] == first, haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    /// Names what a removed block of tags held, by the keys that mark location, camera, title and dates.
    static func describe(_ bytes: ArraySlice<UInt8>, into removed: inout RemovedParts) {
        let marks: [(String, [String])] = [
            ("GPS location", ["\u{A9}xyz", "loci", "ISO6709", "location", "LOCATION", "GPSLatitude", "GPSCoordinates"]),
            ("make and model", ["\u{A9}mak", "\u{A9}mod", ".make", ".model", "MAKE", "MODEL", "Make", "Model"]),
            ("title", ["\u{A9}nam", "titl", ".title", "TITLE", "dc:title"]),
            ("creation dates", ["\u{A9}day", "creationdate", "DATE", "CreateDate", "date"]),
            ("XMP", ["<x:xmpmeta", "XMP_"]),
        ]
        var any = false
        for (name, keys) in marks
        where keys.contains(where: { key in
            // The QuickTime keys are Mac Roman: © is the single byte 0xA9.
            let needle = key.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }
            return contains(bytes, needle)
        }) {
            removed.add(name)
            any = true
        }
        if !any { removed.add("tags") }
    }
}
