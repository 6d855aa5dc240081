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
