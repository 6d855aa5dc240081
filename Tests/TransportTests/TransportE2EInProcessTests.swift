import Foundation
import PeerCrypto
import Primitives
import Rendezvous
import Synchronization
import Testing
import Transport

#if canImport(Glibc)
    import Glibc
#endif

extension TransportE2ETests {
    /// The `PeerTransport` API itself, two instances in this process on real loopback sockets.
    @Suite struct InProcess {
        /// Events of one transport, collected for the test to wait on.
        final class Recorder: Sendable {
            private let events = Mutex<[TransportEvent]>([])
            let handler: Mutex<(@Sendable (TransportEvent) -> Void)?> = Mutex(nil)

            var all: [TransportEvent] { events.withLock { $0 } }

            func record(_ event: TransportEvent) {
                events.withLock { $0.append(event) }
                if let extra = handler.withLock({ $0 }) { extra(event) }
            }

            /// Waits (bounded) until `predicate` holds for the events so far.
            func wait(timeout: Double = 10, _ predicate: ([TransportEvent]) -> Bool) -> Bool {
                let deadline = Date().addingTimeInterval(timeout)
                while Date() < deadline {
                    if predicate(all) { return true }
                    usleep(2_000)
                }
                return predicate(all)
            }

            var messages: [[UInt8]] {
                all.compactMap { if case .message(_, let bytes) = $0 { bytes } else { nil } }
            }
        }

        static let room = try! RoomKeys(secret: SecretBytes(copying: [UInt8](repeating: 0x42, count: 32)), owner: testOwner)
        static let loopback = HostPort(host: "127.0.0.1", port: 0)

