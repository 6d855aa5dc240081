import CVPeerTestSupport
import PeerCrypto
import Primitives
import Rendezvous
import Testing

/// An agent identity (a room owner) for these tests, from a fixed seed.
private func agent(_ n: UInt8) -> Identity {
    try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0xA0 &+ n, count: 32)))
}

extension ServerHarness {
    /// The full round trip for a register that carries `owner`'s proof (or none when nil).
    @discardableResult
    func register(
        _ peerID: RendezvousPeerID, in room: RoomTag, from source: UDPEndpoint, owner: Identity?, at seconds: Double = 0
    ) -> [RendezvousServer.Action] {
        let nonce = registerNonce(peerID, at: source)
        guard let cookie = cookie(for: source, nonce: nonce, at: seconds) else { return [] }
        let key = roomKey(for: room)
        let unsigned = RendezvousMessage.Register(
            roomTag: room, peerID: peerID, clientNonce: nonce, cookie: cookie, registrationKey: key.publicKey,
            candidates: [])
        let register = owner.map { unsigned.signed(by: key, owner: $0) } ?? unsigned.signed(by: key)
        return receive(.register(register), from: source, at: seconds)
    }
}

@Suite struct RendezvousAllowTests {
    // MARK: Wire

    @Test func aRegisterWithAnOwnerPartRoundTripsCanonicallyAndBothSignaturesVerify() throws {
        let owner = agent(1)
        let key = roomKey(1)
        let register = RendezvousMessage.Register(
            roomTag: tag(1), peerID: peer(1), clientNonce: 7, registrationKey: key.publicKey,
            candidates: [loopback(1), UDPEndpoint(address: .v6(high: 0x2001_0db8_0000_0001, low: 5), port: 9)]
        ).signed(by: key, owner: owner)
        let bytes = RendezvousMessage.register(register).encoded()
        #expect(bytes.count == RendezvousWire.registerWithOwnerMinSize + 7 + 19)
        #expect(bytes[RendezvousWire.registerFlagsOffset] == RendezvousWire.registerOwnerFlag)
        let decoded = try RendezvousMessage.decode(bytes)
        #expect(decoded == .register(register))
        #expect(decoded.encoded() == bytes)
        #expect(RendezvousMessage.hasValidSignature(bytes, by: key.publicKey))
        #expect(RendezvousMessage.hasValidOwnerSignature(bytes, by: owner.publicKey))
        #expect(!RendezvousMessage.hasValidOwnerSignature(bytes, by: agent(2).publicKey))
        // Without the part, the register is the same bytes as before this field existed.
        let plain = RendezvousMessage.register(
            RendezvousMessage.Register(
                roomTag: tag(1), peerID: peer(1), clientNonce: 7, registrationKey: key.publicKey, candidates: []
            ).signed(by: key)
        ).encoded()
        #expect(plain.count == RendezvousWire.registerMinSize)
        #expect(plain[RendezvousWire.registerFlagsOffset] == 0)
        #expect(!RendezvousMessage.hasValidOwnerSignature(plain, by: owner.publicKey))
    }

    @Test func theOwnerFlagCannotBeStrippedOrForgedAndOtherFlagBitsAreMalformed() throws {
        let key = roomKey(1)
        let register = RendezvousMessage.Register(
            roomTag: tag(1), peerID: peer(1), clientNonce: 7, registrationKey: key.publicKey, candidates: []
        ).signed(by: key, owner: agent(1))
        var bytes = RendezvousMessage.register(register).encoded()
        // Flag cleared: the owner part no longer fits (trailing bytes) — malformed.
        bytes[RendezvousWire.registerFlagsOffset] = 0
        #expect(throws: RendezvousError.self) { try RendezvousMessage.decode(bytes) }
        // A flag set on a register without the part: too short for its fields.
        var plain = RendezvousMessage.register(
            RendezvousMessage.Register(
                roomTag: tag(1), peerID: peer(1), clientNonce: 7, registrationKey: key.publicKey, candidates: []
            ).signed(by: key)
        ).encoded()
        plain[RendezvousWire.registerFlagsOffset] = RendezvousWire.registerOwnerFlag
        #expect(throws: RendezvousError.self) { try RendezvousMessage.decode(plain) }
        for flag: UInt8 in [0x02, 0x80, 0x03] {
            var other = RendezvousMessage.register(register).encoded()
            other[RendezvousWire.registerFlagsOffset] = flag
            #expect(throws: RendezvousError.reservedNotZero) { try RendezvousMessage.decode(other) }
        }
        // Other types still need every reserved byte zero.
        var refused = RendezvousMessage.registerRefused(.init(clientNonce: 1, reason: .ownerNotAllowed)).encoded()
        refused[RendezvousWire.reservedOffset] = 1
        #expect(throws: RendezvousError.reservedNotZero) { try RendezvousMessage.decode(refused) }
    }

