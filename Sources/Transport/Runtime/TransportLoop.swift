import Dispatch
import PeerCrypto
import Primitives
import Rendezvous
import Sockets
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// The loop of one PeerTransport, on its own thread. Each pass: run due timers (link, every
// reliable link, rendezvous client, punches, probes) → build and send what the reliable links
// may send now (window and pacing permitting) → publish status if anything moved → wait in ppoll
// until the earliest deadline, a datagram, or a command → take commands → read a batch of
// datagrams. Inbound: rendezvous types only from the rendezvous's address (relayed ones are
// unwrapped and go to the link layer on the relay path), link types from anywhere else; the
// link layer authenticates, the reliability layer orders, events go to the handler.

/// One connected peer's reliability state; a class so the loop mutates it in place.
final class PeerSlot {
    var reliable = ReliableLink()
    /// Set when the link layer refused a packet the reliable link already counted as sent: the
    /// link is going down, and asking for more packets would reuse a packet number.
    var broken = false
    /// When a packet with content last arrived from the peer, and when we last sent it anything
    /// through this slot: an unanswered arrival gets an empty packet after `Wire.linkAnswerAfter`.
    var lastContentReceivedAt: UInt64 = 0
    var lastSentAt: UInt64 = 0

    /// When an empty answer is due, if one is.
    var answerDue: UInt64? {
        lastContentReceivedAt > lastSentAt ? lastContentReceivedAt + Wire.linkAnswerAfter : nil
    }
}

/// Hole punching towards one introduced member.
struct Traversal {
    /// The member's direct candidates we may use (reflexive first, then its local addresses).
    var directs: [UDPEndpoint]
    var startedAt: UInt64
    var punchUntil: UInt64
    var nextPunchAt: UInt64
    /// True while our handshake attempt towards it may still complete.
    var connecting: Bool
    /// The member's identity, once a link shows who it is.
    var peer: PublicKey?
}

/// Datagrams waiting to leave together (see `TransportLoop.sendRaw`).
struct OutgoingBatch {
    /// One segmented send's worth of bytes, allocated once for the loop's life.
    let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: NodeSocket.maxSegmentedBytes, alignment: 8)
    var target: UDPEndpoint?
    var segmentSize = 0
    var count = 0
    var used = 0
    /// A datagram shorter than the segment size ended the batch: the kernel only allows that last.
    var closed = false
}

/// Probing of direct candidates by a link on the relay.
struct ProbeWindow {
    var until: UInt64
    var nextAt: UInt64
}

final class TransportLoop {
    /// Everything `start()` prepared for the loop.
    struct Setup: Sendable {
        let socket: NodeSocket
        let wakeRead: Int32
        let wakeWrite: Int32
        let local: UDPEndpoint
        let server: UDPEndpoint?
        let candidates: [UDPEndpoint]
        let identity: Identity
        let room: RoomKeys
        let configuration: PeerTransport.Configuration
        let rendezvousPeerID: RendezvousPeerID
    }

    /// Datagrams read per pass before timers and sending get their turn.
    static let receiveBatch = 128
    /// Packets built per peer per pass before incoming ACKs get their turn.
    static let sendBatch = 128
    /// The longest wait in ppoll when nothing is due.
    static let maxWait: UInt64 = 1_000_000_000
    /// Status is published at most this often while anything changes (and at once on link events):
    /// readers take the last snapshot without waiting, so it is at most this old.
    static let statusInterval: UInt64 = 50_000_000
    /// The reason code of the CLOSE frame a clean `close()` sends.
    static let closeReason: UInt64 = 0

