import PeerCrypto
import Primitives
import Rendezvous

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An invitation to a room: where to knock, the room secret, and who is inviting.
///
/// Text form: `cvp2:` followed by lowercase base32 (RFC 4648, no padding) of these bytes, so the
/// code survives a shell single-quoted string, a chat message and being read aloud:
///
///     size  field
///        1  format version, 2
///        1  flags: bit 0 direct (the address is the host's own, not a rendezvous),
///           bit 1 a display name follows; other bits must be zero
///        1  address kind: 1 DNS name, 4 IPv4, 6 IPv6
///    4/16/  address: 4 or 16 bytes, or for a DNS name a length byte (1…253) and ASCII
///      1+n
///        2  port, big-endian
///       32  room secret
///       32  the owner's Ed25519 public key (the host's identity); with the secret it derives
///           every room key, so a forged owner leads nowhere
///    [1+n]  display name: a length byte (1…48) and UTF-8, if flag bit 1
///   [1+32n] later epochs, if flag bit 2: a count byte n (1…16) and the secret of each epoch
///           1…n in order, so the joiner reads the whole history and links in epoch n (an
///           invite made before a removal or rotation has none, and admits nobody after it)
///        4  CRC-32 (the PNG/zlib one) of "cvp2:" and every byte above, little-endian
///
/// Why CRC-32 and not a truncated hash: a mistyped character changes 5 adjacent bits and a swap
/// of two neighbouring characters at most 10, so either error lies within 3 consecutive bytes,
/// and CRC-32 detects every error confined to 32 consecutive bits of a message of any length. A
/// 4-byte hash would miss such an error with probability 2⁻³²; the CRC never does. Truncation
/// is caught twice over: the fields read from the (intact) front fix the total length, and the
/// last 4 bytes no longer form the checksum. The checksum guards against accidents only; anyone
/// who can hand out an invite can hand out a different room anyway.
///
/// Immutable and thread-safe. `description` never shows the secret; `code` is the shareable text.
public struct Invite: Sendable, Equatable {
    /// Whom the joiner contacts first.
    public enum Route: Sendable, Equatable {
        /// The address is a rendezvous server that introduces the joiner to the host.
        case rendezvous
        /// The address is the host's own node, reachable directly.
        case direct
    }

    /// The text every code starts with; the digit is the format version.
    public static let prefix = "cvp2:"
    /// The format version carried in the first byte.
    public static let formatVersion: UInt8 = 2
    /// The longest display name in UTF-8 bytes: enough for a first name and a shop, short enough to keep codes short.
    package static let maxDisplayNameLength = 48
    /// The most later epochs an invite carries (about 850 characters of text at most), and so the
    /// most key changes a room goes through (`RoomEngine.startEpoch` refuses a 17th).
    package static let maxEpochs = 16
    /// The longest DNS name (RFC 1035's 253 characters in text form).
    package static let maxDNSNameLength = 253
    /// The longest code this format can produce: a 253-character DNS name and a 48-byte name.
    package static let maxCodeLength = prefix.utf8.count + (maxPayloadLength + checksumLength) * 8 / 5 + 1
    /// The most text `init(code:)` looks at: twice the longest code leaves room for stray spaces,
    /// and anything longer is refused before any decoding.
    public static let maxInputLength = 2 * maxCodeLength

    static let checksumLength = 4
    static let maxPayloadLength = 3 + 1 + maxDNSNameLength + 2 + RoomKeys.secretLength + PublicKey.length + 1 + maxDisplayNameLength
        + 1 + maxEpochs * RoomKeys.secretLength

    enum Flag {
        static let direct: UInt8 = 1 << 0
        static let displayName: UInt8 = 1 << 1
        static let epochs: UInt8 = 1 << 2
        static let all = direct | displayName | epochs
    }

    enum AddressKind {
        static let dns: UInt8 = 1
        static let ipv4: UInt8 = 4
        static let ipv6: UInt8 = 6
    }

    /// Whether `address` is a rendezvous server or the host itself.
    package let route: Route
    /// Where the joiner sends its first packet.
    public let address: HostPort
    /// The 32-byte room secret from which, with the owner's key, every room key is derived.
    package let roomSecret: SecretBytes
    /// The room's owner (the host's identity key): whose signed grants a joiner obeys. Another
    /// owner with the same secret is another room, so a forged owner finds nobody.
    public let owner: PublicKey
    /// The inviting person's name as they chose to show it, if any.
    public let displayName: String?
    /// The secrets of the room's later epochs, 1 up to the newest, in order (none before the
    /// first removal or rotation).
    package let epochSecrets: [SecretBytes]