    @Test func registerRefusedRoundTripsAndRejectsUnknownReasons() throws {
        let message = RendezvousMessage.registerRefused(.init(clientNonce: 0xDEAD_BEEF, reason: .ownerNotAllowed))
        let bytes = message.encoded()
        #expect(bytes.count == RendezvousWire.registerRefusedSize)
        #expect(bytes.count == 13)
        #expect(try RendezvousMessage.decode(bytes) == message)
        for reason: UInt8 in [0, 2, 255] {
            var bad = bytes
            bad[bad.count - 1] = reason
            #expect(throws: RendezvousError.unknownRefusalReason(reason)) { try RendezvousMessage.decode(bad) }
        }
    }

    @Test func mutatedOwnerRegistersNeverTrapAndDecodeCanonically() {
        var random = SeededRandom(seed: 0xA110)
        let key = roomKey(1)
        let base = RendezvousMessage.register(
            RendezvousMessage.Register(
                roomTag: tag(1), peerID: peer(1), clientNonce: 7, registrationKey: key.publicKey,
                candidates: [loopback(3)]
            ).signed(by: key, owner: agent(1))
        ).encoded()
        for _ in 0..<5_000 {
            var bytes = base
            switch Int.random(in: 0..<3, using: &random) {
            case 0:
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            case 1: bytes.removeLast(Int.random(in: 1...100, using: &random))
            default: bytes += (0..<Int.random(in: 1...100, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            }
            if let message = try? RendezvousMessage.decode(bytes) {
                #expect(message.encoded() == bytes)
            }
        }
    }

    // MARK: Server

    @Test func anAllowedOwnerCreatesARoom() throws {
        let harness = ServerHarness()
        harness.server.allowedOwners = AllowedOwners(keys: [agent(1).publicKey])
        let actions = harness.register(peer(1), in: tag(1), from: loopback(1), owner: agent(1))
        #expect(actions.drops.isEmpty)
        #expect(actions.events.contains(.roomCreated(tag(1))))
        guard case .registered = try #require(actions.messages(to: loopback(1)).first) else {
            Issue.record("expected registered")
            return
        }
        #expect(harness.server.stats.rooms == 1)
    }

    @Test func anUnlistedOwnerIsRefusedCountedAndToldInASmallReplyBoundToItsNonce() throws {
        let harness = ServerHarness()
        harness.server.allowedOwners = AllowedOwners(keys: [agent(1).publicKey])
        let source = loopback(2)
        for (attempt, owner) in [agent(2), nil].enumerated() {
            let actions = harness.register(peer(2), in: tag(2), from: source, owner: owner)
            #expect(actions.drops == [.ownerNotAllowed])
            #expect(actions.events == [.roomRefused(tag(2), owner: owner?.publicKey, from: source)])
            let sent = actions.sends
            #expect(sent.count == 1)
            #expect(sent.first?.target == source)
            #expect(sent.first.map { $0.datagram.count } == RendezvousWire.registerRefusedSize)
            #expect(
                sent.first?.message
                    == .registerRefused(.init(clientNonce: registerNonce(peer(2), at: source), reason: .ownerNotAllowed)))
            #expect(harness.server.stats.drops[.ownerNotAllowed] == attempt + 1)
        }
        #expect(harness.server.stats.rooms == 0)
        #expect(harness.server.stats.refusalsSent == 2)
    }