    let setup: Setup
    let shared: TransportShared
    var endpoint: LinkEndpoint<TransportPath>
    var client: RendezvousClient?
    /// What may still go to addresses nothing authenticated came from.
    var unverified = UnverifiedSendBudget()
    /// The registration of the epoch before, kept for `epochRegistrationOverlap` after a switch
    /// so peers that have not switched yet still find this node (and a relayed link still
    /// carries the change to them).
    var previousClient: RendezvousClient?
    var previousClientUntil: UInt64 = 0
    /// Registrations of earlier epochs retiring their tags (a few seconds each, see
    /// `RendezvousClient.retire`): kept until finished so they can answer a cookie challenge.
    var retiringClients: [RendezvousClient] = []
    /// How long the previous epoch's registration is kept after a switch.
    static let epochRegistrationOverlap: UInt64 = 30_000_000_000
    var slots: [PublicKey: PeerSlot] = [:]
    var traversals: [RendezvousPeerID: Traversal] = [:]
    var probing: [PublicKey: ProbeWindow] = [:]
    var counters = TransportCounters()
    var drainDeadline: UInt64?
    var lastStatusAt: UInt64 = 0
    /// Publish at the end of this pass (registration or epoch changed).
    var statusDirty = true
    /// Something the status counts may have moved since the last snapshot: a datagram, a command,
    /// a send or a timer. Publication follows within `statusInterval`.
    var changed = true
    /// The earliest timer of the last wait; a pass that reaches it runs timers, which move counters.
    var nextTimerAt: UInt64?
    /// Receives land here: a coalesced run can be 64 KiB.
    let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 8)
    var now: UInt64 = 0
    let socketBuffers: (receive: Int, send: Int)
    var batch = OutgoingBatch()
    /// Where each packet of a sealed run is written before it joins the outgoing batch.
    let sealScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Wire.maxDatagramSize, alignment: 8)
    /// What receives refused (truncated reads, oversized segments), reported in the counters.
    var segmentDrops = NodeSocket.SegmentDrops()
    /// True if the kernel may coalesce received datagrams (UDP_GRO).
    let coalescing: Bool

    deinit {
        batch.storage.deallocate()
        receiveBuffer.deallocate()
        sealScratch.deallocate()
    }

    init(setup: Setup, shared: TransportShared) {
        self.setup = setup
        self.shared = shared
        endpoint = LinkEndpoint(
            identity: setup.identity, room: setup.room, random: SystemRandomNumberGenerator(),
            configuration: .init(persistentKeepalive: setup.configuration.persistentKeepalive),
            wallClock: .init { _ in MonotonicClock.wallClockMilliseconds() })
        if setup.server != nil {
            client = RendezvousClient(
                roomKeys: setup.room, peerID: setup.rendezvousPeerID, candidates: setup.candidates,
                identity: setup.identity, random: SystemRandomNumberGenerator())
        }
        socketBuffers = setup.socket.bufferSizes
        coalescing = setup.socket.enableCoalescing()
    }

    func run() {
        shared.state.withLock { $0.loopThread = TransportShared.currentThreadID }
        now = MonotonicClock.nanoseconds()
        if let actions = client?.start(now: now) { performClient(actions) }
        var idlePasses = 0
        while true {
            now = MonotonicClock.nanoseconds()
            counters.loopIterations += 1
            if let nextTimerAt, nextTimerAt <= now { changed = true }
            fireTimers()
            if let drainDeadline, now >= drainDeadline || allDrained {
                finishClose()
                flushBatch()
                publishStatus()
                return
            }
            let (sent, budgetHit) = flush()
            publishStatusIfDue()
            var wait: UInt64 = 0
            if !budgetHit {
                now = MonotonicClock.nanoseconds()
                let next = nextDeadline()
                wait = min(next.map { $0 > now ? $0 - now : 0 } ?? Self.maxWait, Self.maxWait)
                // A deadline that stays due while nothing moves would spin: back off a little.
                idlePasses = wait == 0 && sent == 0 ? idlePasses + 1 : 0
                if idlePasses > 2 { wait = 50_000 }
            }
            flushBatch()
            // About to sleep: the next handshake's ephemeral key is made now rather than on its path.
            if wait > 0 { endpoint.prepareEphemeral() }
            let waitStart = MonotonicClock.nanoseconds()
            let ready = setup.socket.wait(wake: setup.wakeRead, nanoseconds: wait)
            counters.waitNanoseconds += MonotonicClock.nanoseconds() - waitStart
            if ready.wake { takeCommands() }
            if ready.socket { receiveBatch() }
        }
    }

    // MARK: Commands

    private func takeCommands() {
        var byte = [UInt8](repeating: 0, count: 64)
        while read(setup.wakeRead, &byte, byte.count) > 0 {}
        // Cleared before the queue is taken: a command posted after this sees false and writes
        // a new byte, one posted before is in the queue taken next.
        shared.wakePending.store(false, ordering: .sequentiallyConsistent)
        let commands = shared.state.withLock { state in
            defer { state.commands = [] }
            return state.commands
        }
        now = MonotonicClock.nanoseconds()
        for command in commands {
            switch command {
            case .connect(let endpoints):
                let paths = endpoints.filter(setup.socket.canReach).map(TransportPath.direct)
                guard !paths.isEmpty, !setup.configuration.directPathsDisabled else { continue }
                perform(endpoint.connect(paths: paths, now: now))
            case .send(let peer, let message):
                // The link may have gone down since the caller checked; the message goes with it.
                _ = try? slots[peer]?.reliable.enqueue(message: message)
            case .unreliable(let peer, let datagram):
                try? slots[peer]?.reliable.enqueueUnreliable(datagram)
            case .close(let drain):
                drainDeadline = now + drain
            case let .switchEpoch(keys, older, olderEpochPeers):
                switchEpoch(to: keys, older: older, olderEpochPeers: olderEpochPeers)
            case .disconnect(let peer):
                perform(endpoint.close(peer, now: now))
            }
        }
        changed = true
    }

    private var allDrained: Bool {
        slots.values.allSatisfy { $0.broken || $0.reliable.stats.queuedMessages == 0 }
    }

    // MARK: Receiving

    private func receiveBatch() {
        var datagrams = 0
        while datagrams < Self.receiveBatch {
            let before = segmentDrops
            let outcome = setup.socket.receiveSegments(
                into: receiveBuffer, maxDatagram: Wire.maxDatagramSize, drops: &segmentDrops
            ) { datagram, source in
                counters.datagramsReceived += 1
                counters.bytesReceived += datagram.count
                received(datagram, from: source)
            }
            if segmentDrops != before {
                // Oversized segments were received too, only not read further.
                counters.datagramsReceived += segmentDrops.oversized - before.oversized
                counters.oversizedDrops += segmentDrops.oversized - before.oversized
                counters.truncatedDrops += segmentDrops.truncated - before.truncated
            }
            switch outcome {
            case .datagrams(let count, _):
                now = MonotonicClock.nanoseconds()
                changed = true
                datagrams += count
            case .dropped:
                changed = true
                datagrams += 1
            case .empty, .failed:
                return
            }
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer, from source: UDPEndpoint) {
        let first = bytes.first
        let rendezvousType = first.flatMap(RendezvousWire.MessageType.init(rawValue:)) != nil
        if let server = setup.server, source == server {
            guard rendezvousType else {
                counters.strayLinkDrops += 1
                return
            }
            let datagram = Array(bytes)
            if let actions = client?.received(datagram, now: now) { performClient(actions) }
            // Relayed datagrams are the same whichever registration they came through: taken once.
            if previousClient != nil, datagram.first != RendezvousWire.MessageType.relayed.rawValue,
                let actions = previousClient?.received(datagram, now: now)
            {
                performClient(actions)
            }
            if !retiringClients.isEmpty, datagram.first == RendezvousWire.MessageType.cookieChallenge.rawValue {
                for index in retiringClients.indices { performClient(retiringClients[index].received(datagram, now: now)) }
            }
            return
        }
        if rendezvousType {
            counters.strayRendezvousDrops += 1
            return
        }
        if setup.configuration.directPathsDisabled {
            counters.directDisabledDrops += 1
            return
        }
        let actions = endpoint.received(bytes: bytes, from: .direct(source), now: now)
        if endpoint.lastDatagramAuthenticated {
            // Something only a sender at that address could make: it receives there.
            unverified.heard(from: source)
        }
        perform(actions)
    }

    // MARK: Sending

    /// Builds and sends what every reliable link may send now; returns packets sent and whether
    /// a link stopped only because of the per-pass budget (so the loop comes straight back).
    private func flush() -> (Int, Bool) {
        var total = 0
        var budgetHit = false
        for (peer, slot) in slots where !slot.broken {
            // One run per peer: the link and its session are looked up once, and each packet is
            // sealed straight into scratch memory on its way into the outgoing batch.
            let count: Int
            do {
                let (sent, actions) = try endpoint.sealBatch(
                    to: peer, limit: Self.sendBatch, now: now, scratch: sealScratch,
                    next: { number in
                        // A fresh clock per packet lets the pacer release packets as time passes.
                        now = MonotonicClock.nanoseconds()
                        return slot.reliable.nextPacket(packetNumber: number, now: now)
                    },
                    emit: { bytes, path in transmit(bytes, on: path) })
                count = sent
                perform(actions)
            } catch {
                slot.broken = true
                continue
            }
            if count > 0 { slot.lastSentAt = now }
            total += count
            if count == Self.sendBatch { budgetHit = true }
        }
        if total > 0 { changed = true }
        return (total, budgetHit)
    }

    private func transmit(_ datagram: [UInt8], on path: TransportPath) {
        datagram.withUnsafeBytes { transmit($0, on: path) }
    }

    private func transmit(_ datagram: UnsafeRawBufferPointer, on path: TransportPath) {
        switch path {
        case .direct(let target):
            guard !setup.configuration.directPathsDisabled, setup.socket.canReach(target) else { return }
            guard unverified.allow(datagram.count, to: target, now: now) else {
                counters.unverifiedSendsRefused += 1
                return
            }
            sendRaw(datagram, to: target)
        case .relay(let peer):
            guard let server = setup.server else { return }
            sendRaw(RendezvousClient.relayDatagram(Array(datagram), to: peer), to: server)
        }
    }

    /// Queues a datagram in the outgoing batch: consecutive datagrams to one target of one size
    /// (the last may be shorter) leave in one segmented send, which costs the kernel one pass
    /// through the stack instead of one per datagram.
    private func sendRaw(_ datagram: [UInt8], to target: UDPEndpoint) {
        datagram.withUnsafeBytes { sendRaw($0, to: target) }
    }

    private func sendRaw(_ datagram: UnsafeRawBufferPointer, to target: UDPEndpoint) {
        if batch.count > 0 {
            let fits =
                batch.target == target && !batch.closed && datagram.count <= batch.segmentSize
                && batch.count < NodeSocket.maxSegments && batch.used + datagram.count <= batch.storage.count
            if !fits || !setup.socket.sendOffload { flushBatch() }
        }
        if batch.count == 0 {
            batch.target = target
            batch.segmentSize = datagram.count
            batch.closed = false
        }
        UnsafeMutableRawBufferPointer(rebasing: batch.storage[batch.used..<(batch.used + datagram.count)])
            .copyMemory(from: datagram)
        batch.used += datagram.count
        batch.count += 1
        if datagram.count < batch.segmentSize { batch.closed = true }
    }

    /// Sends the outgoing batch; called before every wait, so nothing stays queued while the loop sleeps.
    func flushBatch() {
        guard batch.count > 0, let target = batch.target else { return }
        defer {
            batch.count = 0
            batch.used = 0
            batch.target = nil
        }
        let bytes = UnsafeRawBufferPointer(rebasing: batch.storage[0..<batch.used])
        // A kernel that cannot segment turns offload off on the socket, and the run goes one by one.
        let (sent, failed) = setup.socket.sendSegments(bytes, segmentSize: max(batch.segmentSize, 1), to: target)
        counters.datagramsSent += sent
        counters.sendFailures += failed
        if failed == 0 {
            counters.bytesSent += batch.used
        } else if sent > 0 {
            // Which ones failed is not known; count the sent ones at full size.
            counters.bytesSent += min(batch.used, sent * batch.segmentSize)
        }
    }

    // MARK: Link actions

    private func perform(_ actions: [LinkAction<TransportPath>]) {
        for action in actions {
            switch action {
            case .send(let datagram, let path):
                transmit(datagram, on: path)
            case .deliver(let plaintext, let peer, let number):
                deliver(plaintext, from: peer, number: number)
            case .linkUp(let peer, let path):
                slots[peer] = PeerSlot()
                shared.state.withLock { _ = $0.connected.insert(peer) }
                associate(peer, with: path)
                if path.isRelayed { startProbing(peer) }
                publishStatus()
                shared.events(.linkUp(peer, path: path))
            case .linkDown(let peer, let reason):
                linkDown(peer, reason: reason)
            case .pathChanged(let peer, let path, _):
                associate(peer, with: path)
                if path.isRelayed { startProbing(peer) } else { probing[peer] = nil }
                publishStatus()
                shared.events(.pathChanged(peer, path: path))
            case .handshakeFailed(let paths):
                for (id, _) in traversals where paths.contains(.relay(id)) { traversals[id]?.connecting = false }
                shared.events(.handshakeFailed(paths: paths))
            }
        }
    }

    private func deliver(_ plaintext: [UInt8], from peer: PublicKey, number: UInt64) {
        guard let slot = slots[peer] else { return }
        slot.lastContentReceivedAt = now
        let deliveries: [ReliableLink.Delivery]
        do {
            deliveries = try slot.reliable.received(packetNumber: number, plaintext: plaintext, now: now)
        } catch {
            counters.reliabilityDecodeDrops += 1
            return
        }
        for delivery in deliveries {
            switch delivery {
            case .message(let message):
                shared.events(.message(peer, message))
            case .unreliable(let datagram):
                shared.events(.unreliable(peer, datagram))
            case .closed:
                // The peer closed cleanly: end the link here too, reported as the peer's doing.
                for action in endpoint.close(peer, now: now) {
                    switch action {
                    case .linkDown(let closed, .closedLocally):
                        linkDown(closed, reason: .closedByPeer)
                    case .send, .deliver, .linkUp, .linkDown, .pathChanged, .handshakeFailed:
                        perform([action])
                    }
                }
                return
            }
        }
    }

    private func linkDown(_ peer: PublicKey, reason: LinkDownReason) {
        slots[peer] = nil
        probing[peer] = nil
        shared.state.withLock { _ = $0.connected.remove(peer) }
        for (id, traversal) in traversals where traversal.peer == peer {
            // Forget the association so the next introduction of this member tries again.
            traversals[id]?.peer = nil
            traversals[id]?.connecting = false
            traversals[id]?.punchUntil = now
        }
        publishStatus()
        shared.events(.linkDown(peer, reason: reason))
    }

    // MARK: Rendezvous

    private func performClient(_ actions: [RendezvousClient.Action]) {
        for action in actions {
            switch action {
            case .send(let datagram):
                if let server = setup.server { sendRaw(datagram, to: server) }
            case .registered(let reflexive):
                publishStatus()
                shared.events(.registered(reflexive: reflexive))
            case .introduced(let introduction):
                introduced(introduction)
            case .relayed(let datagram, let source):
                let actions = endpoint.received(datagram, from: .relay(source), now: now)
                for case .deliver(_, let peer, _) in actions { associate(peer, with: .relay(source)) }
                perform(actions)
            case .registrationLost:
                statusDirty = true
            case .refused(let reason):
                publishStatus()
                shared.events(.registrationRefused(reason))
            }
        }
    }

    private func introduced(_ introduction: RendezvousClient.Introduction) {
        let id = introduction.peerID
        if introduction.isNew {
            shared.events(.introduced(id, candidates: [introduction.reflexive] + introduction.candidates))
        }
        let directs = directCandidates(of: introduction)
        if var traversal = traversals[id] {
            let added = directs.filter { !traversal.directs.contains($0) }
            traversal.directs = directs
            traversals[id] = traversal
            if let peer = traversal.peer, slots[peer] != nil {
                if introduction.isNew, endpoint.linkInfo(for: peer)?.isDirect == false { startProbing(peer) }
                return
            }
            if isLive(traversal) {
                // The attempt in progress includes the relay path, so it completes whatever the
                // member's addresses now are; new addresses only need punching (and the probes
                // once linked). One attempt per member keeps a stream of changed introductions
                // from piling up handshakes.
                guard introduction.isNew else { return }
                traversals[id]?.punchUntil = now + Wire.natPunchDuration
                for candidate in added { punch(candidate) }
                return
            }
        }
        guard traversals.values.filter({ $0.peer == nil && isLive($0) }).count < Wire.natMaxPendingTraversals else {
            // Far more members than a room holds: ignore it; a real one is introduced again at the next refresh.
            counters.traversalsRefused += 1
            return
        }
        startTraversal(id, directs: directs)
    }

    /// True while a traversal's handshake attempt may still complete, or (on the side that does
    /// not initiate) while it still punches.
    private func isLive(_ traversal: Traversal) -> Bool {
        traversal.connecting ? now < traversal.startedAt + Wire.linkHandshakeTimeout : now < traversal.punchUntil
    }

    /// The member's addresses this socket can use: reflexive first (across NATs), then its
    /// local ones (same LAN), without duplicates or our own address, leaving room for the relay path.
    private func directCandidates(of introduction: RendezvousClient.Introduction) -> [UDPEndpoint] {
        guard !setup.configuration.directPathsDisabled else { return [] }
        var result: [UDPEndpoint] = []
        for candidate in [introduction.reflexive] + introduction.candidates {
            guard candidate.port != 0, setup.socket.canReach(candidate), !result.contains(candidate),
                candidate != setup.local, !setup.candidates.contains(candidate)
            else { continue }
            switch candidate.address {
            case .v4(let address) where address == 0: continue
            case .v6(let high, let low) where high == 0 && low == 0: continue
            case .v4, .v6: break
            }
            result.append(candidate)
        }
        return Array(result.prefix(Wire.linkMaxCandidatePaths - 1))
    }

    private func startTraversal(_ id: RendezvousPeerID, directs: [UDPEndpoint]) {
        // The lower peer id initiates; the other side only punches, so one handshake crosses
        // the NATs rather than two racing (equal ids, impossible in practice, both initiate).
        let initiates = setup.rendezvousPeerID.rawValue <= id.rawValue
        traversals[id] = Traversal(
            directs: directs, startedAt: now, punchUntil: now + Wire.natPunchDuration,
            nextPunchAt: now + Wire.natPunchInterval, connecting: initiates, peer: nil)
        for candidate in directs { punch(candidate) }
        if initiates { perform(endpoint.connect(paths: directs.map(TransportPath.direct) + [.relay(id)], now: now)) }
        while traversals.count > RendezvousWire.clientMaxKnownPeers,
            let stalest = traversals.filter({ $0.value.peer == nil }).min(by: { $0.value.startedAt < $1.value.startedAt })
        {
            traversals[stalest.key] = nil
        }
    }

    private func punch(_ target: UDPEndpoint) {
        counters.punchesSent += 1
        perform(endpoint.punch(on: .direct(target)))
    }

    /// Links the member's rendezvous id with its identity, from a path a link of it uses.
    private func associate(_ peer: PublicKey, with path: TransportPath) {
        switch path {
        case .relay(let id):
            traversals[id]?.peer = peer
        case .direct(let address):
            for (id, traversal) in traversals where traversal.directs.contains(address) { traversals[id]?.peer = peer }
        }
    }

    private func startProbing(_ peer: PublicKey) {
        guard traversals.values.contains(where: { $0.peer == peer && !$0.directs.isEmpty }) else { return }
        probing[peer] = ProbeWindow(until: now + Wire.natProbeDuration, nextAt: now)
    }

    // MARK: Epochs

    /// Moves links and registration to a new epoch of the room (see `PeerTransport.switchEpoch`).
    private func switchEpoch(to keys: RoomKeys, older: [RoomKeys], olderEpochPeers: Set<PublicKey>) {
        perform(endpoint.switchEpoch(to: keys, older: older, olderEpochPeers: olderEpochPeers, now: now))
        let tag = RoomTag(roomKeys: keys)
        guard let current = client, current.roomTag != tag else { return }
        if let older = previousClient { retire(older) }
        previousClient = current
        previousClientUntil = now + Self.epochRegistrationOverlap
        var next = RendezvousClient(
            roomKeys: keys, peerID: setup.rendezvousPeerID, candidates: setup.candidates,
            identity: setup.identity, random: SystemRandomNumberGenerator())
        let actions = next.start(now: now)
        client = next
        performClient(actions)
        statusDirty = true
    }

    /// Starts retiring an earlier epoch's registration and keeps it until it finishes.
    private func retire(_ client: RendezvousClient) {
        var client = client
        let actions = client.retire(now: now)
        if !client.isFinished { retiringClients.append(client) }
        performClient(actions)
    }

    // MARK: Timers

    private func fireTimers() {
        if let due = endpoint.nextTimer, due <= now { perform(endpoint.timerFired(now: now)) }
        for (peer, slot) in slots {
            if let due = slot.reliable.nextTimer, due <= now { slot.reliable.timerFired(now: now) }
            if let due = slot.answerDue, due <= now {
                slot.lastSentAt = now
                if let info = endpoint.linkInfo(for: peer), info.isDirect,
                    let actions = try? endpoint.probe(peer, on: info.path, now: now)
                {
                    perform(actions)
                }
            }
        }
        if let due = client?.nextTimer, due <= now, let actions = client?.timerFired(now: now) {
            performClient(actions)
        }
        if let previous = previousClient, now >= previousClientUntil {
            // The overlap is over: the old epoch's tag is retired rather than left open, so a
            // removed member (who holds that epoch's key) cannot register under it again.
            previousClient = nil
            retire(previous)
        } else if let due = previousClient?.nextTimer, due <= now, let actions = previousClient?.timerFired(now: now) {
            performClient(actions)
        }
        for index in retiringClients.indices {
            if let due = retiringClients[index].nextTimer, due <= now {
                performClient(retiringClients[index].timerFired(now: now))
            }
        }
        retiringClients.removeAll { $0.isFinished }
        for (id, traversal) in traversals
        where traversal.peer == nil && traversal.nextPunchAt <= now && now < traversal.punchUntil {
            traversals[id]?.nextPunchAt = now + Wire.natPunchInterval
            for candidate in traversal.directs { punch(candidate) }
        }
        for (peer, window) in probing where window.nextAt <= now {
            guard now < window.until, slots[peer] != nil, endpoint.linkInfo(for: peer)?.isDirect == false,
                let traversal = traversals.values.first(where: { $0.peer == peer })
            else {
                probing[peer] = nil
                continue
            }
            probing[peer]?.nextAt = now + Wire.natProbeInterval
            counters.probeRounds += 1
            for candidate in traversal.directs {
                guard let actions = try? endpoint.probe(peer, on: .direct(candidate), now: now) else { break }
                perform(actions)
            }
        }
    }

    private func nextDeadline() -> UInt64? {
        var earliest: UInt64?
        func consider(_ time: UInt64?) {
            guard let time else { return }
            earliest = min(earliest ?? time, time)
        }
        consider(endpoint.nextTimer)
        for slot in slots.values where !slot.broken {
            consider(slot.reliable.nextTimer)
            consider(slot.answerDue)
        }
        consider(client?.nextTimer)
        consider(previousClient?.nextTimer)
        if previousClient != nil { consider(previousClientUntil) }
        for retiring in retiringClients { consider(retiring.nextTimer) }
        for traversal in traversals.values where traversal.peer == nil && now < traversal.punchUntil {
            consider(traversal.nextPunchAt)
        }
        for window in probing.values { consider(window.nextAt) }
        consider(drainDeadline)
        nextTimerAt = earliest
        if changed || statusDirty { consider(lastStatusAt + Self.statusInterval) }
        return earliest
    }

    // MARK: Close

    private func finishClose() {
        now = MonotonicClock.nanoseconds()
        for (peer, slot) in slots where !slot.broken {
            slot.reliable.close(reason: Self.closeReason, now: now)
            guard let number = endpoint.nextPacketNumber(for: peer),
                let plaintext = slot.reliable.nextPacket(packetNumber: number, now: now),
                let actions = try? endpoint.send(plaintext, to: peer, now: now)
            else { continue }
            perform(actions)
        }
        for peer in endpoint.connectedPeers { perform(endpoint.close(peer, now: now)) }
        if let actions = client?.close(now: now) { performClient(actions) }
        if let actions = previousClient?.close(now: now) { performClient(actions) }
        shared.state.withLock { $0.connected = [] }
    }

    // MARK: Status

    private func publishStatusIfDue() {
        guard statusDirty || (changed && now >= lastStatusAt + Self.statusInterval) else { return }
        publishStatus()
        changed = false
    }

    /// Publishes a fresh snapshot for `PeerTransport.status`; before every link or registration
    /// event, so a handler reading the status sees what the event reports.
    private func publishStatus() {
        var status = TransportStatus()
        status.localEndpoint = setup.local
        status.localCandidates = setup.candidates
        status.registered = client?.isRegistered ?? false
        status.reflexive = client?.reflexive
        status.rendezvousPeerID = client?.peerID
        status.peers = endpoint.connectedPeers.compactMap { peer in
            guard let info = endpoint.linkInfo(for: peer), let slot = slots[peer] else { return nil }
            return PeerStatus(link: info, reliability: slot.reliable.stats)
        }
        status.link = endpoint.stats
        status.rendezvous = client?.stats
        status.counters = counters
        status.pendingHandshakes = endpoint.pendingHandshakes
        status.halfOpenHandshakes = endpoint.halfOpenCount
        status.socketReceiveBuffer = socketBuffers.receive
        status.socketSendBuffer = socketBuffers.send
        status.sendOffload = setup.socket.sendOffload
        status.receiveOffload = coalescing
        shared.state.withLock { $0.status = status }
        lastStatusAt = now
        statusDirty = false
        // `changed` stays: an event published mid-pass may be followed, in the same pass, by counters
        // that moved after it, which the end of the pass (or the next one within the interval) publishes.
    }
}
