import Foundation
import LocalAPI
import PeerCrypto
import Primitives
import Rendezvous
import Replication
import Transport

extension RoomEngine {
    /// This node as the API describes it: id, name, role, fingerprint.
    var meDescription: NodeStatus.Me {
        let profile = replica.document.participants.first { $0.id == me }?.profile
        return NodeStatus.Me(
            id: me.hex, name: profile?.name ?? "", role: myRole?.name ?? "not admitted yet", owner: isOwner,
            fingerprint: identity.publicKey.fingerprint)
    }

    /// `{"document": …, "stateHash": …}` and any extra members, written around the canonical bytes
    /// so a large document is never parsed back into objects.
    func documentText(extra: StateExtras? = nil) -> String {
        let document = replica.document
        var text = "{\"document\":" + String(decoding: document.canonicalBytes, as: UTF8.self)
        text += ",\"stateHash\":\"" + document.stateHash + "\""
        if let extra {
            // `{…}` → `,…`: the extras' members (keys sorted, all after `stateHash`) join the object.
            text += "," + APIJSON.text(extra).dropFirst().dropLast()
        }
        return text + "}"
    }

    /// The live feed's state message (and `GET /api/state`'s answer).
    func stateText() -> String {
        documentText(extra: StateExtras(me: meDescription, prices: priceTexts))
    }

    /// Each priced item's price as people read and type it (`129.90 EUR`), by item id: the viewer
    /// shows these rather than formatting minor units by a rule of its own.
    var priceTexts: [String: String] {
        var prices: [String: String] = [:]
        for item in replica.document.panel {
            if case .price(let price)? = item.fields[.price] { prices[item.id.canonicalString] = price.text }
        }
        return prices
    }

    /// The bounds a request must keep that the viewer checks before sending (Replication's `Limits`),
    /// and the largest file `POST /api/share` takes (`maxBlobSize`, the upload route's body limit).
    static var viewerLimits: NodeStatus.Limits {
        NodeStatus.Limits(
            strokePoints: Limits.maxStrokePoints, quantity: Int(Limits.maxQuantity), textBytes: Limits.maxTextBytes,
            titleBytes: Limits.maxTitleBytes, uploadBytes: maxBlobSize)
    }

    /// The status as `GET /api/status` answers it.
    func statusText() -> String { APIJSON.text(status(type: nil)) }

    /// The status as `GET /api/status` and the live feed give it.
    func status(type: String?) -> NodeStatus {
        let status = transport?.status
        var linked: [NodeStatus.Peer] = []
        let document = replica.document
        func name(_ participant: ReplicaID) -> String {
            document.participants.first { $0.id == participant }?.profile.name ?? ""
        }
        for peer in peers.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            guard let state = peers[peer] else { continue }
            let participant = ReplicaID(peer)
            let role = document.role(of: participant)
            let info = status?.peers.first { $0.peer == peer }
            let address: String
            switch state.path {
            case .direct(let endpoint): address = endpoint.description
            case .relay: address = transport?.rendezvousAddress?.description ?? "relay"
            }
            linked.append(
                NodeStatus.Peer(
                    id: participant.hex, name: name(participant), role: role?.name ?? "not admitted",
                    fingerprint: peer.fingerprint, path: state.path.isRelayed ? "relayed" : "direct",
                    safetyNumber: PublicKey.safetyNumber(roomTag: room.tag, identity.publicKey, peer),
                    sync: syncDescription(peer: state.sync.peerVector), badChunks: blobChecks.badPeers[peer] ?? 0,
                    address: address, rttMillis: (info?.reliability.smoothedRTT).map { (Double($0) / 1e4).rounded() / 100 },
                    // The epoch whose keys made the link's current session (an older one until both sides moved).
                    epoch: (info?.link.epoch).map { Int($0) }))
        }
        // Handshakes and packets the link layer dropped, by reason (e.g. olderEpochRefused: a
        // removed member, or an invite the room has moved past, knocking in an old epoch).
        var linkDrops: [String: Int] = [:]
        for (reason, count) in status?.link.drops ?? [:] { linkDrops[String(describing: reason)] = count }
        let refused = presence.refusals
        return NodeStatus(
            type: type, me: meDescription, room: Hex.string(room.tag.prefix(4)), peers: linked, transfers: transferList,
            stateHash: document.stateHash, batches: sealed.count, listen: status?.localEndpoint?.description ?? "",
            rendezvous: transport?.rendezvousAddress?.description, registered: status?.registered ?? false,
            blobChecks: NodeStatus.BlobChecks(
                poisonedChunks: counters.poisonedChunks, badHashLists: counters.badHashLists,
                repairedChunks: counters.repairedChunks),
            equivocators: document.equivocators.sorted(by: { $0.key < $1.key }).map { participant, fork in
                NodeStatus.Equivocator(id: participant.hex, name: name(participant), fromBatch: Int(fork))
            },
            joinRequests: admissionRequests.map { request in
                NodeStatus.JoinRequest(
                    id: request.member.hex, name: request.name, fingerprint: request.fingerprint, since: Int64(request.sinceMillis))
            },
            members: document.members.map { member in
                NodeStatus.Member(
                    id: member.id.hex, role: member.role.name, owner: member.id == ReplicaID(room.owner), name: name(member.id))
            },
            rejectedOperations: document.rejectedOperations.sorted(by: { $0.key < $1.key }).map { author, count in
                NodeStatus.RejectedOperations(id: author.hex, name: name(author), count: Int(count))
            },
            refusedBatches: NodeStatus.RefusedBatches(
                notAuthentic: counters.rejectedBatches, tooFarAhead: counters.futureBatches,
                notAdmitted: counters.unadmittedBatches, removed: counters.removedBatches),
            epoch: NodeStatus.Epoch(
                room: Int(document.currentEpoch), links: Int(linkEpoch), removedFromRoom: document.isRemoved(me)),
            removals: removals.map { removal in
                NodeStatus.Removal(
                    id: removal.member.hex, name: removal.name, epoch: Int(removal.epoch), by: removal.by.hex,
                    byName: name(removal.by), at: Int64(removal.atMillis))
            },
            removedPeerLinks: counters.removedPeerLinks, limits: Self.viewerLimits,
            codes: givenCodes.map {
                NodeStatus.Code(nameplate: Int($0.nameplate), state: $0.state.rawValue, expires: Int64($0.expiresMillis))
            },
            linkDrops: linkDrops,
            pointersRefused: NodeStatus.PointersRefused(
                forged: refused.forged, replayed: refused.replayed, unknownAuthor: refused.unknownAuthor),
            quotaDrops: remoteQuota.dropped.sorted(by: { $0.key < $1.key }).map { author, count in
                NodeStatus.QuotaDrop(id: author.hex, name: name(author), batches: Int(count))
            },
            blobs: blobList)
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