    @Test func anOwnerPartSignedByAnotherKeyIsDropped() {
        let harness = ServerHarness()
        harness.server.allowedOwners = AllowedOwners(keys: [agent(1).publicKey])
        let source = loopback(3)
        let nonce = registerNonce(peer(3), at: source)
        let cookie = harness.cookie(for: source, nonce: nonce)!
        let key = roomKey(3)
        var register = RendezvousMessage.Register(
            roomTag: tag(3), peerID: peer(3), clientNonce: nonce, cookie: cookie, registrationKey: key.publicKey,
            candidates: []
        ).signed(by: key, owner: agent(2))
        // The listed key with another agent's signature, re-signed by the room key.
        register.owner?.key = agent(1).publicKey
        let actions = harness.receive(.register(register.signed(by: key)), from: source)
        #expect(actions.drops == [.badOwnerSignature])
        #expect(harness.server.stats.rooms == 0)
    }

    @Test func aMemberOfAnExistingRoomNeedsNoOwnerPart() {
        let harness = ServerHarness()
        harness.server.allowedOwners = AllowedOwners(keys: [agent(1).publicKey])
        #expect(harness.register(peer(1), in: tag(1), from: loopback(1), owner: agent(1)).drops.isEmpty)
        let member = harness.register(peer(2), in: tag(1), from: loopback(2), owner: nil)
        #expect(member.drops.isEmpty)
        #expect(member.events.contains(.peerRegistered(tag(1), peer(2), loopback(2))))
        // And its refresh too.
        #expect(harness.register(peer(2), in: tag(1), from: loopback(2), owner: nil, at: 1).drops.isEmpty)
        #expect(harness.server.stats.peers == 2)
    }

    @Test func withoutAnAllowListAnyoneCreates() {
        let harness = ServerHarness()
        #expect(harness.server.allowedOwners == nil)
        #expect(harness.register(peer(1), in: tag(1), from: loopback(1), owner: nil).drops.isEmpty)
        #expect(harness.register(peer(2), in: tag(2), from: loopback(2), owner: agent(9)).drops.isEmpty)
        #expect(harness.server.stats.rooms == 2)
    }

    @Test func aNewListTakesEffectForTheNextCreationAndKeepsExistingRooms() {
        let harness = ServerHarness()
        harness.server.allowedOwners = AllowedOwners(keys: [agent(1).publicKey])
        #expect(harness.register(peer(2), in: tag(2), from: loopback(2), owner: agent(2)).drops == [.ownerNotAllowed])
        harness.server.allowedOwners = AllowedOwners(keys: [agent(2).publicKey])
        #expect(harness.register(peer(2), in: tag(2), from: loopback(2), owner: agent(2), at: 1).drops.isEmpty)
        #expect(harness.register(peer(1), in: tag(1), from: loopback(1), owner: agent(1), at: 1).drops == [.ownerNotAllowed])
        harness.server.allowedOwners = nil
        #expect(harness.register(peer(1), in: tag(1), from: loopback(1), owner: nil, at: 2).drops.isEmpty)
        #expect(harness.server.stats.rooms == 2)
    }

    // MARK: Creation limits

