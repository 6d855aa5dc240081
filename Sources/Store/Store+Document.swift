import PeerCrypto
import Replication

extension Store {
    /// Rebuilds a room's document from its stored batches.
    ///
    /// - Returns: the replica and the stored batches that failed to open (see `verifiedBatches(room:)`).
    public func loadReplica(room: RoomKeys) throws -> (replica: Replica, unreadable: [StoredBatch]) {
        let (verified, unreadable) = try verifiedBatches(room: room)
        return (Replica(document: Document(batches: verified)), unreadable)
    }

    /// A room's stored batches, each opened again, in the store's order (author, then sequence).
    ///
    /// Every batch is opened again (decrypted and its signature verified) rather than trusted,
    /// so a store file edited behind the node's back cannot inject operations in a member's
    /// name. A batch that no longer opens is reported, never returned as verified.
    /// - Returns: the verified batches and the stored batches that failed to open.
    public func verifiedBatches(room: RoomKeys) throws -> (verified: [VerifiedBatch], unreadable: [StoredBatch]) {
        let (opened, unreadable) = Self.reopen(try batches(room: room.tag), room: room)
        return (opened.map(\.batch), unreadable)
    }

    /// Opens stored batches of `room` again, keeping each with its stored form (for a node that
    /// also serves the sealed bytes); those that no longer open are returned apart.
    public static func reopen(_ stored: [StoredBatch], room: RoomKeys)
        -> (opened: [(stored: StoredBatch, batch: VerifiedBatch)], unreadable: [StoredBatch])
    {
        var opened: [(stored: StoredBatch, batch: VerifiedBatch)] = []
        var unreadable: [StoredBatch] = []
        opened.reserveCapacity(stored.count)
        var keys: [UInt32: SecretBytes] = [:]
        for batch in stored {
            do {
                let batchOpened = try BatchSealer.open(batch.sealed) { epoch in
                    if let key = keys[epoch] { return key }
                    let key = room.contentKey(epoch: epoch)
                    keys[epoch] = key
                    return key
                }
                opened.append((batch, VerifiedBatch(opened: batchOpened)))
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
