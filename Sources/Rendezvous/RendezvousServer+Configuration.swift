extension RendezvousServer {
    /// The server's limits and timers; every field defaults to the named constant of the same name.
    ///
    /// Every table the server keeps is bounded by one of these, so its memory is bounded whatever
    /// it receives. docs/PROTOCOL.md lists the same names and values.
    public struct Configuration: Sendable, Equatable {
        /// How many rooms may exist at once.
        public var maxRooms = Self.defaultMaxRooms
        /// How many peers one room may hold.
        public var maxPeersPerRoom = Self.defaultMaxPeersPerRoom
        /// How many registrations may exist at once across all rooms.
        package var maxPeers = Self.defaultMaxPeers
        /// How many registrations one source (IPv4 address or IPv6 /64) may hold.
        package var maxRegistrationsPerSource = Self.defaultMaxRegistrationsPerSource
        /// How many registrations one source address and port may hold.
        package var maxRegistrationsPerEndpoint = Self.defaultMaxRegistrationsPerEndpoint
        /// Datagrams per second admitted from one source, on average.
        package var sourcePacketsPerSecond = Self.defaultSourcePacketsPerSecond
        /// Datagrams one source may send in a burst above its average.
        package var sourcePacketBurst = Self.defaultSourcePacketBurst
        /// Bytes per second admitted from one source, on average.
        package var sourceBytesPerSecond = Self.defaultSourceBytesPerSecond
        /// Bytes one source may send in a burst above its average.
        package var sourceByteBurst = Self.defaultSourceByteBurst
        /// How many sources' rate-limit buckets are tracked; the oldest is evicted when full.
        package var maxTrackedSources = Self.defaultMaxTrackedSources
        /// Relayed bytes per second per room, on average.
        public var roomRelayBytesPerSecond = Self.defaultRoomRelayBytesPerSecond
        /// Relayed bytes a room may send in a burst above its average.
        public var roomRelayBurstBytes = Self.defaultRoomRelayBurstBytes
        /// How long a relay reservation's window lasts; a refresh in its last `refreshInterval` or
        /// after it opens the next window.
        package var relayReservationLifetime = Self.defaultRelayReservationLifetime
        /// Bytes (whole datagrams) one registration may have relayed in one reservation window.
        package var relayReservationBytes = Self.defaultRelayReservationBytes
        /// A registration not refreshed for this long is removed.
        package var registrationLifetime = Self.defaultRegistrationLifetime
        /// The refresh interval the server tells nodes in `registered`.
        package var refreshInterval = Self.defaultRefreshInterval
        /// How often the cookie secret is replaced; the previous secret stays valid for one more period.
        package var secretRotationInterval = Self.defaultSecretRotationInterval
        /// How often expired registrations and idle rate-limit buckets are swept.
        package var sweepInterval = Self.defaultSweepInterval
        /// How many short-code nameplates may be held at once (open, knocked, or finished and not
        /// yet released); at most `RendezvousWire.maxNameplate`.
        package var maxNameplates = Self.defaultMaxNameplates
        /// How many nameplates one source (IPv4 address or IPv6 /64) may hold at once.
        package var maxNameplatesPerSource = Self.defaultMaxNameplatesPerSource
        /// The lifetime of a short-code mailbox, and the most a host may ask for.
        package var codeLifetime = Self.defaultCodeLifetime
        /// How long a finished mailbox keeps its nameplate before the number is released.
        package var codeLinger = Self.defaultCodeLinger
        /// A repeated knock is forwarded (or its answer sent) again at most once per this interval.
        package var codeRepeatInterval = Self.defaultCodeRepeatInterval
        /// New knocks admitted from one source per second, on average.
        package var sourceKnocksPerSecond = Self.defaultSourceKnocksPerSecond
        /// New knocks one source may send in a burst above its average.
        package var sourceKnockBurst = Self.defaultSourceKnockBurst

        /// Signature checks per second for one source (IPv4 address or IPv6 /64), on average.
        package var sourceSignatureChecksPerSecond = Self.defaultSourceSignatureChecksPerSecond
        /// Signature checks one source may ask for in a burst above its average.
        package var sourceSignatureCheckBurst = Self.defaultSourceSignatureCheckBurst
        /// How long a retired room tag refuses registers.
        package var retiredRoomLifetime = Self.defaultRetiredRoomLifetime
        /// How many retired tags are remembered; the oldest is forgotten first when full.
        package var maxRetiredRooms = Self.defaultMaxRetiredRooms

        /// New rooms one IPv4 address may hold at once (rooms of allowed owners are not counted against it).
        package var maxRoomsPerIPv4Address = Self.defaultMaxRoomsPerIPv4Address
        /// New rooms one IPv4 /24 may hold at once.
        package var maxRoomsPerIPv4Slash24 = Self.defaultMaxRoomsPerIPv4Slash24
        /// New rooms one IPv6 /64 may hold at once.
        package var maxRoomsPerIPv6Slash64 = Self.defaultMaxRoomsPerIPv6Slash64
        /// New rooms one IPv6 /56 may hold at once.
        package var maxRoomsPerIPv6Slash56 = Self.defaultMaxRoomsPerIPv6Slash56
        /// New rooms one IPv6 /48 may hold at once.
        package var maxRoomsPerIPv6Slash48 = Self.defaultMaxRoomsPerIPv6Slash48

        /// The defaults.
        public init() {}

        /// 64 rooms per IPv4 address: a shop's NAT with a few agents each hosting a few sessions
        /// is far below it, yet filling the 65,536-room table needs 1,024 addresses.
        package static let defaultMaxRoomsPerIPv4Address = 64
        /// 256 per IPv4 /24: four busy addresses of one network; filling the table needs 256 /24s.
        package static let defaultMaxRoomsPerIPv4Slash24 = 256
        /// 64 per IPv6 /64, the same as an IPv4 address: a /64 is one subnet, usually one site.
        package static let defaultMaxRoomsPerIPv6Slash64 = 64
        /// 256 per IPv6 /56, the same as an IPv4 /24: a home or small office gets a /56 (this is
        /// the limit a single subscriber hits).
        package static let defaultMaxRoomsPerIPv6Slash56 = 256
        /// 1,024 per IPv6 /48, a whole site's allocation; filling the table needs 64 of them.
        package static let defaultMaxRoomsPerIPv6Slash48 = 1_024

        /// 200 checks/s per source: a node signs one register per refresh interval per room, so
        /// even 256 registrations behind one NAT need about 17 a second; 200 Ed25519 checks cost
        /// about 10 ms of one core, so one address cannot keep the server busy verifying.
        package static let defaultSourceSignatureChecksPerSecond = 200.0
        /// One second's worth: a shop's nodes restarting together are not refused.
        package static let defaultSourceSignatureCheckBurst = 200.0
        /// 3,600 s: far longer than the 30 s a node keeps its previous epoch's registration and the
        /// 45 s a registration lives, so a removed member finds the old tag closed long after
        /// everyone has left it; after that it is an empty room only the removed could enter.
        package static let defaultRetiredRoomLifetime = Duration.seconds(3_600)
        /// 65,536 tags (about 60 bytes each, a few MB): as many as rooms, so every room could
        /// retire one epoch an hour.
        package static let defaultMaxRetiredRooms = 65_536

        /// 65,536 rooms: far beyond what one shop runs at once, yet with a room of one peer at
        /// about 1 KB the whole table stays in tens of megabytes.
        public static let defaultMaxRooms = 65_536
        /// 16 peers: a coviewing session is an agent, a customer and a few guests; the server
        /// sends a joining peer one introduce per member, so this also bounds that fan-out.
        public static let defaultMaxPeersPerRoom = 16
        /// 262,144 registrations (four per room on average): bounds memory even when many rooms
        /// are full, at a few hundred bytes per registration.
        package static let defaultMaxPeers = 262_144
        /// 256 per IPv4 address or IPv6 /64: one shop's NAT or a carrier-grade NAT shares an address
        /// among many real nodes, yet a single address cannot fill the room table (65,536 / 256
        /// addresses would be needed, each proven by a cookie).
        package static let defaultMaxRegistrationsPerSource = 256
        /// 8 per address and port: one node's socket may sit in a few rooms at once; the cap keeps
        /// the relay's per-source lookup short.
        package static let defaultMaxRegistrationsPerEndpoint = 8
        /// 2,000 datagrams/s per source: one node relaying at the full room rate sends about
        /// 1,700 full-size datagrams a second; a flooder gets no more than that.
        package static let defaultSourcePacketsPerSecond = 2_000.0
        /// One second's worth: a node catching up after a stall is not cut off.
        package static let defaultSourcePacketBurst = 2_000.0
        /// 2.5 MB/s per source: a little above the room relay rate, so for relaying the room limit
        /// is the one that binds.
        package static let defaultSourceBytesPerSecond = 2_500_000.0
        /// One second's worth.
        package static let defaultSourceByteBurst = 2_500_000.0
        /// 65,536 buckets of about 100 bytes each: a few megabytes however many addresses a flood
        /// spoofs. Evicting a bucket only resets it to full, which errs on the side of the sender.
        package static let defaultMaxTrackedSources = 65_536
        /// 2 MB/s per room: comfortable for pointers, document sync and photos while punching
        /// is tried, yet one room cannot take a small server's whole uplink.
        public static let defaultRoomRelayBytesPerSecond = 2_000_000.0
        /// One second's worth.
        package static let defaultRoomRelayBurstBytes = 2_000_000.0
        /// 1,800 s (30 minutes): a window long enough that an hour's coviewing session is two
        /// windows, renewed by the refresh a node sends every 15 s anyway, so a member present and
        /// refreshing never sees it lapse; the budget below is counted per window, which is what
        /// keeps the relay from being a bulk pipe.
        package static let defaultRelayReservationLifetime = Duration.seconds(1_800)
        /// 268,435,456 bytes (256 MiB) per registration per window, about 150 KB/s averaged over
        /// the window: a relayed hour of pointers, document sync, a few dozen phone photos and a
        /// few minutes of video fits in the two windows, while a member pushing bulk data at the
        /// room rate (2 MB/s) runs out in about two minutes and waits for the next window.
        package static let defaultRelayReservationBytes = 268_435_456
        /// 45 s: three refresh intervals, so two lost refreshes in a row do not drop a node.
        package static let defaultRegistrationLifetime = Duration.seconds(45)
        /// 15 s: the same as the nodes' keepalive, which also keeps the NAT binding to the
        /// rendezvous open (many NATs forget UDP bindings after 30 s).
        package static let defaultRefreshInterval = Duration.seconds(15)
        /// 120 s: a cookie is then valid between 120 and 240 s, many refreshes, while a stolen
        /// cookie goes stale within minutes.
        package static let defaultSecretRotationInterval = Duration.seconds(120)
        /// 1 s: registrations expire at most a second late; a sweep of the full tables costs
        /// milliseconds, so once a second is cheap.
        package static let defaultSweepInterval = Duration.seconds(1)
        /// 999, every nameplate: a held mailbox is at most about 1.3 KB (its largest answer kept
        /// for a repeated knock), so the whole table stays near a megabyte. Lower it to keep
        /// nameplates short; the number space itself is the bound.
        package static let defaultMaxNameplates = 999
        /// 16 per IPv4 address or IPv6 /64: a shop's agents behind one NAT open a few codes a
        /// minute, yet one address cannot take more than 16 of the 999 numbers.
        package static let defaultMaxNameplatesPerSource = 16
        /// 600 s: ten minutes to read a code out on the phone and type it, after which an unused
        /// code is worth nothing to whoever overheard it.
        package static let defaultCodeLifetime = Duration.seconds(600)
        /// 60 s: covers a joiner's repeated knocks (their answer was lost) many times over, and
        /// a late lookup learns the code was used instead of landing on a reused number.
        package static let defaultCodeLinger = Duration.seconds(60)
        /// 1 s: a joiner retries every 0.5 to 4 s; forwarding each at most once a second keeps a
        /// knock flood from reaching the host.
        package static let defaultCodeRepeatInterval = Duration.seconds(1)
        /// 0.1 (one every 10 s): a customer knocks once per code, while one address can burn at
        /// most a few of other people's codes a minute.
        package static let defaultSourceKnocksPerSecond = 0.1
        /// 8: a few customers behind one NAT knocking at once are not refused.
        package static let defaultSourceKnockBurst = 8.0
    }
}
