import PeerCrypto
import Replication

extension Store {
    /// Rebuilds a room's document from its stored batches.
    ///
    /// Every batch is opened again (decrypted and its signature verified) rather than trusted,
    /// so a store file edited behind the node's back cannot inject operations in a member's
    /// name. A batch that no longer opens is reported, never applied.
    /// - Returns: the replica and the ids of stored batches that failed to open.
    public func loadReplica(room: RoomKeys) throws -> (replica: Replica, unreadable: [StoredBatch]) {
        var verified: [VerifiedBatch] = []
        var unreadable: [StoredBatch] = []
        let stored = try batches(room: room.tag)
        verified.reserveCapacity(stored.count)
        var keys: [UInt32: SecretBytes] = [:]
        for batch in stored {
            do {
                let opened = try BatchSealer.open(batch.sealed) { epoch in
                    if let key = keys[epoch] { return key }
                    let key = room.contentKey(epoch: epoch)
                    keys[epoch] = key
                    return key
                }
                verified.append(VerifiedBatch(opened: opened))
            } catch {
                unreadable.append(batch)
            }
        }
        return (Replica(document: Document(batches: verified)), unreadable)
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
