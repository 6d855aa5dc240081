import Primitives

extension Price {
    /// The number of decimals of an ISO 4217 currency (`PriceText.minorUnitDigits(of:)`).
    public static func minorUnitDigits(of currency: String) -> Int { PriceText.minorUnitDigits(of: currency) }

    /// The price as people read and type it, in its currency's usual decimals: `129.90 EUR`, `1500 JPY`
    /// (`PriceText`, the one formatter of prices).
    public var text: String { PriceText.text(currency: currency, minorUnits: minorUnits) }

    /// `text` for a price given as its parts (as the document's JSON holds it), not yet validated.
    public static func text(currency: String, minorUnits: UInt64) -> String {
        PriceText.text(currency: currency, minorUnits: minorUnits)
    }
}