        static func node(
            _ seed: UInt8, room: RoomKeys = room, configuration: PeerTransport.Configuration = .init()
        ) -> (PeerTransport, Recorder) {
            let recorder = Recorder()
            let identity = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: seed, count: 32)))
            let transport = PeerTransport(
                identity: identity, room: room, listen: loopback, rendezvous: nil, configuration: configuration
            ) { recorder.record($0) }
            return (transport, recorder)
        }

        static func linkUp(_ events: [TransportEvent]) -> Bool {
            events.contains { if case .linkUp = $0 { true } else { false } }
        }

        @Test func twoTransportsExchangeMessagesAndPresenceBothWaysAndCloseCleanly() throws {
            let (a, aEvents) = Self.node(1)
            let (b, bEvents) = Self.node(2)
            defer {
                a.close()
                b.close()
            }
            try a.start()
            let bAddress = try b.start()
            a.connect(to: [bAddress])
            #expect(aEvents.wait(Self.linkUp) && bEvents.wait(Self.linkUp))
            let messages = (0..<100).map { i in [UInt8](repeating: UInt8(i), count: i * 37) }
            for message in messages { try a.send(message: message, to: b.localKey) }
            try b.send(message: Array("hello".utf8), to: a.localKey)
            try a.sendUnreliable([7, 7, 7], to: b.localKey)
            #expect(bEvents.wait { _ in bEvents.messages.count == 100 })
            #expect(bEvents.messages == messages)
            #expect(aEvents.wait { _ in aEvents.messages == [Array("hello".utf8)] })
            #expect(bEvents.wait { $0.contains(.unreliable(a.localKey, [7, 7, 7])) })

            let status = a.status
            let peer = try #require(status.peers.first)
            #expect(peer.peer == b.localKey && peer.link.isDirect && peer.path == .direct(bAddress))
            #expect(peer.reliability.smoothedRTT > 0 && peer.reliability.congestionWindow > 0)
            #expect(status.counters.datagramsSent > 0 && status.link.totalDrops == 0)
            #expect(status.socketReceiveBuffer >= 1 << 20)

            a.close()
            #expect(!a.isRunning)
            #expect(aEvents.all.contains(.linkDown(b.localKey, reason: .closedLocally)))
            #expect(bEvents.wait { $0.contains(.linkDown(a.localKey, reason: .closedByPeer)) })
            #expect(b.peers.isEmpty)
        }

        @Test func misuseIsRefusedWithClearErrors() throws {
            let (a, _) = Self.node(3)
            let (b, _) = Self.node(4)
            #expect(throws: TransportError.notRunning) { try a.send(message: [1], to: b.localKey) }
            let address = try a.start()
            #expect(throws: TransportError.alreadyStarted) { try a.start() }
            #expect(throws: TransportError.notConnected(b.localKey)) { try a.send(message: [1], to: b.localKey) }
            #expect(throws: TransportError.messageTooLarge(Wire.maxMessageSize + 1)) {
                try a.send(message: [UInt8](repeating: 0, count: Wire.maxMessageSize + 1), to: b.localKey)
            }
            #expect(throws: TransportError.datagramTooLarge(Wire.maxUnreliableSize + 1)) {
                try a.sendUnreliable([UInt8](repeating: 0, count: Wire.maxUnreliableSize + 1), to: b.localKey)
            }
            // The port is taken: binding it again fails with the socket's reason.
            let (c, _) = Self.node(5)
            let taken = PeerTransport(
                identity: .generate(), room: Self.room, listen: HostPort(host: "127.0.0.1", port: address.port),
                rendezvous: nil
            ) { _ in }
            #expect(throws: TransportError.self) { try taken.start() }
            #expect(!taken.isRunning)
            a.close()
            a.close()
            #expect(throws: TransportError.notRunning) { try a.send(message: [1], to: b.localKey) }
            c.close()
        }

        @Test func anEventHandlerMayCloseItsOwnTransport() throws {
            let (a, aEvents) = Self.node(6)
            let (b, bEvents) = Self.node(7)
            defer {
                a.close()
                b.close()
            }
            bEvents.handler.withLock { handler in
                handler = { [weak b] event in
                    if case .message = event { b?.close() }
                }
            }
            try a.start()
            a.connect(to: [try b.start()])
            #expect(aEvents.wait(Self.linkUp))
            try a.send(message: [1, 2, 3], to: b.localKey)
            #expect(aEvents.wait { $0.contains(.linkDown(b.localKey, reason: .closedByPeer)) })
            #expect(bEvents.wait { _ in !b.isRunning })
        }

        @Test func aLargeMessageArrivesWholeWhileSmallOnesFollowInOrder() throws {
            let (a, aEvents) = Self.node(8)
            let (b, bEvents) = Self.node(9)
            defer {
                a.close()
                b.close()
            }
            try a.start()
            a.connect(to: [try b.start()])
            #expect(aEvents.wait(Self.linkUp))
            var big = [UInt8](repeating: 0, count: Wire.maxMessageSize)
            for i in stride(from: 0, to: big.count, by: 4096) { big[i] = UInt8(truncatingIfNeeded: i >> 12) }
            try a.send(message: big, to: b.localKey)
            for i in 0..<1_000 { try a.send(message: [UInt8(i & 0xFF), UInt8(i >> 8)], to: b.localKey) }
            #expect(bEvents.wait(timeout: 60) { _ in bEvents.messages.count == 1_001 })
            let received = bEvents.messages
            #expect(received.first == big)
            #expect(received.dropFirst().enumerated().allSatisfy { i, m in m == [UInt8(i & 0xFF), UInt8(i >> 8)] })
        }

        @Test func directPathsDisabledRefusesEverythingButTheRendezvous() throws {
            var relayOnly = PeerTransport.Configuration()
            relayOnly.directPathsDisabled = true
            let (a, aEvents) = Self.node(10)
            let (b, bEvents) = Self.node(11, configuration: relayOnly)
            defer {
                a.close()
                b.close()
            }
            try a.start()
            a.connect(to: [try b.start()])
            usleep(1_500_000)
            #expect(!Self.linkUp(aEvents.all) && !Self.linkUp(bEvents.all))
            let status = b.status
            #expect(status.counters.directDisabledDrops >= 1)
            #expect(status.localCandidates.isEmpty)
        }
    }
}