    /// Makes an invite for a room.
    ///
    /// - Parameters:
    ///   - route: whether `address` is a rendezvous server or the host's own node.
    ///   - address: a DNS name or an IPv4/IPv6 literal, and a port.
    ///   - roomSecret: the room's 32-byte secret.
    ///   - owner: the room's owner.
    ///   - displayName: up to 48 UTF-8 bytes of printable text, or nil.
    ///   - epochSecrets: the secrets of epochs 1, 2, … up to the room's newest (at most 16).
    /// - Throws: `NodeError.invalidInvite` with `.invalidAddress`, `.invalidDisplayName` or `.invalidSecret`.
    public init(
        route: Route, address: HostPort, roomSecret: SecretBytes, owner: PublicKey, displayName: String? = nil,
        epochSecrets: [SecretBytes] = []
    ) throws {
        for secret in [roomSecret] + epochSecrets where secret.count != RoomKeys.secretLength {
            throw NodeError.invalidInvite(.invalidSecret(length: secret.count))
        }
        guard epochSecrets.count <= Self.maxEpochs else { throw NodeError.invalidInvite(.tooManyEpochs(epochSecrets.count, limit: Self.maxEpochs)) }
        guard let (kind, raw) = Self.addressBytes(address.host) else {
            throw NodeError.invalidInvite(.invalidAddress(address.description))
        }
        if let displayName, let problem = Self.displayNameProblem(displayName) {
            throw NodeError.invalidInvite(.invalidDisplayName(problem))
        }
        self.route = route
        // IP literals are kept in their canonical spelling, the one a decoded invite has.
        switch kind {
        case AddressKind.ipv4: self.address = HostPort(host: Self.addressText(raw[...], family: AF_INET)!, port: address.port)
        case AddressKind.ipv6: self.address = HostPort(host: Self.addressText(raw[...], family: AF_INET6)!, port: address.port)
        default: self.address = address
        }
        self.roomSecret = roomSecret
        self.owner = owner
        self.displayName = displayName
        self.epochSecrets = epochSecrets
    }

    /// Makes an invite from an address typed as `HOST:PORT` or `[IPV6]:PORT`.
    ///
    /// - Throws: `NodeError.invalidInvite` as `init(route:address:roomSecret:displayName:)` does.
    public init(route: Route, address text: String, roomSecret: SecretBytes, owner: PublicKey, displayName: String? = nil) throws {
        guard let address = HostPort(parsing: text) else { throw NodeError.invalidInvite(.invalidAddress(text)) }
        try self.init(route: route, address: address, roomSecret: roomSecret, owner: owner, displayName: displayName)
    }

    /// The room's keys, derived from the secret and the owner.
    public var roomKeys: RoomKeys {
        // RoomKeys throws only for a secret that is not 32 bytes, and no initialiser here accepts one.
        try! RoomKeys(secret: roomSecret, owner: owner)
    }

    /// The keys of every later epoch the invite carries, oldest first.
    package var laterEpochKeys: [RoomKeys] {
        let root = roomKeys
        // inEpoch throws only for epoch 0 or a secret that is not 32 bytes; neither gets in here.
        return epochSecrets.enumerated().map { try! root.inEpoch(UInt32($0.offset + 1), secret: $0.element) }
    }

    /// The shareable text, `cvp2:…`; it contains the room secret, so show it only to the person invited.
    public var code: String {
        var payload = payloadBytes()
        defer { Sodium.zero(&payload) }
        return Self.frame(payload)
    }

    /// The bytes the text spells (payload and checksum), for a short-code exchange to seal:
    /// shorter than the text, so a room with many epochs still fits.
    package var binary: [UInt8] {
        var payload = payloadBytes()
        defer { Sodium.zero(&payload) }
        return Self.framed(payload)
    }

    /// Reads the bytes `binary` gave.
    ///
    /// - Throws: `NodeError.invalidInvite` if they are not an invite.
    public init(binary bytes: [UInt8]) throws {
        guard bytes.count > Self.checksumLength, bytes.count <= Self.maxPayloadLength + Self.checksumLength else {
            throw NodeError.invalidInvite(.damaged)
        }
        let payloadCount = bytes.count - Self.checksumLength
        let stored = bytes[payloadCount...].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard Self.checksum(bytes[..<payloadCount]) == stored else { throw NodeError.invalidInvite(.damaged) }
        do throws(InviteError) {
            self = try Self.parse(bytes[..<payloadCount])
        } catch {
            throw NodeError.invalidInvite(error)
        }
    }

