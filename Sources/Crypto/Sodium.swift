import CSodium

/// The one place libsodium is initialised.
///
/// Swift runs a global's initialiser exactly once, under a lock, on first use; every entry point of
/// this module touches `Sodium.ready` first, so `sodium_init` runs once whatever thread comes first.
public enum Sodium {
    /// True once libsodium is initialised; reading it initialises libsodium if needed.
    public static var ready: Bool { initialised }

    private static let initialised: Bool = {
        // 0: initialised now; 1: already initialised (by another library); -1: failure.
        let result = sodium_init()
        precondition(result >= 0, "libsodium failed to initialise (sodium_init returned \(result))")
        return true
    }()

    /// Fills `count` bytes with cryptographically secure random bytes.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        _ = ready
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 { out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) } }
        return out
    }

    /// Overwrites `buffer` with zeros in a way the compiler does not optimise away.
    public static func zero(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        sodium_memzero(base, buffer.count)
    }

    /// Overwrites an array with zeros; for temporaries that held secret material.
    public static func zero(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { zero($0) }
    }
}
