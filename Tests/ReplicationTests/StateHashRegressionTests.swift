import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// The same histories must keep the same state: golden state hashes recorded before the
/// document's storage, list merging and canonical writer were optimised. Recorded again when
/// blob references gained their chunk `commitment` (with it left out of canonical JSON, the
/// earlier values still held: nothing else changed).
///
/// Each history is deterministic (identities, clocks and edits come from the seed; only the
/// sealing nonces are random, and they never reach the state). Peers make random edits and now
/// and then take a random, shuffled part of another peer's batches, so partial views (held-back
/// batches, mark removals ahead of their marks, writes to items not yet created) are hashed too.
/// The fingerprint also covers what canonical JSON leaves out: known item and mark ids, the
/// item every visible mark is on, the version vector and the greatest counter.
@Suite struct StateHashRegressionTests {
    struct Golden {
        let seed: UInt64
        /// The state hash of a document built from every batch of the history.
        let stateHash: String
        /// A digest of every peer's fingerprint at the end of the history.
        let fingerprint: String
    }

    /// A mix that makes large documents: mostly marks, chat and commerce, with removals racing them.
    static let bulk = EditGenerator.Mix(
        weights: [
            (.profile, 1), (.create, 2), (.setField, 3), (.remove, 1), (.move, 1), (.mark, 40), (.removeMark, 8),
            (.viewport, 3), (.focus, 1), (.say, 25), (.commerce, 15),
        ], hotItemBias: 0.2, forgeryRate: 0.02)

