// A child process for the store's crash-safety test: makes real document batches (an item, then
// marks on it), appends each in its own transaction, and prints "ok SEQ" after each append
// returns, until it is killed.
//
// usage: StoreCrashWriter DB-PATH ROOM-SECRET-HEX AUTHOR-SEED-HEX
@preconcurrency import Glibc
import PeerCrypto
import Replication
import Store

func bytes(fromHex hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var iterator = hex.utf8.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
        out.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)!)
    }
    return out
}

let arguments = CommandLine.arguments
guard arguments.count == 4 else {
    fputs("usage: StoreCrashWriter DB-PATH ROOM-SECRET-HEX AUTHOR-SEED-HEX\n", stderr)
    exit(2)
}
let author = try Identity(seed: SecretBytes(copying: bytes(fromHex: arguments[3])))
// The writer owns the room, so its batches need no grant.
let room = try RoomKeys(secret: SecretBytes(copying: bytes(fromHex: arguments[2])), owner: author.publicKey)
let me = ReplicaID(author.publicKey)
let store = try Store(path: arguments[1])
try store.addRoom(room, createdMillis: 0)
let key = room.contentKey(epoch: 0)
// Resume where the killed predecessor stopped: the store is the only memory across runs.
var replica = try store.loadReplica(room: room, nowMillis: .max).replica
var clock = HybridClock()
var wall: UInt64 = 1_700_000_000_000
var item = replica.document.panel.first?.id
while true {
    wall += 1
    var draft = replica.draft(author: me)
    if let target = item {
        // Batches of varying size, so some appends span several WAL pages.
        for index in 0..<(Int(draft.sequence % 7) * 20 + 1) {
            let point = UnitPoint(x: UInt32(index * 997 % 1_000_000), y: UInt32(draft.sequence % 1_000_000))!
            _ = try draft.append(.addMark(item: target, Mark(shape: .pin(point), colour: Colour(rgba: 0xff0000ff))), at: clock.now(wallMillis: wall))
        }
    } else {
        item = try draft.append(.createItem(kind: .note, position: .middle, fields: [.text("crash test")]), at: clock.now(wallMillis: wall))
    }
    let sealed = try draft.seal(identity: author, epoch: 0, contentKey: key, room: room.roomID)
    _ = replica.receive(sealed)
    try store.append([sealed], room: room.tag)
    // Unbuffered write: the acknowledgement must leave the process the moment the append returned.
    let line = Array("ok \(sealed.batch.sequence)\n".utf8)
    _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}