    /// The command the invited person runs: `cvpeer join 'cvp2:…'` (the code never contains a quote).
    public var joinCommand: String { "cvpeer join '\(code)'" }

    /// Reads an invite that a person pasted or typed.
    ///
    /// Surrounding spaces, line breaks and one pair of matching quotes are ignored, and letters may
    /// be in either case. The length is checked before anything is decoded.
    ///
    /// - Throws: `NodeError.invalidInvite` saying what is wrong; no error repeats the code.
    public init(code text: String) throws {
        do throws(InviteError) {
            try self.init(validating: text)
        } catch {
            throw NodeError.invalidInvite(error)
        }
    }

    private init(validating text: String) throws(InviteError) {
        let utf8 = text.utf8
        guard utf8.count <= Self.maxInputLength else {
            throw .tooLong(length: utf8.count, limit: Self.maxCodeLength)
        }
        var bytes = Array(utf8)
        defer { Sodium.zero(&bytes) }
        if let bad = bytes.firstIndex(where: { $0 >= 0x80 }) {
            throw .notASCII(position: bad + 1)
        }
        var start = 0
        var end = bytes.count
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || (0x09...0x0d).contains($0) }
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        if end - start >= 2, bytes[start] == bytes[end - 1], bytes[start] == UInt8(ascii: "'") || bytes[start] == UInt8(ascii: "\"") {
            start += 1
            end -= 1
        }
        guard end > start else { throw .empty }
        guard end - start <= Self.maxCodeLength else { throw .tooLong(length: end - start, limit: Self.maxCodeLength) }

