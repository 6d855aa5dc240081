/// Prices as people read and type them, in their currency's usual decimals: `129.90 EUR`, `1500 JPY`.
///
/// The one formatter of prices: Replication's `Price.text`, the reports and the command line's
/// renderers (which see prices only as the document's JSON parts) all write prices with it.
public enum PriceText {
    /// The number of decimals of an ISO 4217 currency: 0 for JPY, KRW and the like, 3 for the dinars
    /// of Bahrain, Iraq, Jordan, Kuwait, Libya, Tunisia and Oman's rial, 2 for every other code.
    public static func minorUnitDigits(of currency: String) -> Int {
        if zeroDecimalCurrencies.contains(currency) { return 0 }
        if threeDecimalCurrencies.contains(currency) { return 3 }
        return 2
    }

    /// A price given as its parts (as the document's JSON holds it), not yet validated.
    public static func text(currency: String, minorUnits: UInt64) -> String {
        let digits = minorUnitDigits(of: currency)
        guard digits > 0 else { return "\(minorUnits) \(currency)" }
        var divisor: UInt64 = 1
        for _ in 0..<digits { divisor *= 10 }
        let fraction = String(minorUnits % divisor)
        let padded = String(repeating: "0", count: digits - fraction.count) + fraction
        return "\(minorUnits / divisor).\(padded) \(currency)"
    }

    private static let zeroDecimalCurrencies: Set<String> = [
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF",
        "XOF", "XPF",
    ]
    private static let threeDecimalCurrencies: Set<String> = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
}
