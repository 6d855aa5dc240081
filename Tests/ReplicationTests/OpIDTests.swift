import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

@Suite struct OpIDTests {
    let small: ReplicaID
    let large: ReplicaID

    init() {
        let ids = Fixtures.identities(2).map { ReplicaID($0.publicKey) }
        small = ids[0]
        large = ids[1]
    }

    @Test func ordersByCounterThenReplica() {
        #expect(OpID(counter: 1, replica: large) < OpID(counter: 2, replica: small))
        #expect(OpID(counter: 2, replica: small) < OpID(counter: 2, replica: large))
        #expect(!(OpID(counter: 2, replica: large) < OpID(counter: 2, replica: large)))
    }

    @Test func replicaIDsOrderLikeTheirKeyBytes() {
        var random = SeededRandom(seed: 9)
        for _ in 0..<200 {
            let a = Fixtures.identity(&random).publicKey
            let b = Fixtures.identity(&random).publicKey
            #expect((ReplicaID(a) < ReplicaID(b)) == a.bytes.lexicographicallyPrecedes(b.bytes))
            #expect(ReplicaID(a).publicKey == a)
            #expect(ReplicaID(a).bytes == a.bytes)
        }
    }

    @Test func replicaIDsThatShareAPrefixStillDiffer() throws {
        let a = try PublicKey(bytes: [UInt8](repeating: 1, count: 31) + [2])
        let b = try PublicKey(bytes: [UInt8](repeating: 1, count: 31) + [3])
        #expect(ReplicaID(a).prefix == ReplicaID(b).prefix)
        #expect(ReplicaID(a) != ReplicaID(b))
        #expect(ReplicaID(a) < ReplicaID(b))
    }
}