        let body = try Self.checkPrefix(bytes, start: start, end: end)
        var symbols: [UInt8] = []
        symbols.reserveCapacity(end - body)
        defer { Sodium.zero(&symbols) }
        for i in body..<end {
            guard let value = Base32.symbolValue(bytes[i]) else { throw .invalidCharacter(position: i + 1) }
            symbols.append(value)
        }
        // A length no encoder makes, or set padding bits, can only come from a lost or changed character.
        guard var decoded = Base32.unpack(symbols) else { throw .damaged }
        defer { Sodium.zero(&decoded) }
        guard decoded.count > Self.checksumLength else { throw .damaged }
        let payloadCount = decoded.count - Self.checksumLength
        let stored = decoded[payloadCount...].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard Self.checksum(decoded[..<payloadCount]) == stored else { throw .damaged }
        self = try Self.parse(decoded[..<payloadCount])
    }

    /// Returns where the base32 body starts.
    private static func checkPrefix(_ bytes: [UInt8], start: Int, end: Int) throws(InviteError) -> Int {
        let letters = Array("cvp".utf8)
        guard end - start > letters.count,
            zip(bytes[start..<(start + letters.count)], letters).allSatisfy({ $0 | 0x20 == $1 })
        else { throw .wrongPrefix }
        var i = start + letters.count
        var version = 0
        let digitsStart = i
        while i < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]), i - digitsStart < 3 {
            version = version * 10 + Int(bytes[i] - UInt8(ascii: "0"))
            i += 1
        }
        guard i > digitsStart, i < end, bytes[i] == UInt8(ascii: ":") else { throw .wrongPrefix }
        guard version == Int(formatVersion) else { throw .unsupportedVersion(version) }
        return i + 1
    }

    private static func parse(_ payload: ArraySlice<UInt8>) throws(InviteError) -> Invite {
        // Every read past the end, and the trailing-bytes check, throw `.damaged` (InviteError's ByteReadError).
        var reader = ByteReader<InviteError>(Array(payload))
        let version = try reader.byte("version")
        guard version == formatVersion else { throw .unsupportedVersion(Int(version)) }
        let flags = try reader.byte("flags")
        guard flags & ~Flag.all == 0 else { throw .damaged }
        let host: String
        switch try reader.byte("address kind") {
        case AddressKind.ipv4:
            guard let text = addressText(try reader.raw(4, "IPv4 address"), family: AF_INET) else { throw .damaged }
            host = text
        case AddressKind.ipv6:
            guard let text = addressText(try reader.raw(16, "IPv6 address"), family: AF_INET6) else { throw .damaged }
            host = text
        case AddressKind.dns:
            let raw = try reader.raw(Int(try reader.byte("name length")), "name")
            guard isDNSName(raw) else { throw .damaged }
            host = String(decoding: raw, as: UTF8.self)
        default:
            throw .damaged
        }
        let port = try reader.bigEndian(UInt16.self, "port")
        let secretBytes = try reader.raw(RoomKeys.secretLength, "room secret")
        let ownerBytes = try reader.bytes(PublicKey.length, "owner")
        guard let owner = try? PublicKey(bytes: ownerBytes) else { throw .damaged }
        var displayName: String?
        if flags & Flag.displayName != 0 {
            let raw = try reader.raw(Int(try reader.byte("display name length")), "display name")
            guard let name = String(validating: raw, as: UTF8.self), displayNameProblem(name) == nil else { throw .damaged }
            displayName = name
        }
        var epochSecrets: [SecretBytes] = []
        if flags & Flag.epochs != 0 {
            let count = try reader.byte("epoch count")
            guard (1...UInt8(maxEpochs)).contains(count) else { throw .damaged }
            for _ in 0..<count {
                epochSecrets.append(SecretBytes(copying: try reader.raw(RoomKeys.secretLength, "epoch secret")))
            }
        }
        try reader.finish()
        let route: Route = flags & Flag.direct != 0 ? .direct : .rendezvous
        // Fields decoded from a checked payload satisfy every rule the public initialiser enforces.
        return Invite(
            checked: route, address: HostPort(host: host, port: port), roomSecret: SecretBytes(copying: secretBytes),
            owner: owner, displayName: displayName, epochSecrets: epochSecrets)
    }

    private init(
        checked route: Route, address: HostPort, roomSecret: SecretBytes, owner: PublicKey, displayName: String?,
        epochSecrets: [SecretBytes]
    ) {
        self.epochSecrets = epochSecrets
        self.route = route
        self.address = address
        self.roomSecret = roomSecret
        self.owner = owner
        self.displayName = displayName
    }

    private func payloadBytes() -> [UInt8] {
        var out: [UInt8] = [Self.formatVersion]
        out.reserveCapacity(Self.maxPayloadLength)
        var flags: UInt8 = 0
        if route == .direct { flags |= Flag.direct }
        if displayName != nil { flags |= Flag.displayName }
        if !epochSecrets.isEmpty { flags |= Flag.epochs }
        out.append(flags)
        // Checked in init, so an address always encodes.
        let (kind, raw) = Self.addressBytes(address.host)!
        out.append(kind)
        if kind == AddressKind.dns { out.append(UInt8(raw.count)) }
        out += raw
        out += port16(address.port)
        roomSecret.withUnsafeBytes { out += $0 }
        out += owner.bytes
        if let displayName {
            let name = Array(displayName.utf8)
            out.append(UInt8(name.count))
            out += name
        }
        if !epochSecrets.isEmpty {
            out.append(UInt8(epochSecrets.count))
            for secret in epochSecrets { secret.withUnsafeBytes { out += $0 } }
        }
        return out
    }

    private func port16(_ port: UInt16) -> [UInt8] { [UInt8(port >> 8), UInt8(port & 0xff)] }

    /// Base32 text of `payload` and its checksum, behind the prefix; exposed for format tests only.
    package static func _frame(payload: [UInt8]) -> String { frame(payload) }

    private static func frame(_ payload: [UInt8]) -> String {
        var bytes = framed(payload)
        defer { Sodium.zero(&bytes) }
        return prefix + Base32.encode(bytes)
    }

    /// The payload and its checksum, little-endian.
    private static func framed(_ payload: [UInt8]) -> [UInt8] {
        let crc = checksum(payload[...])
        return payload + [UInt8(crc & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc >> 16 & 0xff), UInt8(crc >> 24)]
    }

    private static func checksum(_ payload: ArraySlice<UInt8>) -> UInt32 {
        var crc = CRC32()
        crc.update(Array(prefix.utf8)[...])
        crc.update(payload)
        return crc.value
    }

    /// The address kind and bytes for `host`, or nil if it is neither an IP literal nor a DNS name.
    private static func addressBytes(_ host: String) -> (UInt8, [UInt8])? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return (AddressKind.ipv4, withUnsafeBytes(of: &v4) { Array($0) }) }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return (AddressKind.ipv6, withUnsafeBytes(of: &v6) { Array($0) }) }
        let raw = Array(host.utf8)
        return isDNSName(raw[...]) ? (AddressKind.dns, raw) : nil
    }

    private static func addressText(_ raw: ArraySlice<UInt8>, family: Int32) -> String? {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let ok = Array(raw).withUnsafeBytes { r in inet_ntop(family, r.baseAddress, &text, socklen_t(text.count)) != nil }
        guard ok else { return nil }
        return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Letters, digits, `.`, `-` and `_` (which some internal names use); no IP-looking colons.
    private static func isDNSName(_ raw: ArraySlice<UInt8>) -> Bool {
        (1...maxDNSNameLength).contains(raw.count)
            && raw.allSatisfy { c in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c | 0x20) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
                    || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
            }
    }

    /// Why `name` cannot be shown as a display name, or nil if it can.
    ///
    /// Control and format characters are refused because the name is printed in terminals and
    /// pages: escape sequences and bidirectional overrides could disguise it or the screen.
    private static func displayNameProblem(_ name: String) -> String? {
        let count = name.utf8.count
        if count == 0 { return "it is empty" }
        if count > maxDisplayNameLength { return "it is \(count) bytes long; the limit is \(maxDisplayNameLength)" }
        let unprintable = name.unicodeScalars.contains { scalar in
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned: true
            default: false
            }
        }
        return unprintable ? "it contains control or invisible characters" : nil
    }

    /// Equal if every field is; the secrets are compared in constant time.
    public static func == (lhs: Invite, rhs: Invite) -> Bool {
        lhs.route == rhs.route && lhs.address == rhs.address && lhs.displayName == rhs.displayName
            && lhs.roomSecret == rhs.roomSecret
    }
}

