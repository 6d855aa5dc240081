import Foundation
import PeerCrypto
import Primitives
import Replication
import Rendezvous
import Store
import Synchronization
import Transport

@testable import Node

/// A room member a test builds by hand from the project's own engine and transport, with its own
/// key. It behaves as any node (links, syncs, relays pointers), and the test can also read the
/// datagrams it received and send whatever it likes over its links: a hostile member's powers.
/// Test code only; the shipped binary has no such switch.
final class HandBuiltMember: Sendable {
    let identity = Identity.generate()
    let engine: RoomEngine
    let transport: PeerTransport
    let endpoint: UDPEndpoint
    private let unreliable = DatagramLog()
    private let tasks: Mutex<[Task<Void, Never>]> = Mutex([])

    /// Starts the member on 127.0.0.1 with a profile of `name`; `connect(to:)` links it. Each
    /// transport event passes `observe` first, on the transport's thread.
    init(
        room: RoomKeys, folder: String, name: String, observe: @escaping @Sendable (TransportEvent) -> Void = { _ in }
    ) async throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        engine = try RoomEngine(identity: identity, room: room, store: Store(path: folder + "/store.sqlite"), nowMillis: Int64(RoomEngine.wallMillis()))
        try await engine.ensureProfile(name: name, role: .guest)
        let (events, continuation) = AsyncStream<TransportEvent>.makeStream()
        let box = unreliable
        transport = PeerTransport(
            identity: identity, room: room, listen: HostPort(host: "127.0.0.1", port: 0), rendezvous: nil,
            events: { event in
                observe(event)
                if case let .unreliable(_, bytes) = event { box.append(bytes) }
                continuation.yield(event)
            })
        endpoint = try transport.start()
        await engine.attach(transport)
        let engine = engine
        let loop = Task {
            for await event in events { await engine.handle(event) }
        }
        // The runtime's heal, faster: every second.
        let timer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                await engine.syncTimer()
            }
        }
        tasks.withLock { $0 = [loop, timer] }
    }

    /// Links to a node listening at `node`.
    func connect(to node: UDPEndpoint) {
        transport.connect(to: [node])
    }

    /// The pointers received so far (decoded, whoever signed them).
    var receivedPointers: [SignedPointer] {
        unreliable.all.compactMap { if case .pointer(let pointer)? = PeerMessage.decode($0) { pointer } else { nil } }
    }

    /// Sends raw bytes as an unreliable datagram to a linked peer.
    func sendUnreliable(_ bytes: [UInt8], to peer: PublicKey) throws {
        try transport.sendUnreliable(bytes, to: peer)
    }

    func stop() async {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        await engine.detach()
        transport.close()
    }
}

/// A clock a test moves by hand (seconds). It starts at the engine's own clock's reading, so
/// buckets filled before a test swaps it in do not see time step back.
final class ManualClock: Sendable {
    private let seconds = Mutex<Double>(MonotonicClock.seconds())

    var now: Double { seconds.withLock { $0 } }

    func advance(by delta: Double) {
        seconds.withLock { $0 += delta }
    }
}

/// Datagrams a hand-built member received, in order.
final class DatagramLog: Sendable {
    private let list = Mutex<[[UInt8]]>([])

    func append(_ bytes: [UInt8]) {
        list.withLock { $0.append(bytes) }
    }

    var all: [[UInt8]] { list.withLock { $0 } }
}

/// Runs `body`, then `cleanup` whether it threw or not, without blocking a thread: a semaphore
/// waited on in a `defer` holds one of the two cooperative threads of this machine, and two tests
/// stopping their nodes at once that way leave none to run the stops.
func withCleanup<T>(_ body: () async throws -> T, cleanup: () async -> Void) async throws -> T {
    do {
        let value = try await body()
        await cleanup()
        return value
    } catch {
        await cleanup()
        throw error
    }
}
