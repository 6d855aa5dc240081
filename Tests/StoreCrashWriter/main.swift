// A child process for the store's crash-safety test: appends sealed batches one transaction at a
// time and prints "ok SEQ" after each append returns, until it is killed.
//
// usage: StoreCrashWriter DB-PATH ROOM-SECRET-HEX AUTHOR-SEED-HEX PAYLOAD-FACTORY-SEED
@preconcurrency import Glibc
import PeerCrypto
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
let room = try RoomKeys(secret: SecretBytes(copying: bytes(fromHex: arguments[2])))
let author = try Identity(seed: SecretBytes(copying: bytes(fromHex: arguments[3])))
let store = try Store(path: arguments[1])
try store.addRoom(room, createdMillis: 0)
let key = room.contentKey(epoch: 0)
var sequence = UInt64(try store.batchCount(room: room.tag))
while true {
    sequence += 1
    // Payloads of varying size, so some appends span several WAL pages.
    let payload = [UInt8](repeating: UInt8(truncatingIfNeeded: sequence), count: Int(sequence % 7) * 3000 + 10)
    let sealed = BatchSealer.seal(payload: payload, sequence: sequence, epoch: 0, identity: author, contentKey: key)
    try store.append([StoredBatch(author: author.publicKey.bytes, sequence: sequence, epoch: 0, sealed: sealed)], room: room.tag)
    // Unbuffered write: the acknowledgement must leave the process the moment the append returned.
    let line = Array("ok \(sequence)\n".utf8)
    _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}
