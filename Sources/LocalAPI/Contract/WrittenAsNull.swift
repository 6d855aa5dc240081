/// An optional member the local API writes as `null` when it has no value, where a plain optional
/// would leave its key out: the viewer tests some keys for null (a pointer that went away, a node
/// without rendezvous) and must not find them missing.
///
/// Reading accepts `null` and a missing key alike, as a plain optional does.
@propertyWrapper
public struct WrittenAsNull<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    /// The value, nil when there is none.
    public var wrappedValue: Value?

    /// Wraps `wrappedValue`.
    public init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    /// Reads the value or `null`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    /// Writes the value, or `null` without one.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// Reads a `WrittenAsNull` member whose key may be missing, which the synthesised decoding alone would refuse.
    public func decode<Value>(_ type: WrittenAsNull<Value>.Type, forKey key: Key) throws -> WrittenAsNull<Value> {
        WrittenAsNull(wrappedValue: try decodeIfPresent(Value.self, forKey: key))
    }
}
