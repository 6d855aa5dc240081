/// Prints comparison rows as an aligned table; hand-rolled because String(format:) needs Foundation.
func printTable(_ results: [ComparisonResult]) {
    let headers = ["case", "Swift MB/s", "C MB/s", "Swift ops/s", "Swift/C time", "noise"]
    let rows = results.map { r in
        [
            r.name,
            fixed(Double(r.bytesPerOperation) / r.swiftSeconds / 1e6, decimals: 1),
            fixed(Double(r.bytesPerOperation) / r.cSeconds / 1e6, decimals: 1),
            grouped(Int((1 / r.swiftSeconds).rounded())),
            fixed(r.ratio, decimals: 3) + "x",
            "±" + fixed(r.noise * 100, decimals: 1) + "%",
        ]
    }
    let widths = headers.indices.map { column in
        ([headers[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
    }
    func line(_ cells: [String]) -> String {
        // The label column reads left to right; numbers line up on the right.
        cells.indices.map { column in
            column == 0 ? cells[column].padding(to: widths[column]) : cells[column].leftPadding(to: widths[column])
        }.joined(separator: "  ")
    }
    print(line(headers))
    print(String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1)))
    for row in rows { print(line(row)) }
}

/// `value` rounded to `decimals` places, e.g. fixed(3.14159, decimals: 2) == "3.14".
func fixed(_ value: Double, decimals: Int) -> String {
    var scale = 1
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int((abs(value) * Double(scale)).rounded())
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard decimals > 0 else { return sign + String(scaled) }
    let fraction = String(scaled % scale)
    return sign + String(scaled / scale) + "." + String(repeating: "0", count: decimals - fraction.count) + fraction
}

/// An integer with thousands separators, e.g. 1,200.
func grouped(_ value: Int) -> String {
    let digits = Array(String(value.magnitude))
    var out = ""
    for (index, digit) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(digit)
    }
    return (value < 0 ? "-" : "") + out
}

extension String {
    /// Pads on the right with spaces to `width` characters.
    func padding(to width: Int) -> String {
        self + String(repeating: " ", count: max(0, width - count))
    }

    /// Pads on the left with spaces to `width` characters.
    func leftPadding(to width: Int) -> String {
        String(repeating: " ", count: max(0, width - count)) + self
    }
}
