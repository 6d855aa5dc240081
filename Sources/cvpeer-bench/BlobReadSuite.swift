import Node
import PeerCrypto
import Primitives
import Replication
import Store

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `cvpeer-bench blobread`: what a video player's seeks cost on a node holding a 200 MB blob.
///
/// 1. Range reads: 1 MiB at random offsets, as GET /api/blobs does it (a plan taken on the engine's
///    actor, then only the covered chunks read through the second store connection, opened and
///    checked against the chunk-hash list, off the actor), per second; against reading the whole
///    blob (the old answer to every GET: `blob(hex:)`, all chunks decrypted and hashed on the
///    actor) and against streaming the whole blob the new way.
/// 2. The engine's responsiveness meanwhile: round trips to its actor (a cheap call) while idle,
///    while a task does range reads, and while a whole-blob read of the old kind runs.
enum BlobReadSuite {
    static let suite = Suite(
        name: "blobread",
        summary: "1 MiB range reads at random offsets of a 200 MB blob vs reading it whole; engine round trips meanwhile",
        run: run)

    static func run(_ options: BenchOptions) async -> Bool {
        let size = options.quick ? 20_000_000 : 200_000_000
        let rangeBytes = 1 << 20
        let reads = options.quick ? 50 : 400
        guard let root = NodeSuite.makeTemporaryFolder(in: NodeSuite.temporaryBase()) else {
            print("blobread: cannot create a temporary folder")
            return false
        }
        defer { NodeSuite.removeTree(root) }
        let identity = Identity.generate()
        let room = RoomKeys.generate(owner: identity.publicKey)
        let engine: RoomEngine
        let hex: String
        do {
            engine = try RoomEngine(identity: identity, room: room, store: Store(path: root + "/store.sqlite"), nowMillis: 0)
            var bytes = Sodium.randomBytes(size)
            let header: [UInt8] = [0, 0, 0, 24] + Array("ftypisom".utf8) + [0, 0, 2, 0] + Array("isommp41".utf8)
            bytes.replaceSubrange(0..<header.count, with: header)
            hex = Hex.string(try await engine.share(bytes: bytes, mime: "video/mp4", title: nil, price: nil).blob.id)
        } catch {
            print("blobread: cannot share the blob: \(error)")
            return false
        }
        print(
            "blobread: one engine, a \(size / 1_000_000) MB blob held whole in its SQLite store (\(root)); \(reads) reads of "
                + "1 MiB at random offsets; MB = 10^6 bytes" + (options.quick ? "; --quick: 20 MB, a smoke run only" : ""))
        let clock = ContinuousClock()
        var generator = SystemRandomNumberGenerator()
        let offsets = (0..<reads).map { _ in Int.random(in: 0...(size - rangeBytes), using: &generator) }

        // Range reads as the route does them.
        var rangeSeconds: [Double] = []
        let rangeStart = clock.now
        do {
            for offset in offsets {
                let start = clock.now
                let plan = try await engine.blobReadPlan(hex: hex)
                let bytes = try engine.blobReads.bytes(offset...(offset + rangeBytes - 1), of: plan)
                guard bytes.count == rangeBytes else { throw BenchFailure("a range read returned \(bytes.count) bytes") }
                rangeSeconds.append(NodeSuite.seconds(clock.now - start))
            }
        } catch {
            print("blobread: a range read failed: \(error)")
            return false
        }
        let rangeTotal = NodeSuite.seconds(clock.now - rangeStart)

        // The whole blob, the old way (on the actor) and streamed chunk by chunk off it.
        let wholeRounds = options.quick ? 3 : 3
        var oldWhole: [Double] = []
        var streamedWhole: [Double] = []
        do {
            for _ in 0..<wholeRounds {
                var start = clock.now
                let held = try await engine.blob(hex: hex).bytes
                guard held.count == size else { throw BenchFailure("the whole read returned \(held.count) bytes") }
                oldWhole.append(NodeSuite.seconds(clock.now - start))
                start = clock.now
                let plan = try await engine.blobReadPlan(hex: hex)
                var total = 0
                for index in 0..<plan.count {
                    total += try engine.blobReads.bytes(
                        (index * BlobSealer.chunkSize)...min((index + 1) * BlobSealer.chunkSize - 1, size - 1), of: plan
                    ).count
                }
                guard total == size else { throw BenchFailure("the streamed read returned \(total) bytes") }
                streamedWhole.append(NodeSuite.seconds(clock.now - start))
            }
        } catch {
            print("blobread: a whole read failed: \(error)")
            return false
        }
        let perRange = median(rangeSeconds)
        let oldMedian = median(oldWhole)
        let streamedMedian = median(streamedWhole)
        TransportSuite.printRows(
            ["case", "per read (ms)", "reads/s", "MB/s"],
            [
                ["1 MiB range at a random offset (plan on the actor, chunks off it)", fixed(perRange * 1e3, decimals: 2),
                 fixed(Double(reads) / rangeTotal, decimals: 1), fixed(Double(reads * rangeBytes) / rangeTotal / 1e6, decimals: 1)],
                ["whole blob, old GET: blob(hex:) on the actor", fixed(oldMedian * 1e3, decimals: 1), fixed(1 / oldMedian, decimals: 2),
                 fixed(Double(size) / oldMedian / 1e6, decimals: 1)],
                ["whole blob, streamed chunk by chunk off the actor", fixed(streamedMedian * 1e3, decimals: 1),
                 fixed(1 / streamedMedian, decimals: 2), fixed(Double(size) / streamedMedian / 1e6, decimals: 1)],
            ])
        print(
            "a seek costs \(fixed(perRange * 1e3, decimals: 2)) ms instead of \(fixed(oldMedian * 1e3, decimals: 0)) ms: "
                + "\(fixed(oldMedian / perRange, decimals: 0))x fewer seconds per seek")

        // The engine's round trips meanwhile.
        func roundTrips(_ count: Int) async -> [Double] {
            var samples: [Double] = []
            for _ in 0..<count {
                let start = clock.now
                _ = await engine.holdsWhole(blobHex: hex)
                samples.append(NodeSuite.seconds(clock.now - start))
                try? await Task.sleep(for: .milliseconds(2))
            }
            return samples
        }
        let samples = options.quick ? 100 : 500
        let idle = await roundTrips(samples)
        let streaming = Task.detached {
            var index = 0
            while !Task.isCancelled {
                let offset = offsets[index % offsets.count]
                index += 1
                guard let plan = try? await engine.blobReadPlan(hex: hex),
                    (try? engine.blobReads.bytes(offset...(offset + rangeBytes - 1), of: plan)) != nil
                else { return }
            }
        }
        let whileRanges = await roundTrips(samples)
        streaming.cancel()
        _ = await streaming.value
        let oldReader = Task.detached {
            for _ in 0..<2 { _ = try? await engine.blob(hex: hex) }
        }
        let whileOld = await roundTrips(min(samples, 100))
        oldReader.cancel()
        _ = await oldReader.value
        func row(_ label: String, _ values: [Double]) -> [String] {
            let sorted = values.sorted()
            return [label, fixed(median(values) * 1e3, decimals: 3), fixed(sorted[sorted.count * 99 / 100] * 1e3, decimals: 3),
                    fixed((sorted.last ?? 0) * 1e3, decimals: 1)]
        }
        TransportSuite.printRows(
            ["engine round trip", "median (ms)", "p99 (ms)", "max (ms)"],
            [
                row("idle", idle),
                row("while a task does 1 MiB range reads back to back", whileRanges),
                row("while whole-blob reads of the old kind run on the actor", whileOld),
            ])
        return true
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