    @Test func roomCreationIsLimitedPerIPv4AddressAndSlash24() {
        var configuration = RendezvousServer.Configuration()
        configuration.maxRoomsPerIPv4Address = 2
        configuration.maxRoomsPerIPv4Slash24 = 3
        let harness = ServerHarness(configuration: configuration)
        let a = UDPEndpoint.ipv4(198, 51, 100, 1, port: 1)
        #expect(harness.register(peer(1), in: tag(1), from: a, owner: nil).drops.isEmpty)
        #expect(harness.register(peer(2), in: tag(2), from: .ipv4(198, 51, 100, 1, port: 2), owner: nil).drops.isEmpty)
        #expect(harness.register(peer(3), in: tag(3), from: .ipv4(198, 51, 100, 1, port: 3), owner: nil).drops == [.roomPrefixLimit])
        #expect(harness.register(peer(3), in: tag(3), from: .ipv4(198, 51, 100, 2, port: 3), owner: nil).drops.isEmpty)
        #expect(harness.register(peer(4), in: tag(4), from: .ipv4(198, 51, 100, 3, port: 3), owner: nil).drops == [.roomPrefixLimit])
        // Another /24 is not held back; joining an existing room is not a creation.
        #expect(harness.register(peer(4), in: tag(4), from: .ipv4(198, 51, 101, 3, port: 3), owner: nil).drops.isEmpty)
        #expect(harness.register(peer(5), in: tag(1), from: .ipv4(198, 51, 100, 9, port: 3), owner: nil).drops.isEmpty)
        // A room that goes frees its prefixes.
        _ = harness.server.timerFired(now: harness.at(60))
        #expect(harness.register(peer(3), in: tag(3), from: .ipv4(198, 51, 100, 1, port: 3), owner: nil, at: 60).drops.isEmpty)
        #expect(harness.server.stats.drops[.roomPrefixLimit] == 2)
    }

    @Test func roomCreationIsLimitedPerIPv6Slash64Slash56AndSlash48() {
        var configuration = RendezvousServer.Configuration()
        configuration.maxRoomsPerIPv6Slash64 = 1
        configuration.maxRoomsPerIPv6Slash56 = 2
        configuration.maxRoomsPerIPv6Slash48 = 3
        let harness = ServerHarness(configuration: configuration)
        func v6(_ high: UInt64, _ low: UInt64 = 1) -> UDPEndpoint { UDPEndpoint(address: .v6(high: high, low: low), port: 5) }
        let base: UInt64 = 0x2001_0db8_0001_0000
        var n: UInt64 = 0
        func create(_ source: UDPEndpoint) -> [RendezvousServer.DropReason] {
            n += 1
            return harness.register(peer(n), in: tag(100 + n), from: source, owner: nil).drops
        }
        #expect(create(v6(base)) == [])
        #expect(create(v6(base, 2)) == [.roomPrefixLimit])  // same /64
        #expect(create(v6(base | 0x01)) == [])  // another /64, same /56
        #expect(create(v6(base | 0x02)) == [.roomPrefixLimit])  // /56 full
        #expect(create(v6(base | 0x100)) == [])  // another /56, same /48
        #expect(create(v6(base | 0x200)) == [.roomPrefixLimit])  // /48 full
        #expect(create(v6(base + 0x1_0000)) == [])  // another /48
    }

    @Test func aFullTableStillAdmitsAnAllowedOwnerByEvictingTheOldestUnlistedRoom() {
        var configuration = RendezvousServer.Configuration()
        configuration.maxRooms = 4
        let harness = ServerHarness(configuration: configuration)
        // Open while the flood arrives: four rooms from four sources fill the table.
        for n in 1...4 {
            #expect(harness.register(peer(UInt64(n)), in: tag(UInt64(n)), from: loopback(n), owner: nil, at: Double(n)).drops.isEmpty)
        }
        #expect(harness.register(peer(5), in: tag(5), from: loopback(5), owner: nil, at: 5).drops == [.roomLimit])
        // The operator loads a list (SIGHUP); the listed agent's room gets in at once.
        harness.server.allowedOwners = AllowedOwners(keys: [agent(1).publicKey, agent(2).publicKey])
        let actions = harness.register(peer(10), in: tag(10), from: loopback(10), owner: agent(1), at: 6)
        #expect(actions.drops.isEmpty)
        #expect(actions.events.contains(.roomEvicted(tag(1), peers: 1)))
        #expect(actions.events.contains(.roomCreated(tag(10))))
        #expect(harness.server.stats.rooms == 4)
        #expect(harness.server.stats.roomsEvicted == 1)
        // The evicted room's member is refused when it tries to recreate it (not listed).
        #expect(harness.register(peer(1), in: tag(1), from: loopback(1), owner: nil, at: 7).drops == [.ownerNotAllowed])
        // Allowed rooms are never evicted: once only they remain, the table is full for everyone.
        for n in 11...13 {
            #expect(harness.register(peer(UInt64(n)), in: tag(UInt64(n)), from: loopback(n), owner: agent(2), at: 8).drops.isEmpty)
        }
        #expect(harness.register(peer(14), in: tag(14), from: loopback(14), owner: agent(2), at: 9).drops == [.roomLimit])
        #expect(harness.server.stats.roomsEvicted == 4)
    }

