import Primitives
import Testing

@testable import Sockets

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite struct SystemCallTests {
    @Test func retryingRunsTheCallAgainAfterEINTR() {
        var calls = 0
        let result = SystemCall.retrying { () -> Int32 in
            calls += 1
            if calls < 3 {
                errno = EINTR
                return -1
            }
            return 7
        }
        #expect(result == 7)
        #expect(calls == 3)
    }

    @Test func retryingReturnsOtherFailuresWithTheirErrno() {
        var calls = 0
        let result = SystemCall.retrying { () -> Int in
            calls += 1
            errno = EBADF
            return -1
        }
        #expect(result == -1)
        #expect(errno == EBADF)
        #expect(calls == 1)
    }

    @Test func pollWaitsUntilTheDeadlineAndReportsNothingReady() throws {
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        defer { ends.forEach(SystemCall.close) }
        let clock = ContinuousClock()
        let start = clock.now
        let ready = try Poll.readable([ends[0]], until: start + .milliseconds(30), clock: clock)
        #expect(ready == [false])
        #expect(clock.now - start >= .milliseconds(30))
    }

    @Test func pollReportsAReadableDescriptorAtOnce() throws {
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        defer { ends.forEach(SystemCall.close) }
        var byte: UInt8 = 1
        #expect(write(ends[1], &byte, 1) == 1)
        let clock = ContinuousClock()
        let start = clock.now
        let ready = try Poll.readable([ends[1], ends[0]], until: start + .seconds(5), clock: clock)
        #expect(ready == [false, true])
        #expect(clock.now - start < .seconds(1))
    }

    @Test func pollRoundsTheRemainingTimeUp() {
        let clock = ContinuousClock()
        let now = clock.now
        #expect(Poll.milliseconds(until: now + .microseconds(10), from: now) == 1)
        #expect(Poll.milliseconds(until: now + .milliseconds(5), from: now) == 5)
        #expect(Poll.milliseconds(until: now - .seconds(1), from: now) == 0)
    }

    @Test func theInterfaceWalkFindsLoopback() {
        let loopback = NetworkInterfaces.addresses().filter(\.isLoopback)
        #expect(loopback.contains { $0.endpoint.host == "127.0.0.1" })
    }

    @Test func aSecondLockOnTheSameFileIsRefused() throws {
        let path = "/tmp/cvpeer-lock-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(path) }
        let first = try #require(try FileLock.acquire(path))
        #expect(try FileLock.acquire(path) == nil)
        first.release()
        let again = try #require(try FileLock.acquire(path))
        again.release()
    }
}

@Suite struct WakePipeTests {
    @Test func aWakePipeIsNonBlockingOnBothEnds() throws {
        let wake = try SystemCall.wakePipe()
        defer {
            SystemCall.close(wake.read)
            SystemCall.close(wake.write)
        }
        var byte: UInt8 = 0
        // Nothing written yet: a read returns at once instead of blocking.
        #expect(read(wake.read, &byte, 1) == -1 && errno == EAGAIN)
        #expect(fcntl(wake.write, F_GETFL) & O_NONBLOCK != 0)
        #expect(fcntl(wake.read, F_GETFD) & FD_CLOEXEC != 0)
    }
}
