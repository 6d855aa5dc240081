import CSodium

/// Secret key material that is zeroed when released and never printed.
///
/// Immutable after creation and therefore safe to share between threads. `description`,
/// `debugDescription` and reflection (`dump`, debugger summaries) show only the length.
/// Comparison is constant-time.
public final class SecretBytes: @unchecked Sendable {
    private let storage: UnsafeMutableRawBufferPointer
    /// The number of bytes held.
    public let count: Int

    /// Creates `count` bytes filled by `initializer`, which writes into the secret's own buffer so
    /// the material need never exist in an unzeroed temporary.
    public init(count: Int, initializer: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        precondition(count >= 0)
        _ = Sodium.ready
        // At least one byte so that an empty secret still owns a real allocation to free.
        let allocation = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        allocation.initializeMemory(as: UInt8.self, repeating: 0)
        do {
            try initializer(UnsafeMutableRawBufferPointer(rebasing: allocation[0..<count]))
        } catch {
            Sodium.zero(allocation)
            allocation.deallocate()
            throw error
        }
        storage = allocation
        self.count = count
    }

    /// Creates `count` random bytes from the system's secure generator.
    public convenience init(randomCount count: Int) {
        self.init(count: count) { if count > 0 { randombytes_buf($0.baseAddress!, $0.count) } }
    }

    /// Copies `bytes` into a new secret; the caller remains responsible for its own copy.
    public convenience init(copying bytes: some Collection<UInt8>) {
        let array = Array(bytes)
        self.init(count: array.count) { buffer in
            array.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
    }

    deinit {
        Sodium.zero(storage)
        storage.deallocate()
    }

    /// Gives `body` read access to the bytes; do not let the pointer escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }

    /// A copy of the bytes as an array, for tests and for handing to APIs that need one.
    ///
    /// Zero the copy with `Sodium.zero` when done with it.
    public func unsafeCopy() -> [UInt8] {
        withUnsafeBytes { Array($0) }
    }
}

extension SecretBytes: Equatable {
    /// Constant-time comparison of two secrets of equal length.
    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return lhs.withUnsafeBytes { l in
            rhs.withUnsafeBytes { r in
                l.count == 0 || sodium_memcmp(l.baseAddress!, r.baseAddress!, l.count) == 0
            }
        }
    }
}

extension SecretBytes: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "SecretBytes(\(count) bytes, redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["count": count], displayStyle: .struct) }
}
