import CVPeerTestSupport
import PeerCrypto
import Replication
import Testing

/// Random and mutated bytes into every decoder: the only acceptable outcomes are a value or a
/// thrown error. A crash fails the run; the time limit catches a hang.
@Suite(.timeLimit(.minutes(1))) struct DecoderFuzzTests {
    static let inputsPerDecoder = 100_000

    /// Valid encodings to mutate: random batches of random edits.
    static func batchCorpus(_ random: inout SeededRandom, author: ReplicaID, participants: [ReplicaID]) throws -> [[UInt8]] {
        var peer = TestPeer(identity: Fixtures.identities(1, seed: 77)[0])
        var corpus: [[UInt8]] = []
        for _ in 0..<60 {
            let edits = EditGenerator.edits(
                count: Int.random(in: 1...6, using: &random), by: peer.id, in: peer.document, participants: participants,
                mix: .balanced, &random)
            let sealed = try peer.commit(edits)
            corpus.append(try BatchCodec.encode(sealed.batch.operations, author: peer.id))
        }
        return corpus
    }

    /// Applies one random mutation: bit flips, byte overwrites (often with length-like values),
    /// truncation, insertion, deletion, duplication, or a splice with another input.
    static func mutate(_ input: [UInt8], corpus: [[UInt8]], _ random: inout SeededRandom) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<8, using: &random) {
            case 0:
                if !bytes.isEmpty { bytes[position] ^= 1 << UInt8.random(in: 0...7, using: &random) }
            case 1:
                // Length and count fields: minimal, maximal, continuation, just over a limit.
                if !bytes.isEmpty { bytes[position] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x41, 0x40, 0x20].randomElement(using: &random)! }
            case 2:
                bytes.removeLast(Int.random(in: 0...bytes.count, using: &random))
            case 3:
                let insertion: [UInt8] = [[0xFF, 0xFF, 0xFF, 0xFF, 0x0F], [0x80], [0xFF], [0], (0..<Int.random(in: 1...8, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }].randomElement(using: &random)!
                bytes.insert(contentsOf: insertion, at: position)
            case 4:
                let end = min(bytes.count, position + Int.random(in: 1...8, using: &random))
                bytes.removeSubrange(position..<end)
            case 5:
                let end = min(bytes.count, position + Int.random(in: 1...16, using: &random))
                bytes.insert(contentsOf: Array(bytes[position..<end]), at: position)
            case 6:
                let other = corpus.randomElement(using: &random)!
                let cut = Int.random(in: 0...other.count, using: &random)
                bytes = Array(bytes[..<position]) + other[cut...]
            default:
                if !bytes.isEmpty { bytes[position] = UInt8.random(in: 0...255, using: &random) }
            }
        }
        return bytes
    }

    static func randomBytes(_ random: inout SeededRandom) -> [UInt8] {
        var bytes = (0..<Int.random(in: 0...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        // A plausible start gets random bytes past the first checks more often.
        if !bytes.isEmpty, Bool.random(using: &random) { bytes[0] = 1 }
        return bytes
    }

    @Test func theBatchDecoderReturnsAValueOrThrowsForAnyInput() throws {
        var random = SeededRandom(seed: SeededRandom.seedFromEnvironment(default: 0xF022_0001))
        let participants = Fixtures.identities(3, seed: 77).map { ReplicaID($0.publicKey) }
        let author = participants[0]
        let corpus = try Self.batchCorpus(&random, author: author, participants: participants)
        var decoded = 0
        for index in 0..<Self.inputsPerDecoder {
            let input =
                index % 4 == 0
                ? Self.randomBytes(&random) : Self.mutate(corpus.randomElement(using: &random)!, corpus: corpus, &random)
            // Typed throws: the decoder can throw nothing but a ReplicationError.
            guard let operations = try? BatchCodec.decode(input, author: author) else { continue }
            decoded += 1
            // Whatever decodes is valid: it encodes again, to the same operations.
            let again = try BatchCodec.encode(operations, author: author)
            #expect(try BatchCodec.decode(again, author: author) == operations, "seed \(random.seed), input \(index)")
        }
        // Some mutations (a flipped bit in a string, say) still decode: the test reaches the deep paths.
        #expect(decoded > Self.inputsPerDecoder / 100)
    }

    @Test func theSyncMessageDecoderReturnsAValueOrThrowsForAnyInput() throws {
        var random = SeededRandom(seed: SeededRandom.seedFromEnvironment(default: 0xF022_0002))
        let identities = Fixtures.identities(4, seed: 78)
        var corpus: [[UInt8]] = []
        for _ in 0..<40 {
            var vector = VersionVector()
            for identity in identities where Bool.random(using: &random) {
                vector.advance(ReplicaID(identity.publicKey), to: UInt64.random(in: 1...300, using: &random))
            }
            let batches = (0..<Int.random(in: 0...3, using: &random)).map { _ in
                (0..<Int.random(in: BatchSealer.overhead...(BatchSealer.overhead + 40), using: &random)).map { _ in
                    UInt8.random(in: 0...255, using: &random)
                }
            }
            corpus.append(try SyncMessageCodec.encode(SyncMessage(vector: vector, batches: batches)))
        }
        var decoded = 0
        for index in 0..<Self.inputsPerDecoder {
            let input =
                index % 4 == 0
                ? Self.randomBytes(&random) : Self.mutate(corpus.randomElement(using: &random)!, corpus: corpus, &random)
            guard let message = try? SyncMessageCodec.decode(input) else { continue }
            decoded += 1
            #expect(try SyncMessageCodec.decode(try SyncMessageCodec.encode(message)) == message)
        }
        #expect(decoded > Self.inputsPerDecoder / 100)
    }

    @Test func mutatedSealedBatchesAreRejectedWithoutHarm() throws {
        var random = SeededRandom(seed: SeededRandom.seedFromEnvironment(default: 0xF022_0003))
        var peer = TestPeer(identity: Fixtures.identities(1, seed: 79)[0])
        let sealed = try (0..<20).map { _ in
            try peer.commit(EditGenerator.edits(count: 2, by: peer.id, in: peer.document, participants: [peer.id], mix: .balanced, &random)).sealed
        }
        var replica = Replica()
        for _ in 0..<3000 {
            let input = Self.mutate(sealed.randomElement(using: &random)!, corpus: sealed, &random)
            switch replica.receive(sealed: input, contentKey: Fixtures.contentKey, nowMillis: .max) {
            case .applied, .heldBack, .dropped, .awaitingAdmission, .chainBroken, .tooFarAhead, .excluded, .equivocation:
                // Only an unaltered batch opens (a splice may reproduce one exactly).
                #expect(sealed.contains(input))
            case .duplicate, .rejected:
                // A duplicate is recognised by its header alone, before anything is opened.
                break
            }
        }
        try replica.document.checkInvariants()
    }

    @Test func authenticButGarbledPayloadsNeverBreakTheDocument() throws {
        var random = SeededRandom(seed: SeededRandom.seedFromEnvironment(default: 0xF022_0004))
        let participants = Fixtures.identities(3, seed: 77).map { ReplicaID($0.publicKey) }
        let corpus = try Self.batchCorpus(&random, author: participants[0], participants: participants)
        let identity = Fixtures.identities(1, seed: 80)[0]
        var replica = Replica()
        var ignored = 0
        var previous = BatchSealer.noPrevious
        for sequence in 1...1500 {
            let payload = Self.mutate(corpus.randomElement(using: &random)!, corpus: corpus, &random)
            let sealed: [UInt8]
            (sealed, previous) = BatchSealer.seal(
                payload: payload, sequence: UInt64(sequence), epoch: 0, previous: previous, room: RoomAuthority.open.roomID,
                identity: identity, contentKey: Fixtures.contentKey)
            guard case let .applied(list) = replica.receive(sealed: sealed, contentKey: Fixtures.contentKey, nowMillis: .max) else {
                Issue.record("an authentic batch in sequence must be taken in")
                return
            }
            if case .ignored = list[0].result { ignored += 1 }
        }
        #expect(replica.vector[ReplicaID(identity.publicKey)] == 1500)
        #expect(ignored > 0)
        try replica.document.checkInvariants()
        _ = replica.document.stateHash
    }

    @Test func hostileSyncMessagesNeverCrashTheSyncStateMachine() throws {
        var random = SeededRandom(seed: SeededRandom.seedFromEnvironment(default: 0xF022_0005))
        var peer = TestPeer(identity: Fixtures.identities(1, seed: 81)[0])
        for index in 0..<5 { try peer.commit([.say("line \(index)")]) }
        let real = Array(peer.store.values)
        let keys = [peer.id] + Fixtures.identities(2, seed: 82).map { ReplicaID($0.publicKey) }
        var corpus: [[UInt8]] = []
        for _ in 0..<30 {
            var vector = VersionVector()
            for key in keys where Bool.random(using: &random) {
                vector.advance(key, to: [1, 2, 4, 5, 6, UInt64.max - 1, UInt64.max].randomElement(using: &random)!)
            }
            let batches = real.filter { _ in Int.random(in: 0..<3, using: &random) == 0 }
            corpus.append(try SyncMessageCodec.encode(SyncMessage(vector: vector, batches: batches)))
        }
        var state = SyncState()
        var replica = peer.replica
        for _ in 0..<5000 {
            guard let message = try? SyncMessageCodec.decode(Self.mutate(corpus.randomElement(using: &random)!, corpus: corpus, &random))
            else { continue }
            _ = replica.receive(message, state: &state, contentKey: Fixtures.contentKey, nowMillis: .max)
            var rounds = 0
            while state.generateMessage(replica: replica, fetch: { peer.store[$0] }) != nil {
                rounds += 1
                #expect(rounds <= 2)
                if rounds > 2 { break }
            }
            if Int.random(in: 0..<50, using: &random) == 0 { state.timerFired() }
        }
        #expect(replica.vector == peer.replica.vector)
        try replica.document.checkInvariants()
    }
}
