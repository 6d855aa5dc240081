/// RFC 4648 base32, lowercase, without padding: readable aloud and safe in file names.
public enum Base32 {
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    /// Encodes bytes as lowercase base32 without padding.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes lowercase or uppercase base32 without padding; nil on any other character or bad length.
    public static func decode(_ text: String) -> [UInt8]? {
        var symbols: [UInt8] = []
        symbols.reserveCapacity(text.utf8.count)
        for c in text.utf8 {
            guard let value = symbolValue(c) else { return nil }
            symbols.append(value)
        }
        return unpack(symbols)
    }

    /// The 5-bit value of one base32 character (either case), nil for any other character.
    public static func symbolValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): c - UInt8(ascii: "a")
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): c - UInt8(ascii: "A")
        case UInt8(ascii: "2")...UInt8(ascii: "7"): c - UInt8(ascii: "2") + 26
        default: nil
        }
    }

    /// Packs 5-bit symbols into bytes; nil when the leftover bits are a whole symbol or not zero.
    ///
    /// A partial result is wiped before returning nil, since callers decode secrets with it.
    public static func unpack(_ symbols: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(symbols.count * 5 / 8)
        var buffer: UInt32 = 0
        var bits = 0
        for s in symbols {
            buffer = (buffer << 5 | UInt32(s)) & 0x1fff
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        // Leftover bits must be padding zeros and fewer than a whole character's worth.
        guard bits < 5, buffer & ((1 << UInt32(bits)) - 1) == 0 else {
            for i in out.indices { out[i] = 0 }
            return nil
        }
        return out
    }
}
