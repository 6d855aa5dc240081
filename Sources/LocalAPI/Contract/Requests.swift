// The bodies the CLI and the viewer send to the node's routes, and the node's small answers:
// one Codable type per shape, so the sender and the route cannot drift apart.

/// `POST /api/mark`: a mark on an item.
public struct MarkRequest: Codable, Sendable, Equatable {
    /// The item, by id or the user's reference.
    public var item: String
    /// The shape.
    public var shape: ShapeRequest
    /// `#rrggbb`; the node's default when absent.
    public var colour: String?
    /// On a video, the time range the mark is about; absent for a mark at all times.
    public var during: MarkSpanRequest?
    /// Creates the body.
    public init(item: String, shape: ShapeRequest, colour: String? = nil, during: MarkSpanRequest? = nil) {
        (self.item, self.shape, self.colour, self.during) = (item, shape, colour, during)
    }
}

/// A mark's time range on a video, in milliseconds from the start (`start == end` for a point in time).
public struct MarkSpanRequest: Codable, Sendable, Equatable {
    /// The first millisecond.
    public var startMillis: Int
    /// The last millisecond, at or after `startMillis`.
    public var endMillis: Int
    /// Creates the range.
    public init(startMillis: Int, endMillis: Int) { (self.startMillis, self.endMillis) = (startMillis, endMillis) }
}

/// `POST /api/items/ITEM/playback`: the shared playback of a video, as this node's person sets it.
public struct PlaybackRequest: Codable, Sendable, Equatable {
    /// True to play, false to pause.
    public var playing: Bool
    /// The position in milliseconds from the start.
    public var positionMillis: Int
    /// The speed, 0.25 … 4 (1 when absent).
    public var rate: Double?
    /// Creates the body.
    public init(playing: Bool, positionMillis: Int, rate: Double? = nil) {
        (self.playing, self.positionMillis, self.rate) = (playing, positionMillis, rate)
    }
}

/// A SHAPE: `{"type": "pin", "at": [X, Y], "label": …}` and so on; points are `[X, Y]` in 0…1.
public struct ShapeRequest: Codable, Sendable, Equatable {
    /// `pin`, `arrow`, `rectangle`, `stroke` or `text`.
    public var type: String
    public var at: [Double]?
    public var from: [Double]?
    public var to: [Double]?
    public var corner1: [Double]?
    public var corner2: [Double]?
    public var points: [[Double]]?
    public var text: String?
    public var label: String?
    /// Creates a shape; only the members its type uses are given.
    public init(
        type: String, at: [Double]? = nil, from: [Double]? = nil, to: [Double]? = nil, corner1: [Double]? = nil,
        corner2: [Double]? = nil, points: [[Double]]? = nil, text: String? = nil, label: String? = nil
    ) {
        (self.type, self.at, self.from, self.to, self.corner1, self.corner2) = (type, at, from, to, corner1, corner2)
        (self.points, self.text, self.label) = (points, text, label)
    }
}

/// `POST /api/view`: what this node looks at.
public struct ViewRequest: Codable, Sendable, Equatable {
    public var item: String
    /// 0.01 to 100; 1 shows the whole item.
    public var zoom: Double?
    /// `[X, Y]` in 0…1.
    public var centre: [Double]?
    /// Creates the body.
    public init(item: String, zoom: Double? = nil, centre: [Double]? = nil) {
        (self.item, self.zoom, self.centre) = (item, zoom, centre)
    }
}

/// `POST /api/recommend`, `/api/cart`, `/api/buy`: an item, with a note or a quantity.
public struct ItemRequest: Codable, Sendable, Equatable {
    public var item: String
    public var note: String?
    public var quantity: Int?
    /// Creates the body.
    public init(item: String, note: String? = nil, quantity: Int? = nil) {
        (self.item, self.note, self.quantity) = (item, note, quantity)
    }
}

/// `POST /api/say`: a chat message.
public struct SayRequest: Codable, Sendable, Equatable {
    public var text: String
    /// Creates the body.
    public init(text: String) { self.text = text }
}

/// `POST /api/code`: asks for a short code, living `seconds` (30 to 600; 600 if absent).
public struct CodeRequest: Codable, Sendable, Equatable {
    public var seconds: Int?
    /// Creates the body.
    public init(seconds: Int?) { self.seconds = seconds }
}

/// The code to read out, its public number and when it stops working (ms since 1970).
public struct CodeAnswer: Codable, Sendable, Equatable {
    public var code: String
    public var nameplate: Int
    public var expires: UInt64
    /// Creates the answer.
    public init(code: String, nameplate: Int, expires: UInt64) { (self.code, self.nameplate, self.expires) = (code, nameplate, expires) }
}

/// `POST /api/epoch`: starts a new epoch: a rotation, or the removal of the participants named.
public struct EpochRequest: Codable, Sendable, Equatable {
    public var remove: [String]?
    /// Creates the body.
    public init(remove: [String]?) { self.remove = remove }
}

/// The new epoch and the invite that admits into it.
public struct EpochAnswer: Codable, Sendable, Equatable {
    public var epoch: Int
    public var invite: String
    /// Creates the answer.
    public init(epoch: Int, invite: String) { (self.epoch, self.invite) = (epoch, invite) }
}

/// `POST /api/admit`: the owner's agent admits or refuses someone waiting.
public struct AdmitRequest: Codable, Sendable, Equatable {
    public var participant: String
    public var admit: Bool
    /// Creates the body.
    public init(participant: String, admit: Bool) { (self.participant, self.admit) = (participant, admit) }
}

/// `POST /api/grant`: gives a participant a role.
public struct GrantRequest: Codable, Sendable, Equatable {
    public var participant: String
    /// `agent`, `customer`, `guest` or `archive`.
    public var role: String
    /// Creates the body.
    public init(participant: String, role: String) { (self.participant, self.role) = (participant, role) }
}

/// `{"event": id}`: the answer of a commerce operation.
public struct EventAnswer: Codable, Sendable, Equatable {
    public var event: String
    /// Creates the answer.
    public init(event: String) { self.event = event }
}

/// `{"mark": id}`: the answer of `POST /api/mark`.
public struct MarkAnswer: Codable, Sendable, Equatable {
    public var mark: String
    /// Creates the answer.
    public init(mark: String) { self.mark = mark }
}

/// `{"message": id}`: the answer of `POST /api/say`.
public struct MessageAnswer: Codable, Sendable, Equatable {
    public var message: String
    /// Creates the answer.
    public init(message: String) { self.message = message }
}

/// `{}`: the answer of routes that create nothing.
public struct EmptyAnswer: Codable, Sendable, Equatable {
    /// Creates the answer.
    public init() {}
}
