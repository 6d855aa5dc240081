import Foundation
import PeerCrypto
import Primitives
import Rendezvous
import Replication
import Store
import Testing
import Transport

@testable import Node

/// Epochs at the node, attacked by a removed member (with every key it ever held) and by a
/// hostile member who is still in the room: engines wired by hand, batches carried between
/// them in sync messages, no sockets.
@Suite("Epochs at the node against removed and hostile members")
struct EpochEngineTests {
    /// An engine of a member (not the owner) of `room`, with its store in `folder`.
    static func member(_ identity: Identity, room: RoomKeys, laterEpochs: [RoomKeys] = [], folder: String) throws -> RoomEngine {
        try RoomEngine(
            identity: identity, room: room, laterEpochs: laterEpochs,
            store: Store(path: folder + "/\(identity.publicKey.fingerprint).sqlite"), nowMillis: 0)
    }

    static let path = TransportPath.direct(.ipv4(127, 0, 0, 1, port: 9))

    /// Carries every batch `from` holds (its author's first, owner's before others') to `to`, as
    /// one sync message from `sender` (a peer `to` is linked with).
    static func carry(_ from: RoomEngine, to: RoomEngine, as sender: PublicKey, only: ((BatchID) -> Bool)? = nil) async throws {
        let owner = ReplicaID(from.room.owner)
        let held = await from.sealed
        let ids = held.keys.filter { only?($0) ?? true }.sorted { a, b in
            (a.author == owner) != (b.author == owner) ? a.author == owner : (a.author, a.sequence) < (b.author, b.sequence)
        }
        let message = SyncMessage(summary: [], batches: ids.map { held[$0]! })
        await to.handle(.message(sender, PeerMessage.sync(try SyncMessageCodec.encode(message)).encoded))
    }

    /// A batch of `identity`'s own, sealed in `epoch` with `contentKey`, made by hand (the local
    /// API would refuse it): what a hostile member's modified node sends.
    static func forged(
        _ edits: [Edit], by identity: Identity, sequence: UInt64, previous: [UInt8], counter: UInt64, epoch: UInt32,
        contentKey: SecretBytes, room: RoomKeys
    ) throws -> SealedBatch {
        var draft = BatchDraft(author: ReplicaID(identity.publicKey), sequence: sequence, startCounter: counter, previous: previous)
        for edit in edits { _ = try draft.append(edit, at: HLC(millis: 1_000, logical: 0)) }
        return try draft.seal(identity: identity, epoch: epoch, contentKey: contentKey, room: room.roomID)
    }

