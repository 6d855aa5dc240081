import Foundation
import Testing

@testable import PeerCrypto

/// docs/PROTOCOL.md, "CPace (short codes)", states the constants and labels the code uses; each
/// is checked here, so changing one without the other fails.
@Suite struct CPaceProtocolDocumentTests {
    private static func section() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        let start = try #require(text.range(of: "\n## CPace (short codes)\n"))
        let rest = text[start.upperBound...]
        let end = rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex
        return String(rest[..<end])
    }

    @Test func constantsMatchTheCode() throws {
        let section = try Self.section()
        let rows: [(String, Int)] = [
            ("CPace.pointLength", CPace.pointLength),
            ("CPace.iskLength", CPace.iskLength),
            ("CPace.maxADLength", CPace.maxADLength),
            ("CPace.maxMessageLength", CPace.maxMessageLength),
            ("ShortCode.wordCount", ShortCode.wordCount),
            ("ShortCode.bitsPerWord", ShortCode.bitsPerWord),
            ("ShortCode.passwordBits", ShortCode.passwordBits),
            ("ShortCode.maxInputLength", ShortCode.maxInputLength),
            ("ShortCodeKeys.confirmationLength", ShortCodeKeys.confirmationLength),
            ("ShortCodeKeys.maxInviteLength", ShortCodeKeys.maxInviteLength),
            ("ShortCodeKeys.sealOverhead", ShortCodeKeys.sealOverhead),
        ]
        for (name, value) in rows {
            #expect(section.contains("| `\(name)` | \(value) |"), "PROTOCOL.md: \(name) should read \(value)")
        }
        #expect(ShortCode.wordList.count == 1 << ShortCode.bitsPerWord)
        #expect(section.contains("**20 bits**") && ShortCode.passwordBits == 20)
    }

    @Test func labelsMatchTheCode() throws {
        let section = try Self.section()
        let labels = [
            CPace.dsi, CPace.iskDSI, ShortCode.channelLabel, ShortCodeKeys.Label.joinerConfirmation,
            ShortCodeKeys.Label.hostConfirmation, ShortCodeKeys.Label.inviteKey,
        ]
        for label in labels {
            let text = String(decoding: label, as: UTF8.self)
            #expect(section.contains(text), "PROTOCOL.md should name the label \(text)")
        }
        #expect(section.contains("AD: \"\(String(decoding: ShortCodeKeys.Label.inviteAD, as: UTF8.self))\""))
    }
}
