import Primitives
import Replication

/// What people type for the control commands and the local API — points, colours, prices, zoom,
/// quantities, item references — parsed into checked values.
///
/// The control commands call these before contacting the node, so bad input never reaches it, and
/// the node can call the same functions on the strings the API receives, so both accept exactly the
/// same forms. Numbers are plain decimals only (`0.25`, `.5`, `1`): `Double(_:)` would also take
/// `nan`, `inf`, `1e-3` and hex floats, which nobody means as a coordinate. Error descriptions name
/// the value and what was expected, never an option name, so each caller can add its own context.
///
/// Pure functions without I/O; thread-safe.
public enum CommandInput {
    /// The longest number, point list or price text looked at: far above any real one, so a pasted
    /// megabyte is refused before it is scanned.
    package static let maxInputBytes = 256

    /// The colour of a mark when none is given: red, the colour people draw attention with.
    package static let defaultColour = Colour(rgba: 0xFF00_00FF)

    /// The colour names `colour(_:)` accepts, with their values (0xRRGGBBAA): CSS's colours of the
    /// same names, so they mean what they mean in every other tool.
    package static let colourNames: [(name: String, rgba: UInt32)] = [
        ("red", 0xFF00_00FF), ("green", 0x0080_00FF), ("blue", 0x0000_FFFF), ("yellow", 0xFFFF_00FF),
        ("orange", 0xFFA5_00FF), ("purple", 0x8000_80FF), ("black", 0x0000_00FF), ("white", 0xFFFF_FFFF),
        ("grey", 0x8080_80FF), ("gray", 0x8080_80FF),
    ]

    // MARK: Numbers and points

    /// Parses a plain decimal number (`0.5`, `.5`, `2`), refusing signs, exponents, `nan` and `inf`.
    package static func decimal(_ text: String) throws(CommandInputError) -> Double {
        let trimmed = trimmedSpaces(text)
        guard trimmed.utf8.count <= 40, isPlainDecimal(trimmed), let value = Double(trimmed), value.isFinite else {
            throw .invalidNumber(text)
        }
        return value
    }

    /// Comma-separated fractions of an item's size, each 0…1, as many as `form` (`X,Y`) has parts.
    private static func fractions(_ text: String, form: CoordinateForm) throws(CommandInputError) -> [Double] {
        guard text.utf8.count <= maxInputBytes else { throw .invalidCoordinates(text, form: form) }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == form.count else { throw .invalidCoordinates(text, form: form) }
        var values: [Double] = []
        for part in parts {
            guard let value = try? decimal(String(part)) else { throw .invalidCoordinates(text, form: form) }
            guard value <= 1 else { throw .coordinateOutOfRange(text) }
            values.append(value)
        }
        return values
    }

    /// Parses `X,Y`: a point on an item, as fractions of its width and height.
    public static func point(_ text: String) throws(CommandInputError) -> FractionPoint {
        let values = try fractions(text, form: .point)
        return FractionPoint(x: values[0], y: values[1])
    }

    /// Parses `X1,Y1,X2,Y2`: an arrow from the first point to the second, which must differ.
    public static func arrow(_ text: String) throws(CommandInputError) -> (from: FractionPoint, to: FractionPoint) {
        let values = try fractions(text, form: .arrow)
        let from = FractionPoint(x: values[0], y: values[1])
        let to = FractionPoint(x: values[2], y: values[3])
        guard from != to else { throw .emptyShape(text, shape: "arrow") }
        return (from, to)
    }

    /// Parses `X,Y,W,H`: a rectangle by its top-left corner and size, returned as its two opposite corners.
    ///
    /// The rectangle must have some width and height and lie inside the item (`X+W` and `Y+H` at most 1).
    public static func rectangle(_ text: String) throws(CommandInputError) -> (
        corner1: FractionPoint, corner2: FractionPoint
    ) {
        let values = try fractions(text, form: .rectangle)
        guard values[2] > 0, values[3] > 0 else { throw .emptyShape(text, shape: "rectangle") }
        // A millionth of slack: 0.3 + 0.7 is 1.0000000000000002 in binary floating point.
        let right = values[0] + values[2]
        let bottom = values[1] + values[3]
        guard right <= 1 + 1e-6, bottom <= 1 + 1e-6 else { throw .coordinateOutOfRange(text) }
        return (FractionPoint(x: values[0], y: values[1]), FractionPoint(x: min(right, 1), y: min(bottom, 1)))
    }

