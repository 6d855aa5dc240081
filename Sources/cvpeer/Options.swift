import ArgumentParser
import Node

// Closed options as enums: ArgumentParser checks the value, lists the choices in `--help`, and the
// command never meets a string it did not expect.

/// `join --role`: what the joining member asks to be.
enum JoinRole: String, CaseIterable, ExpressibleByArgument {
    case customer, guest
}

/// `grant`'s ROLE: every role the owner can give.
enum GrantedRole: String, CaseIterable, ExpressibleByArgument {
    case agent, customer, guest, archive

    /// `an agent`, `a customer`: as the confirmation reads.
    var withArticle: String { self == .agent || self == .archive ? "an \(rawValue)" : "a \(rawValue)" }
}

/// `--log-level`: how much the rendezvous logs.
extension RendezvousHost.LogLevel: ExpressibleByArgument {}
