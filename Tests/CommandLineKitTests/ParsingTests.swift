import CommandLineKit
import LocalAPI
import Testing

/// What `join` reads and how `save` words the node's item lookup.
struct ParsingTests {
    @Test func shortCodesAreToldFromInvites() {
        #expect(JoinInput.isShortCode("7-orbit-lantern"))
        #expect(JoinInput.isShortCode(" 123 orbit lantern\n"))
        #expect(!JoinInput.isShortCode("1234-orbit"))
        #expect(!JoinInput.isShortCode("7-"))
        #expect(!JoinInput.isShortCode("10.0.0.1:7700"))
        #expect(!JoinInput.isShortCode("cvp2:abc"))
    }

    @Test func theInviteIsFoundInAPastedLine() {
        #expect(JoinInput.inviteCode(in: "cvpeer join 'cvp2:abc-def' --name Ben", prefix: "cvp2:") == "cvp2:abc-def")
        #expect(JoinInput.inviteCode(in: "  cvp2:xyz\n", prefix: "cvp2:") == "cvp2:xyz")
        #expect(JoinInput.inviteCode(in: "  something else \n", prefix: "cvp2:") == "something else")
    }

    @Test func lookupAnswersBecomeMediaOrOneLine() throws {
        let media = ItemLookupAnswer.Media(id: "00ff", size: 3, mime: "image/jpeg")
        #expect(try ItemLookupText.media(of: "sofa", in: ItemLookupAnswer(matches: ["1-ab"], kind: "photo", media: media)) == media)
        #expect(throws: ItemLookupText.Failure.self) { try ItemLookupText.media(of: "x", in: ItemLookupAnswer(matches: [])) }
        func message(_ answer: ItemLookupAnswer, _ reference: String = "so\nfa") -> String {
            do {
                _ = try ItemLookupText.media(of: reference, in: answer)
                return ""
            } catch { return error.description }
        }
        #expect(message(ItemLookupAnswer(matches: [])) == "no item matches 'so\\u{000A}fa' (see `cvpeer export` for the panel)")
        #expect(
            message(ItemLookupAnswer(matches: ["1-aaaaaaaaaa", "2-bbbbbbbbbb"]), "sofa")
                == "'sofa' matches 2 items (1-aaaaaaaa, 2-bbbbbbbb); give more of the id")
        #expect(message(ItemLookupAnswer(matches: ["1-ab"], kind: "product")) == "item 1-ab (product) has no photo or video")
        let notHex = ItemLookupAnswer.Media(id: "../x", size: 1, mime: "image/png")
        #expect(message(ItemLookupAnswer(matches: ["1-ab"], kind: "photo", media: notHex)) == "the node gave item 1-ab a media id that is not hex")
    }
}
