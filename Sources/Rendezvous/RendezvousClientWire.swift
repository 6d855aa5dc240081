// MARK: Rendezvous client (node side)
// Timers and bounds of the node's rendezvous client (docs/PROTOCOL.md, "NAT traversal (node
// side)"). Owned by Sources/Rendezvous/RendezvousClient.swift. Times are monotonic nanoseconds.

extension RendezvousWire {
    /// An unanswered register is sent again after this long at first: well above a round trip to
    /// any rendezvous, short enough that a lost datagram costs a node only a second.
    package static let clientRetryInterval: UInt64 = 1_000_000_000
    /// Retries of an unanswered register double up to this: a rendezvous that is down sees at
    /// most one register per node every 8 s, and a node notices its return within 8 s.
    package static let clientMaxRetryInterval: UInt64 = 8_000_000_000
    /// A register or refresh unanswered for this long means the rendezvous lost us (restart,
    /// crash, new address): the client starts over with a fresh nonce and no cookie.
    package static let clientRestartAfter: UInt64 = 10_000_000_000
    /// A retire goes out this many times, `clientRetryInterval` apart: nothing answers it
    /// (but a challenge when its cookie went stale), so repeats stand in for an acknowledgement;
    /// the rendezvous takes a repeat as a no-op. A challenge brings at most as many sends again.
    package static let clientRetireAttempts = 3
    /// The refresh interval used before `registered` names one (the server's default, 15 s).
    package static let clientDefaultRefreshInterval: UInt64 = 15_000_000_000
    /// The shortest refresh interval accepted from a rendezvous, so a bad one cannot make a node
    /// flood it.
    package static let clientMinRefreshInterval: UInt64 = 1_000_000_000
    /// The longest refresh interval accepted: beyond it a NAT binding to the rendezvous may close.
    package static let clientMaxRefreshInterval: UInt64 = 300_000_000_000
    /// Introduced peers the client remembers (to tell new from repeated introductions); the
    /// longest unseen is forgotten beyond. Far above a room's 16 members.
    public static let clientMaxKnownPeers = 64
}
