import Foundation
import PeerCrypto
import Store

@testable import Node

/// An engine that owns a fresh room (its identity is the owner's), with its store in a
/// temporary folder that `remove()` deletes: what most engine tests start from.
struct OwnedEngine {
    let folder: String
    let identity: Identity
    let room: RoomKeys
    let engine: RoomEngine

    init() throws {
        folder = NSTemporaryDirectory() + "cvpeer-engine-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        identity = Identity.generate()
        room = RoomKeys.generate(owner: identity.publicKey)
        engine = try RoomEngine(identity: identity, room: room, store: Store(path: folder + "/store.sqlite"), nowMillis: 0)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: folder)
    }
}
