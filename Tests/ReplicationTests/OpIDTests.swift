import Replication
import Testing

@Suite struct OpIDTests {
    @Test func ordersByCounterThenReplica() {
        #expect(OpID(counter: 1, replica: 9) < OpID(counter: 2, replica: 1))
        #expect(OpID(counter: 2, replica: 1) < OpID(counter: 2, replica: 3))
        #expect(!(OpID(counter: 2, replica: 3) < OpID(counter: 2, replica: 3)))
    }
}
