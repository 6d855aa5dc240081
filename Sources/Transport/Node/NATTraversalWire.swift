// MARK: NAT traversal (node side)
// Timers and bounds of the node's rendezvous client and hole punching (docs/PROTOCOL.md,
// "NAT traversal (node side)"). Owned by Sources/Transport/Node. Times are monotonic nanoseconds.

extension Wire {
    /// An unanswered register is sent again after this long at first: well above a round trip to
    /// any rendezvous, short enough that a lost datagram costs a node only a second.
    public static let rendezvousRetryInterval: UInt64 = 1_000_000_000
    /// Retries of an unanswered register double up to this: a rendezvous that is down sees at
    /// most one register per node every 8 s, and a node notices its return within 8 s.
    public static let rendezvousMaxRetryInterval: UInt64 = 8_000_000_000
    /// A register or refresh unanswered for this long means the rendezvous lost us (restart,
    /// crash, new address): the client starts over with a fresh nonce and no cookie.
    public static let rendezvousRestartAfter: UInt64 = 10_000_000_000
    /// A retire goes out this many times, `rendezvousRetryInterval` apart: nothing answers it
    /// (but a challenge when its cookie went stale), so repeats stand in for an acknowledgement;
    /// the rendezvous takes a repeat as a no-op. A challenge brings at most as many sends again.
    public static let rendezvousRetireAttempts = 3
    /// The refresh interval used before `registered` names one (the server's default, 15 s).
    public static let rendezvousDefaultRefreshInterval: UInt64 = 15_000_000_000
    /// The shortest refresh interval accepted from a rendezvous, so a bad one cannot make a node
    /// flood it.
    public static let rendezvousMinRefreshInterval: UInt64 = 1_000_000_000
    /// The longest refresh interval accepted: beyond it a NAT binding to the rendezvous may close.
    public static let rendezvousMaxRefreshInterval: UInt64 = 300_000_000_000
    /// Introduced peers the client remembers (to tell new from repeated introductions); the
    /// longest unseen is forgotten beyond. Far above a room's 16 members.
    public static let rendezvousMaxKnownPeers = 64

    /// While no link to an introduced peer exists, punch packets go to each of its direct
    /// candidates this often: once per handshake retry, so each retry finds our mapping open.
    public static let natPunchInterval: UInt64 = 1_000_000_000
    /// Punching stops this long after an introduction: a third of the handshake timeout, by
    /// which time a working path has long been found and the relay carries the rest.
    public static let natPunchDuration: UInt64 = 30_000_000_000
    /// A link on the relay probes every direct candidate this often, so both NATs keep opening
    /// mappings towards each other until one probe gets through.
    public static let natProbeInterval: UInt64 = 1_000_000_000
    /// Probing stops this long after the link came up on (or fell back to) the relay: NATs that
    /// let a probe through do so within seconds; beyond this the path is symmetric or blocked.
    public static let natProbeDuration: UInt64 = 30_000_000_000

    /// A direct link that received packets with content and sent nothing back for this long
    /// sends an empty packet: the peer's last packet may have been an acknowledgement, which
    /// nothing answers, and without a reply its `Wire.linkDirectSilenceTimeout` (5 s) would
    /// mistake an idle but working direct path for a dead one and fall back to the relay.
    public static let linkAnswerAfter: UInt64 = 1_000_000_000

    /// Introduced members with a traversal in progress and no link yet, at most: a room holds
    /// 16 members, so more can only be a forged stream of introductions, each of which would
    /// otherwise start a handshake retried for `Wire.linkHandshakeTimeout`.
    public static let natMaxPendingTraversals = 16

    /// Bytes a node sends to an address it has had nothing authenticated from (punches,
    /// initiations, probes, answers), at most: a few seconds of hole punching and probing, which
    /// finds a working path if there is one; the relay carries the link meanwhile.
    public static let natUnverifiedBudgetBytes = 2_048
    /// An unheard address's spent budget is forgotten after this long without sends to it.
    public static let natUnverifiedIdleTime: UInt64 = 600_000_000_000
    /// Unheard addresses tracked at once; a new one beyond gets nothing until entries go idle, so
    /// a node sends at most 1,024 × 2 KiB per 10 minutes to addresses that never answered.
    public static let natUnverifiedMaxAddresses = 1_024
    /// Verified addresses remembered (forgotten all at once beyond; they verify again at the next
    /// authenticated packet).
    public static let natVerifiedMaxAddresses = 4_096
}
