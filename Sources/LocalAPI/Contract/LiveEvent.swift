import Foundation

/// A message of the live feed (`GET /api/live`, a WebSocket): what the viewer and `cvpeer host`/`join`
/// follow. The engine yields these; the WebSocket sends each one's `text`.
public enum LiveEvent: Sendable {
    /// The merged document and this node's view of it, as JSON text (the document is spliced in as its
    /// canonical bytes, never parsed back into values).
    case state(String)
    /// The status (`NodeStatus` with `type` `"status"`).
    case status(NodeStatus)
    /// A member's pointer moved or went away.
    case pointer(PointerEvent)

    /// The JSON text sent on the WebSocket.
    public var text: String {
        switch self {
        case .state(let text): text
        case .status(let status): APIJSON.text(status)
        case .pointer(let pointer): APIJSON.text(pointer)
        }
    }
}

/// A member's pointer on an item, or its absence (`item` null).
public struct PointerEvent: Codable, Sendable, Equatable {
    /// Always `"pointer"`.
    public var type: String = "pointer"
    /// Whose pointer: replica id in hex.
    public var participant: String
    /// The item pointed at, `null` once the pointer went away (written out: the viewer hides the pointer on null).
    @WrittenAsNull public var item: String?
    /// Where on the item, 0 to 1 across and down; absent when `item` is null.
    public var x: Double?
    public var y: Double?
    /// The member's display name; absent when `item` is null.
    public var name: String?

    /// Creates a pointer event.
    public init(participant: String, item: String?, x: Double? = nil, y: Double? = nil, name: String? = nil) {
        self.participant = participant
        self.item = item
        (self.x, self.y, self.name) = (x, y, name)
    }
}

/// What `GET /api/state` and the live feed's `state` message carry beside the document and its hash.
public struct StateExtras: Codable, Sendable, Equatable {
    /// `"state"`.
    public var type: String
    /// This node.
    public var me: NodeStatus.Me
    /// Each priced item's price as people read and type it (`129.90 EUR`), by item id.
    public var prices: [String: String]

    /// Creates the members.
    public init(type: String = "state", me: NodeStatus.Me, prices: [String: String]) {
        (self.type, self.me, self.prices) = (type, me, prices)
    }
}

/// The one JSON encoding of the local API: sorted keys, slashes unescaped (what the viewer has always read).
public enum APIJSON {
    /// A value's JSON text, `{}` if it cannot be encoded (none of the contract's types fail).
    public static func text(_ value: some Encodable) -> String {
        guard let data = try? encoder().encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// A value's JSON bytes.
    public static func data(_ value: some Encodable) throws -> Data {
        try encoder().encode(value)
    }

    private static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
