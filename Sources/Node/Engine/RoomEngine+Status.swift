import Foundation
import PeerCrypto
import Primitives
import Replication
import Transport

extension RoomEngine {
    /// This node as the API describes it: id, name, role, fingerprint.
    var meObject: [String: Any] {
        let profile = replica.document.participants.first { $0.id == me }?.profile
        return [
            "id": me.hex, "name": profile?.name ?? "", "role": myRole?.name ?? "not admitted yet",
            "owner": isOwner, "fingerprint": identity.publicKey.fingerprint,
        ]
    }

    /// `{"document": …, "stateHash": …}` and any extra members, written around the canonical bytes
    /// so a large document is never parsed back into objects.
    func documentText(extra: [String: Any]) -> String {
        let document = replica.document
        var text = "{\"document\":" + String(decoding: document.canonicalBytes, as: UTF8.self)
        text += ",\"stateHash\":\"" + document.stateHash + "\""
        for (key, value) in extra.sorted(by: { $0.key < $1.key }) {
            let inner = Self.text(["v": value])
            // `{"v":X}` → X: the value serialised by JSONSerialization, escapes included.
            text += ",\"" + key + "\":" + inner.dropFirst(5).dropLast()
        }
        return text + "}"
    }

    /// The live feed's state message (and `GET /api/state`'s answer).
    func stateText() -> String {
        documentText(extra: ["type": "state", "me": meObject, "prices": priceTexts])
    }

    /// Each priced item's price as people read and type it (`129.90 EUR`), by item id: the viewer
    /// shows these rather than formatting minor units by a rule of its own.
    var priceTexts: [String: String] {
        var prices: [String: String] = [:]
        for item in replica.document.panel {
            if case .price(let price)? = item.fields[.price] { prices[item.id.canonicalString] = CommandInput.format(price) }
        }
        return prices
    }

    /// The bounds a request must keep that the viewer checks before sending (Replication's `Limits`).
    static var viewerLimits: [String: Any] {
        [
            "strokePoints": Limits.maxStrokePoints, "quantity": Int(Limits.maxQuantity),
            "textBytes": Limits.maxTextBytes, "titleBytes": Limits.maxTitleBytes,
        ]
    }

    /// The status as `GET /api/status` answers it.
    func statusText() -> String { Self.text(statusObject(type: nil)) }

