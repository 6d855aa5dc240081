/// One workload done two ways, Swift and the C reference; each closure performs `iterations`
/// operations and returns a checksum (`UInt64.max` if an operation failed).
struct Comparison {
    /// The row label.
    let name: String
    /// Payload bytes per operation, for MB/s.
    let bytesPerOperation: Int
    /// The workload through PeerCrypto.
    let swift: (Int) -> UInt64
    /// The same workload in CBenchRef, its loop in C so the reference pays no Swift call cost.
    let c: (Int) -> UInt64
}

/// Median seconds per operation of each side.
struct ComparisonResult {
    let name: String
    let bytesPerOperation: Int
    let swiftSeconds: Double
    let cSeconds: Double
    /// Largest relative half-range of either side's rounds: how far to trust the ratio.
    let noise: Double

    /// Swift time over C time: 1.00 means no Swift overhead.
    var ratio: Double { swiftSeconds / cSeconds }
}

/// Failure of a workload during measurement; the numbers would describe the wrong work.
struct WorkloadFailed: Error {
    let name: String
}

/// Measures both sides in the same process, alternating them round by round so that drift in
/// clock speed or machine load hits both alike; the median discards rounds hit by a stall.
func measure(_ comparison: Comparison, options: BenchOptions) throws(WorkloadFailed) -> ComparisonResult {
    // Calibrate on the Swift side (which doubles as warm-up), then use one iteration count for both.
    var iterations = 1
    var elapsed = try time(comparison.swift, iterations, comparison.name)
    while elapsed < options.roundSeconds / 8 {
        iterations *= 2
        elapsed = try time(comparison.swift, iterations, comparison.name)
    }
    iterations = max(1, Int((Double(iterations) * options.roundSeconds / elapsed).rounded()))
    _ = try time(comparison.c, iterations, comparison.name)

    var swiftRounds: [Double] = []
    var cRounds: [Double] = []
    for round in 0..<options.rounds {
        // Alternate who goes first, so neither side always runs right after the other.
        if round % 2 == 0 {
            swiftRounds.append(try time(comparison.swift, iterations, comparison.name))
            cRounds.append(try time(comparison.c, iterations, comparison.name))
        } else {
            cRounds.append(try time(comparison.c, iterations, comparison.name))
            swiftRounds.append(try time(comparison.swift, iterations, comparison.name))
        }
    }
    let perOperation = 1 / Double(iterations)
    return ComparisonResult(
        name: comparison.name, bytesPerOperation: comparison.bytesPerOperation,
        swiftSeconds: median(swiftRounds) * perOperation, cSeconds: median(cRounds) * perOperation,
        noise: max(halfRange(swiftRounds), halfRange(cRounds)))
}

/// Seconds taken by one round.
private func time(_ body: (Int) -> UInt64, _ iterations: Int, _ name: String) throws(WorkloadFailed) -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    let checksum = body(iterations)
    let elapsed = start.duration(to: clock.now)
    guard checksum != .max else { throw WorkloadFailed(name: name) }
    let (seconds, attoseconds) = elapsed.components
    return Double(seconds) + Double(attoseconds) * 1e-18
}

private func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// Half of (max - min) over the median, as a fraction.
private func halfRange(_ values: [Double]) -> Double {
    guard let low = values.min(), let high = values.max() else { return 0 }
    return (high - low) / 2 / median(values)
}
