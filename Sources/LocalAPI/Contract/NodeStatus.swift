/// `GET /api/status`'s answer and the live feed's `status` message: what the viewer's status panel
/// and `cvpeer status` read. Keys are the JSON keys; the engine maps its model into these plain values.
public struct NodeStatus: Codable, Sendable, Equatable {
    /// `"status"` on the live feed; absent from `GET /api/status`.
    public var type: String?
    /// This node.
    public var me: Me
    /// The room tag's first four bytes in hex.
    public var room: String
    /// Linked peers, by public key.
    public var peers: [Peer]
    /// Blob transfers in progress.
    public var transfers: [Transfer]
    /// Every visible item's photo or video: held whole, or arriving and how far, so the viewer
    /// knows when it can show one without asking for the blob.
    public var blobs: [Blob]
    /// The merged document's hash.
    public var stateHash: String
    /// Sealed batches held.
    public var batches: Int
    /// The local UDP endpoint, empty before the transport runs.
    public var listen: String
    /// The rendezvous address, `null` without one (written out: the viewer tests for null).
    @WrittenAsNull public var rendezvous: String?
    /// True once the rendezvous acknowledged this node's registration.
    public var registered: Bool
    /// Blob chunks and hash lists that failed their checks.
    public var blobChecks: BlobChecks
    /// Members who signed two different batches at one position, and from which batch.
    public var equivocators: [Equivocator]
    /// On the owner's node with `host --approve`: who waits for the agent's decision.
    public var joinRequests: [JoinRequest]
    /// Who the owner admitted, as what: the roles every node applies.
    public var members: [Member]
    /// Operations the room's rules rejected, per author: they had no effect on any node.
    public var rejectedOperations: [RejectedOperations]
    /// Batches refused before they reached the document, by reason.
    public var refusedBatches: RefusedBatches
    /// The room's epoch, the one this node's links run in, and whether this node was removed.
    public var epoch: Epoch
    /// Who was removed, when, by whom.
    public var removals: [Removal]
    /// Links refused because their peer was removed.
    public var removedPeerLinks: Int
    /// The bounds the node checks requests against, so the viewer can check them first.
    public var limits: Limits
    /// Short codes this node gave: number, state and end, never the words.
    public var codes: [Code]
    /// Handshakes and packets the link layer dropped, by reason.
    public var linkDrops: [String: Int]
    /// Pointers refused since start.
    public var pointersRefused: PointersRefused
    /// Batches dropped by the per-author quota, per author.
    public var quotaDrops: [QuotaDrop]

    /// Creates a status.
    public init(
        type: String? = nil, me: Me, room: String, peers: [Peer], transfers: [Transfer], stateHash: String, batches: Int,
        listen: String, rendezvous: String?, registered: Bool, blobChecks: BlobChecks, equivocators: [Equivocator],
        joinRequests: [JoinRequest], members: [Member], rejectedOperations: [RejectedOperations],
        refusedBatches: RefusedBatches, epoch: Epoch, removals: [Removal], removedPeerLinks: Int, limits: Limits,
        codes: [Code], linkDrops: [String: Int], pointersRefused: PointersRefused, quotaDrops: [QuotaDrop],
        blobs: [Blob] = []
    ) {
        self.blobs = blobs
        self.type = type
        self.me = me
        self.room = room
        self.peers = peers
        self.transfers = transfers
        self.stateHash = stateHash
        self.batches = batches
        self.listen = listen
        self.rendezvous = rendezvous
        self.registered = registered
        self.blobChecks = blobChecks
        self.equivocators = equivocators
        self.joinRequests = joinRequests
        self.members = members
        self.rejectedOperations = rejectedOperations
        self.refusedBatches = refusedBatches
        self.epoch = epoch
        self.removals = removals
        self.removedPeerLinks = removedPeerLinks
        self.limits = limits
        self.codes = codes
        self.linkDrops = linkDrops
        self.pointersRefused = pointersRefused
        self.quotaDrops = quotaDrops
    }

