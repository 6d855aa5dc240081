import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// The same histories must keep the same state: golden state hashes recorded before the
/// document's storage, list merging and canonical writer were optimised.
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
        Golden(seed: 1, stateHash: "b8a18fe4544e9f5b8d6336a0adb2516465d43f08f81443e988b74505cc14beec", fingerprint: "b22654896f047d786194759db93050271dc673c1b335cb971a0614c9fcb9a224"),
        Golden(seed: 2, stateHash: "3a35f15f78620c0aa762f5d7f7efd38564549e4935c146beb53f6dca2c0323bf", fingerprint: "5e46a93fa30c1209d81692e8dd231fa7e7b464e70d9ceb2da5faa49f01b8fec4"),
        Golden(seed: 3, stateHash: "c4a847645e3056e2894843a88435f46e6d8ac577300b996f350ca242784fe1d5", fingerprint: "5ad0615d435dba6851e5174d316eb714311c8265b93c65d3a82f8b0385018fe7"),
        Golden(seed: 4, stateHash: "7fb930805cb336b8f8666606ab649fedcf2dc75dd2d38e5089f40b18ecc59293", fingerprint: "acae540f4ef19fade160257b9a626206b75108a8193c169bb77c31d6577f191d"),
        Golden(seed: 5, stateHash: "46fa13de9811dd115cd42e7597902994526669515012e719f7fcb3d42028742d", fingerprint: "397dea2ee4d904029b11c0bb31792a64f66df98c1df50f42cfa0eac1179a7133"),
        Golden(seed: 6, stateHash: "970279d9652e0edda9fb8b087dae4b70288fd824c66e83181dc0d960a438a3b9", fingerprint: "b7ca9d428f6f2f3f495c047f410b70a9276fe6114504241c15be5d6e9739b819"),
        Golden(seed: 7, stateHash: "ccee492169612f081d570529f0dbba6db5513f67db008e8cf973f6ba17652321", fingerprint: "8532a979ef55a083c4ff69f01f7a9b79a2351b95e8d81d340d97ac60f0faad23"),
        Golden(seed: 8, stateHash: "242cf8707b1ee72b95e3c39bb3fcad42675ce7efe4192000fe8350d144b7033b", fingerprint: "e9d56306f4e384f110fd4805278af79c919f46d7814e48c353000315a39b9b47"),
        Golden(seed: 9, stateHash: "3ebecc0ab0f8baef2c608b53ffff1b65c381508733962159078e58be8abe855c", fingerprint: "2f2aaf03d93ed4feb25d018b4bde49568fc9c5b9b223a3870874777d6816e0a5"),
        Golden(seed: 10, stateHash: "4e4a918fbf37934f9490adc3c2359f22455b6177ffaa90ae3502d98dcb073747", fingerprint: "4edebbcd4b485d150688d97b7bf4cb99bd5bb5463a836d9d048e2d24e6ad65ba"),
        Golden(seed: 11, stateHash: "143e7bee3a3d642d6555b3f81f18d7303b004c1110ff9c46d3e89747ee3a405e", fingerprint: "0c538c846551bdb9a86ba8bcdba03e84f2941ef270e594be3feedcb7abd1aa73"),
        Golden(seed: 12, stateHash: "d349590b0ca4178af5a68c02007f6c3476ead09469ff601c658f867351a76d95", fingerprint: "d2db5665aa74e29fabefcebdf455929ba8a88be11f777978238424e195d2d014"),
    ]
    static let conflicts: [Golden] = [
        Golden(seed: 101, stateHash: "8c278e291d005f5f173d473f4960cd9b98c9c3df841b8cdede19d4587f258045", fingerprint: "e1d408123f3b0e3d41290aa28f36b5e7cbb9efde25ef8495ad619a0452f96b31"),
        Golden(seed: 102, stateHash: "0f70411906a859a2efead196752f6290bfd077d8d0468c9327c420dbeb7302af", fingerprint: "d2420766bf6e3510554705744fe4017c03178e05f2bd9e71fad3b024848ec32a"),
        Golden(seed: 103, stateHash: "4b2526cf6a5c24ebe54784bf05efc150df00db571b574cc56f443784d318e407", fingerprint: "62f11b82d2f8ae587b2fe93ff9dfce27923a9be4f3a404167dc48c4da354dc70"),
        Golden(seed: 104, stateHash: "71abb657512cf903422695385396c592f1bd1535e45342d9c2e066cff9c319bd", fingerprint: "091edc91b6abce842cbc8ba844b02f96978ea3b9e4c39ca6979a5d39655ae944"),
        Golden(seed: 105, stateHash: "88765dfb71a2d0d853431145eb84072efa92736a8b17844c4715af643ab69bfa", fingerprint: "ced753777ed3ba3d00da00b31da031311b22d7ff410a05eb1ef2ce09c07212ec"),
        Golden(seed: 106, stateHash: "81e9409b5f0f5b21ef651f55056a675f452725d7a94c0cc571bb11854c3379af", fingerprint: "b5abcc40d724357544f4184b487b1f83d4d3f42fc471ce23638e65af5610d7af"),
        Golden(seed: 107, stateHash: "1277f901c523f78610b5478706d7564fb2cef2cdb1a5631b31013d8744f430f2", fingerprint: "0985fee71a6159306e35b36136f61f52f0f96397fbb28e3f72710367abc9d30d"),
        Golden(seed: 108, stateHash: "b3c0b48dd47cabac246e36cdb49698cd41dc25bc2f24d4c6ffd5c212e6c31ea9", fingerprint: "93cf4dcb87b1674eb4b5118461e49f0333228f608aa1466c04f036a893c31cb4"),
        Golden(seed: 109, stateHash: "bcc64bb089d0c9130d6228b7aec817df11e8710ce3a4a273380976e2914c9d89", fingerprint: "77fcf26969586bc52d02c4b144ac1515079ec1523a3d7e1b7cc4fe3180e6eca8"),
        Golden(seed: 110, stateHash: "2c1980176a813921ba245f94805c9d0fad5cc25219d53515a759333c56cacc80", fingerprint: "2a2ccacc1e2ae9da77f39dc86001e15d3f716f5105f1c10825835921e8c08dc3"),
        Golden(seed: 111, stateHash: "be971956cb2e50d6f29b052e9d8f128391c024ddcd6b3b3559be4de9cb3bd6eb", fingerprint: "5db297ff3fe8ca49af62f55ec4558bb38973369c4b321094972f518e37b98a7f"),
        Golden(seed: 112, stateHash: "cd45bb781c482799725bf50a849ecf1375a1b9b15cfd09c607b5e8e62c2ffc82", fingerprint: "7827cb8c99ed5759bc89cdf890685e368f13431f75971314b60a37fd83a8d133"),
    ]
    static let large: [Golden] = [
        Golden(seed: 201, stateHash: "6be5cd082e8e1e2ce0026435646e36e582ba46d262ec79315231c0db1b903c09", fingerprint: "1c96fdeec78fbd99dcd5ea5c373a04c7174a995ea278d73da1b879baff8b5e3c"),
        Golden(seed: 202, stateHash: "4092eab4528ecb1300eb1cf4e6f4fc2276cdfad07dc482a03c43076d62ae1fc6", fingerprint: "fe5af31e86e56f6a66b6c7caa3360936f3c78422b92f1a999a9dcedb0c176086"),
        Golden(seed: 203, stateHash: "e08a696b6a464dab44f87a509eed9bfe70f40890f4cde25bc1af834a22aada21", fingerprint: "d03a66955b4c0ebec7223498a46753f3104518667030ce1441fffbb6c0d9fe8a"),
        Golden(seed: 204, stateHash: "209bc07adb72f79328a8a917377ec3800bb7d7142de532462a6aa990b01e8aa9", fingerprint: "ecd2db5d90a80483bdb75c711102c20cb56cbce57b69283d95472b27222b782f"),
        Golden(seed: 205, stateHash: "c8f406cfee0e05f57d6dbc70b637bfd11dcf21434bfe9d0cc713f2091c2968fd", fingerprint: "706295f5c9f75c9eb28f061aa22e93169982105794d8e7372b2a0fda80ded1d4"),
        Golden(seed: 206, stateHash: "4d5f26398130ec8b5223a27e30fbd64ddfef3fc850ac043eb09c1968b4e345f1", fingerprint: "24ca8ae858f68c78c3fc0939d14ce5da93921f065b079305f7ee71b5723f089c"),
    ]
}