    @Test("a member that already holds the new epoch's keys (it came back with a new invite) still closes the removed member's link when the removal is merged")
    func removalClosesTheLinkWhenTheEpochWasAlreadyHeld() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let owner = setup.engine
        let (dan, rita) = (Identity.generate(), Identity.generate())
        // Rita is admitted, writes, and Dan has all of that.
        await owner.handle(.linkUp(dan.publicKey, path: Self.path))
        await owner.handle(.linkUp(rita.publicKey, path: Self.path))
        let ritaNode = try Self.member(rita, room: setup.room, folder: setup.folder)
        await ritaNode.handle(.linkUp(setup.identity.publicKey, path: Self.path))
        try await Self.carry(owner, to: ritaNode, as: setup.identity.publicKey)
        try await ritaNode.commit([.say("Rita, before")])
        try await Self.carry(ritaNode, to: owner, as: rita.publicKey)
        // The owner removes Rita. Dan was away; he comes back with the new invite, which carries
        // epoch 1's secret, over his old store: his document still has Rita as a member.
        let ownerID = ReplicaID(setup.identity.publicKey)
        let before = await owner.vector[ownerID]
        try await owner.startEpoch(removing: [ReplicaID(rita.publicKey)])
        let secrets = try #require(await owner.laterEpochSecrets)
        let epochOne = try setup.room.inEpoch(1, secret: secrets[0])
        let danNode = try Self.member(dan, room: setup.room, laterEpochs: [epochOne], folder: setup.folder)
        await danNode.handle(.linkUp(setup.identity.publicKey, path: Self.path))
        try await Self.carry(owner, to: danNode, as: setup.identity.publicKey) { $0.author != ownerID || $0.sequence <= before }
        #expect(await danNode.document.isAdmitted(ReplicaID(rita.publicKey)))
        #expect(await danNode.sealingEpoch == 1)
        // Rita, still in epoch 0, links with Dan: he has not heard of her removal (a partition).
        await danNode.handle(.linkUp(rita.publicKey, path: Self.path))
        #expect(await danNode.peers[rita.publicKey] != nil)
        // The removal reaches Dan: he must close Rita's link as any member does.
        try await Self.carry(owner, to: danNode, as: setup.identity.publicKey)
        #expect(await danNode.document.isRemoved(ReplicaID(rita.publicKey)))
        #expect(await danNode.peers[rita.publicKey] == nil, "the removed member is still linked")
        #expect(await danNode.counters.removedPeerLinks == 1)
    }

    /// `identity`'s next batch as its own node would draft it, sealed in `epoch` under
    /// `contentKey` whatever the local API says (a hostile or removed member's modified node).
    static func handMade(
        _ edits: [Edit], by identity: Identity, on node: RoomEngine, epoch: UInt32, contentKey: SecretBytes, room: RoomKeys
    ) async throws -> SealedBatch {
        var draft = await node.replica.draft(author: ReplicaID(identity.publicKey))
        for edit in edits { _ = try draft.append(edit, at: HLC(millis: 1_000, logical: 0)) }
        return try draft.seal(identity: identity, epoch: epoch, contentKey: contentKey, room: room.roomID)
    }

    static func send(_ batches: [SealedBatch], to node: RoomEngine, from peer: PublicKey) async throws {
        let message = SyncMessage(summary: [], batches: batches.map(\.sealed))
        await node.handle(.message(peer, PeerMessage.sync(try SyncMessageCodec.encode(message)).encoded))
    }

    @Test("a hostile member's epoch change (its own secret, a box for everyone) and its batches in that epoch count nowhere; the owner's change is the one learnt")
    func aMembersForgedEpochChangeCountsNowhere() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let owner = setup.engine
        let (ana, max) = (Identity.generate(), Identity.generate())
        await owner.handle(.linkUp(ana.publicKey, path: Self.path))
        await owner.handle(.linkUp(max.publicKey, path: Self.path))
        let anaNode = try Self.member(ana, room: setup.room, folder: setup.folder)
        let maxNode = try Self.member(max, room: setup.room, folder: setup.folder)
        for node in [anaNode, maxNode] {
            await node.handle(.linkUp(setup.identity.publicKey, path: Self.path))
            try await Self.carry(owner, to: node, as: setup.identity.publicKey)
        }
        await anaNode.handle(.linkUp(max.publicKey, path: Self.path))
        await owner.handle(.linkUp(max.publicKey, path: Self.path))
        // Max draws a secret and seals it to everyone, removing Ana, in what claims to be epoch 1.
        let chosen = SecretBytes(randomCount: EpochSecretBox.secretLength)
        var boxes: [ReplicaID: [UInt8]] = [:]
        for key in [setup.identity.publicKey, max.publicKey] {
            boxes[ReplicaID(key)] = try EpochSecretBox.seal(chosen, epoch: 1, roomID: setup.room.roomID, to: key)
        }
        let change = EpochChange(epoch: 1, removed: [.init(member: ReplicaID(ana.publicKey), fromSequence: 1)], boxes: boxes)
        await #expect(throws: NodeError.self) { try await maxNode.commit([.startEpoch(change)]) }
        let forgedChange = try await Self.handMade(
            [.startEpoch(change)], by: max, on: maxNode, epoch: 0, contentKey: setup.room.contentKey(epoch: 0), room: setup.room)
        let maxKeys = try setup.room.inEpoch(1, secret: chosen)
        var afterForge = await maxNode.replica
        _ = afterForge.receive(forgedChange)
        var draft = afterForge.draft(author: ReplicaID(max.publicKey))
        _ = try draft.append(.say("in my epoch"), at: HLC(millis: 2_000, logical: 0))
        let inHisEpoch = try draft.seal(identity: max, epoch: 1, contentKey: maxKeys.contentKey(epoch: 1), room: setup.room.roomID)
        for node in [owner, anaNode] {
            try await Self.send([forgedChange, inHisEpoch], to: node, from: max.publicKey)
            let document = await node.document
            #expect(document.currentEpoch == 0 && !document.isRemoved(ReplicaID(ana.publicKey)))
            #expect(document.rejectedOperations[ReplicaID(max.publicKey)] == 1)
            let (sealing, links) = (await node.sealingEpoch, await node.epochs.links)
            #expect(sealing == 0 && links == 0)
            #expect(await node.epochKeys[1] == nil)
            #expect(!document.chat.map(\.text).contains("in my epoch"))
            #expect(await node.counters.rejectedBatches >= 1)
        }
        // The owner's own change is the one every member learns; Max's batch still opens nowhere.
        try await owner.startEpoch(removing: [])
        try await Self.carry(owner, to: anaNode, as: setup.identity.publicKey)
        let ownerSecret = try #require(await owner.epochKeys[1]?.epochSecret)
        #expect(await anaNode.epochKeys[1]?.epochSecret == ownerSecret)
        #expect(await anaNode.epochKeys[1]?.epochSecret != chosen)
        try await Self.send([inHisEpoch], to: anaNode, from: max.publicKey)
        #expect(await !anaNode.document.chat.map(\.text).contains("in my epoch"))
        #expect(await anaNode.document.stateHash == owner.document.stateHash)
    }

    @Test("a removed member's later batches, sealed in its last epoch or claiming a later one (up to 2^32 - 1), are excluded before they are opened, everywhere")
    func aRemovedMembersBatchesOfAnyEpochCountNowhere() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let owner = setup.engine
        let (dan, rita) = (Identity.generate(), Identity.generate())
        await owner.handle(.linkUp(dan.publicKey, path: Self.path))
        await owner.handle(.linkUp(rita.publicKey, path: Self.path))
        let danNode = try Self.member(dan, room: setup.room, folder: setup.folder)
        let ritaNode = try Self.member(rita, room: setup.room, folder: setup.folder)
        for node in [danNode, ritaNode] {
            await node.handle(.linkUp(setup.identity.publicKey, path: Self.path))
            try await Self.carry(owner, to: node, as: setup.identity.publicKey)
        }
        try await ritaNode.commit([.say("Rita, before")])
        try await Self.carry(ritaNode, to: owner, as: rita.publicKey)
        try await owner.startEpoch(removing: [ReplicaID(rita.publicKey)])
        try await Self.carry(owner, to: danNode, as: setup.identity.publicKey)
        #expect(await danNode.sealingEpoch == 1)
        let hashes = (await owner.document.stateHash, await danNode.document.stateHash)
        #expect(hashes.0 == hashes.1)
        // Rita has not heard (or ignores it): she writes on in epoch 0, and forges headers of
        // epochs she never held, with keys of her own.
        try await ritaNode.commit([.say("Rita, after")])
        let after = try #require(await ritaNode.sealed[BatchID(author: ReplicaID(rita.publicKey), sequence: 2)])
        var batches = [SealedBatch]()
        var replica = await ritaNode.replica
        for epoch in [UInt32(1), 2, UInt32.max] {
            var draft = replica.draft(author: ReplicaID(rita.publicKey))
            _ = try draft.append(.say("Rita in epoch \(epoch)"), at: HLC(millis: 3_000, logical: 0))
            let batch = try draft.seal(
                identity: rita, epoch: epoch, contentKey: SecretBytes(randomCount: 32), room: setup.room.roomID)
            batches.append(batch)
            _ = replica.receive(batch)
        }
        for (node, sender) in [(owner, dan.publicKey), (danNode, setup.identity.publicKey)] {
            await node.handle(.linkUp(rita.publicKey, path: Self.path))
            #expect(await node.peers[rita.publicKey] == nil, "a removed member's new link is closed at once")
            // What others pass on for her fares no better.
            let message = SyncMessage(summary: [], batches: [after] + batches.map(\.sealed))
            await node.handle(.message(sender, PeerMessage.sync(try SyncMessageCodec.encode(message)).encoded))
            #expect(await node.counters.removedBatches == 4)
            #expect(await node.document.chat.map(\.text) == ["Rita, before"])
        }
        #expect(await owner.document.stateHash == hashes.0)
        #expect(await danNode.document.stateHash == hashes.1)
    }
}