    /// This node as the API describes it (`me` in status and state).
    public struct Me: Codable, Sendable, Equatable {
        /// The replica id in hex.
        public var id: String
        /// The display name, empty before the profile is set.
        public var name: String
        /// The role's name, or `not admitted yet`.
        public var role: String
        /// True on the room owner's node.
        public var owner: Bool
        /// The identity key's fingerprint.
        public var fingerprint: String
        /// Creates the description.
        public init(id: String, name: String, role: String, owner: Bool, fingerprint: String) {
            (self.id, self.name, self.role, self.owner, self.fingerprint) = (id, name, role, owner, fingerprint)
        }
    }

    /// A linked peer.
    public struct Peer: Codable, Sendable, Equatable {
        /// The replica id in hex.
        public var id: String
        /// The display name, empty before the profile arrived.
        public var name: String
        /// The role's name, or `not admitted`.
        public var role: String
        /// The identity key's fingerprint.
        public var fingerprint: String
        /// `direct` or `relayed`.
        public var path: String
        /// The safety number both sides compare out of band.
        public var safetyNumber: String
        /// `in sync`, `behind N`, `ahead N` or `waiting`.
        public var sync: String
        /// Chunks and hash lists from this peer that failed their checks.
        public var badChunks: Int
        /// The peer's address, or the relay's.
        public var address: String
        /// The smoothed round trip in milliseconds (two decimals), absent before one was measured.
        public var rttMillis: Double?
        /// The epoch whose keys made the link's current session, absent before a session.
        public var epoch: Int?
        /// Creates a peer.
        public init(
            id: String, name: String, role: String, fingerprint: String, path: String, safetyNumber: String,
            sync: String, badChunks: Int, address: String, rttMillis: Double? = nil, epoch: Int? = nil
        ) {
            (self.id, self.name, self.role, self.fingerprint, self.path) = (id, name, role, fingerprint, path)
            (self.safetyNumber, self.sync, self.badChunks, self.address) = (safetyNumber, sync, badChunks, address)
            (self.rttMillis, self.epoch) = (rttMillis, epoch)
        }
    }

    /// A blob transfer in progress.
    public struct Transfer: Codable, Sendable, Equatable {
        /// The item showing the blob, empty if none does.
        public var item: String
        /// The blob id in hex.
        public var blob: String
        /// Chunks held and in all.
        public var have: Int
        public var total: Int
        /// Bytes held (at most `size`) and the blob's size.
        public var bytes: UInt64
        public var size: UInt64
        /// Chunks held in percent, one decimal.
        public var percent: Double
        /// Creates a transfer.
        public init(item: String, blob: String, have: Int, total: Int, bytes: UInt64, size: UInt64, percent: Double) {
            (self.item, self.blob, self.have, self.total) = (item, blob, have, total)
            (self.bytes, self.size, self.percent) = (bytes, size, percent)
        }
    }

    /// A visible item's blob and how much of it this node holds.
    public struct Blob: Codable, Sendable, Equatable {
        /// The blob id in hex.
        public var blob: String
        /// The (first) item showing it.
        public var item: String
        /// `complete` (held whole and checked: every range can be read), `arriving` (ranges whose
        /// chunks are here can be read) or `failed` (its chunks do not make up its id, or it is
        /// larger than a node fetches).
        public var state: String
        /// Chunks held and in all.
        public var have: Int
        public var total: Int
        /// Bytes held (at most `size`) and the blob's size.
        public var bytes: UInt64
        public var size: UInt64
        /// Creates a blob's line.
        public init(blob: String, item: String, state: String, have: Int, total: Int, bytes: UInt64, size: UInt64) {
            (self.blob, self.item, self.state, self.have, self.total, self.bytes, self.size) = (blob, item, state, have, total, bytes, size)
        }
    }

    /// Blob chunk and hash-list checks.
    public struct BlobChecks: Codable, Sendable, Equatable {
        public var poisonedChunks: Int
        public var badHashLists: Int
        public var repairedChunks: Int
        /// Creates the counts.
        public init(poisonedChunks: Int, badHashLists: Int, repairedChunks: Int) {
            (self.poisonedChunks, self.badHashLists, self.repairedChunks) = (poisonedChunks, badHashLists, repairedChunks)
        }
    }

