import PeerCrypto
import Replication

extension Store {
    /// Rebuilds a room's document from its stored batches.
    ///
    /// - Parameter nowMillis: the wall clock; batches stamped too far ahead of it are left out.
    /// - Returns: the replica and the stored batches that failed to open or were left out
    ///   (see `verifiedBatches(room:nowMillis:)`).
    package func loadReplica(room: RoomKeys, nowMillis: UInt64) throws -> (replica: Replica, unreadable: [StoredBatch]) {
        let (verified, unreadable) = try verifiedBatches(room: room, nowMillis: nowMillis)
        return (Replica(document: Document(authority: RoomAuthority(room: room), batches: verified)), unreadable)
    }

    /// A room's stored batches, each opened again, in the store's order (author, then sequence).
    ///
    /// Every batch is opened again (decrypted and its signature verified) rather than trusted,
    /// so a store file edited behind the node's back cannot inject operations in a member's
    /// name. A batch that no longer opens is reported, never returned as verified; so is one with
    /// an operation stamped more than `Limits.maxFutureMillis` ahead of `nowMillis` (it stays in
    /// the store, and counts once the clock has caught up with it).
    /// - Returns: the verified batches and the stored batches that failed to open or were left out.
    public func verifiedBatches(room: RoomKeys, nowMillis: UInt64) throws -> (verified: [VerifiedBatch], unreadable: [StoredBatch]) {
        let (opened, unreadable) = Self.reopen(try batches(room: room.tag), room: room, nowMillis: nowMillis)
        return (opened.map(\.batch), unreadable)
    }

    /// Opens stored batches of `room` again, keeping each with its stored form (for a node that
    /// also serves the sealed bytes); those that no longer open, or are stamped too far ahead of
    /// `nowMillis`, are returned apart. Only the keys' own epoch (and epoch 0) open.
    public static func reopen(_ stored: [StoredBatch], room: RoomKeys, nowMillis: UInt64)
        -> (opened: [(stored: StoredBatch, batch: VerifiedBatch)], unreadable: [StoredBatch])
    {
        var keys: [UInt32: SecretBytes] = [0: room.contentKey(epoch: 0)]
        keys[room.epoch] = room.contentKey(epoch: room.epoch)
        return reopen(stored, roomID: room.roomID, contentKeys: keys, nowMillis: nowMillis)
    }

    /// As `reopen(_:room:nowMillis:)`, with the content key of every epoch held.
    public static func reopen(_ stored: [StoredBatch], roomID: [UInt8], contentKeys keys: [UInt32: SecretBytes], nowMillis: UInt64)
        -> (opened: [(stored: StoredBatch, batch: VerifiedBatch)], unreadable: [StoredBatch])
    {
        let (limit, overflow) = nowMillis.addingReportingOverflow(Limits.maxFutureMillis)
        var opened: [(stored: StoredBatch, batch: VerifiedBatch)] = []
        var unreadable: [StoredBatch] = []
        opened.reserveCapacity(stored.count)
        for batch in stored {
            do {
                let batchOpened = try BatchSealer.open(batch.sealed, room: roomID) { keys[$0] }
                let verified = VerifiedBatch(opened: batchOpened)
                if !overflow, verified.operations.contains(where: { $0.timestamp.millis > limit }) {
                    unreadable.append(batch)
                    continue
                }
                opened.append((batch, verified))
            } catch {
                unreadable.append(batch)
            }
        }
        return (opened, unreadable)
    }

    /// Stores a batch the replica applied, keyed by its verified header.
    public func append(_ applied: [SealedBatch], room: [UInt8]) throws {
        try append(
            applied.map {
                StoredBatch(
                    author: $0.batch.author.publicKey.bytes, sequence: $0.batch.sequence, epoch: $0.batch.epoch,
                    sealed: $0.sealed)
            }, room: room)
    }
}
