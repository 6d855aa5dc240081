import Foundation
import Primitives

// `GET /api/export`'s document is the room's canonical JSON, which LocalAPI does not model field by
// field (the node splices its canonical bytes in): these views read what `cvpeer export` shows,
// every field optional, so a newer or older node still gets a summary with "?" where one is missing.

/// `GET /api/export`'s answer.
public struct ExportView: Decodable, Sendable {
    /// The document.
    public let document: DocumentView
    /// Its state hash, the same on every node that has the same operations.
    public let stateHash: String?
}

/// The canonical document, as far as the commands show it.
public struct DocumentView: Decodable, Sendable {
    let participants: [String: ParticipantView]?
    let items: [String: ItemView]?
    let panel: [String]?
    let chat: [ChatView]?
    let commerce: [CommerceView]?

    struct ParticipantView: Decodable, Sendable {
        let name: String?
        let role: String?
    }

    struct ItemView: Decodable, Sendable {
        let kind: String?
        let fields: FieldsView?
        let marks: [Ignored]?
    }

    struct FieldsView: Decodable, Sendable {
        let title: String?
        let text: String?
        let url: String?
        let price: PriceView?
        let media: MediaView?
    }

    struct PriceView: Decodable, Sendable {
        let currency: String
        let minorUnits: UInt64
    }

    struct MediaView: Decodable, Sendable {
        let id: String
        let size: Int64?
        let mime: String?
    }

    struct ChatView: Decodable, Sendable {
        let author: String?
        let time: TimeView?
        let text: String?
    }

    struct CommerceView: Decodable, Sendable {
        let by: String?
        let kind: String?
        let item: String?
        let note: String?
        let quantity: Int?
        let time: TimeView?
    }

    struct TimeView: Decodable, Sendable {
        let millis: Int64?
    }

    /// Any JSON value, read only to be counted.
    struct Ignored: Decodable, Sendable {
        init(from decoder: any Decoder) throws {}
    }
}

/// The text form of `cvpeer export`.
public enum DocumentText {
    /// The document as people read it: participants, panel, chat and commerce, ending with a newline.
    public static func render(_ document: DocumentView, stateHash: String?) -> String {
        let participants = document.participants ?? [:]
        let items = document.items ?? [:]
        func name(_ hex: String?) -> String {
            guard let hex else { return "?" }
            return participants[hex]?.name.map(TerminalText.oneLine) ?? String(hex.prefix(8))
        }
        func itemName(_ id: String?) -> String {
            guard let id else { return "?" }
            guard let title = items[id]?.fields?.title else { return shortID(id) }
            return "\"\(TerminalText.oneLine(title))\" (\(shortID(id)))"
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
            if let title = item?.fields?.title { line += " \"\(TerminalText.oneLine(title))\"" }
            if let price = item?.fields?.price {
                line +=
                    ", "
                    + PriceText.text(currency: TerminalText.oneLine(price.currency), minorUnits: price.minorUnits)
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
                let note = event.note.flatMap { $0.isEmpty ? nil : ": \(TerminalText.oneLine($0))" } ?? ""
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

