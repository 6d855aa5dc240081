import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// Property: replicas that exchange batches through a hostile network end up identical.
///
/// Each history: 3–5 participants with their own identities make random edits (biased to
/// conflicts); each new batch is sealed for real and pushed to the others at once, and sync
/// rounds run between random pairs; the network reorders, duplicates, drops and partitions.
/// Then the partition heals, drops stop, and sync runs (with periodic heal timers) until quiet.
/// Every replica must then hold the same batches, the same canonical JSON and state hash, pass
/// `checkInvariants`, and equal a replica that received the same batches in a shuffled order.
@Suite struct ConvergenceTests {
    enum Message {
        case batch([UInt8])
        case sync([UInt8])
    }

    enum Topology {
        /// Everybody syncs with everybody.
        case mesh
        /// Node i syncs only with i±1 (and pushes only there): batches must be forwarded.
        case line
    }

    struct Scenario {
        var mix = EditGenerator.Mix.balanced
        var topology = Topology.mesh
        var holdBack = HoldBackBuffer.Bounds()
        var steps = 14...26
        var pushProbability = 0.7
    }

    @Test func mixedEditsConvergeOverAMeshWithLossDuplicationAndPartitions() {
        let coverage = forEachHistory(count: 300, baseSeed: 0xC0_FFEE_0001, name: "mesh") { seed, coverage in
            try Self.run(seed: seed, Scenario(), coverage: &coverage)
        }
        Self.expectExercised(coverage)
    }

    @Test func concurrentEditsOfOneItemConverge() {
        let coverage = forEachHistory(count: 300, baseSeed: 0xC0_FFEE_0002, name: "conflicts") { seed, coverage in
            try Self.run(seed: seed, Scenario(mix: .conflicts), coverage: &coverage)
        }
        Self.expectExercised(coverage)
    }

    @Test func sharedPlaybackAndTimedMarksConverge() {
        let coverage = forEachHistory(count: 200, baseSeed: 0xC0_FFEE_0005, name: "watching") { seed, coverage in
            try Self.run(seed: seed, Scenario(mix: .watching), coverage: &coverage)
        }
        Self.expectExercised(coverage)
        #expect(coverage.playbacks > 0, "\(coverage)")
        #expect(coverage.timedMarks > 0, "\(coverage)")
    }

    @Test func batchesForwardedAlongALineConverge() {
        let coverage = forEachHistory(count: 250, baseSeed: 0xC0_FFEE_0003, name: "line") { seed, coverage in
            try Self.run(seed: seed, Scenario(topology: .line, pushProbability: 0.5), coverage: &coverage)
        }
        Self.expectExercised(coverage)
    }