    @Test func allowedOwnersAreNotHeldByPrefixLimits() {
        var configuration = RendezvousServer.Configuration()
        configuration.maxRoomsPerIPv4Address = 1
        let harness = ServerHarness(configuration: configuration)
        harness.server.allowedOwners = AllowedOwners(keys: [agent(1).publicKey])
        for n in 1...3 {
            let source = UDPEndpoint.ipv4(203, 0, 113, 7, port: UInt16(n))
            #expect(harness.register(peer(UInt64(n)), in: tag(UInt64(n)), from: source, owner: agent(1)).drops.isEmpty)
        }
        #expect(harness.server.stats.rooms == 3)
    }

    // MARK: Open part beside the list (--allow FILE --open)

    @Test func withOpenAnUnlistedOwnerCreatesWithinThePrefixLimitsAndIsNotRefused() {
        var configuration = RendezvousServer.Configuration()
        configuration.maxRoomsPerIPv4Address = 2
        let harness = ServerHarness(configuration: configuration)
        harness.server.allowedOwners = AllowedOwners(keys: [agent(1).publicKey])
        harness.server.unlistedOwnersMayCreate = true
        let address = { (port: UInt16) in UDPEndpoint.ipv4(198, 51, 100, 7, port: port) }
        // No owner part, and an owner part of a key not on the list: both are the open part.
        #expect(harness.register(peer(1), in: tag(1), from: address(1), owner: nil).drops.isEmpty)
        #expect(harness.register(peer(2), in: tag(2), from: address(2), owner: agent(2)).drops.isEmpty)
        let third = harness.register(peer(3), in: tag(3), from: address(3), owner: agent(2))
        #expect(third.drops == [.roomPrefixLimit])
        #expect(third.sends.isEmpty)
        // The listed owner from the same address is held by none of it.
        #expect(harness.register(peer(4), in: tag(4), from: address(4), owner: agent(1)).drops.isEmpty)
        #expect(harness.server.stats.rooms == 3)
        #expect(harness.server.stats.refusalsSent == 0)
        #expect(harness.server.stats.drops[.ownerNotAllowed] == 0)
    }

    @Test func withOpenAListedKeyWithAForgedOwnerSignatureIsDroppedNotTakenAsUnlisted() {
        let harness = ServerHarness()
        harness.server.allowedOwners = AllowedOwners(keys: [agent(1).publicKey])
        harness.server.unlistedOwnersMayCreate = true
        let source = loopback(3)
        let nonce = registerNonce(peer(3), at: source)
        let cookie = harness.cookie(for: source, nonce: nonce)!
        let key = roomKey(3)
        var register = RendezvousMessage.Register(
            roomTag: tag(3), peerID: peer(3), clientNonce: nonce, cookie: cookie, registrationKey: key.publicKey,
            candidates: []
        ).signed(by: key, owner: agent(2))
        register.owner?.key = agent(1).publicKey
        let actions = harness.receive(.register(register.signed(by: key)), from: source)
        #expect(actions.drops == [.badOwnerSignature])
        #expect(harness.server.stats.rooms == 0)
    }

