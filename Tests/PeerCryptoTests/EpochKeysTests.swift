import Testing

@testable import PeerCrypto

/// Later epochs' keys (after a removal or a rotation) and the boxes that carry their secrets.
struct EpochKeysTests {
    let owner = Identity.generate()
    var room: RoomKeys { RoomKeys.generate(owner: owner.publicKey) }

    @Test func aLaterEpochHasOtherKeysButTheSameRoom() throws {
        let root = room
        let secret = SecretBytes(randomCount: 32)
        let one = try root.inEpoch(1, secret: secret)
        #expect(one.epoch == 1 && one.roomID == root.roomID && one.owner == root.owner)
        #expect(one.tag != root.tag)
        #expect(one.handshakePSK.unsafeCopy() != root.handshakePSK.unsafeCopy())
        #expect(one.macKey.unsafeCopy() != root.macKey.unsafeCopy())
        #expect(one.contentKey(epoch: 1).unsafeCopy() != root.contentKey(epoch: 0).unsafeCopy())
        // Epoch 0's key stays readable from a later epoch's keys (history), and is the same.
        #expect(one.contentKey(epoch: 0).unsafeCopy() == root.contentKey(epoch: 0).unsafeCopy())
        // The same secret is the same keys; another epoch number with it is other keys.
        let again = try root.inEpoch(1, secret: SecretBytes(copying: secret.unsafeCopy()))
        #expect(again.tag == one.tag && again.contentKey(epoch: 1).unsafeCopy() == one.contentKey(epoch: 1).unsafeCopy())
        let two = try root.inEpoch(2, secret: SecretBytes(copying: secret.unsafeCopy()))
        #expect(two.tag != one.tag)
        #expect(throws: CryptoError.self) { try root.inEpoch(0, secret: secret) }
        #expect(throws: CryptoError.self) { try root.inEpoch(1, secret: SecretBytes(randomCount: 16)) }
    }

    @Test func eachEpochHasItsOwnRegistrationKeyAndTheRendezvousTagIsBoundToIt() throws {
        let root = room
        let one = try root.inEpoch(1, secret: SecretBytes(randomCount: 32))
        let two = try root.inEpoch(2, secret: SecretBytes(copying: one.epochSecret.unsafeCopy()))
        let keys = [root, one, two].map(\.registrationKey.publicKey)
        #expect(Set(keys).count == 3)
        for keys in [root, one, two] {
            // The tag is the hash of the key, anyone can check it; it is not the room's own tag.
            #expect(keys.rendezvousTag == RoomKeys.rendezvousTag(for: keys.registrationKey.publicKey))
            #expect(keys.rendezvousTag.count == RoomKeys.tagLength && keys.rendezvousTag != keys.tag)
            let message = Array("cvpeer/2 register".utf8)
            #expect(keys.registrationKey.publicKey.isValidSignature(keys.registrationKey.sign(message), for: message))
        }
        #expect(Set([root, one, two].map(\.rendezvousTag)).count == 3)
        // Deterministic: the same secret, owner and epoch give the same key; another owner another.
        let again = try RoomKeys(secret: SecretBytes(copying: root.secret.unsafeCopy()), owner: root.owner)
        #expect(again.registrationKey.publicKey == root.registrationKey.publicKey)
        let otherOwner = try RoomKeys(secret: SecretBytes(copying: root.secret.unsafeCopy()), owner: Identity.generate().publicKey)
        #expect(otherOwner.registrationKey.publicKey != root.registrationKey.publicKey)
    }

    @Test func theRegistrationKeyAndRendezvousTagMatchTheirDefinition() throws {
        let secret = SecretBytes(copying: [UInt8](repeating: 7, count: 32))
        let keys = try RoomKeys(secret: secret, owner: owner.publicKey)
        let seed = Blake2b.derive(
            key: secret, label: Array("cvpeer/2 registration key".utf8) + owner.publicKey.bytes + keys.roomID + [0, 0, 0, 0])
        #expect(try Identity(seed: seed).publicKey == keys.registrationKey.publicKey)
        let digest = Blake2b.hash(Array("cvpeer/2 rendezvous tag".utf8) + keys.registrationKey.publicKey.bytes)
        #expect(keys.rendezvousTag == Array(digest.prefix(16)))
        let later = try keys.inEpoch(3, secret: SecretBytes(copying: [UInt8](repeating: 9, count: 32)))
        let laterSeed = Blake2b.derive(
            key: later.epochSecret,
            label: Array("cvpeer/2 registration key".utf8) + owner.publicKey.bytes + keys.roomID + [0, 0, 0, 3])
        #expect(try Identity(seed: laterSeed).publicKey == later.registrationKey.publicKey)
    }

    @Test func onlyTheMemberOpensItsBoxAndOnlyForItsRoomAndEpoch() throws {
        let member = Identity.generate()
        let other = Identity.generate()
        let secret = SecretBytes(randomCount: 32)
        let roomID = room.roomID
        let box = try EpochSecretBox.seal(secret, epoch: 3, roomID: roomID, to: member.publicKey)
        #expect(box.count == EpochSecretBox.sealedLength)
        #expect(try EpochSecretBox.open(box, epoch: 3, roomID: roomID, identity: member).unsafeCopy() == secret.unsafeCopy())
        #expect(throws: CryptoError.self) { try EpochSecretBox.open(box, epoch: 3, roomID: roomID, identity: other) }
        #expect(throws: CryptoError.self) { try EpochSecretBox.open(box, epoch: 4, roomID: roomID, identity: member) }
        #expect(throws: CryptoError.self) { try EpochSecretBox.open(box, epoch: 3, roomID: room.roomID, identity: member) }
        for index in box.indices {
            var tampered = box
            tampered[index] ^= 0x20
            #expect(throws: CryptoError.self) { try EpochSecretBox.open(tampered, epoch: 3, roomID: roomID, identity: member) }
        }
        #expect(throws: CryptoError.self) { try EpochSecretBox.open(Array(box.dropLast()), epoch: 3, roomID: roomID, identity: member) }
        // Fresh randomness each time: two boxes of one secret share nothing an observer can match.
        #expect(try EpochSecretBox.seal(secret, epoch: 3, roomID: roomID, to: member.publicKey) != box)
    }
}
