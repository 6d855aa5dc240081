/// The part a participant plays in a session.
public enum Role: UInt8, Hashable, Sendable, CaseIterable {
    /// The shop's agent, who hosts the session.
    case agent = 1
    /// The customer the agent serves.
    case customer = 2
    /// Anyone else invited.
    case guest = 3

    /// The role's name in canonical JSON.
    public var name: String {
        switch self {
        case .agent: "agent"
        case .customer: "customer"
        case .guest: "guest"
        }
    }
}

/// What a participant says about itself: the value of its participants register.
///
/// Only the participant itself writes it (roles are self-declared: the room has no authority
/// beyond membership, and nobody may rename anybody else).
public struct Profile: Hashable, Sendable {
    /// The display name, one line, 1…`Limits.maxNameBytes` bytes.
    public var name: String
    /// The role.
    public var role: Role

    /// Creates a profile.
    public init(name: String, role: Role) {
        self.name = name
        self.role = role
    }

    func validate() throws(ReplicationError) {
        try TextRule.line.check(name, "display name", minBytes: 1, maxBytes: Limits.maxNameBytes)
    }
}