    /// The status as `GET /api/status` and the live feed give it.
    func statusObject(type: String?) -> [String: Any] {
        let status = transport?.status
        var linked: [[String: Any]] = []
        let document = replica.document
        for peer in peers.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            guard let state = peers[peer] else { continue }
            let participant = ReplicaID(peer)
            let profile = document.participants.first { $0.id == participant }?.profile
            let role = document.role(of: participant)
            let info = status?.peers.first { $0.peer == peer }
            var entry: [String: Any] = [
                "id": participant.hex, "name": profile?.name ?? "", "role": role?.name ?? "not admitted",
                "fingerprint": peer.fingerprint,
                "path": state.path.isRelayed ? "relayed" : "direct",
                "safetyNumber": PublicKey.safetyNumber(roomTag: room.tag, identity.publicKey, peer),
                "sync": syncDescription(peer: state.sync.peerVector),
                "badChunks": blobChecks.badPeers[peer] ?? 0,
            ]
            switch state.path {
            case .direct(let endpoint): entry["address"] = endpoint.description
            case .relay: entry["address"] = transport?.rendezvousAddress?.description ?? "relay"
            }
            if let rtt = info?.reliability.smoothedRTT { entry["rttMillis"] = (Double(rtt) / 1e4).rounded() / 100 }
            // The epoch whose keys made the link's current session (an older one until both sides moved).
            if let epoch = info?.link.epoch { entry["epoch"] = epoch }
            linked.append(entry)
        }
        var object: [String: Any] = [
            "me": meObject, "room": Hex.string(room.tag.prefix(4)), "peers": linked, "transfers": transferList,
            "stateHash": document.stateHash, "batches": sealed.count,
            "listen": status?.localEndpoint?.description ?? "", "rendezvous": transport?.rendezvousAddress?.description ?? NSNull(),
            "registered": status?.registered ?? false,
            "blobChecks": [
                "poisonedChunks": counters.poisonedChunks, "badHashLists": counters.badHashLists,
                "repairedChunks": counters.repairedChunks,
            ],
                        "equivocators": document.equivocators.sorted(by: { $0.key < $1.key }).map { participant, fork in
                [
                    "id": participant.hex, "name": document.participants.first { $0.id == participant }?.profile.name ?? "",
                    "fromBatch": fork,
                ] as [String: Any]
            },
            // On the owner's node with `host --approve`: who waits for the agent's decision.
            "joinRequests": admissionRequests.map { request in
                ["id": request.member.hex, "name": request.name, "fingerprint": request.fingerprint, "since": request.sinceMillis] as [String: Any]
            },
            // Who the owner admitted, as what: the roles every node applies.
            "members": document.members.map { member in
                [
                    "id": member.id.hex, "role": member.role.name, "owner": member.id == ReplicaID(room.owner),
                    "name": document.participants.first { $0.id == member.id }?.profile.name ?? "",
                ] as [String: Any]
            },
            // Operations the room's rules rejected, per author: they had no effect on any node.
            "rejectedOperations": document.rejectedOperations.sorted(by: { $0.key < $1.key }).map { author, count in
                [
                    "id": author.hex, "name": document.participants.first { $0.id == author }?.profile.name ?? "",
                    "count": count,
                ] as [String: Any]
            },
            "refusedBatches": [
                "notAuthentic": counters.rejectedBatches, "tooFarAhead": counters.futureBatches,
                "notAdmitted": counters.unadmittedBatches, "removed": counters.removedBatches,
            ],
            // The room's epoch (every node agrees once synced), the one this node's links run in,
            // and who was removed, when, by whom.
            "epoch": ["room": document.currentEpoch, "links": linkEpoch, "removedFromRoom": document.isRemoved(me)] as [String: Any],
            "removals": removals.map { removal in
                [
                    "id": removal.member.hex, "name": removal.name, "epoch": removal.epoch, "by": removal.by.hex,
                    "byName": document.participants.first { $0.id == removal.by }?.profile.name ?? "", "at": removal.atMillis,
                ] as [String: Any]
            },
            "removedPeerLinks": counters.removedPeerLinks,
            "limits": Self.viewerLimits,
            // Short codes this node gave: number, state and end, never the words.
            "codes": givenCodes.map { ["nameplate": $0.nameplate, "state": $0.state.rawValue, "expires": $0.expiresMillis] as [String: Any] },
        ]
        // Handshakes and packets the link layer dropped, by reason (e.g. olderEpochRefused: a
        // removed member, or an invite the room has moved past, knocking in an old epoch).
        var linkDrops: [String: Int] = [:]
        for (reason, count) in status?.link.drops ?? [:] { linkDrops[String(describing: reason)] = count }
        object["linkDrops"] = linkDrops
        let refused = presence.refusals
        object["pointersRefused"] = ["forged": refused.forged, "replayed": refused.replayed, "unknownAuthor": refused.unknownAuthor]
        var drops: [[String: Any]] = []
        for (author, count) in remoteQuota.dropped.sorted(by: { $0.key < $1.key }) {
            let name = document.participants.first { $0.id == author }?.profile.name ?? ""
            drops.append(["id": author.hex, "name": name, "batches": count])
        }
        object["quotaDrops"] = drops
        if let type { object["type"] = type }
        return object
    }

    /// How a peer's last announced vector compares with ours.
    private func syncDescription(peer: VersionVector?) -> String {
        guard let peer else { return "waiting" }
        let local = replica.vector
        var behind: UInt64 = 0
        var ahead: UInt64 = 0
        for author in Set(local.authors + peer.authors) {
            let (ours, theirs) = (local[author], peer[author])
            if theirs > ours { behind += theirs - ours } else { ahead += ours - theirs }
        }
        if behind == 0, ahead == 0 { return "in sync" }
        if behind > 0 { return "behind \(behind)" }
        return "ahead \(ahead)"
    }
}

/// A small snapshot of a running node for the terminal: who is linked and what is arriving.
public struct NodeSummary: Sendable, Equatable {
    /// A linked peer: display name and whether the path is relayed.
    public struct Peer: Sendable, Equatable {
        /// The peer's display name (or its fingerprint before its profile arrived).
        public var name: String
        /// True when packets go through the rendezvous relay.
        public var relayed: Bool
    }
    /// A blob transfer: which item, and how far along.
    public struct Transfer: Sendable, Equatable {
        /// The item's title, or its id.
        public var item: String
        /// Chunks held and in all.
        public var have: Int
        public var total: Int
    }
    /// Linked peers, by name.
    public var peers: [Peer]
    /// Transfers in progress.
    public var transfers: [Transfer]
}

extension RoomEngine {
    /// Who is linked and what is arriving, for the terminal of `host` and `join`.
    public func summary() -> NodeSummary {
        let document = replica.document
        let linked = peers.map { key, state in
            NodeSummary.Peer(
                name: document.participants.first { $0.id == ReplicaID(key) }?.profile.name ?? key.fingerprint,
                relayed: state.path.isRelayed)
        }.sorted { $0.name < $1.name }
        let arriving = transfers.transfers.values.map { transfer in
            let item = document.panel.first { item in
                if case .media(let blob)? = item.fields[.media] { return blob.id == transfer.key.id }
                return false
            }
            var name = item?.id.canonicalString ?? Hex.string(transfer.key.id.prefix(8))
            if case .title(let title)? = item?.fields[.title] { name = title }
            return NodeSummary.Transfer(item: name, have: transfer.haveCount, total: Int(transfer.key.count))
        }.sorted { $0.item < $1.item }
        return NodeSummary(peers: linked, transfers: arriving)
    }
}
