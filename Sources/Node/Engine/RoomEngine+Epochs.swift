import PeerCrypto
import Replication
import Transport

/// Epochs at the node: which keys it holds, when it moves its links to a new epoch, and the
/// owner's removals and rotations.
///
/// The merge decides who is removed and from which batch on (every replica alike); this part
/// only follows it. An epoch's secret reaches a member in its own box inside the owner's signed
/// change, so a node learns an epoch by opening its box; a removed member has no box and never
/// learns the epoch that removed it, nor any after. Epochs before the newest stay held: history
/// stays readable, and members who were offline during a change still link in the old epoch
/// (their key is checked after the handshake) until sync brings them the change.
extension RoomEngine {
    /// The newest epoch this node holds the keys of: its new batches are sealed in it.
    var sealingEpoch: UInt32 { epochKeys.keys.max() ?? 0 }

    /// Opens this identity's boxes in the document's epoch changes; true if an epoch was new.
    static func learnEpochs(
        from document: Document, identity: Identity, room: RoomKeys, into keys: inout [UInt32: RoomKeys],
        contentKeys: inout [UInt32: SecretBytes]
    ) -> Bool {
        var learnt = false
        let me = ReplicaID(identity.publicKey)
        for (epoch, entry) in document.epochChanges where keys[epoch] == nil {
            guard let box = entry.change.boxes[me],
                let secret = try? EpochSecretBox.open(box, epoch: epoch, roomID: room.roomID, identity: identity),
                let epochKeys = try? room.inEpoch(epoch, secret: secret)
            else { continue }
            keys[epoch] = epochKeys
            contentKeys[epoch] = epochKeys.contentKey(epoch: epoch)
            learnt = true
        }
        return learnt
    }

    /// After a change of the document's epochs or removals: learns the new epochs, moves the
    /// transport to the newest held, and closes links to removed members (or, if this node was
    /// removed, stops).
    ///
    /// A removal is acted on even when its epoch brings nothing new here: a node that came
    /// back with a newer invite already holds (and links in) the epoch that removed someone it
    /// may have linked with before it merged the change.
    func epochsChanged() {
        _ = Self.learnEpochs(from: replica.document, identity: identity, room: room, into: &epochKeys, contentKeys: &contentKeys)
        let document = replica.document
        let removalsChanged = document.removed.count != removalsSeen
        removalsSeen = document.removed.count
        for peer in peers.keys where document.isRemoved(ReplicaID(peer)) {
            counters.removedPeerLinks += 1
            peers.removeValue(forKey: peer)
            transport?.disconnect(peer)
        }
        guard !document.isRemoved(me) else {
            // Nobody of the room talks to us any more; our own links go too, quietly.
            for peer in peers.keys { transport?.disconnect(peer) }
            peers = [:]
            pushStatus()
            return
        }
        let members = Set(document.members.map(\.id.publicKey)).subtracting([identity.publicKey])
        let newest = sealingEpoch
        if newest > linkEpoch, let keys = epochKeys[newest] {
            linkEpoch = newest
            cancelWaitingCodes()
            transport?.switchEpoch(to: keys, older: epochKeys.values.filter { $0.epoch < newest }, olderEpochPeers: members)
            pushStatus()
        } else if removalsChanged, linkEpoch > 0, let keys = epochKeys[linkEpoch] {
            // Links stay in their epoch; only who may still complete a handshake in an older one
            // changes, so the removed member's old keys stop letting it in.
            transport?.switchEpoch(to: keys, older: epochKeys.values.filter { $0.epoch < linkEpoch }, olderEpochPeers: members)
            pushStatus()
        }
    }

    /// Whether a peer whose link just came up may stay: a removed member may not.
    func refuseIfRemoved(_ peer: PublicKey) -> Bool {
        guard replica.document.isRemoved(ReplicaID(peer)) else { return false }
        counters.removedPeerLinks += 1
        transport?.disconnect(peer)
        return true
    }

