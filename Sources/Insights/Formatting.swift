import Replication

/// How every format writes times, durations and prices, so the four agree.
///
/// Times are UTC: the report runs on one node but describes clocks of several, and UTC is the
/// one zone nobody has to guess.
package enum Formatting {
    /// "2026-03-01T10:00:05.250Z": ISO 8601 in UTC, to the millisecond.
    package static func iso(_ millis: UInt64) -> String {
        let (date, time) = civil(millis)
        return "\(date)T\(time).\(pad(Int(millis % 1000), 3))Z"
    }

    /// "2026-03-01 10:00:05 UTC": a session's start for people.
    package static func dateTime(_ millis: UInt64) -> String {
        let (date, time) = civil(millis)
        return "\(date) \(time) UTC"
    }

    /// "10:00:05": a time of day (UTC) within a session.
    public static func clock(_ millis: UInt64) -> String { civil(millis).time }

    /// "850ms", "2.5s", "30s", "2m 05s", "1h 02m": a duration for people (tenths and seconds are truncated).
    public static func duration(_ millis: UInt64) -> String {
        if millis < 1_000 { return "\(millis)ms" }
        if millis < 60_000 {
            let tenths = millis / 100
            return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
        }
        let seconds = millis / 1_000
        if seconds < 3_600 { return "\(seconds / 60)m \(pad(Int(seconds % 60), 2))s" }
        return "\(seconds / 3_600)h \(pad(Int(seconds / 60 % 60), 2))m"
    }

    /// "12.50 EUR": a price in its currency's usual number of decimals (`Price.text`, the one formatter).
    public static func price(_ price: Price) -> String { price.text }

    static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// The UTC date and time of day of Unix milliseconds.
    ///
    /// Days to a civil date by Howard Hinnant's algorithm (proleptic Gregorian, eras of 400
    /// years), so no calendar library, and no time zone database, is involved.
    static func civil(_ millis: UInt64) -> (date: String, time: String) {
        let seconds = Int(millis / 1_000)
        let days = seconds / 86_400
        let second = seconds % 86_400
        let z = days + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let date = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
        let time = "\(pad(second / 3_600, 2)):\(pad(second / 60 % 60, 2)):\(pad(second % 60, 2))"
        return (date, time)
    }
}
