import CVPeerTestSupport
import Foundation
import PeerCrypto
import Replication
import Store
import Testing

/// Kills a real writer process with SIGKILL at random moments and checks what survives.
@Suite struct StoreCrashTests {
    private static var writer: URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("StoreCrashWriter").path),
            directory.pathComponents.count > 1
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("StoreCrashWriter")
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    @Test func everyAcknowledgedAppendSurvivesSIGKILL() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cvpeer-crash-\(UUID().uuidString).db").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let seed = SecretBytes(randomCount: 32)
        let author = try Identity(seed: seed)
        // The writer owns the room it writes (StoreCrashWriter derives the same keys).
        let room = RoomKeys.generate(owner: author.publicKey)
        let seedValue = SeededRandom.seedFromEnvironmentOrRandom()
        var random = SeededRandom(seed: seedValue)
        var acknowledgedTotal = 0
        for round in 1...20 {
            let process = Process()
            process.executableURL = Self.writer
            process.arguments = [path, Self.hex(room.secret.unsafeCopy()), Self.hex(seed.unsafeCopy())]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            // Let it write for a random while, then kill it without warning.
            usleep(UInt32(20_000 + random.next() % 250_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let acknowledged = printed.split(separator: "\n").compactMap { line -> Int? in
                line.hasPrefix("ok ") ? Int(line.dropFirst(3)) : nil
            }.max() ?? 0

            let store = try Store(path: path)
            let batches = try store.batches(room: room.tag)
            #expect(batches.count >= acknowledged, "round \(round) (seed \(seedValue)): acknowledged \(acknowledged), found \(batches.count)")
            for (index, stored) in batches.enumerated() {
                let opened = try BatchSealer.open(stored.sealed, room: room.roomID) { room.contentKey(epoch: $0) }
                #expect(opened.author == author.publicKey)
                #expect(opened.sequence == UInt64(index + 1), "round \(round): a gap or a torn batch")
            }
            // The rebuilt document is whole: every batch opens, decodes and applies, invariants hold.
            let (replica, unreadable) = try store.loadReplica(room: room, nowMillis: .max)
            #expect(unreadable.isEmpty)
            #expect(replica.vector[ReplicaID(author.publicKey)] == UInt64(batches.count))
            #expect(throws: Never.self) { try replica.document.checkInvariants() }
            if batches.count > 1 {
                #expect(replica.document.panel.count == 1)
                #expect(!replica.document.visibleMarks.isEmpty)
            }
            acknowledgedTotal = max(acknowledgedTotal, acknowledged)
        }
        #expect(acknowledgedTotal > 0, "the writer never acknowledged an append")
    }
}