    /// A member who signed two batches at one position.
    public struct Equivocator: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        /// The position from which their batches are ignored.
        public var fromBatch: Int
        /// Creates the entry.
        public init(id: String, name: String, fromBatch: Int) { (self.id, self.name, self.fromBatch) = (id, name, fromBatch) }
    }

    /// Someone waiting for the owner's agent to admit them.
    public struct JoinRequest: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var fingerprint: String
        /// When they knocked, Unix milliseconds.
        public var since: Int64
        /// Creates the entry.
        public init(id: String, name: String, fingerprint: String, since: Int64) {
            (self.id, self.name, self.fingerprint, self.since) = (id, name, fingerprint, since)
        }
    }

    /// An admitted member.
    public struct Member: Codable, Sendable, Equatable {
        public var id: String
        public var role: String
        public var owner: Bool
        public var name: String
        /// Creates the entry.
        public init(id: String, role: String, owner: Bool, name: String) {
            (self.id, self.role, self.owner, self.name) = (id, role, owner, name)
        }
    }

    /// Operations of one author the room's rules rejected.
    public struct RejectedOperations: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var count: Int
        /// Creates the entry.
        public init(id: String, name: String, count: Int) { (self.id, self.name, self.count) = (id, name, count) }
    }

    /// Batches refused before the document, by reason.
    public struct RefusedBatches: Codable, Sendable, Equatable {
        public var notAuthentic: Int
        public var tooFarAhead: Int
        public var notAdmitted: Int
        public var removed: Int
        /// Creates the counts.
        public init(notAuthentic: Int, tooFarAhead: Int, notAdmitted: Int, removed: Int) {
            (self.notAuthentic, self.tooFarAhead, self.notAdmitted, self.removed) = (notAuthentic, tooFarAhead, notAdmitted, removed)
        }
    }

    /// The room's epoch and this node's.
    public struct Epoch: Codable, Sendable, Equatable {
        /// The room's epoch: every node agrees once synced.
        public var room: Int
        /// The epoch this node's links run in.
        public var links: Int
        /// True once this node was removed from the room.
        public var removedFromRoom: Bool
        /// Creates the epochs.
        public init(room: Int, links: Int, removedFromRoom: Bool) {
            (self.room, self.links, self.removedFromRoom) = (room, links, removedFromRoom)
        }
    }

    /// A removal: who, in which epoch, by whom, when.
    public struct Removal: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var epoch: Int
        public var by: String
        public var byName: String
        /// Unix milliseconds.
        public var at: Int64
        /// Creates the entry.
        public init(id: String, name: String, epoch: Int, by: String, byName: String, at: Int64) {
            (self.id, self.name, self.epoch, self.by, self.byName, self.at) = (id, name, epoch, by, byName, at)
        }
    }

    /// The bounds the node checks requests against.
    public struct Limits: Codable, Sendable, Equatable {
        public var strokePoints: Int
        public var quantity: Int
        public var textBytes: Int
        public var titleBytes: Int
        /// The largest file `POST /api/share` takes: the node's one blob limit.
        public var uploadBytes: Int
        /// Creates the bounds.
        public init(strokePoints: Int, quantity: Int, textBytes: Int, titleBytes: Int, uploadBytes: Int) {
            (self.strokePoints, self.quantity, self.textBytes, self.titleBytes) = (strokePoints, quantity, textBytes, titleBytes)
            self.uploadBytes = uploadBytes
        }
    }

    /// A short code this node gave.
    public struct Code: Codable, Sendable, Equatable {
        public var nameplate: Int
        /// The code's state's raw value.
        public var state: String
        /// When it ends, Unix milliseconds.
        public var expires: Int64
        /// Creates the entry.
        public init(nameplate: Int, state: String, expires: Int64) {
            (self.nameplate, self.state, self.expires) = (nameplate, state, expires)
        }
    }

    /// Pointers refused since start.
    public struct PointersRefused: Codable, Sendable, Equatable {
        public var forged: Int
        public var replayed: Int
        public var unknownAuthor: Int
        /// Creates the counts.
        public init(forged: Int, replayed: Int, unknownAuthor: Int) {
            (self.forged, self.replayed, self.unknownAuthor) = (forged, replayed, unknownAuthor)
        }
    }

    /// Batches of one author the quota dropped.
    public struct QuotaDrop: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var batches: Int
        /// Creates the entry.
        public init(id: String, name: String, batches: Int) { (self.id, self.name, self.batches) = (id, name, batches) }
    }
}
