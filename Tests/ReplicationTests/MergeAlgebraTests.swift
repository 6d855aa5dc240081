import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// Merging is commutative, associative and idempotent.
///
/// A state is the set of batches a replica has received (applied or held back); merging two
/// states is one replica receiving the other's batches, shuffled and with duplicates. Whatever
/// the grouping or order, the same set of batches must give the same document.
@Suite struct MergeAlgebraTests {
    struct State {
        var replica = replicaReceiving([])
        var received: [[UInt8]] = []

        mutating func take(_ batches: [[UInt8]], _ random: inout SeededRandom) {
            var incoming = batches + batches.filter { _ in Int.random(in: 0..<4, using: &random) == 0 }
            incoming.shuffle(using: &random)
            for sealed in incoming { _ = replica.receive(sealed: sealed, contentKey: Fixtures.contentKey, nowMillis: .max) }
            received += batches
        }

        var hash: String { replica.document.stateHash }
    }

    static func merged(_ a: State, _ b: State, _ random: inout SeededRandom) -> State {
        var result = a
        result.take(b.received, &random)
        return result
    }

    static func state(_ batches: [[UInt8]], _ random: inout SeededRandom) -> State {
        var state = State()
        state.take(batches, &random)
        return state
    }

    /// Batches of 4 authors who edit concurrently and now and then catch up with each other,
    /// so later batches depend on (reference items of) earlier ones of other authors.
    static func pool(_ random: inout SeededRandom) throws -> [[UInt8]] {
        var peers = (0..<4).map { _ in TestPeer(identity: Fixtures.identity(&random)) }
        let ids = peers.map(\.id)
        var all: [[UInt8]] = []
        for _ in 0..<24 {
            let author = Int.random(in: 0..<peers.count, using: &random)
            if Int.random(in: 0..<3, using: &random) == 0 {
                let source = Int.random(in: 0..<peers.count, using: &random)
                for sealed in peers[source].store.values.sorted(by: { $0.count < $1.count }) { peers[author].receive(sealed: sealed) }
            }
            let edits = EditGenerator.edits(
                count: Int.random(in: 1...3, using: &random), by: ids[author], in: peers[author].document, participants: ids,
                mix: .conflicts, &random)
            all.append(try peers[author].commit(edits).sealed)
        }
        return all
    }

    static func subset(_ pool: [[UInt8]], _ random: inout SeededRandom) -> [[UInt8]] {
        pool.filter { _ in Bool.random(using: &random) }
    }

    @Test func mergingIsCommutativeAssociativeAndIdempotent() throws {
        forEachHistory(count: 40, baseSeed: 0xA1_6EB4A, name: "merge algebra") { seed, _ in
            var random = SeededRandom(seed: seed)
            let pool = try Self.pool(&random)
            let a = Self.state(Self.subset(pool, &random), &random)
            let b = Self.state(Self.subset(pool, &random), &random)
            let c = Self.state(Self.subset(pool, &random), &random)

            let ab = Self.merged(a, b, &random)
            let ba = Self.merged(b, a, &random)
            guard ab.hash == ba.hash, ab.replica.vector == ba.replica.vector else { return "a ⊔ b ≠ b ⊔ a" }

            let abThenC = Self.merged(ab, c, &random)
            let aThenBC = Self.merged(a, Self.merged(b, c, &random), &random)
            guard abThenC.hash == aThenBC.hash, abThenC.replica.vector == aThenBC.replica.vector else {
                return "(a ⊔ b) ⊔ c ≠ a ⊔ (b ⊔ c)"
            }

            guard Self.merged(a, a, &random).hash == a.hash, Self.merged(ab, b, &random).hash == ab.hash else {
                return "a ⊔ a ≠ a"
            }

            // Everything, in any order, is the same as everything in sequence order.
            let everything = Self.state(pool, &random)
            let inOrder = replicaReceiving(pool)
            guard everything.hash == inOrder.document.stateHash else { return "order of the whole pool matters" }
            guard Self.merged(abThenC, Self.state(pool, &random), &random).hash == everything.hash else {
                return "a ⊔ b ⊔ c ⊔ everything ≠ everything"
            }
            try everything.replica.document.checkInvariants()
            return nil
        }
    }
}
