extension RendezvousServer {
    /// Why a datagram was dropped without a reply.
    public enum DropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
        /// Wrong size, non-zero reserved bytes, or fields that do not decode.
        case malformed
        /// The type byte is not a rendezvous message type.
        case unknownType
        /// A rendezvous → node message type sent to the server.
        case unexpectedType
        /// The source is over its packet or byte rate.
        case rateLimited
        /// A new room while `maxRooms` rooms exist.
        case roomLimit
        /// A new peer in a room that holds `maxPeersPerRoom` peers.
        case roomFull
        /// A new registration while `maxPeers` exist.
        case peerLimit
        /// The source address (or /64) already holds `maxRegistrationsPerSource` registrations.
        case sourceRegistrationLimit
        /// The source address and port already hold `maxRegistrationsPerEndpoint` registrations.
        case endpointRegistrationLimit
        /// A relay from an address with no registration.
        case relayFromUnregistered
        /// A relay to a peer id that is not in any room of the sender.
        case relayUnknownTarget
        /// A relay over the room's relay bandwidth.
        case relayBandwidth
        /// An unregister without a valid cookie, or for a peer not registered at the source.
        case unregisterRejected
        /// A codeOpen while `maxNameplates` are held (answered with codeError `unavailable`).
        case codeLimit
        /// A codeOpen from a source holding `maxNameplatesPerSource` (answered with `unavailable`).
        case codeSourceLimit
        /// A code request naming a nameplate no mailbox holds (answered with `unknown`).
        case codeUnknown
        /// A code request naming an expired mailbox (answered with `expired`).
        case codeExpired
        /// A lookup or knock on a mailbox already knocked, answered, burnt or closed (answered
        /// with that reason): the second guess is refused.
        case codeUsed
        /// An answer, burn, close or refresh not from the mailbox's host address and nonce, or
        /// naming another knock: ignored.
        case codeRejected
        /// A register, unregister or retire whose room tag is not `RoomTag(registrationKey:)` of
        /// the key it carries.
        case badRoomKey
        /// A register, unregister or retire whose signature does not verify under its key.
        case badSignature
        /// A register, unregister or retire from a source over its signature-check rate.
        case signatureRateLimited
        /// A register under a tag a member retired (within `retiredRoomLifetime`).
        case roomRetired
        /// A repeated knock within `codeRepeatInterval` of the last forward: ignored.
        case codeRepeat
        /// A new knock from a source over its knock rate: ignored.
        case codeKnockRate
        /// A relay from a peer whose reservation window is over and not yet renewed by a refresh.
        case relayReservationExpired
        /// A relay from a peer that has spent its reservation's byte budget for this window.
        case relayReservationExhausted
        /// A register that would create a room, at a rendezvous with an allow list, without an
        /// owner part whose key is on the list (a small registerRefused is sent back).
        case ownerNotAllowed
        /// A register that would create a room carried an owner part whose signature does not verify.
        case badOwnerSignature
        /// A new room from a source prefix (IPv4 address or /24, IPv6 /64, /56 or /48) holding as
        /// many rooms as its `maxRoomsPer…` limit.
        case roomPrefixLimit