    /// Parses `X,Y,TEXT`: a point and the text anchored there; the text may itself contain commas.
    public static func anchoredText(_ text: String) throws(CommandInputError) -> (at: FractionPoint, text: String) {
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .invalidCoordinates(text, form: .anchoredText) }
        let at: FractionPoint
        do {
            at = try point(parts[0] + "," + parts[1])
        } catch .coordinateOutOfRange {
            throw .coordinateOutOfRange(text)
        } catch {
            throw .invalidCoordinates(text, form: .anchoredText)
        }
        let body = try self.text(String(parts[2]), as: .markText)
        return (at, body)
    }

    /// Parses a zoom factor: 1 shows the whole item, 2 half of it; 0.01…100, the document's range.
    public static func zoom(_ text: String) throws(CommandInputError) -> Double {
        let value = try decimal(text)
        let range = Double(Viewport.zoomRange.lowerBound) / 1000...Double(Viewport.zoomRange.upperBound) / 1000
        guard range.contains(value) else { throw .zoomOutOfRange(text) }
        return value
    }

    /// Checks a cart or purchase quantity: 1…`Limits.maxQuantity`.
    public static func quantity(_ value: Int) throws(CommandInputError) -> Int {
        guard (1...Int(Limits.maxQuantity)).contains(value) else { throw .quantityOutOfRange(value) }
        return value
    }

    // MARK: Colours

    /// A mark's colour as the local API takes it (`#RRGGBBAA`): `text` parsed, or the default when nil.
    public static func colourHex(_ text: String?) throws(CommandInputError) -> String {
        try (text.map(colour) ?? defaultColour).hex
    }

    /// Parses `#RRGGBB`, `#RRGGBBAA` (either case) or one of `colourNames` (any case).
    public static func colour(_ text: String) throws(CommandInputError) -> Colour {
        guard text.utf8.count <= maxInputBytes else { throw .invalidColour(text) }
        let trimmed = trimmedSpaces(text)
        if let named = colourNames.first(where: { $0.name == trimmed.lowercased() }) {
            return Colour(rgba: named.rgba)
        }
        let digits = trimmed.utf8.dropFirst()
        guard trimmed.utf8.first == UInt8(ascii: "#"), digits.count == 6 || digits.count == 8,
            digits.allSatisfy(isHexDigit), let value = UInt32(String(decoding: digits, as: UTF8.self), radix: 16)
        else { throw .invalidColour(text) }
        return Colour(rgba: digits.count == 6 ? value << 8 | 0xFF : value)
    }

    // MARK: Prices

    /// Parses a price: `129.90 EUR`, `EUR 129.90` or `129.90` (EUR), into currency and minor units.
    ///
    /// The currency is an ISO 4217 code in either case (stored upper-case). The amount is a plain
    /// decimal with a dot and at most as many decimals as the currency has (`minorUnitDigits(of:)`:
    /// 2 for EUR, 0 for JPY, 3 for KWD), so `1500 JPY` is 1500 minor units and `12.5 EUR` 1250.
    /// Thousands separators, decimal commas, signs and currency symbols are refused rather than
    /// guessed at, since a misread price is worse than a refused one.
    ///
    /// - Throws: `CommandInputError.invalidPrice` with the reason.
    public static func price(_ text: String) throws(CommandInputError) -> Price {
        guard text.utf8.count <= maxInputBytes else { throw .invalidPrice(text, reason: "too long") }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        let amount: Substring
        let currency: String
        switch words.count {
        case 1:
            amount = words[0]
            currency = "EUR"
        case 2 where isCurrencyCode(words[1]):
            amount = words[0]
            currency = words[1].uppercased()
        case 2 where isCurrencyCode(words[0]):
            amount = words[1]
            currency = words[0].uppercased()
        case 0:
            throw .invalidPrice(text, reason: "empty")
        default:
            throw .invalidPrice(text, reason: "write it as AMOUNT CODE, e.g. 129.90 EUR")
        }
        guard isPlainDecimal(String(amount)) else {
            let reason =
                amount.contains(",")
                ? "use a dot for decimals and no thousands separators, e.g. 1299.90 EUR"
                : "the amount must be a plain number and the currency a three-letter code, e.g. 129.90 EUR"
            throw .invalidPrice(text, reason: reason)
        }
        let digits = minorUnitDigits(of: currency)
        let pieces = amount.split(separator: ".", omittingEmptySubsequences: false)
        let whole = pieces[0]
        let fraction = pieces.count > 1 ? pieces[1] : ""
        guard fraction.count <= digits else {
            let reason = digits == 0 ? "\(currency) has no decimals" : "\(currency) has at most \(digits) decimals"
            throw .invalidPrice(text, reason: reason)
        }
        // Limits.maxPriceMinorUnits has 16 digits: more cannot fit, fewer cannot overflow UInt64 below.
        let significant =
            whole.drop(while: { $0 == "0" }) + fraction + String(repeating: "0", count: digits - fraction.count)
        guard significant.count <= 19, let minorUnits = UInt64(significant.isEmpty ? "0" : String(significant)),
            minorUnits <= Limits.maxPriceMinorUnits
        else { throw .invalidPrice(text, reason: "too large") }
        return Price(currency: currency, minorUnits: minorUnits)
    }

    /// The number of decimals of an ISO 4217 currency (`Price.minorUnitDigits(of:)`).
    public static func minorUnitDigits(of currency: String) -> Int { Price.minorUnitDigits(of: currency) }

    /// Writes a price the way `price(_:)` reads it back: `129.90 EUR`, `1500 JPY` (`Price.text`).
    public static func format(_ price: Price) -> String { price.text }

    /// Writes a price given as the document holds it (`{"currency": "EUR", "minorUnits": 12990}`): `129.90 EUR`.
    public static func format(currency: String, minorUnits: UInt64) -> String {
        Price.text(currency: currency, minorUnits: minorUnits)
    }

    // MARK: Text

    /// Checks a title, label, note or message the way the document will: within the field's size
    /// limit, not empty unless the field may be, and without control characters (newline and tab
    /// allowed in multi-line fields) or bidirectional overrides, which could hide or fake content in
    /// someone's viewer.
    ///
    /// - Returns: the text unchanged.
    public static func text(_ text: String, as field: TextField) throws(CommandInputError) -> String {
        try self.text(
            text, what: field.rawValue, maxBytes: field.maxBytes, multiline: field.isMultiline,
            allowEmpty: field == .note)
    }

    private static func text(
        _ text: String, what: String, maxBytes: Int, multiline: Bool, allowEmpty: Bool
    ) throws(CommandInputError) -> String {
        guard text.utf8.count <= maxBytes else {
            throw .invalidText(what: what, reason: "is longer than \(maxBytes) bytes")
        }
        guard allowEmpty || !text.isEmpty else { throw .invalidText(what: what, reason: "is empty") }
        for scalar in text.unicodeScalars where TerminalText.isRefused(scalar, multiline: multiline) {
            throw .invalidText(what: what, reason: "contains the control character U+\(TerminalText.hex4(scalar.value))")
        }
        return text
    }

    // MARK: Items

    /// Finds the item a person means by `reference`, the way the local API does: an exact id, else
    /// every item whose id starts with `reference` (at least 4 characters) or whose title is exactly
    /// `reference`.
    ///
    /// - Parameters:
    ///   - reference: What was typed.
    ///   - items: The candidates: id and title (nil when untitled), e.g. the document's panel.
    /// - Returns: the one match, or why there is not exactly one.
    package static func matchItem(_ reference: String, in items: [(id: String, title: String?)]) -> ItemMatch {
        guard !reference.isEmpty else { return .none }
        if items.contains(where: { $0.id == reference }) { return .found(reference) }
        let prefixLongEnough = reference.count >= minItemPrefixLength
        let matches = items.filter { item in
            (prefixLongEnough && item.id.hasPrefix(reference)) || item.title == reference
        }
        switch matches.count {
        case 0: return .none
        case 1: return .found(matches[0].id)
        default: return .ambiguous(matches.map(\.id))
        }
    }

    /// The shortest id prefix that names an item: shorter ones match too much to be meant.
    package static let minItemPrefixLength = 4

    // MARK: Helpers

    private static func trimmedSpaces(_ text: String) -> String {
        String(text.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }

    /// Digits with at most one dot and at least one digit: `12`, `12.`, `12.5`, `.5`.
    private static func isPlainDecimal(_ text: String) -> Bool {
        var digits = 0
        var dots = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits += 1
            case UInt8(ascii: "."): dots += 1
            default: return false
            }
        }
        return digits > 0 && dots <= 1
    }

    private static func isCurrencyCode(_ word: Substring) -> Bool {
        word.utf8.count == 3 && word.utf8.allSatisfy { (65...90).contains($0) || (97...122).contains($0) }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...70).contains(byte) || (97...102).contains(byte)
    }
}

