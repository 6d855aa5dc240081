import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The SwiftNIO side of the transport suite's UDP comparison: a `DatagramBootstrap` sender
/// writing 1,200-byte `AddressedEnvelope`s on 127.0.0.1 (64 writes, then one flush, which NIO
/// turns into `sendmmsg`) to a `DatagramBootstrap` receiver reading 64 datagrams per
/// `recvmmsg`, each channel on its own event loop of a two-thread group.
///
/// The sender runs until `targetBytes` have ARRIVED (the volume the POSIX `sendto` reference
/// delivered in the same round) or the timeout passes; the rate is what arrived over the time from
/// the first write to the last arrival. With `window` set, the sender keeps at most that many
/// datagrams unaccounted for (sent, neither arrived nor written off as lost after a 1 ms stall),
/// so the receiver is paced rather than simply overrun.
enum NIOUDPReference {
    struct Result {
        let mbPerSecond: Double
        let datagrams: Int
        let bytes: Int
        let sent: Int
        let completed: Bool
    }

    static func blast(targetBytes: Int, window: Int?, timeoutSeconds: Double) -> Result? {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let state = NIOBlastState(targetBytes: targetBytes)
        let size = TransportSuite.datagramSize
        let buffers = ChannelOptions.socketOption(.so_rcvbuf)
        do {
            let receiver = try DatagramBootstrap(group: group)
                .channelOption(buffers, value: 4 << 20)
                .channelOption(.datagramVectorReadMessageCount, value: 64)
                .channelOption(.maxMessagesPerRead, value: 16)
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 64 * 2_048))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOBlastReceiver(state: state))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).wait()
            defer { try? receiver.close().wait() }
            guard let target = receiver.localAddress else { return nil }
            let sender = try DatagramBootstrap(group: group)
                .channelOption(ChannelOptions.socketOption(.so_sndbuf), value: 4 << 20)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let payload = channel.allocator.buffer(repeating: 0xA5, count: size)
                        try channel.pipeline.syncOperations.addHandler(
                            NIOBlastSender(state: state, target: target, payload: payload, window: window))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).wait()
            defer { try? sender.close().wait() }
            let clock = ContinuousClock()
            let deadline = clock.now + .milliseconds(Int(timeoutSeconds * 1000))
            while !state.stop.load(ordering: .acquiring) && clock.now < deadline {
                usleep(1_000)
            }
            state.stop.store(true, ordering: .releasing)
            let (start, end) = state.times.withLock { ($0.start, $0.end) }
            let bytes = state.bytes.load(ordering: .relaxed)
            guard let start else { return nil }
            let elapsed = (end ?? clock.now) - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return Result(
                mbPerSecond: Double(bytes) / seconds / 1e6, datagrams: state.datagrams.load(ordering: .relaxed), bytes: bytes,
                sent: state.sent.load(ordering: .relaxed), completed: end != nil)
        } catch {
            print("transport: the NIO blaster failed: \(error)")
            return nil
        }
    }
}

/// Counters shared by the two event loops and the waiting thread.
private final class NIOBlastState: Sendable {
    struct Times {
        var start: ContinuousClock.Instant?
        var end: ContinuousClock.Instant?
    }
    let targetBytes: Int
    let datagrams = Atomic<Int>(0)
    let bytes = Atomic<Int>(0)
    let sent = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    let times = Mutex(Times())

    init(targetBytes: Int) { self.targetBytes = targetBytes }
}

/// Counts the datagrams and bytes that arrive; stops the run at the target volume.
private final class NIOBlastReceiver: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let state: NIOBlastState

    init(state: NIOBlastState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        state.datagrams.add(1, ordering: .relaxed)
        let total = state.bytes.add(envelope.data.readableBytes, ordering: .relaxed).newValue
        if total >= state.targetBytes && !state.stop.load(ordering: .relaxed) {
            let now = ContinuousClock.now
            state.times.withLock { if $0.end == nil { $0.end = now } }
            state.stop.store(true, ordering: .releasing)
        }
    }
}

/// Writes 64 envelopes then flushes, while the channel is writable (and, with a window, while
/// fewer than `window` datagrams are unaccounted for), yielding to the loop between rounds.
private final class NIOBlastSender: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    static let batch = 64

    let state: NIOBlastState
    let envelope: AddressedEnvelope<ByteBuffer>
    let window: Int?
    /// Set while the send loop runs: `flush()` can re-enter through `channelWritabilityChanged`.
    private var pumping = false
    private var scheduled = false
    private var sent = 0
    private var writtenOff = 0
    private var lastArrived = 0
    private var lastProgress = ContinuousClock.now

    init(state: NIOBlastState, target: SocketAddress, payload: ByteBuffer, window: Int?) {
        self.state = state
        self.envelope = AddressedEnvelope(remoteAddress: target, data: payload)
        self.window = window
    }

    func channelActive(context: ChannelHandlerContext) {
        let now = ContinuousClock.now
        state.times.withLock { $0.start = now }
        lastProgress = now
        pump(context: context)
        context.fireChannelActive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump(context: context) }
        context.fireChannelWritabilityChanged()
    }

    private func pump(context: ChannelHandlerContext) {
        guard !pumping else { return }
        pumping = true
        defer { pumping = false }
        for _ in 0..<16 {
            guard context.channel.isWritable, !state.stop.load(ordering: .relaxed) else { return }
            if let window, !roomInWindow(window) { break }
            for _ in 0..<Self.batch { context.write(wrapOutboundOut(envelope), promise: nil) }
            sent += Self.batch
            state.sent.store(sent, ordering: .relaxed)
            context.flush()
        }
        // Yield to the loop (and come back) rather than starving it; writability wakes us otherwise.
        guard !scheduled, context.channel.isWritable, !state.stop.load(ordering: .relaxed) else { return }
        scheduled = true
        let loop = context.eventLoop.assumeIsolated()
        loop.execute {
            self.scheduled = false
            self.pump(context: context)
        }
    }

    /// Whether another batch fits in the window; after 1 ms without arrivals, what is outstanding
    /// is written off as lost so a dropped datagram cannot stall the sender for good.
    private func roomInWindow(_ window: Int) -> Bool {
        let arrived = state.datagrams.load(ordering: .relaxed)
        let now = ContinuousClock.now
        if arrived != lastArrived {
            lastArrived = arrived
            lastProgress = now
        } else if now - lastProgress > .milliseconds(1) {
            writtenOff = sent - arrived
            lastProgress = now
        }
        return sent - arrived - writtenOff + Self.batch <= window
    }
}
