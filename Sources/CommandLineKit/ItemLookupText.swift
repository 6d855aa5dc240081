import LocalAPI
import Primitives

/// The media `cvpeer save` fetches, from the node's answer to `POST /api/lookup`.
public enum ItemLookupText {
    /// Why a reference names no media: one line without the `error:` prefix.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        /// What went wrong.
        public let description: String
    }

    /// The one matched item's media, with its id checked to be hex (it goes into a URL path).
    ///
    /// - Parameter reference: what the person typed, quoted in the messages.
    public static func media(of reference: String, in answer: ItemLookupAnswer) throws(Failure) -> ItemLookupAnswer.Media {
        let shown = TerminalText.oneLine(reference)
        guard let id = answer.matches.first else {
            throw Failure(description: "no item matches '\(shown)' (see `cvpeer export` for the panel)")
        }
        guard answer.matches.count == 1 else {
            let some = answer.matches.prefix(5).map { shortID($0) }.joined(separator: ", ")
            throw Failure(description: "'\(shown)' matches \(answer.matches.count) items (\(some)); give more of the id")
        }
        guard let media = answer.media else {
            throw Failure(description: "item \(shortID(id)) (\(answer.kind.map(TerminalText.oneLine) ?? "?")) has no photo or video")
        }
        guard !media.id.isEmpty, media.id.utf8.count <= 256,
            media.id.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { throw Failure(description: "the node gave item \(shortID(id)) a media id that is not hex") }
        return media
    }
}
