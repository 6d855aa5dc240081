import Foundation
import LocalAPI
import PeerCrypto
import Replication
import Transport

extension RoomEngine {
    // MARK: Presence

    /// Sends this node's pointer, signed, to every peer, unreliably; never stored.
    package func setPointer(item: OpID?, x: Double, y: Double) {
        guard let transport else { return }
        let point = UnitPoint(fractionX: x, fractionY: y)
        let position = item.map { PeerMessage.Pointer(counter: $0.counter, replica: $0.replica.bytes, x: point.x, y: point.y) }
        let stamp = presence.nextStamp(wallMicros: Self.wallMillis() &* 1000)
        let signed = SignedPointer.make(identity: identity, roomTag: room.tag, stamp: stamp, position: position)
        let datagram = PeerMessage.pointer(signed).encoded
        for peer in peers.keys { try? transport.sendUnreliable(datagram, to: peer) }
    }

    /// Takes a pointer from a linked peer: shown if authentic and newer than its author's last,
    /// and passed on unchanged when it came straight from its author.
    func receivePointer(_ pointer: SignedPointer, from peer: PublicKey) {
        let linked = peers
        let participants = Set(replica.document.participants.map(\.id))
        let verdict = presence.receive(
            pointer, from: peer, me: identity.publicKey, roomTag: room.tag,
            isLinked: { linked[$0] != nil }, isParticipant: { participants.contains(ReplicaID($0)) })
        guard case .accepted(let relay) = verdict, let author = try? PublicKey(bytes: pointer.origin) else { return }
        broadcastPointer(of: author, pointer.position)
        if relay { relayPointer(pointer, of: author) }
    }

    /// Passes a linked peer's signed pointer on, once and unchanged, to the other linked peers:
    /// where links form a star (joiners that reach only the host), everyone still sees everyone's
    /// pointer. Those linked to the origin themselves ignore the copy.
    private func relayPointer(_ pointer: SignedPointer, of origin: PublicKey) {
        guard let transport, peers.count > 1 else { return }
        let datagram = PeerMessage.pointer(pointer).encoded
        for peer in peers.keys where peer != origin { try? transport.sendUnreliable(datagram, to: peer) }
    }

    /// A link went down: its peer's pointer disappears here. Others who saw it through us stop
    /// getting updates and their viewers hide it after a few silent seconds (we cannot sign its
    /// absence for its author).
    func pointerLinkGone(_ peer: PublicKey) {
        guard case .some(.some) = presence.current[peer] else { return }
        presence.current[peer] = .some(nil)
        broadcastPointer(of: peer, nil)
    }

    func broadcastPointer(of peer: PublicKey, _ pointer: PeerMessage.Pointer?) {
        let participant = ReplicaID(peer)
        var event = PointerEvent(participant: participant.hex, item: nil)
        if let pointer, let author = try? PublicKey(bytes: pointer.replica) {
            event.item = OpID(counter: pointer.counter, replica: ReplicaID(author)).canonicalString
            event.x = Double(pointer.x) / 1_000_000
            event.y = Double(pointer.y) / 1_000_000
            event.name = replica.document.participants.first { $0.id == participant }?.profile.name ?? participant.description
        }
        broadcast(.pointer(event))
    }

    /// Pointers refused since start, for status: forged, replayed (or overtaken), from unknown authors.
    package var refusedPointers: (forged: Int, replayed: Int, unknownAuthor: Int) {
        let refusals = presence.refusals
        return (refusals.forged, refusals.replayed, refusals.unknownAuthor)
    }
}