    @Test func tinyHoldBackBuffersStillConverge() {
        let coverage = forEachHistory(count: 200, baseSeed: 0xC0_FFEE_0004, name: "tiny hold-back") { seed, coverage in
            try Self.run(
                seed: seed, Scenario(mix: .conflicts, holdBack: .init(maxBatches: 2, maxBytes: 4096), pushProbability: 1),
                coverage: &coverage)
        }
        Self.expectExercised(coverage)
        if coverage.histories > 1 { #expect(coverage.holdBackDrops > 0, "\(coverage)") }
    }

    /// A property that held only because no history reached the interesting cases would prove nothing.
    static func expectExercised(_ coverage: Coverage, sourceLocation: SourceLocation = #_sourceLocation) {
        guard coverage.histories > 1 else { return }
        #expect(coverage.heldBack > 0, "\(coverage)", sourceLocation: sourceLocation)
        #expect(coverage.unblocked > 0, "\(coverage)", sourceLocation: sourceLocation)
        #expect(coverage.duplicates > 0, "\(coverage)", sourceLocation: sourceLocation)
        #expect(coverage.rejectedOperations > 0, "\(coverage)", sourceLocation: sourceLocation)
        #expect(coverage.removedItemsWithMarks > 0, "\(coverage)", sourceLocation: sourceLocation)
        #expect(coverage.visibleMarks > 0, "\(coverage)", sourceLocation: sourceLocation)
        #expect(coverage.chatMessages > 0, "\(coverage)", sourceLocation: sourceLocation)
    }

    /// Runs one history; returns a description of what went wrong, or nil.
    static func run(seed: UInt64, _ scenario: Scenario, coverage: inout Coverage) throws -> String? {
        var random = SeededRandom(seed: seed)
        let count = Int.random(in: 3...5, using: &random)
        var peers = (0..<count).map { _ in TestPeer(identity: Fixtures.identity(&random), holdBack: scenario.holdBack) }
        let ids = peers.map(\.id)
        var network = SimulatedNetwork<Message>(
            nodeCount: count, seed: random.next(),
            dropProbability: [0, 0.1, 0.3].randomElement(using: &random)!,
            duplicateProbability: [0, 0.1, 0.3].randomElement(using: &random)!)
        let links: [(Int, Int)] =
            switch scenario.topology {
            case .mesh: (0..<count).flatMap { i in (0..<count).filter { $0 != i }.map { (i, $0) } }
            case .line: (0..<count).flatMap { i in [i - 1, i + 1].filter { (0..<count).contains($0) }.map { (i, $0) } }
            }

        func deliver(_ envelope: SimulatedNetwork<Message>.Envelope) throws {
            switch envelope.message {
            case let .batch(sealed): peers[envelope.to].receive(sealed: sealed)
            case let .sync(bytes): try peers[envelope.to].receive(syncMessage: bytes, from: envelope.from)
            }
        }
        /// Sends everything `from` has for `to`; true if anything was sent.
        func sync(_ from: Int, _ to: Int) throws -> Bool {
            var sent = false
            while let message = try peers[from].syncMessage(for: to) {
                network.send(from: from, to: to, .sync(message))
                sent = true
            }
            return sent
        }

        for _ in 0..<Int.random(in: scenario.steps, using: &random) {
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<40:
                let author = Int.random(in: 0..<count, using: &random)
                let edits = EditGenerator.edits(
                    count: Int.random(in: 1...3, using: &random), by: ids[author], in: peers[author].document,
                    participants: ids, mix: scenario.mix, &random)
                let sealed = try peers[author].commit(edits)
                if Double.random(in: 0..<1, using: &random) < scenario.pushProbability {
                    for (from, to) in links where from == author { network.send(from: from, to: to, .batch(sealed.sealed)) }
                }
            case 40..<65:
                let (from, to) = links.randomElement(using: &random)!
                _ = try sync(from, to)
            case 65..<90:
                for _ in 0..<Int.random(in: 1...6, using: &random) {
                    guard let envelope = network.deliver() else { break }
                    try deliver(envelope)
                }
            case 90..<95:
                if Bool.random(using: &random) { network.partitionRandomly() } else { network.heal() }
            default:
                peers[Int.random(in: 0..<count, using: &random)].timerFired()
            }
        }

        // Heal, stop losing messages, and sync until quiet; heal timers fire between rounds.
        network.heal()
        network.dropProbability = 0
        var rounds = 0
        while true {
            rounds += 1
            if rounds > 12 { return "still not converged after \(rounds - 1) quiet rounds" }
            for index in peers.indices { peers[index].timerFired() }
            var exchanges = 0
            while true {
                exchanges += 1
                if exchanges > 10_000 { return "sync never went quiet" }
                var sent = false
                for (from, to) in links { sent = try sync(from, to) || sent }
                while let envelope = network.deliver() { try deliver(envelope) }
                if !sent { break }
            }
            if peers.allSatisfy({ $0.replica.vector == peers[0].replica.vector }) { break }
        }

        let reference = peers[0].document
        for peer in peers {
            do {
                try peer.document.checkInvariants()
            } catch {
                return "invariants of \(peer.id): \(error)"
            }
            guard peer.replica.vector == reference.vector else { return "vectors differ" }
            guard peer.document.canonicalBytes == reference.canonicalBytes else {
                return "canonical JSON differs " + firstDifference(reference.canonicalBytes, peer.document.canonicalBytes)
            }
            guard peer.document.stateHash == reference.stateHash else { return "state hashes differ" }
            guard peer.replica.holdBack.count == 0 else { return "batches left in hold-back after convergence" }
        }
        for peer in peers {
            coverage = coverage + peer.coverage
        }
        coverage.batches += reference.vector.authors.reduce(0) { $0 + Int(reference.vector[$1]) }
        coverage.visibleMarks += reference.visibleMarks.count
        coverage.playbacks += reference.panel.filter { $0.playback != nil }.count
        coverage.timedMarks += reference.visibleMarks.filter { $0.mark.span != nil }.count
        coverage.chatMessages += reference.chat.count
        coverage.removedItemsWithMarks += Set(
            reference.knownMarkIDs.compactMap { id in peers[0].markTarget(id) }.filter { reference.isRemoved(item: $0) }
        ).count
        let everything = peers[0].store.values.shuffled(using: &random)
        if Int.random(in: 0..<10, using: &random) == 0 {
            let rebuilt = replicaReceiving(everything)
            guard rebuilt.document.stateHash == reference.stateHash else { return "a replica fed the batches shuffled differs" }
        }
        return nil
    }
}
