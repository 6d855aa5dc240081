#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A repeatable random number generator (SplitMix64) for property tests.
///
/// Print `seed` when a property fails; `CVPEER_TEST_SEED` replays it.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    /// The seed this generator started from.
    public let seed: UInt64
    private var state: UInt64

    /// Starts from `seed`.
    public init(seed: UInt64) {
        self.seed = seed
        state = seed
    }

    /// The seed from `CVPEER_TEST_SEED` if set, else `fallback` (tests stay repeatable by default).
    public static func seedFromEnvironment(default fallback: UInt64) -> UInt64 {
        if let text = getenv("CVPEER_TEST_SEED").map({ String(cString: $0) }), let value = UInt64(text) {
            return value
        }
        return fallback
    }

    /// The seed from `CVPEER_TEST_SEED` if set, else a fresh random one (print it on failure).
    public static func seedFromEnvironmentOrRandom() -> UInt64 {
        seedFromEnvironment(default: UInt64.random(in: 0...UInt64.max))
    }

    /// `count` random bytes.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