    /// The owner starts a new epoch: a fresh secret sealed to every member that stays, and the
    /// members in `removing` removed from one past their last batch the owner holds. With
    /// nobody to remove, it is a rotation (a leaked invite stops working).
    ///
    /// - Returns: the new epoch's number.
    /// - Throws: `NodeError.forbidden` on any node but the owner's, `.badRequest` for the owner
    ///   itself or a participant who is not a member, `StoreError` if it could not be stored.
    @discardableResult
    public func startEpoch(removing: [ReplicaID]) throws -> UInt32 {
        guard isOwner else { throw NodeError.forbidden("only the room's owner removes members or changes the room's keys") }
        let document = replica.document
        for member in removing {
            guard member != me else { throw NodeError.badRequest("the owner cannot remove itself") }
            guard document.isAdmitted(member) else {
                throw NodeError.badRequest("\(member.publicKey.fingerprint) is not a member of the room (removed already, or never admitted)")
            }
        }
        let epoch = document.currentEpoch + 1
        guard epoch <= Invite.maxEpochs else {
            throw NodeError.badRequest(
                "this room has changed its keys \(Invite.maxEpochs) times, the most an invite carries: open a new room (cvpeer host) instead")
        }
        let secret = SecretBytes(randomCount: EpochSecretBox.secretLength)
        var boxes: [ReplicaID: [UInt8]] = [:]
        for member in document.members.map(\.id) where !removing.contains(member) {
            boxes[member] = try EpochSecretBox.seal(secret, epoch: epoch, roomID: room.roomID, to: member.publicKey)
        }
        let removals = removing.map { EpochChange.Removal(member: $0, fromSequence: document.vector[$0] + 1) }
        // Whoever still waits for the agent's decision came with the invite this change retires:
        // no box, so they are turned away now and need the new invite.
        for member in pendingAdmissions.keys {
            pendingAdmissions[member] = nil
            transport?.disconnect(member.publicKey)
        }
        try commit([.startEpoch(EpochChange(epoch: epoch, removed: removals, boxes: boxes))])
        return epoch
    }

    /// The secrets of every later epoch held, 1 up to the newest, for an invite to the room as
    /// it is now; nil if one is missing (this node was offline during a change it cannot open).
    package var laterEpochSecrets: [SecretBytes]? {
        let newest = sealingEpoch
        guard newest > 0 else { return [] }
        var secrets: [SecretBytes] = []
        for epoch in 1...newest {
            guard let keys = epochKeys[epoch] else { return nil }
            secrets.append(keys.epochSecret)
        }
        return secrets
    }

    /// The invite to the room as it is now: the one the node started with, carrying every later
    /// epoch's secret (an invite from before a change admits nobody after it).
    ///
    /// - Throws: `NodeError.badRequest` when this node has no invite to give or lacks an epoch.
    package func currentInvite() throws -> Invite {
        guard let base = inviteBase else { throw NodeError.badRequest("this node has no invite to give") }
        guard let secrets = laterEpochSecrets else {
            throw NodeError.badRequest("this node has not learnt every epoch of the room yet; try again once it has synced")
        }
        return try Invite(
            route: base.route, address: base.address, roomSecret: base.roomSecret, owner: base.owner, displayName: base.displayName,
            epochSecrets: secrets)
    }

    /// Sets the invite `currentInvite()` starts from (the host's route and address).
    func setInviteBase(_ invite: Invite) {
        inviteBase = invite
    }

    /// One removal as status shows it.
    public struct RemovalRecord: Sendable, Equatable {
        /// Who was removed.
        public let member: ReplicaID
        /// The name its profile gave.
        public let name: String
        /// The epoch that removed it.
        public let epoch: UInt32
        /// Who removed it (the owner).
        public let by: ReplicaID
        /// When (the owner's clock, ms since 1970).
        public let atMillis: UInt64
    }

    /// Every removal, oldest first.
    public var removals: [RemovalRecord] {
        let document = replica.document
        let names = Dictionary(document.participants.map { ($0.id, $0.profile.name) }, uniquingKeysWith: { a, _ in a })
        return document.epochChanges.sorted { $0.key < $1.key }.flatMap { epoch, entry in
            entry.change.removed.map {
                RemovalRecord(member: $0.member, name: names[$0.member] ?? "", epoch: epoch, by: entry.id.replica, atMillis: entry.at.millis)
            }
        }
    }

    /// The keys of the epoch this node's links run in (a transport starts with them).
    package var linkKeys: RoomKeys { epochKeys[linkEpoch] ?? room }

    /// The room's current epoch (as the merged document says) and the one this node's links run in.
    package var epochs: (room: UInt32, links: UInt32) { (replica.document.currentEpoch, linkEpoch) }

    /// The epoch of each linked peer's current session (benchmarks and tests).
    package func linkSessionEpochs() -> [UInt32] {
        let status = transport?.status
        return peers.keys.map { peer in status?.peers.first { $0.peer == peer }?.link.epoch ?? 0 }
    }
}
