import LocalAPI

/// What `host`'s and `join`'s terminal prints as the node's summary changes.
public enum SessionText {
    /// Standard output's lines from `last` to `now`: peers that arrived and peers that left.
    public static func peerChanges(from last: NodeSummary?, to now: NodeSummary) -> [String] {
        var lines: [String] = []
        for peer in now.peers where last?.peers.contains(peer) != true {
            lines.append("\(peer.name) is here (\(peer.relayed ? "relayed through the rendezvous" : "direct"))")
        }
        for peer in last?.peers ?? [] where !now.peers.contains(where: { $0.name == peer.name }) {
            lines.append("\(peer.name) left")
        }
        return lines
    }

    /// Standard error's progress, redrawn in place on a terminal: each transfer's percentage, and
    /// "received" once the last one is done; empty when nothing changed.
    public static func transferProgress(from last: NodeSummary?, to now: NodeSummary) -> String {
        guard now != last else { return "" }
        var text = ""
        for transfer in now.transfers {
            let percent = transfer.total == 0 ? 100 : transfer.have * 100 / transfer.total
            text += "\r\u{1B}[Kreceiving \(transfer.item): \(percent)%"
        }
        if now.transfers.isEmpty, last?.transfers.isEmpty == false { text += "\r\u{1B}[Kreceived\n" }
        return text
    }
}
