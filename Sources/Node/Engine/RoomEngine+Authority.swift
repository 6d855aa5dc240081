import PeerCrypto
import Replication

extension RoomEngine {
    /// True if this node owns the room (its identity is the owner's key).
    public nonisolated var isOwner: Bool { identity.publicKey == room.owner }

    /// On the owner's node, admits a peer whose link just completed: completing the handshake
    /// proved it holds the room secret and its key, which is what an invite gives. It starts as
    /// a customer; a guest's profile asks to be a guest and is moved there (`followRequests`);
    /// `agent` is only ever granted on purpose (`grant`).
    func admitIfOwner(_ peer: PublicKey) {
        guard isOwner else { return }
        let member = ReplicaID(peer)
        guard !replica.document.isAdmitted(member) else { return }
        _ = try? commit([.grantRole(member: member, role: .customer, fromSequence: 1)])
    }

    /// On the owner's node, follows what admitted members' profiles ask for, where it is less
    /// than they have: a customer that asks to be a guest becomes one. Asking to be an agent (or
    /// the archive) grants nothing.
    func followRequests() {
        guard isOwner else { return }
        let document = replica.document
        var edits: [Edit] = []
        for participant in document.participants where participant.id != me {
            guard participant.profile.requestedRole == .guest, document.role(of: participant.id) == .customer else { continue }
            edits.append(.grantRole(member: participant.id, role: .guest, fromSequence: document.vector[participant.id] + 1))
        }
        if !edits.isEmpty { _ = try? commit(edits) }
    }

    /// The owner grants `role` to a participant, for its batches from the next one on.
    ///
    /// - Throws: `NodeError.forbidden` on any node but the owner's, `.badRequest` for the owner itself.
    public func grant(_ role: Role, to member: ReplicaID) throws {
        guard isOwner else { throw NodeError.forbidden("only the room's owner grants roles") }
        guard member != me else { throw NodeError.badRequest("the owner's own role cannot change") }
        try commit([.grantRole(member: member, role: role, fromSequence: replica.document.vector[member] + 1)])
    }

    /// The participant a person means: a full id, an id prefix of 8 or more hex digits, or an
    /// exact display name, among those the document knows (members and anyone with a profile).
    ///
    /// - Throws: `NodeError.notFound` or `.ambiguous`.
    public func resolveParticipant(_ reference: String) throws -> ReplicaID {
        let document = replica.document
        var known = Set(document.members.map(\.id))
        for participant in document.participants { known.insert(participant.id) }
        for peer in peers.keys { known.insert(ReplicaID(peer)) }
        let wanted = reference.lowercased()
        var matches = known.filter { $0.hex == wanted || (wanted.count >= 8 && $0.hex.hasPrefix(wanted)) }
        if matches.isEmpty {
            matches = Set(document.participants.filter { $0.profile.name == reference }.map(\.id))
        }
        switch matches.count {
        case 1: return matches.first!
        case 0: throw NodeError.notFound("participant \(reference.prefix(80))")
        default: throw NodeError.ambiguous(String(reference.prefix(80)), count: matches.count)
        }
    }

    /// This node's role in the room now; nil until the owner admits it.
    public var myRole: Role? { replica.document.role(of: me) }
}