/// Invites with every later epoch they may carry, and what a short code can carry.
@Suite("Invites with epochs")
struct InviteEpochLimitTests {
    @Test("the largest invite (a 253-character name, a 48-byte display name, 16 epochs) round-trips and, sealed with the host's confirmation, fits a code answer; a 17th epoch is refused")
    func sixteenEpochsFitAndSeventeenDoNot() throws {
        let owner = Identity.generate().publicKey
        let host = String(repeating: "a", count: 63) + "." + String(repeating: "b", count: 63) + "." + String(repeating: "c", count: 63) + "."
            + String(repeating: "d", count: 61)
        #expect(host.utf8.count == 253)
        let secrets = (0..<Invite.maxEpochs).map { _ in SecretBytes(randomCount: 32) }
        let invite = try Invite(
            route: .rendezvous, address: HostPort(host: host, port: 65535), roomSecret: SecretBytes(randomCount: 32), owner: owner,
            displayName: String(repeating: "n", count: Invite.maxDisplayNameLength), epochSecrets: secrets)
        let binary = invite.binary
        let back = try Invite(binary: binary)
        #expect(back.epochSecrets.count == 16 && zip(back.epochSecrets, secrets).allSatisfy { $0 == $1 })
        #expect(try Invite(code: invite.code).epochSecrets.count == 16)
        #expect(binary.count <= ShortCodeKeys.maxInviteLength)
        #expect(ShortCodeKeys.confirmationLength + ShortCodeKeys.sealOverhead + binary.count <= RendezvousWire.maxCodePayloadSize)
        #expect(throws: NodeError.self) {
            try Invite(
                route: .rendezvous, address: HostPort(host: host, port: 1), roomSecret: SecretBytes(randomCount: 32), owner: owner,
                epochSecrets: secrets + [SecretBytes(randomCount: 32)])
        }
        // The count byte is checked: 0 or 17 under the flag is damage, not a trap.
        var payload = Array(binary.dropLast(4))
        let countIndex = payload.count - 16 * 32 - 1
        #expect(payload[countIndex] == 16)
        for count: UInt8 in [0, 17, 255] {
            payload[countIndex] = count
            #expect(throws: NodeError.self) { try Invite(binary: Self.framed(payload)) }
        }
    }

    /// Payload and its CRC-32 as `Invite.binary` frames it.
    static func framed(_ payload: [UInt8]) -> [UInt8] {
        var crc: UInt32 = 0xffff_ffff
        for byte in Array("cvp2:".utf8) + payload {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
        }
        crc ^= 0xffff_ffff
        return payload + [UInt8(crc & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc >> 16 & 0xff), UInt8(crc >> 24)]
    }
}