/// A point on an item as fractions of its width and height, each 0…1.
///
/// Encodes as the local API's `[X, Y]`; decoding refuses anything else, including values outside 0…1.
public struct FractionPoint: Hashable, Sendable, Codable {
    /// From the left edge: 0 is the left, 1 the right.
    public var x: Double
    /// From the top edge: 0 is the top, 1 the bottom.
    public var y: Double

    /// Makes a point; callers keep `x` and `y` within 0…1 (`CommandInput.point(_:)` checks typed ones).
    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }

    /// Reads `[X, Y]`, each a finite number in 0…1.
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let x = try container.decode(Double.self)
        let y = try container.decode(Double.self)
        guard container.isAtEnd, (0...1).contains(x), (0...1).contains(y) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "a point is [X, Y], each a fraction from 0 to 1")
        }
        self.init(x: x, y: y)
    }

    /// Writes `[X, Y]`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(x)
        try container.encode(y)
    }

    /// The document's form: millionths, rounded.
    package var unitPoint: UnitPoint { UnitPoint(fractionX: x, fractionY: y) }
}

/// The kinds of free text a command or API request carries, each with the document's rules.
public enum TextField: String, Sendable, CaseIterable {
    /// An item's title: one line.
    case title = "title"
    /// A pin's label: one line, as long as a title.
    case label = "label"
    /// A text mark: may span lines; not empty.
    case markText = "mark text"
    /// A recommendation's note: may span lines; may be empty.
    case note = "note"
    /// A chat message: may span lines; not empty.
    case message = "message"

