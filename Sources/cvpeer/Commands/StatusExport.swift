import ArgumentParser
import Foundation
import Node

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show who you are, your peers and links, transfers in progress and the document's state hash.",
        discussion: """
            Compare the safety number of each peer with theirs, read aloud or on another channel: if they match, nobody sits between you. Two nodes that show the same state hash show the same document.

            Examples:
              cvpeer status
              cvpeer status --data ~/cvpeer-ana --json
            """
    )

    @Flag(help: "Print the node's status as JSON, exactly as the node gives it.")
    var json = false

    @OptionGroup var options: DataOptions

    func run() async throws {
        try await Control.run {
            let response = try await Control.client(options).send(.get, "/api/status").successful()
            if json { return printRaw(response.body) }
            let status = try response.decode(StatusView.self)
            print(StatusText.render(status), terminator: "")
        }
    }
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print the shared document: participants, panel items, marks, chat and commerce.",
        discussion: """
            Without --json, a summary for people; with it, the canonical document and its state hash, the same on every node that has the same operations.

            Examples:
              cvpeer export
              cvpeer export --json > session.json
            """
    )

    @Flag(help: "Print {\"document\": …, \"stateHash\": …} as the node gives it.")
    var json = false

    @OptionGroup var options: DataOptions

    func run() async throws {
        try await Control.run {
            let response = try await Control.client(options).send(.get, "/api/export").successful()
            if json { return printRaw(response.body) }
            let export = try response.decode(ExportView.self)
            print(DocumentText.render(export.document, stateHash: export.stateHash), terminator: "")
        }
    }
}

/// Prints a node's JSON answer unchanged, ending it with a newline if it has none.
private func printRaw(_ body: [UInt8]) {
    FileHandle.standardOutput.write(Data(body))
    if body.last != UInt8(ascii: "\n") { print() }
}

// MARK: What the commands read from the node

// Every field is optional: a newer or older node that adds or drops one still gets a summary,
// with "?" where something is missing.

/// STATUS of the local API.
struct StatusView: Decodable {
    let me: MeView?
    let room: String?
    let listen: String?
    let rendezvous: String?
    let peers: [PeerView]?
    let transfers: [TransferView]?
    let stateHash: String?
    let batches: Int?
    let equivocators: [EquivocatorView]?
    let members: [MemberView]?
    let joinRequests: [JoinRequestView]?
    let rejectedOperations: [RejectedView]?
    let refusedBatches: [String: Int]?
    let epoch: EpochView?
    let removals: [RemovalView]?
    let codes: [CodeView]?

    struct CodeView: Decodable {
        let nameplate: Int?
        let state: String?
    }

    struct EpochView: Decodable {
        let room: Int?
        let links: Int?
        let removedFromRoom: Bool?
    }

    struct RemovalView: Decodable {
        let id: String?
        let name: String?
        let epoch: Int?
        let byName: String?
        let at: Double?
    }

    struct EquivocatorView: Decodable {
        let id: String?
        let name: String?
        let fromBatch: Int?
    }

    struct MemberView: Decodable {
        let id: String?
        let name: String?
        let role: String?
        let owner: Bool?
    }

    struct JoinRequestView: Decodable {
        let id: String?
        let name: String?
        let fingerprint: String?
    }

    struct RejectedView: Decodable {
        let id: String?
        let name: String?
        let count: Int?
    }

    struct MeView: Decodable {
        let id: String?
        let name: String?
        let role: String?
        let fingerprint: String?
    }

    struct PeerView: Decodable {
        let id: String?
        let name: String?
        let path: String?
        let address: String?
        let rttMillis: Double?
        let safetyNumber: String?
        let sync: String?
    }

    struct TransferView: Decodable {
        let item: String?
        let blob: String?
        let have: Int?
        let total: Int?
        let bytes: Int64?
        let size: Int64?
        let percent: Double?
    }
}

/// `GET /api/export`'s answer.
struct ExportView: Decodable {
    let document: DocumentView
    let stateHash: String?
}

/// `GET /api/state`'s answer.
struct StateView: Decodable {
    let document: DocumentView
}

/// The canonical document, as far as the commands show it.
struct DocumentView: Decodable {
    let participants: [String: ParticipantView]?
    let items: [String: ItemView]?
    let panel: [String]?
    let chat: [ChatView]?
    let commerce: [CommerceView]?

    struct ParticipantView: Decodable {
        let name: String?
        let role: String?
    }

    struct ItemView: Decodable {
        let kind: String?
        let fields: FieldsView?
        let marks: [Ignored]?
    }

    struct FieldsView: Decodable {
        let title: String?
        let text: String?
        let url: String?
        let price: PriceView?
        let media: MediaView?
    }

