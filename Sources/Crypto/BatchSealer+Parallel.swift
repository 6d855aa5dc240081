import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension BatchSealer {
    /// Opens `sealed` batches (decrypt and verify, exactly as `open`) on every core there is, and
    /// hands each result to `body` in index order on the calling thread.
    ///
    /// Helper threads claim batches in order and open them ahead; the calling thread, between
    /// results, opens the next unclaimed batch itself instead of waiting. So `body` sees the same
    /// results in the same order as a loop of `open` would give it (a batch that fails to open
    /// fails the same way), while the opening of later batches overlaps the caller's work on the
    /// earlier ones. `wanted` says which indices to open at all (the rest reach `body` as nil):
    /// the caller skips what it knows, from the header, it will not need.
    /// `then` runs on the thread that opened the batch, so work that follows opening (decoding
    /// the payload) is spread over the cores too.
    package static func openInOrder<Opened: Sendable>(
        _ sealed: [[UInt8]], room: [UInt8], keys: [UInt32: SecretBytes], wanted: (Int) -> Bool,
        then: @escaping @Sendable (OpenedBatch) -> Opened,
        _ body: (Int, Result<Opened, any Error>?) -> Void
    ) {
        let indices = sealed.indices.filter(wanted)
        let helpers = indices.count < 4 ? 0 : min(Self.helperThreads, indices.count / 2)
        let contentKey: (UInt32) -> SecretBytes? = { keys[$0] }
        guard helpers > 0 else {
            var position = 0
            for index in sealed.indices {
                if position < indices.count, indices[position] == index {
                    position += 1
                    body(index, Result { then(try open(sealed[index], room: room, contentKey: contentKey)) })
                } else {
                    body(index, nil)
                }
            }
            return
        }
        let work = ParallelOpen(sealed: sealed, indices: indices, room: room, keys: keys, then: then)
        var threads: [pthread_t] = []
        for _ in 0..<helpers {
            // Plain threads, joined below: the cooperative pool must not be blocked waiting on itself.
            let box = Unmanaged.passRetained(ThreadBody { work.drain() })
            var thread = pthread_t()
            let created = pthread_create(
                &thread, nil,
                { raw in
                    #if canImport(Darwin)
                        let body = Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue()
                    #else
                        let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
                    #endif
                    body.run()
                    return nil
                }, box.toOpaque())
            if created == 0 { threads.append(thread) } else { box.release() }
        }
        var position = 0
        for index in sealed.indices {
            guard position < indices.count, indices[position] == index else {
                body(index, nil)
                continue
            }
            body(index, work.take(position))
            position += 1
        }
        // The helpers hold `work` only until it is drained; nothing of theirs outlives the call.
        work.stop()
        for thread in threads { pthread_join(thread, nil) }
    }

    /// Threads besides the caller's: one per further online core (none on one core).
    static let helperThreads: Int = max(0, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) - 1)
}

/// The shared state of one `openInOrder`: a claim counter and a slot per batch.
private final class ParallelOpen<Opened: Sendable>: Sendable {
    let sealed: [[UInt8]]
    let indices: [Int]
    let room: [UInt8]
    let keys: [UInt32: SecretBytes]
    let then: @Sendable (OpenedBatch) -> Opened
    /// The next position (into `indices`) nobody has claimed yet.
    let next = Atomic<Int>(0)
    /// Set once the caller is done: helpers claim nothing more.
    let stopped = Atomic<Bool>(false)
    let slots: Mutex<[Int: Result<Opened, any Error>]> = Mutex([:])

    init(sealed: [[UInt8]], indices: [Int], room: [UInt8], keys: [UInt32: SecretBytes], then: @escaping @Sendable (OpenedBatch) -> Opened) {
        self.then = then
        self.sealed = sealed
        self.indices = indices
        self.room = room
        self.keys = keys
    }

    /// Opens position `position`'s batch.
    func open(_ position: Int) -> Result<Opened, any Error> {
        let keys = keys
        return Result { then(try BatchSealer.open(sealed[indices[position]], room: room, contentKey: { keys[$0] })) }
    }

    /// A helper's loop: claim, open, file the result, until all are claimed.
    func drain() {
        while !stopped.load(ordering: .relaxed) {
            let position = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard position < indices.count else { return }
            let result = open(position)
            slots.withLock { $0[position] = result }
        }
    }

    /// The result of `position`. Never idle while batches are left: until a helper has filed it,
    /// the caller claims the next unclaimed batch itself, returns it if it is this one, or files it.
    func take(_ position: Int) -> Result<Opened, any Error> {
        while true {
            if let result = slots.withLock({ $0.removeValue(forKey: position) }) { return result }
            let claimed = next.load(ordering: .relaxed)
            if claimed < indices.count {
                guard next.compareExchange(expected: claimed, desired: claimed + 1, ordering: .relaxed).exchanged else { continue }
                let result = open(claimed)
                if claimed == position { return result }
                slots.withLock { $0[claimed] = result }
            } else {
                // All claimed; a helper is opening this one now, at most one batch's opening away.
                sched_yield()
            }
        }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
    }
}

/// A helper thread's work, passed through `pthread_create`'s context pointer.
private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void

    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