    /// The most UTF-8 bytes the document takes for this field.
    public var maxBytes: Int {
        switch self {
        case .title, .label: Limits.maxTitleBytes
        case .markText, .note, .message: Limits.maxTextBytes
        }
    }

    /// Whether newlines and tabs are allowed.
    package var isMultiline: Bool {
        switch self {
        case .title, .label: false
        case .markText, .note, .message: true
        }
    }
}

/// Which item a reference names (`CommandInput.matchItem(_:in:)`).
package enum ItemMatch: Equatable, Sendable {
    /// Exactly one item: its id.
    case found(String)
    /// No item: the API answers 404.
    case none
    /// Several items (their ids): the API answers 409.
    case ambiguous([String])
}

/// Input a control command or the local API refuses; each description is one line naming the value.
public enum CommandInputError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not a plain decimal number (what was typed).
    case invalidNumber(String)
    /// Not the expected comma-separated fractions (what was typed, the form expected).
    case invalidCoordinates(String, form: CoordinateForm)
    /// A coordinate, or a rectangle's far edge, beyond 1 (what was typed).
    case coordinateOutOfRange(String)
    /// An arrow of length zero or a rectangle without width or height (what was typed, which shape).
    case emptyShape(String, shape: String)
    /// A zoom factor outside 0.01…100 (what was typed).
    case zoomOutOfRange(String)
    /// A quantity outside 1…`Limits.maxQuantity` (the value).
    case quantityOutOfRange(Int)
    /// Not a colour (what was typed).
    case invalidColour(String)
    /// Not a price (what was typed, why).
    case invalidPrice(String, reason: String)
    /// A title, note or message the document would refuse (what it is, why).
    case invalidText(what: String, reason: String)

    public var description: String {
        switch self {
        case .invalidNumber(let text):
            "'\(TerminalText.oneLine(text))' is not a plain decimal number such as 0.5"
        case .invalidCoordinates(let text, let form):
            "'\(TerminalText.oneLine(text))' is not \(form.rawValue), such as \(form.example) "
                + "(coordinates are fractions of the item's width and height, from 0 to 1)"
        case .coordinateOutOfRange(let text):
            "'\(TerminalText.oneLine(text))' goes beyond the item: coordinates are fractions from 0 to 1"
        case .emptyShape(let text, let shape):
            shape == "arrow"
                ? "'\(TerminalText.oneLine(text))' is an arrow that starts where it ends"
                : "'\(TerminalText.oneLine(text))' is a rectangle without width or height"
        case .zoomOutOfRange(let text):
            "zoom '\(TerminalText.oneLine(text))' is outside 0.01…100 (1 shows the whole item)"
        case .quantityOutOfRange(let value): "quantity \(value) is outside 1…\(Limits.maxQuantity)"
        case .invalidColour(let text):
            "'\(TerminalText.oneLine(text))' is not a colour: use #RRGGBB, #RRGGBBAA or one of "
                + CommandInput.colourNames.map(\.name).joined(separator: ", ")
        case .invalidPrice(let text, let reason):
            "'\(TerminalText.oneLine(text))' is not a price: \(reason)"
        case .invalidText(let what, let reason): "the \(what) \(reason)"
        }
    }
}

/// The comma-separated forms coordinates are typed in.
public enum CoordinateForm: String, Sendable, CaseIterable {
    /// A point.
    case point = "X,Y"
    /// An arrow from one point to another.
    case arrow = "X1,Y1,X2,Y2"
    /// A rectangle by its top-left corner, width and height.
    case rectangle = "X,Y,W,H"
    /// A point and a text.
    case anchoredText = "X,Y,TEXT"

    /// How many comma-separated numbers the form has.
    var count: Int {
        switch self {
        case .point: 2
        case .arrow, .rectangle: 4
        case .anchoredText: 2
        }
    }

    /// A valid example, for error messages.
    package var example: String {
        switch self {
        case .point: "0.5,0.25"
        case .arrow: "0.1,0.1,0.6,0.5"
        case .rectangle: "0.1,0.1,0.3,0.2"
        case .anchoredText: "0.5,0.5,scratch here"
        }
    }
}
