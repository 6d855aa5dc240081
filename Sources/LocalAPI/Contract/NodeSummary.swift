/// A small snapshot of a running node for the terminal of `host` and `join`: who is linked and what
/// is arriving. The engine's status-only feed yields it; the command line renders it.
public struct NodeSummary: Sendable, Equatable {
    /// A linked peer: display name and whether the path is relayed.
    public struct Peer: Sendable, Equatable {
        /// The peer's display name (or its fingerprint before its profile arrived).
        public var name: String
        /// True when packets go through the rendezvous relay.
        public var relayed: Bool
        /// Creates the entry.
        public init(name: String, relayed: Bool) { (self.name, self.relayed) = (name, relayed) }
    }
    /// A blob transfer: which item, and how far along.
    public struct Transfer: Sendable, Equatable {
        /// The item's title, or its id.
        public var item: String
        /// Chunks held.
        public var have: Int
        /// Chunks in all.
        public var total: Int
        /// Creates the entry.
        public init(item: String, have: Int, total: Int) { (self.item, self.have, self.total) = (item, have, total) }
    }
    /// Linked peers, by name.
    public var peers: [Peer]
    /// Transfers in progress.
    public var transfers: [Transfer]
    /// Creates the snapshot.
    public init(peers: [Peer], transfers: [Transfer]) { (self.peers, self.transfers) = (peers, transfers) }
}
