/// An in-memory network between numbered nodes that delivers messages in random order, and may
/// duplicate them, drop them, or cut the nodes into partitions that later heal.
///
/// Plays the part of yrs' TestConnector in convergence tests: the test decides when a node sends
/// and when the network delivers, and the whole run is a function of the seed. Not thread-safe;
/// owned by one test.
public struct SimulatedNetwork<Message: Sendable>: Sendable {
    /// A message on its way.
    public struct Envelope: Sendable {
        /// The sending node.
        public let from: Int
        /// The receiving node.
        public let to: Int
        /// The message.
        public let message: Message
    }

    /// Counts of what the network did, for test diagnostics.
    public struct Statistics: Hashable, Sendable {
        /// Messages handed to `send`.
        public var sent = 0
        /// Messages handed to a receiver (duplicates included).
        public var delivered = 0
        /// Messages lost: dropped at random or cut by a partition.
        public var dropped = 0
        /// Extra copies delivered.
        public var duplicated = 0
    }

    /// The number of nodes, numbered 0…nodeCount-1.
    public let nodeCount: Int
    /// The chance that a message is lost when sent.
    public var dropProbability: Double
    /// The chance that a delivered message stays in flight to be delivered again.
    public var duplicateProbability: Double
    /// What happened so far.
    public private(set) var statistics = Statistics()
    private var inFlight: [Envelope] = []
    /// Each node's partition group; nodes in different groups cannot reach each other.
    private var group: [Int]
    private var random: SeededRandom

    /// Creates a network of `nodeCount` nodes, all connected, with its own random stream.
    public init(nodeCount: Int, seed: UInt64, dropProbability: Double = 0, duplicateProbability: Double = 0) {
        precondition(nodeCount > 0)
        self.nodeCount = nodeCount
        self.dropProbability = dropProbability
        self.duplicateProbability = duplicateProbability
        group = Array(repeating: 0, count: nodeCount)
        random = SeededRandom(seed: seed)
    }

    /// True if nothing is in flight.
    public var isIdle: Bool { inFlight.isEmpty }

    /// True if `from` can currently reach `to`.
    public func canReach(from: Int, to: Int) -> Bool { group[from] == group[to] }

    /// Puts a message on its way, unless it is dropped or the receiver is in another partition.
    public mutating func send(from: Int, to: Int, _ message: Message) {
        precondition(from != to && (0..<nodeCount).contains(from) && (0..<nodeCount).contains(to))
        statistics.sent += 1
        if !canReach(from: from, to: to) || Double.random(in: 0..<1, using: &random) < dropProbability {
            statistics.dropped += 1
            return
        }
        inFlight.append(Envelope(from: from, to: to, message: message))
    }

    /// Delivers one message chosen at random, or nil if none is in flight.
    ///
    /// A message whose sender and receiver have been partitioned since it was sent is lost instead
    /// (and nil returned only when nothing at all is in flight; otherwise the next one is tried).
    public mutating func deliver() -> Envelope? {
        while !inFlight.isEmpty {
            let index = Int.random(in: 0..<inFlight.count, using: &random)
            let envelope = inFlight[index]
            if Double.random(in: 0..<1, using: &random) < duplicateProbability {
                statistics.duplicated += 1
            } else {
                inFlight.swapAt(index, inFlight.count - 1)
                inFlight.removeLast()
            }
            guard canReach(from: envelope.from, to: envelope.to) else {
                statistics.dropped += 1
                continue
            }
            statistics.delivered += 1
            return envelope
        }
        return nil
    }

    /// Splits the nodes into groups that cannot reach each other; nodes not listed form one more group.
    public mutating func partition(_ groups: [[Int]]) {
        group = Array(repeating: groups.count, count: nodeCount)
        for (index, members) in groups.enumerated() {
            for node in members { group[node] = index }
        }
    }

    /// Cuts the network into two random non-empty halves (with at least two nodes).
    public mutating func partitionRandomly() {
        guard nodeCount >= 2 else { return }
        var nodes = Array(0..<nodeCount)
        nodes.shuffle(using: &random)
        let cut = Int.random(in: 1..<nodeCount, using: &random)
        partition([Array(nodes[..<cut])])
    }

    /// Heals every partition.
    public mutating func heal() {
        group = Array(repeating: 0, count: nodeCount)
    }
}