    struct PriceView: Decodable {
        let currency: String
        let minorUnits: UInt64
    }

    struct MediaView: Decodable {
        let id: String
        let size: Int64?
        let mime: String?
    }

    struct ChatView: Decodable {
        let author: String?
        let time: TimeView?
        let text: String?
    }

    struct CommerceView: Decodable {
        let by: String?
        let kind: String?
        let item: String?
        let note: String?
        let quantity: Int?
        let time: TimeView?
    }

    struct TimeView: Decodable {
        let millis: Int64?
    }

    /// Any JSON value, read only to be counted.
    struct Ignored: Decodable {
        init(from decoder: any Decoder) throws {}
    }

    /// The panel's items in order, with their titles, for `CommandInput.matchItem(_:in:)`.
    var panelItems: [(id: String, title: String?)] {
        (panel ?? []).map { ($0, items?[$0]?.fields?.title) }
    }
}

// MARK: Text for people

/// The text form of `cvpeer status`.
enum StatusText {
    static func render(_ status: StatusView) -> String {
        var lines: [String] = []
        let me = status.me
        lines.append(
            "me:          \(text(me?.name)) (\(text(me?.role))), fingerprint \(text(me?.fingerprint))")
        lines.append("room:        \(text(status.room))")
        lines.append("listening:   \(text(status.listen))")
        lines.append("rendezvous:  \(status.rendezvous.map(CommandInput.oneLine) ?? "none")")
        let peers = status.peers ?? []
        lines.append("peers:       \(peers.isEmpty ? "none yet" : String(peers.count))")
        for peer in peers {
            let rtt = peer.rttMillis.map { String(format: "%.1f ms", $0) } ?? "? ms"
            lines.append(
                "  \(peer.name?.isEmpty == false ? text(peer.name) : "(no profile yet)"): \(text(peer.path)) via \(text(peer.address)), rtt \(rtt), \(text(peer.sync))")
            lines.append("    safety number \(text(peer.safetyNumber))")
        }
        let transfers = status.transfers ?? []
        lines.append("transfers:   \(transfers.isEmpty ? "none" : String(transfers.count))")
        for transfer in transfers {
            let percent = transfer.percent.map { String(format: "%.1f%%", $0) } ?? "?%"
            let received = transfer.bytes.map { ByteCount($0).description } ?? "?"
            let size = transfer.size.map { ByteCount($0).description } ?? "?"
            let chunks = "\(transfer.have.map(String.init) ?? "?")/\(transfer.total.map(String.init) ?? "?") chunks"
            lines.append("  \(shortID(transfer.item)): \(percent), \(received) of \(size), \(chunks)")
        }
        let members = status.members ?? []
        lines.append("members:     \(members.isEmpty ? "none admitted yet" : String(members.count))")
        for member in members {
            lines.append("  \(text(member.name)) (\(shortID(member.id))): \(text(member.role))\(member.owner == true ? ", owner" : "")")
        }
        if let epoch = status.epoch {
            let links = epoch.links.map { $0 == epoch.room ? "" : " (links still in epoch \($0))" } ?? ""
            lines.append("epoch:       \(epoch.room.map(String.init) ?? "?")\(links)")
            if epoch.removedFromRoom == true { lines.append("  the room's owner removed you: nothing you write counts, and you receive nothing new") }
        }
        for removal in status.removals ?? [] {
            let when = removal.at.map { Date(timeIntervalSince1970: $0 / 1000).formatted(date: .abbreviated, time: .standard) } ?? "?"
            lines.append(
                "removed:     \(text(removal.name.flatMap { $0.isEmpty ? nil : $0 } ?? "someone")) (\(shortID(removal.id))) by "
                    + "\(text(removal.byName)) in epoch \(removal.epoch.map(String.init) ?? "?"), \(when)")
        }
        for code in status.codes ?? [] {
            lines.append("code:        \(code.nameplate.map(String.init) ?? "?") \(text(code.state))")
        }
        for request in status.joinRequests ?? [] {
            lines.append(
                "asks to join: \(text(request.name.flatMap { $0.isEmpty ? nil : $0 } ?? "someone")) (\(shortID(request.id))), "
                    + "fingerprint \(text(request.fingerprint)); cvpeer admit \(shortID(request.id).prefix(8)) [--refuse]")
        }
        let batches = status.batches.map { " (\($0) batch\($0 == 1 ? "" : "es"))" } ?? ""
        lines.append("state hash:  \(text(status.stateHash))\(batches)")
        for rejected in status.rejectedOperations ?? [] {
            lines.append(
                "refused:     \(rejected.count ?? 0) operation\(rejected.count == 1 ? "" : "s") by \(text(rejected.name)) "
                    + "(\(shortID(rejected.id))) that the room's rules forbid; they changed nothing")
        }
        let refused = status.refusedBatches ?? [:]
        if refused.values.contains(where: { $0 > 0 }) {
            let parts = [("notAuthentic", "not authentic"), ("tooFarAhead", "stamped too far ahead"), ("notAdmitted", "held for keys the owner had not admitted")]
                .compactMap { key, words in refused[key].flatMap { $0 > 0 ? "\($0) \(words)" : nil } }
            lines.append("batches:     \(parts.joined(separator: ", "))")
        }
        for cheat in status.equivocators ?? [] {
            lines.append(
                "warning:     \(text(cheat.name)) (\(shortID(cheat.id))) signed two different versions of one batch; "
                    + "every node leaves that person's edits out from batch \(cheat.fromBatch.map(String.init) ?? "?") on")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The text form of `cvpeer export`.
enum DocumentText {
    static func render(_ document: DocumentView, stateHash: String?) -> String {
        let participants = document.participants ?? [:]
        let items = document.items ?? [:]
        func name(_ hex: String?) -> String {
            guard let hex else { return "?" }
            return participants[hex]?.name.map(CommandInput.oneLine) ?? String(hex.prefix(8))
        }
        func itemName(_ id: String?) -> String {
            guard let id else { return "?" }
            guard let title = items[id]?.fields?.title else { return shortID(id) }
            return "\"\(CommandInput.oneLine(title))\" (\(shortID(id)))"
        }

        var lines: [String] = []
        lines.append("participants: \(participants.count)")
        for (hex, participant) in participants.sorted(by: {
            ($0.value.name ?? "", $0.key) < ($1.value.name ?? "", $1.key)
        }) {
            lines.append("  \(text(participant.name)), \(text(participant.role)), \(hex.prefix(8))")
        }
        let panel = document.panel ?? []
        lines.append("panel: \(panel.count) item\(panel.count == 1 ? "" : "s")")
        for (index, id) in panel.enumerated() {
            let item = items[id]
            var line = "  \(index + 1). \(shortID(id)) \(text(item?.kind))"
            if let title = item?.fields?.title { line += " \"\(CommandInput.oneLine(title))\"" }
            if let price = item?.fields?.price {
                line +=
                    ", "
                    + CommandInput.format(currency: CommandInput.oneLine(price.currency), minorUnits: price.minorUnits)
            }
            if let media = item?.fields?.media {
                line += ", \(text(media.mime)) \(media.size.map { ByteCount($0).description } ?? "")"
            }
            let marks = item?.marks?.count ?? 0
            line += ", \(marks) mark\(marks == 1 ? "" : "s")"
            lines.append(line)
        }
        let chat = document.chat ?? []
        lines.append("chat: \(chat.count) message\(chat.count == 1 ? "" : "s")")
        for message in chat {
            lines.append("  \(time(message.time)) \(name(message.author)): \(text(message.text))")
        }
        let commerce = document.commerce ?? []
        lines.append("commerce: \(commerce.count) event\(commerce.count == 1 ? "" : "s")")
        for event in commerce {
            let quantity = event.quantity.map { "\($0) × " } ?? ""
            let what: String
            switch event.kind {
            case "recommend":
                let note = event.note.flatMap { $0.isEmpty ? nil : ": \(CommandInput.oneLine($0))" } ?? ""
                what = "recommended \(itemName(event.item))\(note)"
            case "addToCart": what = "added \(quantity)\(itemName(event.item)) to the cart"
            case "purchase": what = "bought \(quantity)\(itemName(event.item))"
            default: what = "\(text(event.kind)) \(itemName(event.item))"
            }
            lines.append("  \(time(event.time)) \(name(event.by)) \(what)")
        }
        lines.append("state hash: \(text(stateHash))")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func time(_ time: DocumentView.TimeView?) -> String {
        guard let millis = time?.millis else { return "?" }
        return Date(timeIntervalSince1970: Double(millis) / 1000).formatted(.iso8601)
    }
}

/// Something a node or a peer wrote, safe for one line; "?" when missing.
private func text(_ value: String?) -> String {
    value.map(CommandInput.oneLine) ?? "?"
}

/// An item id shortened to its counter and the author's first 8 hex digits: still a prefix that
/// names the item for the other commands.
func shortID(_ id: String?) -> String {
    guard let id else { return "?" }
    guard let dash = id.firstIndex(of: "-") else { return CommandInput.oneLine(String(id.prefix(16))) }
    return CommandInput.oneLine(String(id[...dash]) + id[id.index(after: dash)...].prefix(8))
}
