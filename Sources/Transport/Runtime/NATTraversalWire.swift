// MARK: NAT traversal (node side)
// Timers and bounds of the node's hole punching (docs/PROTOCOL.md, "NAT traversal (node side)");
// the rendezvous client's are in Sources/Rendezvous/RendezvousClientWire.swift. Owned by
// Sources/Transport/Runtime. Times are monotonic nanoseconds.

extension Wire {
    /// While no link to an introduced peer exists, punch packets go to each of its direct
    /// candidates this often: once per handshake retry, so each retry finds our mapping open.
    package static let natPunchInterval: UInt64 = 1_000_000_000
    /// Punching stops this long after an introduction: a third of the handshake timeout, by
    /// which time a working path has long been found and the relay carries the rest.
    package static let natPunchDuration: UInt64 = 30_000_000_000
    /// A link on the relay probes every direct candidate this often, so both NATs keep opening
    /// mappings towards each other until one probe gets through.
    package static let natProbeInterval: UInt64 = 1_000_000_000
    /// Probing stops this long after the link came up on (or fell back to) the relay: NATs that
    /// let a probe through do so within seconds; beyond this the path is symmetric or blocked.
    package static let natProbeDuration: UInt64 = 30_000_000_000

    /// A direct link that received packets with content and sent nothing back for this long
    /// sends an empty packet: the peer's last packet may have been an acknowledgement, which
    /// nothing answers, and without a reply its `Wire.linkDirectSilenceTimeout` (5 s) would
    /// mistake an idle but working direct path for a dead one and fall back to the relay.
    package static let linkAnswerAfter: UInt64 = 1_000_000_000

    /// Introduced members with a traversal in progress and no link yet, at most: a room holds
    /// 16 members, so more can only be a forged stream of introductions, each of which would
    /// otherwise start a handshake retried for `Wire.linkHandshakeTimeout`.
    package static let natMaxPendingTraversals = 16

    /// Bytes a node sends to an address it has had nothing authenticated from (punches,
    /// initiations, probes, answers), at most: a few seconds of hole punching and probing, which
    /// finds a working path if there is one; the relay carries the link meanwhile.
    package static let natUnverifiedBudgetBytes = 2_048
    /// An unheard address's spent budget is forgotten after this long without sends to it.
    package static let natUnverifiedIdleTime: UInt64 = 600_000_000_000
    /// Unheard addresses tracked at once; a new one beyond gets nothing until entries go idle, so
    /// a node sends at most 1,024 × 2 KiB per 10 minutes to addresses that never answered.
    package static let natUnverifiedMaxAddresses = 1_024
    /// Verified addresses remembered (forgotten all at once beyond; they verify again at the next
    /// authenticated packet).
    package static let natVerifiedMaxAddresses = 4_096
}