    @Test func withOpenAFloodFillsTheOpenPartAndAListedOwnerStillGetsInAtOnce() {
        var configuration = RendezvousServer.Configuration()
        configuration.maxRooms = 12
        configuration.maxRoomsPerIPv4Address = 2
        configuration.maxRoomsPerIPv4Slash24 = 4
        let harness = ServerHarness(configuration: configuration)
        harness.server.allowedOwners = AllowedOwners(keys: [agent(1).publicKey])
        harness.server.unlistedOwnersMayCreate = true
        // Four /24s, three addresses each, three rooms per address: 36 tries from unlisted owners.
        var n: UInt64 = 100
        var created = 0
        var drops: [RendezvousServer.DropReason: Int] = [:]
        for net in 1...4 {
            for host in 1...3 {
                for port in 1...3 {
                    n += 1
                    let source = UDPEndpoint.ipv4(198, 51, UInt8(net), UInt8(host), port: UInt16(port))
                    let actions = harness.register(peer(n), in: tag(n), from: source, owner: nil, at: Double(n - 100) / 100)
                    if actions.events.contains(.roomCreated(tag(n))) { created += 1 }
                    for reason in actions.drops { drops[reason, default: 0] += 1 }
                    #expect(actions.sends.count == (actions.drops.isEmpty ? 1 : 0), "a drop gets no reply")
                }
            }
        }
        // Each /24 holds 4 (two addresses at 2, the third refused by the /24): five prefix drops in
        // each of the first two. The table is full once the third /24 has 4, and the room limit is
        // checked first, so from then on (4 tries of the third, all 9 of the fourth) it binds.
        #expect(created == 12)
        #expect(harness.server.stats.rooms == 12)
        #expect(drops[.roomPrefixLimit] == 5 + 5 + 1)
        #expect(drops[.roomLimit] == 4 + 9)
        // The listed owner, from an address and a /24 the flood has filled, gets in on its first
        // register: the oldest flood room makes way.
        let owner = harness.register(peer(1), in: tag(1), from: .ipv4(198, 51, 1, 1, port: 9), owner: agent(1), at: 1)
        #expect(owner.drops.isEmpty)
        #expect(owner.events.contains(.roomEvicted(tag(101), peers: 1)))
        #expect(owner.events.contains(.roomCreated(tag(1))))
        if case .registered? = owner.messages(to: .ipv4(198, 51, 1, 1, port: 9)).first {} else {
            Issue.record("the listed owner's first register was not answered with registered")
        }
        #expect(harness.server.stats.rooms == 12)
        // The flood cannot take the freed place back: the table is full again.
        let retry = harness.register(peer(101), in: tag(101), from: .ipv4(198, 51, 1, 1, port: 1), owner: nil, at: 1.1)
        #expect(retry.drops == [.roomLimit])
        #expect(harness.server.stats.refusalsSent == 0)
    }

    // MARK: Allow file

    @Test func anAllowFileTakesFingerprintsAsPrintedWithCommentsAndBlankLines() throws {
        let key = agent(1).publicKey
        let text = """
            # the shop's agents
            fingerprint: \(key.fingerprint)

              \(agent(2).publicKey.fingerprint.uppercased())   # Ben
            """
        let list = try AllowedOwners(parsing: text)
        #expect(list.count == 2)
        #expect(list.contains(key))
        #expect(list.contains(agent(2).publicKey))
        #expect(!list.contains(agent(3).publicKey))
        #expect(try AllowedOwners(parsing: "").count == 0)
    }

    @Test(arguments: ["abcd-efgh-ijkl", "abcd-efgh-ijkl-mno1", "key file:    /tmp/x", "abcd efgh ijkl mnop"])
    func aBadLineIsNamedByNumber(line: String) {
        let text = "# agents\n\(agent(1).publicKey.fingerprint)\n\(line)\n"
        #expect(throws: AllowedOwners.ParseError.self) { try AllowedOwners(parsing: text) }
        do {
            _ = try AllowedOwners(parsing: text)
        } catch {
            #expect(error.line == 3)
            #expect(error.description.hasPrefix("line 3: "))
        }
    }
}
