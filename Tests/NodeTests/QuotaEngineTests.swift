import Foundation
import LocalAPI
import PeerCrypto
import Primitives
import Rendezvous
import Replication
import Store
import Testing

@testable import Node

/// Quotas wired into the engine: a person's own burst gets a typed error (and the API a 429);
/// a member's flood is partly dropped, counted, and taken in by sync once the window has passed.
@Suite("Quotas in the engine", .serialized)
struct QuotaEngineTests {
    @Test("a local burst over the quota gets the typed error, spends nothing, and fits again after the refill")
    func localBurst() async throws {
        let setup = try OwnedEngine()
        defer { setup.remove() }
        let engine = setup.engine
        let clock = ManualClock()
        await engine.setQuotaClock { clock.now }
        for _ in 0..<6 { try await engine.commit(Array(repeating: .say("hello"), count: 100)) }
        let vector = await engine.vector
        await #expect(throws: NodeError.quotaExceeded(QuotaExceeded(.operations(retryAfterSeconds: 0.1), limits: .local))) {
            try await engine.commit([.say("one too many")])
        }
        #expect(await engine.vector == vector, "a refused edit takes no batch number")
        // A little over a tenth: the clock reads thousands of seconds, so adding exactly 0.1 may refill 0.99999… operations.
        clock.advance(by: 0.15)
        try await engine.commit([.say("after a tenth of a second")])
        #expect(await engine.document.chat.count == 601)
    }

    @Test("the local API answers an edit over the quota with 429 and a one-line message the CLI prints")
    func localAPI429() async throws {
        let folder = NSTemporaryDirectory() + "cvpeer-quota-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let node = try await NodeRuntime.host(
            NodeOptions(dataFolder: try DataFolder(path: folder), role: .agent, name: "Ana", listen: HostPort(host: "127.0.0.1", port: 0)))
        try await withCleanup {
            let clock = ManualClock()
            await node.engine.setQuotaClock { clock.now }
            // Spend the whole burst (the profile took one operation already).
            var operations = 1
            for size in [100, 10, 1] {
                for _ in 0..<10 {
                    guard (try? await node.engine.commit(Array(repeating: .say("hi"), count: size))) != nil else { break }
                    operations += size
                }
            }
            // The profile was spent on the engine's own clock before the test's took over, and
            // the swap may have refilled that one operation.
            #expect((600...601).contains(operations))
            let client = LocalAPIClient(dataFolderPath: folder)
            let answer = try await client.send(.post, "/api/say", body: Array(#"{"text":"one more"}"#.utf8))
            #expect(answer.status == 429)
            #expect(answer.errorMessage == "too many edits: this node allows 600 operations a minute; try again in 1 s")
            do {
                _ = try answer.successful()
                Issue.record("a 429 was taken for a success")
            } catch {
                #expect((error as? LocalAPIError)?.description == "the node refused the request: too many edits: this node allows 600 operations a minute; try again in 1 s (HTTP 429)")
            }
            // The same through a raw request, for the header a script may honour.
            let token = try #require(node.viewerURL.split(separator: "token=").last)
            let body = Array(#"{"text":"one more"}"#.utf8)
            let raw = try await rawHTTPRequest(
                port: node.apiPort,
                httpHead("POST /api/say HTTP/1.1", [
                    "Host: 127.0.0.1:\(node.apiPort)", "Authorization: Bearer \(token)", "Content-Type: application/json",
                    "Content-Length: \(body.count)",
                ]), body: body)
            #expect(raw.status == 429)
            #expect(raw.header("Retry-After") == "1")
            clock.advance(by: 1)
            #expect(try await client.send(.post, "/api/say", body: Array(#"{"text":"later"}"#.utf8)).status == 200)
        } cleanup: {
            await node.stop()
        }
    }

    @Test("a member's flood is partly dropped and counted per author, not stored, and sync takes the rest in after the window")
    func remoteFlood() async throws {
        let folder = NSTemporaryDirectory() + "cvpeer-quota-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let ana = try await NodeRuntime.host(
            NodeOptions(dataFolder: try DataFolder(path: folder + "/ana"), role: .agent, name: "Ana", listen: HostPort(host: "127.0.0.1", port: 0)))
        let clock = ManualClock()
        await ana.engine.setQuotaClock { clock.now }
        // Mallory's script skips her own node's check: 40 batches of 100 operations, 4,000 in all,
        // above the 3,000 a member may burst into others' stores.
        let mallory = try await HandBuiltMember(room: ana.invite.roomKeys, folder: folder + "/mallory", name: "Mallory")
        try await withCleanup {
            // She is admitted first (her link to the owner), so her node lets her edit at all.
            mallory.connect(to: ana.listenEndpoint)
            for _ in 0..<200 where await mallory.engine.myRole == nil { try await Task.sleep(for: .milliseconds(50)) }
            await mallory.engine.setLocalQuotaLimits(.init(operationsPerMinute: 1e9, operationBurst: 1e9, bytesPerMinute: 1e12, byteBurst: 1e12))
            for round in 0..<40 { try await mallory.engine.commit((0..<100).map { .say("flood \(round).\($0)") }) }
            let author = mallory.engine.me
            let total = await mallory.engine.vector[author]
            #expect(total == 41)

            // Ana takes in the profile and 30 batches (3,000 operations), refuses the rest, and
            // keeps refusing what sync offers again while the window lasts.
            for _ in 0..<200 where await (ana.engine.quotaDrops[author] ?? 0) < 20 { try await Task.sleep(for: .milliseconds(50)) }
            let held = await ana.engine.vector[author]
            #expect(held == 31)
            #expect(await (ana.engine.quotaDrops[author] ?? 0) >= 20, "every refusal is counted, those of sync's second offer too")
            let stored = try Store(path: folder + "/ana/store.sqlite").batches(room: ana.invite.roomKeys.tag).filter { $0.author == author.bytes }
            #expect(stored.count == 31, "refused batches are not stored")
            let status = await ana.engine.statusText()
            #expect(status.contains("\"quotaDrops\":[{\"batches\":"))
            #expect(status.contains(author.hex))

            // A minute later the bucket has refilled, and the next heal brings the rest.
            clock.advance(by: 60)
            for _ in 0..<300 where await ana.engine.vector[author] < total { try await Task.sleep(for: .milliseconds(50)) }
            #expect(await ana.engine.vector[author] == total)
            #expect(await ana.engine.document.chat.count == 4000)
        } cleanup: {
            await mallory.stop()
            await ana.stop()
        }
    }
}
