import PeerCrypto
import Replication
import Store

extension RoomEngine {
    /// True if this node owns the room (its identity is the owner's key).
    package nonisolated var isOwner: Bool { identity.publicKey == room.owner }

    /// On the owner's node, admits a peer whose link just completed: completing the handshake
    /// proved it holds the room secret and its key, which is what an invite gives. It starts as
    /// a customer; a guest's profile asks to be a guest and is moved there (`followRequests`);
    /// `agent` is only ever granted on purpose (`grant`).
    func admitIfOwner(_ peer: PublicKey) {
        guard isOwner else { return }
        let member = ReplicaID(peer)
        guard !replica.document.isAdmitted(member), !refusedMembers.contains(member) else { return }
        if approvesMembers {
            // `host --approve`: the agent decides (terminal, viewer or API); the link stays up
            // meanwhile so the member's profile arrives and the request can show its name.
            if pendingAdmissions[member] == nil { pendingAdmissions[member] = Self.wallMillis() }
            pushStatus()
            return
        }
        _ = try? commit([.grantRole(member: member, role: .customer, fromSequence: 1)])
    }

    /// Turns `host --approve` on or off.
    package func setApprovesMembers(_ on: Bool) {
        approvesMembers = on
    }

    /// A member waiting for the owner's decision (`host --approve`).
    public struct AdmissionRequest: Sendable, Equatable {
        /// Its key.
        public let member: ReplicaID
        /// The name its profile gives, or "" until the profile arrives.
        public let name: String
        /// Its key's fingerprint, to compare with what the person reads out.
        public let fingerprint: String
        /// When its link first completed here (ms since 1970).
        public let sinceMillis: UInt64
    }

    /// Members waiting for the owner's decision, oldest first.
    public var admissionRequests: [AdmissionRequest] {
        pendingAdmissions.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map { member, since in
            let profile = replica.unadmitted.batches(by: member).lazy.flatMap(\.batch.operations).compactMap { operation -> String? in
                if case let .setProfile(participant, profile) = operation.edit, participant == member { profile.name } else { nil }
            }.last
            return AdmissionRequest(member: member, name: profile ?? "", fingerprint: member.publicKey.fingerprint, sinceMillis: since)
        }
    }

    /// The owner admits a waiting member (as a customer, or a guest if it asked to be one) or
    /// refuses it: a refused member's messages are dropped and nothing is sent to it, also after
    /// a restart, and its batches never take effect anywhere (nobody admitted it).
    ///
    /// - Throws: `NodeError.forbidden` on any node but the owner's, `.notFound` if nobody by
    ///   that key asked, `StoreError` if the decision could not be stored.
    public func decide(_ member: ReplicaID, admit: Bool) throws {
        guard isOwner else { throw NodeError.forbidden("only the room's owner admits members") }
        guard pendingAdmissions[member] != nil else { throw NodeError.notFound("a join request from \(member.hex.prefix(16))") }
        if admit {
            try commit([.grantRole(member: member, role: .customer, fromSequence: 1)])
            pendingAdmissions[member] = nil
            followRequests()
            pumpSync(member.publicKey)
        } else {
            try store.setSetting(Self.refusedPrefix + member.hex, [1])
            pendingAdmissions[member] = nil
            refusedMembers.insert(member)
        }
        pushStatus()
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
    package func resolveParticipant(_ reference: String) throws -> ReplicaID {
        let document = replica.document
        var known = Set(document.members.map(\.id))
        for participant in document.participants { known.insert(participant.id) }
        for peer in peers.keys { known.insert(ReplicaID(peer)) }
        let wanted = reference.lowercased()
        var matches = known.filter { $0.hex == wanted || (wanted.count >= 8 && $0.hex.hasPrefix(wanted)) }
        for request in admissionRequests where wanted.count >= 8 && request.member.hex.hasPrefix(wanted) { matches.insert(request.member) }
        if matches.isEmpty {
            matches = Set(document.participants.filter { $0.profile.name == reference }.map(\.id))
            matches.formUnion(admissionRequests.filter { $0.name == reference }.map(\.member))
        }
        switch matches.count {
        case 1: return matches.first!
        case 0: throw NodeError.notFound("participant \(reference.prefix(80))")
        default: throw NodeError.ambiguous(String(reference.prefix(80)), count: matches.count)
        }
    }

    /// This node's role in the room now; nil until the owner admits it.
    package var myRole: Role? { replica.document.role(of: me) }
}