    static func history(seed: UInt64, mix: EditGenerator.Mix, steps: Int, maxEdits: Int) throws -> (all: Document, peers: [TestPeer]) {
        var random = SeededRandom(seed: seed)
        let count = Int.random(in: 2...4, using: &random)
        var peers = (0..<count).map { _ in TestPeer(identity: Fixtures.identity(&random)) }
        let ids = peers.map(\.id)
        for _ in 0..<steps {
            let author = Int.random(in: 0..<count, using: &random)
            if Int.random(in: 0..<3, using: &random) == 0 {
                let source = Int.random(in: 0..<count, using: &random)
                var batches = peers[source].store.sorted { $0.key < $1.key }.map(\.value)
                batches.shuffle(using: &random)
                for sealed in batches where Int.random(in: 0..<4, using: &random) != 0 { peers[author].receive(sealed: sealed) }
            }
            let edits = EditGenerator.edits(
                count: Int.random(in: 1...maxEdits, using: &random), by: ids[author], in: peers[author].document,
                participants: ids, mix: mix, &random)
            try peers[author].commit(edits)
        }
        var everything: [BatchID: [UInt8]] = [:]
        for peer in peers { everything.merge(peer.store) { first, _ in first } }
        let all = replicaReceiving(everything.sorted { $0.key < $1.key }.map(\.value)).document
        return (all, peers)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    static func fingerprint(_ document: Document) -> String {
        var text = document.stateHash
        text += "|" + document.knownItemIDs.map(\.canonicalString).joined(separator: ",")
        text += "|" + document.knownMarkIDs.map(\.canonicalString).joined(separator: ",")
        text += "|" + document.visibleMarks.map { "\($0.id.canonicalString)>\($0.item.canonicalString)" }.joined(separator: ",")
        text += "|" + document.chat.map(\.id.canonicalString).joined(separator: ",")
        text += "|" + document.commerce.map(\.id.canonicalString).joined(separator: ",")
        text += "|\(document.vector)|\(document.maxCounter)"
        return hex(Blake2b.hash(Array(text.utf8)))
    }

    static func golden(seed: UInt64, mix: EditGenerator.Mix, steps: Int, maxEdits: Int) throws -> Golden {
        let (all, peers) = try history(seed: seed, mix: mix, steps: steps, maxEdits: maxEdits)
        let prints = ([all] + peers.map(\.document)).map(fingerprint).joined(separator: ";")
        return Golden(seed: seed, stateHash: all.stateHash, fingerprint: hex(Blake2b.hash(Array(prints.utf8))))
    }

    static func check(_ expected: [Golden], mix: EditGenerator.Mix, steps: Int, maxEdits: Int, name: String) throws {
        var lines: [String] = []
        for golden in expected {
            let now = try Self.golden(seed: golden.seed, mix: mix, steps: steps, maxEdits: maxEdits)
            lines.append("Golden(seed: \(golden.seed), stateHash: \"\(now.stateHash)\", fingerprint: \"\(now.fingerprint)\"),")
            #expect(now.stateHash == golden.stateHash, "\(name) seed \(golden.seed): state hash changed")
            #expect(now.fingerprint == golden.fingerprint, "\(name) seed \(golden.seed): fingerprint changed")
        }
        if SeededRandom.seedFromEnvironment(default: 0) == 1 { print("\(name):\n" + lines.joined(separator: "\n")) }
    }

    @Test func balancedHistoriesKeepTheirStateHashes() throws {
        try Self.check(Self.balanced, mix: .balanced, steps: 30, maxEdits: 4, name: "balanced")
    }

    @Test func conflictingHistoriesKeepTheirStateHashes() throws {
        try Self.check(Self.conflicts, mix: .conflicts, steps: 30, maxEdits: 4, name: "conflicts")
    }

    @Test func largeMarkAndChatHistoriesKeepTheirStateHashes() throws {
        try Self.check(Self.large, mix: Self.bulk, steps: 40, maxEdits: 60, name: "large")
    }

    static let balanced: [Golden] = [
        Golden(seed: 1, stateHash: "9e4c24fd477f161eefae4e20a94522e51c50e50e1436350bac96a38c277627c0", fingerprint: "dbb798e29706f681016ec49772995db8d0f41202569c25782e7b9406b260ce15"),
        Golden(seed: 2, stateHash: "9646d2138ff8ab55bf39d8ef25e6b82a336e0970423e4ca4c1ec17bed678353d", fingerprint: "ae3e8bf77964324b76c12a8e3a8c11d05cc598c19de831dd62b4a7e545ecd936"),
        Golden(seed: 3, stateHash: "27c9bd71b50f905c7b3966cbcb62502089099a6d841260fd65a39ff81306e691", fingerprint: "202fb66fcd460bbc61352dfa0328e5d1b760ad758af9b95d37d141177703cfda"),
        Golden(seed: 4, stateHash: "ee0f59a76567a68d543186527a8d9be34744d514a1930e505ac44bc74fe26d4c", fingerprint: "a99f9b2ba0393baa8bc72a14a0e2fd2436d8a5c96cda8c90ed5e49b1c628576f"),
        Golden(seed: 5, stateHash: "d7f95abe2e541583bd68ebce8f107223490c20fcf636627fb58a4d6f1527d6b7", fingerprint: "f12dbc5cf4465af4c28bd8c06c05796f3f1b52e65515e72bcf70c9bed4ef87d7"),
        Golden(seed: 6, stateHash: "e1c85c5da1c8bc99dc9ae28fb265d7e96749be51196173e1963928b1e6971d53", fingerprint: "4b7674857670de4072f6c304f9276e6c0be7635a5ad3cb9a1898d94217a6f099"),
        Golden(seed: 7, stateHash: "2b6797bbfdab1e3d39ea21957b178030b3f3f43e39ec82e496b230bb1c0578b5", fingerprint: "54c6c40bc2b269e491a6bd63fdb2f5fd7470c09b61ec5e2665277e897d3c7ab6"),
        Golden(seed: 8, stateHash: "1f89b83629b18c5806531269701b5cdc62f6812d5ffe586834f7d628a9e1499b", fingerprint: "1b2ae856504397c720e9dc9a2707bd379bb5a55c4f48696110e4aac09a127ebf"),
        Golden(seed: 9, stateHash: "6c558b3f77e74b0a9249489779e23396e4e36c3e30e70d939ba938431520b87b", fingerprint: "f6d59b3e7ad8b956c0678c8da49d81a7d46b04ebb0bb0bcebd796faca98703fc"),
        Golden(seed: 10, stateHash: "a1fce8432789473280281f5c1a609ac1fd5e6ac9716d7c77ea668452f1ae6e7b", fingerprint: "fb5352f24da384e552f7ca2941ea91ec3a9c368a2dfc18b59e066ffac5e9dcc1"),
        Golden(seed: 11, stateHash: "2741c4c0043375141b759c7c04c4f10a3bb6e7afbc437c4ea19380e4da95d914", fingerprint: "204bf8637b13980b6cb8c6c2cf134630fb9b68d639336e92c01333b1c13a9e0c"),
        Golden(seed: 12, stateHash: "35ddf027f91988d78b5d5c3b55b4029235f52c8159f5e3dd4454cdcaff1d5617", fingerprint: "184ee4a77687228bf83a98aee89579c0749a3bf8927c9ee841d8bfcb66b6d4a2"),
    ]
    static let conflicts: [Golden] = [
        Golden(seed: 101, stateHash: "c573602297d734ca2b69a40ae0b6d4607280a13e72f7e153e54773e07397c488", fingerprint: "470a3490c8a8c47b1baa89b52e29419360afe859a5a187d4d9ea0db7c5df9501"),
        Golden(seed: 102, stateHash: "35813b16b17bc39c2a203f9eedbe8dce965f4b55a9442b24bc7ba82e6c64a260", fingerprint: "b6d28f078355a3160b4dcf7b11f7dcddcb634dd04035aac7442a07b1523ada17"),
        Golden(seed: 103, stateHash: "d4d4aeca47177159370255bb6d77f0d1ee09368567f9182ad01af29cd7f42c04", fingerprint: "ffb53d83e58843f3d7ab0091606ffc86b68122ae98abbd004687b9b52127cb8b"),
        Golden(seed: 104, stateHash: "a2274f4e9d1788ffcbd125358e203f35bd9c1c019508c1db048e5e03124dfd09", fingerprint: "9e08829b48ecd65650568b33a08820c9cab87d4b3d535c9907bc2c709bd6ad96"),
        Golden(seed: 105, stateHash: "d64eb25d48946d1269df1d7027ab6dbcd2329c7ad005a4f9afbb1988267b27fa", fingerprint: "1ffd301e8ea66cd7359b9303a062f77d2be0316b1c14f737f1091c7b9f34829b"),
        Golden(seed: 106, stateHash: "0936b942afcb3511b74877064709d45b6b6a6bf544ed4f439d9904e4e4080b79", fingerprint: "c0e8871c425e688356a1189072ac0259de4c361e664726d58d27f2d41654b440"),
        Golden(seed: 107, stateHash: "18ab02c717aef90dd284c33538f50eb5f7222f2987c92ee8bd9ae570b601de9f", fingerprint: "cb479a86d33ca203fb25875dd0e1b5070e5a1194ac61ab5c71abab25bea3780b"),
        Golden(seed: 108, stateHash: "5bfaaea35926a8d9189e3bb1cb1d0592d0e8d7770c2056938de86a3359f6898f", fingerprint: "2fe4ccf893f604852dc3c64f2cf7c12b364fa137e9918a71a53b3e7fddf49522"),
        Golden(seed: 109, stateHash: "05055110ff17237ce249b54502793a248acb48a2b669d22d528cc2964eabf040", fingerprint: "85047ab440524e2a1863d44d0c1eb7eef245293168b370e792d48e828fbbe5ef"),
        Golden(seed: 110, stateHash: "8205a32ba3e3ee61f8b05ebbd0b5bea8d41781ff4be63b467b4b21fc39f4bcfe", fingerprint: "5d886d5980bf171241e7dec13faf56c5f3faf9b187a2fad8cbd9a65fdcab88ce"),
        Golden(seed: 111, stateHash: "94bd9032cad856183b7f7c669e948ca5fe6b9ab8f2b285adcb65950b334fb7c8", fingerprint: "9f99062e5b7375637e5d36b78fbcd365fa86ee773614df72c08e1e0511bb4a9e"),
        Golden(seed: 112, stateHash: "58a6e6c1c61f6f98057c8cfe616af329cdccb90cd60e3c82b3728c28d09fed75", fingerprint: "94ebcc0ed043659ee4abf608b98ccf4d03cbbe48959ca4c2364641bf9f8a0670"),
    ]
    static let large: [Golden] = [
        Golden(seed: 201, stateHash: "219b26d184635e8d758420625d58ff927775341b23b551921e9d25c5ee7dd889", fingerprint: "ed858f3be21b7f43962392e4bde9ac7f806ce8e28712a24443dd3b6a0769c547"),
        Golden(seed: 202, stateHash: "011e1628b2715cf2622493ca67a6bc4c2e9d222dd9a69d48815fe82a248d9d0a", fingerprint: "c77ea90d1544584e4a4f60ecedf600fadb1068933a4b62725b890db05e011967"),
        Golden(seed: 203, stateHash: "f275ce9e7ef85d7fa5a8103832e056197d9b86efa780b1918d329fac439da2d7", fingerprint: "c71cfd62a29dfa65e2339aca1afef11d702963bb23dc6c231a3b84e3d7193083"),
        Golden(seed: 204, stateHash: "7136cac35cd897cf4821f05fb2ff24e941542e2ceced1d4e62d9cced56c1bb01", fingerprint: "3af4aca269aa843973c6a259b829cc6df405a396cb8187d8454f2727d9892427"),
        Golden(seed: 205, stateHash: "5d3e21e23c6d68ef2b36b77cd29d3af03636ed6bc6cc27689ebf2fdb4c087edb", fingerprint: "a3cbb33d6cfbe2c3d30127d71cd961778bc43c8226536c8fa6d2d4f69dc7e2f9"),
        Golden(seed: 206, stateHash: "4c470a59b0570a29a64fd978616677981f7ae70ddb1fd1e2556a51fb11bcdcfc", fingerprint: "17ab9933bcdf428109bc49eb7a21ee8a5c2dd70a4fb197eea07fa8f9c4563d21"),
    ]
}
