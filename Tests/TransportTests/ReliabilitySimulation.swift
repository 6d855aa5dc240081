import CVPeerTestSupport
import Transport

/// How the simulated path treats each datagram, in both directions.
struct LinkPairPath: Sendable, CustomStringConvertible {
    /// Probability a datagram is dropped.
    var loss = 0.0
    /// Probability a datagram arrives twice.
    var duplicate = 0.0
    /// Probability a datagram is held back by up to `reorderDelay`, so later ones overtake it.
    var reorder = 0.0
    /// One-way delay of every datagram, in nanoseconds.
    var delay: UInt64 = 10_000_000
    /// The most extra delay of a held-back datagram.
    var reorderDelay: UInt64 = 4_000_000

    var description: String { "loss \(loss), duplicate \(duplicate), reorder \(reorder)" }
}

/// Two `ReliableLink`s joined by a lossy, duplicating, reordering path, on a simulated clock.
///
/// Time jumps from event to event (an arrival or a link's `nextTimer`), so a transfer that takes
/// minutes of simulated time runs in a fraction of that. Every random choice comes from one
/// seeded generator: print `seed` in failures and replay it with `CVPEER_TEST_SEED`.
struct SimulatedLinkPair {
    struct InFlight {
        let arrival: UInt64
        let order: UInt64
        let destination: Int
        let packetNumber: UInt64
        let plaintext: [UInt8]
    }

    var links = [ReliableLink(), ReliableLink()]
    var path: LinkPairPath
    var random: SeededRandom
    var now: UInt64 = 1_000_000_000
    var steps = 0
    /// Datagrams sent from each side at or before this time are dropped (a total outage).
    var blackoutUntil: UInt64 = 0
    /// Every plaintext each side sent, when `recordSent` is set.
    var recordSent = false
    var sent: [[[UInt8]]] = [[], []]
    var deliveries: [[ReliableLink.Delivery]] = [[], []]
    var datagramsSent = [0, 0]
    private var nextPacketNumber: [UInt64] = [0, 0]
    private var inFlight: [InFlight] = []
    private var order: UInt64 = 0

    var seed: UInt64 { random.seed }

    init(path: LinkPairPath, seed: UInt64) {
        self.path = path
        random = SeededRandom(seed: seed)
    }

    /// Runs until `done` holds or nothing is left to happen; false if `maxSteps` ran out first.
    mutating func run(maxSteps: Int, until done: (SimulatedLinkPair) -> Bool) throws -> Bool {
        for _ in 0..<maxSteps {
            try step()
            if done(self) { return true }
            guard let next = nextEventTime else { return done(self) }
            // Never stand still: a link that claims work it cannot do would otherwise spin.
            now = max(next, now + 1)
        }
        return false
    }

    /// Runs every event up to `time`, then sets the clock to it.
    mutating func run(until time: UInt64, maxSteps: Int) throws {
        for _ in 0..<maxSteps {
            try step()
            guard let next = nextEventTime, next <= time else { break }
            now = max(next, now + 1)
        }
        now = max(now, time)
    }

    /// Runs until both links are idle and nothing is in flight.
    mutating func runUntilIdle(maxSteps: Int) throws -> Bool {
        try run(maxSteps: maxSteps) { $0.inFlight.isEmpty && $0.links[0].isIdle && $0.links[1].isIdle }
    }

    /// Everything due at `now`: arrivals, timers, then sending what the links allow.
    mutating func step() throws {
        steps += 1
        while let first = inFlight.first, first.arrival <= now {
            inFlight.removeFirst()
            let delivered = try links[first.destination].received(
                packetNumber: first.packetNumber, plaintext: first.plaintext, now: now)
            deliveries[first.destination] += delivered
        }
        for side in 0..<2 {
            if let timer = links[side].nextTimer, timer <= now { links[side].timerFired(now: now) }
            drain(side)
        }
    }

    /// Sends every packet side `side` will build now.
    mutating func drain(_ side: Int) {
        for _ in 0..<100_000 {
            guard let plaintext = links[side].nextPacket(
                packetNumber: nextPacketNumber[side], maxSize: Wire.maxFramesSize, now: now)
            else { return }
            transmit(from: side, packetNumber: nextPacketNumber[side], plaintext: plaintext)
            nextPacketNumber[side] += 1
        }
    }

    var nextEventTime: UInt64? {
        [inFlight.first?.arrival, links[0].nextTimer, links[1].nextTimer].compactMap { $0 }.min()
    }

    /// Messages side `side` received, in delivery order.
    func messages(at side: Int) -> [[UInt8]] {
        deliveries[side].compactMap { delivery in
            switch delivery {
            case .message(let bytes): bytes
            case .unreliable, .closed: nil
            }
        }
    }

    /// Datagrams side `side` received, in delivery order.
    func datagrams(at side: Int) -> [[UInt8]] {
        deliveries[side].compactMap { delivery in
            switch delivery {
            case .unreliable(let bytes): bytes
            case .message, .closed: nil
            }
        }
    }

    private mutating func transmit(from side: Int, packetNumber: UInt64, plaintext: [UInt8]) {
        datagramsSent[side] += 1
        if recordSent { sent[side].append(plaintext) }
        if now <= blackoutUntil || chance(path.loss) { return }
        let copies = chance(path.duplicate) ? 2 : 1
        for _ in 0..<copies {
            var arrival = now + path.delay
            if chance(path.reorder) { arrival += random.next() % (path.reorderDelay + 1) }
            order += 1
            let datagram = InFlight(
                arrival: arrival, order: order, destination: 1 - side, packetNumber: packetNumber, plaintext: plaintext)
            var low = 0
            var high = inFlight.count
            while low < high {
                let mid = (low + high) / 2
                if (inFlight[mid].arrival, inFlight[mid].order) < (arrival, order) { low = mid + 1 } else { high = mid }
            }
            inFlight.insert(datagram, at: low)
        }
    }

    private mutating func chance(_ probability: Double) -> Bool {
        probability > 0 && Double(random.next() >> 11) / Double(1 << 53) < probability
    }
}
