import PeerCrypto
import Replication
import Testing

@testable import Node

/// The per-author token buckets, on a clock the test moves by hand.
@Suite("Author quotas")
struct AuthorQuotaTests {
    static let ana = ReplicaID(Identity.generate().publicKey)
    static let ben = ReplicaID(Identity.generate().publicKey)
    static let limits = AuthorQuota.Limits(operationsPerMinute: 600, operationBurst: 600, bytesPerMinute: 6000, byteBurst: 12000)

    @Test("the burst is spent at once, then refused with the wait until it refills")
    func burst() {
        var quota = AuthorQuota(limits: Self.limits)
        for _ in 0..<6 { #expect(quota.spend(Self.ana, operations: 100, bytes: 10, now: 0) == nil) }
        #expect(quota.spend(Self.ana, operations: 1, bytes: 10, now: 0) == .operations(retryAfterSeconds: 0.1))
        // 600 a minute is 10 a second: 0.1 s later one more fits, and only one.
        #expect(quota.spend(Self.ana, operations: 1, bytes: 10, now: 0.1) == nil)
        #expect(quota.spend(Self.ana, operations: 1, bytes: 10, now: 0.1) != nil)
        // More than the burst never fits.
        var fresh = AuthorQuota(limits: Self.limits)
        #expect(fresh.spend(Self.ana, operations: 601, bytes: 1, now: 0) == .operations(retryAfterSeconds: .infinity))
        #expect(fresh.spend(Self.ana, operations: 1, bytes: 12001, now: 0) == .bytes(retryAfterSeconds: .infinity))
    }

    @Test("a refused spend costs nothing; bytes run out on their own")
    func bytes() {
        var quota = AuthorQuota(limits: Self.limits)
        #expect(quota.spend(Self.ana, operations: 1, bytes: 12000, now: 0) == nil)
        #expect(quota.spend(Self.ana, operations: 1, bytes: 100, now: 0) == .bytes(retryAfterSeconds: 1))
        #expect(quota.spend(Self.ana, operations: 1, bytes: 100, now: 1) == nil)
        // The refusal spent no operation: a second's refill (10) topped the bucket up to 600, less one.
        #expect(quota.spend(Self.ana, operations: 599, bytes: 0, now: 1) == nil)
        #expect(quota.spend(Self.ana, operations: 1, bytes: 0, now: 1) != nil)
    }

    @Test("refills at the rate, never above the burst, and not when the clock steps back")
    func refill() {
        var quota = AuthorQuota(limits: Self.limits)
        #expect(quota.spend(Self.ana, operations: 600, bytes: 0, now: 100) == nil)
        #expect(quota.spend(Self.ana, operations: 300, bytes: 0, now: 130) == nil, "half a minute refills 300")
        #expect(quota.spend(Self.ana, operations: 1, bytes: 0, now: 130) != nil)
        #expect(quota.spend(Self.ana, operations: 1, bytes: 0, now: 50) != nil, "a clock stepping back refills nothing")
        #expect(quota.spend(Self.ana, operations: 600, bytes: 0, now: 10_000) == nil, "a long pause refills the burst")
        #expect(quota.spend(Self.ana, operations: 1, bytes: 0, now: 10_000) != nil, "and no more")
    }

    @Test("authors are independent")
    func perAuthor() {
        var quota = AuthorQuota(limits: Self.limits)
        #expect(quota.spend(Self.ana, operations: 600, bytes: 0, now: 0) == nil)
        #expect(quota.spend(Self.ana, operations: 1, bytes: 0, now: 0) != nil)
        #expect(quota.spend(Self.ben, operations: 600, bytes: 0, now: 0) == nil, "Ben's bucket is his own")
        #expect(!quota.admits(Self.ana, bytes: 1, now: 0))
        #expect(quota.admits(ReplicaID(Identity.generate().publicKey), bytes: 12000, now: 0), "a new author has a full bucket")
    }

    @Test("others' batches: admitted while the bucket has room, charged in full afterwards into debt, dropped while in debt")
    func admitAndCharge() {
        var quota = AuthorQuota(limits: Self.limits)
        #expect(quota.admits(Self.ana, bytes: 100, now: 0))
        quota.charge(Self.ana, operations: 599, bytes: 100, now: 0)
        #expect(quota.admits(Self.ana, bytes: 100, now: 0), "one operation left")
        quota.charge(Self.ana, operations: 200, bytes: 100, now: 0)
        #expect(!quota.admits(Self.ana, bytes: 100, now: 0), "199 operations in debt")
        quota.noteDropped(Self.ana)
        #expect(!quota.admits(Self.ana, bytes: 100, now: 19.9), "debt repaid at 10 a second: 19.9 s is not enough")
        #expect(quota.admits(Self.ana, bytes: 100, now: 20))
        // A batch with no readable operations still costs one.
        quota.charge(Self.ben, operations: 0, bytes: 0, now: 0)
        #expect(quota.spend(Self.ben, operations: 600, bytes: 0, now: 0) != nil)
        #expect(quota.dropped == [Self.ana: 1])
    }

    @Test("the shipped limits: a person's pace passes, a script's does not")
    func shippedLimits() {
        var quota = AuthorQuota(limits: .local)
        // Panning for ten minutes: one view every 150 ms.
        var now = 0.0
        for _ in 0..<4000 {
            #expect(quota.spend(Self.ana, operations: 1, bytes: 300, now: now) == nil)
            now += 0.15
        }
        // A script: 10,000 edits as fast as it can.
        var script = AuthorQuota(limits: .local)
        let passed = (0..<10_000).filter { script.spend(Self.ben, operations: 1, bytes: 300, now: Double($0) * 0.0001) == nil }.count
        #expect(passed < 620)
        #expect(AuthorQuota.Limits.local.byteBurst >= Double(Limits.maxSealedBatchBytes), "the largest batch always fits")
        #expect(AuthorQuota.Limits.local.operationBurst >= Double(Limits.maxOperationsPerBatch))
    }

    @Test("the error the local API answers with says what, how much and when")
    func message() {
        let refusal = QuotaExceeded(.operations(retryAfterSeconds: 2.2), limits: .local)
        #expect(refusal.retryAfterSeconds == 3)
        #expect(refusal.description == "too many edits: this node allows 600 operations a minute; try again in 3 s")
        let bytes = QuotaExceeded(.bytes(retryAfterSeconds: 0.01), limits: .local)
        #expect(bytes.description == "too much edited data: this node allows 8 MiB of edits a minute; try again in 1 s")
        #expect(QuotaExceeded(.bytes(retryAfterSeconds: .infinity), limits: .local).retryAfterSeconds == nil)
    }
}