        /// Words for the debug log.
        public var description: String {
            switch self {
            case .malformed: "malformed"
            case .unknownType: "unknown type"
            case .unexpectedType: "type not accepted by the rendezvous"
            case .rateLimited: "source over its rate limit"
            case .roomLimit: "room limit reached"
            case .roomFull: "room full"
            case .peerLimit: "registration limit reached"
            case .sourceRegistrationLimit: "source holds too many registrations"
            case .endpointRegistrationLimit: "address and port hold too many registrations"
            case .relayFromUnregistered: "relay from an unregistered address"
            case .relayUnknownTarget: "relay to a peer not in the sender's rooms"
            case .relayBandwidth: "room over its relay bandwidth"
            case .unregisterRejected: "unregister not proven"
            case .codeLimit: "no nameplate free"
            case .codeSourceLimit: "source holds too many nameplates"
            case .codeUnknown: "unknown nameplate"
            case .codeExpired: "expired nameplate"
            case .codeUsed: "nameplate already used"
            case .codeRejected: "code request not from the mailbox's host or for another knock"
            case .badRoomKey: "room tag not bound to the registration key"
            case .badSignature: "registration signature does not verify"
            case .signatureRateLimited: "source over its signature-check rate"
            case .roomRetired: "register under a retired room tag"
            case .codeRepeat: "knock repeated too soon"
            case .codeKnockRate: "source over its knock rate"
            case .relayReservationExpired: "relay reservation expired, not yet renewed"
            case .relayReservationExhausted: "relay reservation's byte budget spent"
            case .ownerNotAllowed: "room creation by an owner not on the allow list"
            case .badOwnerSignature: "owner signature does not verify"
            case .roomPrefixLimit: "source prefix holds too many rooms"
            }
        }
    }

    /// A counter per drop reason.
    public struct DropCounts: Equatable, Sendable {
        private var counts = [Int](repeating: 0, count: DropReason.allCases.count)

        /// No drops.
        public init() {}

        /// The drops counted for `reason`.
        public subscript(reason: DropReason) -> Int {
            get { counts[reason.rawValue] }
            set { counts[reason.rawValue] = newValue }
        }

        /// All drops.
        public var total: Int { counts.reduce(0, +) }
    }

    /// Counts for logs and tests: the current table sizes and cumulative event counters.
    public struct Stats: Equatable, Sendable {
        /// Rooms that exist now.
        public var rooms = 0
        /// Registrations that exist now.
        public var peers = 0
        /// Rate-limit buckets tracked now.
        package var trackedSources = 0
        /// Registers accepted (new and refreshes).
        package var registrations = 0
        /// Cookie challenges sent.
        package var challengesSent = 0
        /// Introduce messages sent.
        package var introductionsSent = 0
        /// Datagrams relayed.
        package var relayedPackets = 0
        /// Bytes relayed (whole datagrams).
        package var relayedBytes = 0
        /// Relay reservations opened (one with each new registration; every registration holds one).
        package var relayReservationsOpened = 0
        /// Relay reservation windows renewed by a refresh.
        package var relayReservationsRenewed = 0
        /// Reservation windows that ended by time with relays refused (counted once per window).
        package var relayReservationsExpired = 0
        /// Reservation windows whose byte budget ran out (counted once per window).
        package var relayReservationsExhausted = 0
        /// Registrations removed for lack of refresh.
        package var expiredPeers = 0
        /// Registrations removed by unregister.
        package var unregisteredPeers = 0
        /// Retires accepted (tags newly retired).
        package var roomsRetired = 0
        /// Retired tags remembered now.
        package var retiredRooms = 0
        /// Signatures checked (register, unregister, retire).
        package var signatureChecks = 0
        /// Times the cookie secret was replaced.
        package var secretRotations = 0
        /// Short-code nameplates held now (open, knocked, or finished and not yet released).
        package var nameplates = 0
        /// Mailboxes opened.
        package var codesOpened = 0
        /// First knocks accepted and forwarded to a host.
        package var codeKnocks = 0
        /// Mailboxes answered (the payload forwarded to the joiner).
        package var codesAnswered = 0
        /// Mailboxes burnt by their host after a wrong guess.
        package var codesBurnt = 0
        /// Mailboxes closed by their host.
        package var codesClosed = 0
        /// Mailboxes that expired unfinished.
        package var codesExpired = 0
        /// codeError datagrams sent.
        package var codeErrorsSent = 0
        /// registerRefused datagrams sent (room creation refused to an owner not on the allow list).
        package var refusalsSent = 0
        /// Rooms of owners not on the allow list removed to make room for an allowed owner's.
        package var roomsEvicted = 0
        /// Datagrams dropped, by reason.
        public var drops = DropCounts()

        /// All zero.
        public init() {}
    }
}
