import PeerCrypto
import Primitives

/// A point on an item in coordinates normalised to the item: (0, 0) is its top left, (1, 1) its
/// bottom right, so a mark lands on the same spot whatever each viewer's zoom.
///
/// Stored in millionths as integers: no floating-point value ever enters the document, so every
/// node serialises it identically.
public struct UnitPoint: Hashable, Sendable {
    /// Units per whole item width or height.
    public static let scale: UInt32 = 1_000_000

    /// Horizontal position in millionths, 0…`scale`.
    public let x: UInt32
    /// Vertical position in millionths, 0…`scale`.
    public let y: UInt32

    /// Creates a point from millionths; nil if either coordinate is above `scale`.
    public init?(x: UInt32, y: UInt32) {
        guard x <= Self.scale, y <= Self.scale else { return nil }
        self.x = x
        self.y = y
    }

    /// Creates a point from fractions, clamped to 0…1 and rounded to the nearest millionth.
    public init(fractionX: Double, fractionY: Double) {
        func units(_ value: Double) -> UInt32 {
            guard value.isFinite else { return 0 }
            return UInt32((min(max(value, 0), 1) * Double(Self.scale)).rounded())
        }
        x = units(fractionX)
        y = units(fractionY)
    }
}

/// A colour as 8-bit red, green, blue and alpha.
public struct Colour: Hashable, Sendable {
    /// 0xRRGGBBAA.
    public var rgba: UInt32

    /// Creates a colour from 0xRRGGBBAA.
    public init(rgba: UInt32) {
        self.rgba = rgba
    }

    /// `#rrggbbaa`: canonical JSON's form.
    public var hex: String { "#" + Hex.string(rgba.bigEndianBytes) }
}

/// The geometry of a mark.
public enum MarkShape: Hashable, Sendable {
    /// A pin at one point.
    case pin(UnitPoint)
    /// An arrow from one point to another.
    case arrow(from: UnitPoint, to: UnitPoint)
    /// A rectangle between two opposite corners.
    case rectangle(UnitPoint, UnitPoint)
    /// A freehand stroke: 2…`Limits.maxStrokePoints` points.
    case stroke([UnitPoint])
    /// Text anchored at a point: 1…`Limits.maxTextBytes` bytes.
    case text(UnitPoint, String)
    /// A pin with a short label (1…`Limits.maxTitleBytes` bytes, one line); canonical JSON calls it a pin.
    case labelledPin(UnitPoint, String)

    /// The shape's name in canonical JSON.
    public var name: String {
        switch self {
        case .pin, .labelledPin: "pin"
        case .arrow: "arrow"
        case .rectangle: "rectangle"
        case .stroke: "stroke"
        case .text: "text"
        }
    }

    func validate() throws(ReplicationError) {
        switch self {
        case .pin, .arrow, .rectangle: return
        case let .stroke(points):
            guard (2...Limits.maxStrokePoints).contains(points.count) else {
                throw .invalidValue("stroke point count")
            }
        case let .text(_, text):
            try TextRule.multiline.check(text, "mark text", minBytes: 1, maxBytes: Limits.maxTextBytes)
        case let .labelledPin(_, label):
            try TextRule.line.check(label, "pin label", minBytes: 1, maxBytes: Limits.maxTitleBytes)
        }
    }
}

/// An immutable mark drawn on an item; its author is the author of the operation that added it.
public struct Mark: Hashable, Sendable {
    /// The geometry.
    public var shape: MarkShape
    /// The colour.
    public var colour: Colour
    /// On a video, the time range it is about (shown around it); nil for a mark at all times.
    public var span: MarkSpan?

    /// Creates a mark.
    public init(shape: MarkShape, colour: Colour, span: MarkSpan? = nil) {
        self.shape = shape
        self.colour = colour
        self.span = span
    }

    func validate() throws(ReplicationError) {
        try shape.validate()
        try span?.validate()
    }
}

/// One participant's view of one item: how far in it is zoomed and where it is centred.
public struct Viewport: Hashable, Sendable {
    /// Zoom in thousandths: 1000 shows the whole item. From 1/100 to 100 times.
    public static let zoomRange: ClosedRange<UInt32> = 10...100_000

    /// Zoom in thousandths, within `zoomRange`.
    public var zoom: UInt32
    /// The point of the item at the centre of the viewer.
    public var centre: UnitPoint

    /// Creates a viewport.
    public init(zoom: UInt32, centre: UnitPoint) {
        self.zoom = zoom
        self.centre = centre
    }

    func validate() throws(ReplicationError) {
        guard Self.zoomRange.contains(zoom) else { throw .invalidValue("zoom") }
    }
}