extension Invite: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// A summary for logs and messages, with the secret redacted.
    public var description: String {
        let via =
            switch route {
            case .rendezvous: "rendezvous"
            case .direct: "direct"
            }
        let name = displayName.map { ", from \($0.debugDescription)" } ?? ""
        return "Invite(\(via) \(address)\(name), secret redacted)"
    }

    /// The same redacted summary, for `String(reflecting:)` and the debugger.
    public var debugDescription: String { description }

    /// Reflection (`dump`, debugger) shows every field but the secret.
    public var customMirror: Mirror {
        Mirror(self, children: ["route": route, "address": address, "displayName": displayName as Any], displayStyle: .struct)
    }
}

/// Why an invite could not be made or read; no case carries the code or the secret.
package enum InviteError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Nothing but spaces was given.
    case empty
    /// The text is longer than any invite (its length in bytes, the longest invite); refused before decoding.
    case tooLong(length: Int, limit: Int)
    /// A byte outside ASCII at this 1-based position: invites are plain letters and digits.
    case notASCII(position: Int)
    /// The text does not start with `cvp2:` (or another `cvpN:`).
    case wrongPrefix
    /// The invite is in a format this cvpeer does not read (the version it claims).
    case unsupportedVersion(Int)
    /// A character that base32 never uses (such as 0, 1, 8 or 9) at this 1-based position.
    case invalidCharacter(position: Int)
    /// The checksum or the structure is wrong: a typo, a swap, or a lost piece.
    case damaged
    /// The address to put in an invite is not a DNS name or IP literal with a port (as given).
    case invalidAddress(String)
    /// The display name cannot be put in an invite (why).
    case invalidDisplayName(String)
    /// The room secret has the wrong length (its length).
    case invalidSecret(length: Int)
    /// The room went through more epochs than a line of text carries (how many, the limit).
    case tooManyEpochs(Int, limit: Int)

    static let askAgain = "this invite is damaged or mistyped — ask for it again"

    /// A sentence for the person who pasted or made the invite, saying what to do.
    public var description: String {
        switch self {
        case .empty: "the invite is empty — paste the whole line that starts with \(Invite.prefix)"
        case let .tooLong(length, limit):
            "this is \(length) characters long but an invite has at most \(limit) — paste only the part that starts with \(Invite.prefix)"
        case let .notASCII(position): "\(Self.askAgain) (character \(position) is not a plain letter or digit)"
        case .wrongPrefix: "this is not a cvpeer invite: an invite starts with \(Invite.prefix)"
        case let .unsupportedVersion(version):
            "this invite is in format \(version), which this cvpeer cannot read — update cvpeer, or ask for a new invite"
        case let .invalidCharacter(position): "\(Self.askAgain) (character \(position) cannot appear in an invite)"
        case .damaged: Self.askAgain
        case let .invalidAddress(text): "cannot invite to \(text): the address must be HOST:PORT, a DNS name or IP address and a port"
        case let .invalidDisplayName(reason): "the name cannot go in an invite: \(reason)"
        case let .invalidSecret(length): "a room secret is \(RoomKeys.secretLength) bytes, not \(length)"
        case let .tooManyEpochs(count, limit):
            "the room's keys changed \(count) times, and an invite carries at most \(limit): open a new room instead"
        }
    }
}

extension InviteError: ByteReadError {
    /// Every fault in an invite's payload is damage: the checksum passed, so it is a mistyped or forged invite.
    public init(_ fault: ByteReadFault) {
        self = .damaged
    }
}
