import Primitives

/// A fractional position in the panel: items are shown in ascending order of position.
///
/// The bytes are base-256 digits of a fraction in (0, 1), compared lexicographically; the last
/// digit is never zero, so between any two positions there is always another one (until the
/// length limit). Two items given the same position concurrently are ordered by item id.
public struct PanelPosition: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The digits, 1…`Limits.maxPositionBytes` bytes, last one non-zero.
    public let bytes: [UInt8]

    /// Wraps digits; nil if they are not a valid position.
    public init?(bytes: [UInt8]) {
        guard !bytes.isEmpty, bytes.count <= Limits.maxPositionBytes, bytes.last != 0 else { return nil }
        self.bytes = bytes
    }

    /// The middle of the panel: the position of the first item.
    public static let middle = PanelPosition(bytes: [0x80])!

    /// A position strictly between `lower` and `upper` (either may be nil: the panel's ends).
    ///
    /// - Returns: nil if `lower >= upper`, or if the result would exceed `Limits.maxPositionBytes`
    ///   (then give the neighbours fresh positions first).
    public static func between(_ lower: PanelPosition?, _ upper: PanelPosition?) -> PanelPosition? {
        let a = lower?.bytes ?? []
        if let lower, let upper, !(lower < upper) { return nil }
        var out: [UInt8] = []
        // The upper bound's digits stop mattering once we have taken a digit below it.
        var upperDigits = upper?.bytes
        var index = 0
        while out.count < Limits.maxPositionBytes {
            let lo = index < a.count ? Int(a[index]) : 0
            let hi = upperDigits.map { index < $0.count ? Int($0[index]) : 0 } ?? 256
            if hi - lo > 1 {
                out.append(UInt8((lo + hi) / 2))
                return PanelPosition(bytes: out)
            }
            out.append(UInt8(lo))
            if hi - lo == 1 { upperDigits = nil }
            index += 1
        }
        return nil
    }

    /// Orders by digits, lexicographically.
    public static func < (lhs: PanelPosition, rhs: PanelPosition) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    /// The digits in hex: canonical JSON's form.
    public var description: String { Hex.string(bytes) }
}
