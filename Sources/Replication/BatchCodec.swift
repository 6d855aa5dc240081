import PeerCrypto
import Primitives

/// The binary encoding of a batch's operations: the payload that `BatchSealer` seals.
///
/// Layout (varints are unsigned LEB128, minimal; strings are a varint byte length then UTF-8):
///
///     u8      format version (3; 2 is still read: it has no shared playback and no mark time ranges)
///     varint  Lamport counter of the first operation; the i-th has counter start + i
///     varint  k = number of other participants' keys referenced, then k × 32-byte keys
///     varint  n = number of operations, 1…maxOperationsPerBatch, then n operations:
///               varint HLC millis, varint HLC logical, u8 tag, tag-specific fields
///
/// The author is not in the payload: it is the sealed batch's authenticated author. Key index 0
/// means the author and index i ≥ 1 the i-th table key, so a reference to another participant's
/// item costs a byte or two, not 32. Because counters are implicit and consecutive, an operation
/// cannot name an id outside its author's range.
///
/// Decoding is total: any bytes give operations or a `ReplicationError`. Every count is checked
/// against `Limits` before use and every element consumes input, so time and memory are bounded
/// by the input's length.
package enum BatchCodec {
    /// The version byte of this layout; an incompatible change gets a new one.
    public static let formatVersion: UInt8 = 3
    /// The versions `decode` reads: 2 is 3 without `setPlayback` and without a mark's time-range
    /// byte, so batches stored or sent by a node of format 2 still count.
    public static let readableVersions: ClosedRange<UInt8> = 2...3

    /// Operation tags on the wire.
    enum Tag: UInt8 {
        case setProfile = 1, createItem, setItemField, removeItem, moveItem, addMark, removeMark, setViewport,
            setFocus, say, recommend, addToCart, purchase, grantRole, startEpoch, setPlayback
    }

    /// Mark shape tags on the wire.
    enum ShapeTag: UInt8 {
        case pin = 1, arrow, rectangle, stroke, text, labelledPin
    }

    /// Encodes operations of one author, which must have consecutive counters.
    ///
    /// - Throws: `ReplicationError` if the operations break a limit or a rule the decoder enforces,
    ///   so nothing is ever sealed that receivers would refuse.
    public static func encode(_ operations: [Operation], author: ReplicaID) throws(ReplicationError) -> [UInt8] {
        try encode(operations, author: author, editsValidated: false)
    }

    /// Encodes operations of one author; with `editsValidated`, the caller vouches that every
    /// edit passed `Edit.validate` (a `BatchDraft`'s did on `append`), so they are not checked
    /// again. Everything else (counters, timestamps, references, key table, size) still is.
    static func encode(_ operations: [Operation], author: ReplicaID, editsValidated: Bool) throws(ReplicationError) -> [UInt8] {
        guard let first = operations.first else { throw .invalidValue("batch (no operations)") }
        guard operations.count <= Limits.maxOperationsPerBatch else {
            throw .limitExceeded("operations per batch", limit: Limits.maxOperationsPerBatch)
        }
        let start = first.id.counter
        guard start >= 1, start <= Limits.maxCounter - UInt64(operations.count - 1) else {
            throw .invalidValue("Lamport counter")
        }
        var keys = KeyTable(author: author)
        var body = ByteWriter()
        for (index, operation) in operations.enumerated() {
            guard operation.id == OpID(counter: start + UInt64(index), replica: author) else {
                throw .invalidValue("operation id (not the author's next counter)")
            }
            guard operation.timestamp.millis <= HLC.maxMillis else { throw .invalidValue("timestamp") }
            if !editsValidated { try operation.edit.validate() }
            body.varint(operation.timestamp.millis)
            body.varint(UInt64(operation.timestamp.logical))
            try encode(operation.edit, into: &body, keys: &keys)
        }
        var out = ByteWriter()
        out.byte(formatVersion)
        out.varint(start)
        out.varint(keys.others.count)
        for key in keys.others { out.raw(key.bytes) }
        out.varint(operations.count)
        out.raw(body.bytes)
        guard out.bytes.count <= Limits.maxBatchPayloadBytes else {
            throw .limitExceeded("batch payload bytes", limit: Limits.maxBatchPayloadBytes)
        }
        return out.bytes
    }

    /// Decodes a payload written by `author`.
    ///
    /// - Throws: `ReplicationError` for any input that is not a valid encoding.
    public static func decode(_ payload: [UInt8], author: ReplicaID) throws(ReplicationError) -> [Operation] {
        guard payload.count <= Limits.maxBatchPayloadBytes else {
            throw .limitExceeded("batch payload bytes", limit: Limits.maxBatchPayloadBytes)
        }
        var reader = ByteReader(payload)
        let version = try reader.byte("format version")
        guard readableVersions.contains(version) else { throw .unsupportedFormat(version) }
        let start = try reader.varint("Lamport counter", in: 1...Limits.maxCounter)
        let keyCount = try reader.count("key count", max: Limits.maxKeysPerBatch)
        var keys = [author]
        for _ in 0..<keyCount {
            guard let key = ReplicaID(bytes: try reader.raw(ReplicaID.byteCount, "participant key")) else {
                throw .truncated("participant key")
            }
            // One spelling per batch: the author is always index 0, every other key appears once.
            guard !keys.contains(key) else { throw .invalidValue("key table (repeated key)") }
            keys.append(key)
        }
        let count = try reader.count("operation count", max: Limits.maxOperationsPerBatch, min: 1)
        guard start <= Limits.maxCounter - UInt64(count - 1) else { throw .invalidValue("Lamport counter") }
        var operations: [Operation] = []
        operations.reserveCapacity(count)
        for index in 0..<count {
            let millis = try reader.varint("timestamp", in: 0...HLC.maxMillis)
            let logical = try reader.varint("timestamp", in: 0...UInt64(UInt32.max))
            let edit = try decodeEdit(&reader, keys: keys, version: version)
            try edit.validate()
            operations.append(
                Operation(
                    id: OpID(counter: start + UInt64(index), replica: author),
                    timestamp: HLC(millis: millis, logical: UInt32(logical)), edit: edit))
        }
        try reader.finish()
        return operations
    }

    // MARK: Encoding

    /// Assigns table indices to keys in order of first use.
    struct KeyTable {
        let author: ReplicaID
        var others: [ReplicaID] = []
        var indices: [ReplicaID: Int] = [:]

        init(author: ReplicaID) {
            self.author = author
        }

        mutating func index(of key: ReplicaID) throws(ReplicationError) -> Int {
            if key == author { return 0 }
            if let index = indices[key] { return index }
            guard others.count < Limits.maxKeysPerBatch else {
                throw .limitExceeded("participants referenced per batch", limit: Limits.maxKeysPerBatch)
            }
            others.append(key)
            indices[key] = others.count
            return others.count
        }
    }

    private static func encode(_ edit: Edit, into w: inout ByteWriter, keys: inout KeyTable) throws(ReplicationError) {
        func ref(_ id: OpID) throws(ReplicationError) {
            guard (1...Limits.maxCounter).contains(id.counter) else { throw .invalidValue("operation reference") }
            w.varint(id.counter)
            w.varint(try keys.index(of: id.replica))
        }
        switch edit {
        case let .setProfile(participant, profile):
            w.byte(Tag.setProfile.rawValue)
            w.varint(try keys.index(of: participant))
            w.string(profile.name)
            w.byte(profile.requestedRole.rawValue)
        case let .createItem(kind, position, fields):
            w.byte(Tag.createItem.rawValue)
            w.byte(kind.rawValue)
            w.lengthPrefixed(position.bytes)
            w.varint(fields.count)
            for field in fields { encode(field, into: &w) }
        case let .setItemField(item, field):
            w.byte(Tag.setItemField.rawValue)
            try ref(item)
            encode(field, into: &w)
        case let .removeItem(item):
            w.byte(Tag.removeItem.rawValue)
            try ref(item)
        case let .moveItem(item, position):
            w.byte(Tag.moveItem.rawValue)
            try ref(item)
            w.lengthPrefixed(position.bytes)
        case let .addMark(item, mark):
            w.byte(Tag.addMark.rawValue)
            try ref(item)
            w.uint32(mark.colour.rgba)
            switch mark.shape {
            case let .pin(point):
                w.byte(ShapeTag.pin.rawValue)
                encode(point, into: &w)
            case let .arrow(from, to):
                w.byte(ShapeTag.arrow.rawValue)
                encode(from, into: &w)
                encode(to, into: &w)
            case let .rectangle(a, b):
                w.byte(ShapeTag.rectangle.rawValue)
                encode(a, into: &w)
                encode(b, into: &w)
            case let .stroke(points):
                w.byte(ShapeTag.stroke.rawValue)
                w.varint(points.count)
                for point in points { encode(point, into: &w) }
            case let .text(point, text):
                w.byte(ShapeTag.text.rawValue)
                encode(point, into: &w)
                w.string(text)
            case let .labelledPin(point, label):
                w.byte(ShapeTag.labelledPin.rawValue)
                encode(point, into: &w)
                w.string(label)
            }
            if let span = mark.span {
                w.byte(1)
                w.varint(span.startMillis)
                w.varint(span.endMillis)
            } else {
                w.byte(0)
            }
        case let .setPlayback(item, playback):
            w.byte(Tag.setPlayback.rawValue)
            try ref(item)
            w.byte(playback.playing ? 1 : 0)
            w.varint(playback.positionMillis)
            w.varint(UInt64(playback.rate))
        case let .removeMark(mark):
            w.byte(Tag.removeMark.rawValue)
            try ref(mark)
        case let .setViewport(participant, item, viewport):
            w.byte(Tag.setViewport.rawValue)
            w.varint(try keys.index(of: participant))
            try ref(item)
            w.varint(UInt64(viewport.zoom))
            encode(viewport.centre, into: &w)
        case let .setFocus(participant, item):
            w.byte(Tag.setFocus.rawValue)
            w.varint(try keys.index(of: participant))
            if let item {
                w.byte(1)
                try ref(item)
            } else {
                w.byte(0)
            }
        case let .say(text):
            w.byte(Tag.say.rawValue)
            w.string(text)
        case let .commerce(.recommend(item, note)):
            w.byte(Tag.recommend.rawValue)
            try ref(item)
            w.string(note)
        case let .commerce(.addToCart(item, quantity)):
            w.byte(Tag.addToCart.rawValue)
            try ref(item)
            w.varint(UInt64(quantity))
        case let .commerce(.purchase(item, quantity)):
            w.byte(Tag.purchase.rawValue)
            try ref(item)
            w.varint(UInt64(quantity))
        case let .grantRole(member, role, fromSequence):
            w.byte(Tag.grantRole.rawValue)
            w.varint(try keys.index(of: member))
            w.byte(role.rawValue)
            w.varint(fromSequence)
        case let .startEpoch(change):
            // Raw keys, not the key table: an epoch change names every member, past its 64 keys.
            w.byte(Tag.startEpoch.rawValue)
            w.varint(UInt64(change.epoch))
            w.varint(change.removed.count)
            for removal in change.removed {
                w.raw(removal.member.bytes)
                w.varint(removal.fromSequence)
            }
            w.varint(change.boxes.count)
            for (member, box) in change.boxes.sorted(by: { $0.key < $1.key }) {
                w.raw(member.bytes)
                w.raw(box)
            }
        }
    }

    private static func encode(_ field: ItemField, into w: inout ByteWriter) {
        w.byte(field.key.rawValue)
        switch field {
        case let .title(text), let .text(text), let .url(text):
            w.string(text)
        case let .price(price):
            w.raw(Array(price.currency.utf8))
            w.varint(price.minorUnits)
        case let .media(blob):
            w.lengthPrefixed(blob.id)
            w.varint(blob.size)
            w.string(blob.mime)
            w.lengthPrefixed(blob.commitment)
        }
    }

    private static func encode(_ point: UnitPoint, into w: inout ByteWriter) {
        w.varint(UInt64(point.x))
        w.varint(UInt64(point.y))
    }

    // MARK: Decoding

    private static func decodeEdit(_ r: inout ByteReader, keys: [ReplicaID], version: UInt8) throws(ReplicationError) -> Edit {
        func key() throws(ReplicationError) -> ReplicaID {
            keys[try r.count("participant index", max: keys.count - 1)]
        }
        func ref() throws(ReplicationError) -> OpID {
            let counter = try r.varint("operation reference", in: 1...Limits.maxCounter)
            return OpID(counter: counter, replica: try key())
        }
        let rawTag = try r.byte("operation tag")
        guard let tag = Tag(rawValue: rawTag) else { throw .invalidValue("operation tag") }
        switch tag {
        case .setProfile:
            let participant = try key()
            let name = try r.string("display name", maxBytes: Limits.maxNameBytes)
            guard let role = Role(rawValue: try r.byte("role")) else { throw .invalidValue("role") }
            return .setProfile(participant: participant, Profile(name: name, requestedRole: role))
        case .createItem:
            guard let kind = ItemKind(rawValue: try r.byte("item kind")) else { throw .invalidValue("item kind") }
            let position = try decodePosition(&r)
            let count = try r.count("initial field count", max: ItemFieldKey.allCases.count)
            var fields: [ItemField] = []
            for _ in 0..<count { fields.append(try decodeField(&r)) }
            return .createItem(kind: kind, position: position, fields: fields)
        case .setItemField:
            let item = try ref()
            return .setItemField(item: item, try decodeField(&r))
        case .removeItem:
            return .removeItem(try ref())
        case .moveItem:
            let item = try ref()
            return .moveItem(item, to: try decodePosition(&r))
        case .addMark:
            let item = try ref()
            let colour = Colour(rgba: try r.uint32("colour"))
            guard let shapeTag = ShapeTag(rawValue: try r.byte("mark shape")) else { throw .invalidValue("mark shape") }
            let shape: MarkShape
            switch shapeTag {
            case .pin: shape = .pin(try decodePoint(&r))
            case .arrow: shape = .arrow(from: try decodePoint(&r), to: try decodePoint(&r))
            case .rectangle: shape = .rectangle(try decodePoint(&r), try decodePoint(&r))
            case .stroke:
                let count = try r.count("stroke point count", max: Limits.maxStrokePoints, min: 2)
                var points: [UnitPoint] = []
                points.reserveCapacity(count)
                for _ in 0..<count { points.append(try decodePoint(&r)) }
                shape = .stroke(points)
            case .text:
                let point = try decodePoint(&r)
                shape = .text(point, try r.string("mark text", maxBytes: Limits.maxTextBytes))
            case .labelledPin:
                let point = try decodePoint(&r)
                shape = .labelledPin(point, try r.string("pin label", maxBytes: Limits.maxTitleBytes))
            }
            var span: MarkSpan?
            if version >= 3 {
                switch try r.byte("mark time range presence") {
                case 0: break
                case 1:
                    let media = 0...Limits.maxMediaMillis
                    span = MarkSpan(startMillis: try r.varint("mark time range", in: media), endMillis: try r.varint("mark time range", in: media))
                default: throw .invalidValue("mark time range presence")
                }
            }
            return .addMark(item: item, Mark(shape: shape, colour: colour, span: span))
        case .setPlayback:
            guard version >= 3 else { throw .invalidValue("operation tag") }
            let item = try ref()
            let playing: Bool
            switch try r.byte("playing") {
            case 0: playing = false
            case 1: playing = true
            default: throw .invalidValue("playing")
            }
            let position = try r.varint("playback position", in: 0...Limits.maxMediaMillis)
            let rate = try r.varint("playback rate", in: UInt64(Playback.rateRange.lowerBound)...UInt64(Playback.rateRange.upperBound))
            return .setPlayback(item: item, Playback(playing: playing, positionMillis: position, rate: UInt32(rate)))
        case .removeMark:
            return .removeMark(try ref())
        case .setViewport:
            let participant = try key()
            let item = try ref()
            let zoom = try r.varint("zoom", in: UInt64(Viewport.zoomRange.lowerBound)...UInt64(Viewport.zoomRange.upperBound))
            let centre = try decodePoint(&r)
            return .setViewport(participant: participant, item: item, Viewport(zoom: UInt32(zoom), centre: centre))
        case .setFocus:
            let participant = try key()
            switch try r.byte("focus presence") {
            case 0: return .setFocus(participant: participant, item: nil)
            case 1: return .setFocus(participant: participant, item: try ref())
            default: throw .invalidValue("focus presence")
            }
        case .say:
            return .say(try r.string("chat message", maxBytes: Limits.maxTextBytes))
        case .recommend:
            let item = try ref()
            return .commerce(.recommend(item: item, note: try r.string("recommendation note", maxBytes: Limits.maxTextBytes)))
        case .addToCart:
            let item = try ref()
            return .commerce(.addToCart(item: item, quantity: try decodeQuantity(&r)))
        case .purchase:
            let item = try ref()
            return .commerce(.purchase(item: item, quantity: try decodeQuantity(&r)))
        case .grantRole:
            let member = try key()
            guard let role = Role(rawValue: try r.byte("role")) else { throw .invalidValue("role") }
            return .grantRole(member: member, role: role, fromSequence: try r.varint("grant start", in: 1...UInt64.max))
        case .startEpoch:
            let epoch = UInt32(try r.varint("epoch number", in: 1...UInt64(UInt32.max)))
            func member() throws(ReplicationError) -> ReplicaID {
                guard let id = ReplicaID(bytes: try r.raw(ReplicaID.byteCount, "member key")) else { throw .truncated("member key") }
                return id
            }
            var removed: [EpochChange.Removal] = []
            for _ in 0..<(try r.count("removed members", max: Limits.maxEpochMembers)) {
                let id = try member()
                removed.append(EpochChange.Removal(member: id, fromSequence: try r.varint("removal start", in: 1...UInt64.max)))
            }
            guard zip(removed, removed.dropFirst()).allSatisfy({ $0.member < $1.member }) else {
                throw .invalidValue("removed members (repeated or out of order)")
            }
            var boxes: [ReplicaID: [UInt8]] = [:]
            var last: ReplicaID?
            for _ in 0..<(try r.count("sealed epoch secrets", max: Limits.maxEpochMembers)) {
                let id = try member()
                // One spelling: boxes ascend by member, so equal changes encode equally.
                guard last.map({ $0 < id }) ?? true else { throw .invalidValue("sealed epoch secrets (repeated or out of order)") }
                last = id
                boxes[id] = Array(try r.raw(EpochSecretBox.sealedLength, "sealed epoch secret"))
            }
            return .startEpoch(EpochChange(epoch: epoch, removed: removed, boxes: boxes))
        }
    }

    private static func decodeQuantity(_ r: inout ByteReader) throws(ReplicationError) -> UInt32 {
        UInt32(try r.varint("quantity", in: 1...UInt64(Limits.maxQuantity)))
    }

    private static func decodePosition(_ r: inout ByteReader) throws(ReplicationError) -> PanelPosition {
        let bytes = try r.lengthPrefixed("panel position", max: Limits.maxPositionBytes, min: 1)
        guard let position = PanelPosition(bytes: bytes) else { throw .invalidValue("panel position") }
        return position
    }

    private static func decodePoint(_ r: inout ByteReader) throws(ReplicationError) -> UnitPoint {
        let range = UInt64(0)...UInt64(UnitPoint.scale)
        let x = try r.varint("coordinate", in: range)
        let y = try r.varint("coordinate", in: range)
        return UnitPoint(x: UInt32(x), y: UInt32(y))!
    }

    private static func decodeField(_ r: inout ByteReader) throws(ReplicationError) -> ItemField {
        guard let key = ItemFieldKey(rawValue: try r.byte("item field")) else { throw .invalidValue("item field") }
        switch key {
        case .title: return .title(try r.string("title", maxBytes: Limits.maxTitleBytes))
        case .text: return .text(try r.string("text", maxBytes: Limits.maxTextBytes))
        case .price:
            let currency = try r.raw(3, "currency code")
            guard let code = String(validating: currency, as: UTF8.self) else { throw .invalidValue("currency code") }
            return .price(Price(currency: code, minorUnits: try r.varint("price")))
        case .url: return .url(try r.string("url", maxBytes: Limits.maxURLBytes))
        case .media:
            let id = try r.lengthPrefixed("blob id", max: Limits.maxBlobIDBytes, min: Limits.minBlobIDBytes)
            let size = try r.varint("blob size")
            let mime = try r.string("MIME type", maxBytes: Limits.maxMimeBytes)
            let commitment = try r.lengthPrefixed("blob commitment", max: Limits.blobCommitmentBytes, min: Limits.blobCommitmentBytes)
            return .media(BlobRef(id: id, size: size, mime: mime, commitment: commitment))
        }
    }
}
