/// The part a participant plays in a session.
public enum Role: UInt8, Hashable, Sendable, CaseIterable {
    /// The shop's agent, who hosts the session.
    case agent = 1
    /// The customer the agent serves.
    case customer = 2
    /// Anyone else invited.
    case guest = 3
    /// The shop's silent archive member: it reads and keeps, and writes nothing but its profile.
    case archive = 4

    /// The role's name in canonical JSON.
    public var name: String {
        switch self {
        case .agent: "agent"
        case .customer: "customer"
        case .guest: "guest"
        case .archive: "archive"
        }
    }
}

/// What a participant says about itself: the value of its participants register.
///
/// Only the participant itself writes it, and it grants nothing: in an owned room a member's
/// role is whatever the owner last granted (`Document.role(of:)`); `requestedRole` is only what
/// the participant asks for, which the owner's node reads when it admits it.
public struct Profile: Hashable, Sendable {
    /// The display name, one line, 1…`Limits.maxNameBytes` bytes.
    public var name: String
    /// The role the participant asks for; authority comes only from the owner's grant.
    public var requestedRole: Role

    /// Creates a profile.
    public init(name: String, requestedRole: Role) {
        self.name = name
        self.requestedRole = requestedRole
    }

    func validate() throws(ReplicationError) {
        try TextRule.line.check(name, "display name", minBytes: 1, maxBytes: Limits.maxNameBytes)
    }
}
