import Foundation
import LocalAPI
import Primitives

/// The text form of `cvpeer status`.
public enum StatusText {
    /// The status as people read it, one fact a line, ending with a newline.
    public static func render(_ status: NodeStatus) -> String {
        var lines: [String] = []
        let me = status.me
        lines.append("me:          \(text(me.name)) (\(text(me.role))), fingerprint \(text(me.fingerprint))")
        lines.append("room:        \(text(status.room))")
        lines.append("listening:   \(text(status.listen))")
        lines.append("rendezvous:  \(status.rendezvous.map(TerminalText.oneLine) ?? "none")")
        let peers = status.peers
        lines.append("peers:       \(peers.isEmpty ? "none yet" : String(peers.count))")
        for peer in peers {
            let rtt = peer.rttMillis.map { String(format: "%.1f ms", $0) } ?? "? ms"
            lines.append(
                "  \(peer.name.isEmpty ? "(no profile yet)" : text(peer.name)): \(text(peer.path)) via \(text(peer.address)), rtt \(rtt), \(text(peer.sync))")
            lines.append("    safety number \(text(peer.safetyNumber))")
        }
        let transfers = status.transfers
        lines.append("transfers:   \(transfers.isEmpty ? "none" : String(transfers.count))")
        for transfer in transfers {
            let percent = String(format: "%.1f%%", transfer.percent)
            let chunks = "\(transfer.have)/\(transfer.total) chunks"
            lines.append(
                "  \(shortID(transfer.item)): \(percent), \(ByteCount(transfer.bytes)) of \(ByteCount(transfer.size)), \(chunks)")
        }
        let members = status.members
        lines.append("members:     \(members.isEmpty ? "none admitted yet" : String(members.count))")
        for member in members {
            lines.append("  \(text(member.name)) (\(shortID(member.id))): \(text(member.role))\(member.owner ? ", owner" : "")")
        }
        let epoch = status.epoch
        let links = epoch.links == epoch.room ? "" : " (links still in epoch \(epoch.links))"
        lines.append("epoch:       \(epoch.room)\(links)")
        if epoch.removedFromRoom { lines.append("  the room's owner removed you: nothing you write counts, and you receive nothing new") }
        for removal in status.removals {
            let when = Date(timeIntervalSince1970: Double(removal.at) / 1000).formatted(date: .abbreviated, time: .standard)
            lines.append(
                "removed:     \(text(removal.name.isEmpty ? "someone" : removal.name)) (\(shortID(removal.id))) by "
                    + "\(text(removal.byName)) in epoch \(removal.epoch), \(when)")
        }
        for code in status.codes {
            lines.append("code:        \(code.nameplate) \(text(code.state))")
        }
        for request in status.joinRequests {
            lines.append(
                "asks to join: \(text(request.name.isEmpty ? "someone" : request.name)) (\(shortID(request.id))), "
                    + "fingerprint \(text(request.fingerprint)); cvpeer admit \(shortID(request.id).prefix(8)) [--refuse]")
        }
        lines.append("state hash:  \(text(status.stateHash)) (\(status.batches) batch\(status.batches == 1 ? "" : "es"))")
        for rejected in status.rejectedOperations {
            lines.append(
                "refused:     \(rejected.count) operation\(rejected.count == 1 ? "" : "s") by \(text(rejected.name)) "
                    + "(\(shortID(rejected.id))) that the room's rules forbid; they changed nothing")
        }
        let refused = status.refusedBatches
        if [refused.notAuthentic, refused.tooFarAhead, refused.notAdmitted, refused.removed].contains(where: { $0 > 0 }) {
            let parts = [
                (refused.notAuthentic, "not authentic"), (refused.tooFarAhead, "stamped too far ahead"),
                (refused.notAdmitted, "held for keys the owner had not admitted"),
            ].compactMap { count, words in count > 0 ? "\(count) \(words)" : nil }
            lines.append("batches:     \(parts.joined(separator: ", "))")
        }
        for cheat in status.equivocators {
            lines.append(
                "warning:     \(text(cheat.name)) (\(shortID(cheat.id))) signed two different versions of one batch; "
                    + "every node leaves that person's edits out from batch \(cheat.fromBatch) on")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
