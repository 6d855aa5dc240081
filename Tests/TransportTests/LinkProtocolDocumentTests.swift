import Foundation
import Testing
import Transport

/// docs/PROTOCOL.md's Links section lists every link constant under the code's name, with the
/// code's value, and every drop reason.
@Suite struct LinkProtocolDocumentTests {
    static func section() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        let start = try #require(text.range(of: "\n## Links\n"))
        // Up to the next section, which another part of the protocol owns.
        let end = text.range(of: "\n## ", range: start.upperBound..<text.endIndex)?.lowerBound ?? text.endIndex
        return String(text[start.lowerBound..<end])
    }

    static func seconds(_ nanoseconds: UInt64) -> String { "\(nanoseconds / 1_000_000_000) s" }
    static func milliseconds(_ nanoseconds: UInt64) -> String { "\(nanoseconds / 1_000_000) ms" }

    static let rows: [(String, String)] = [
        ("Wire.linkPacketPrefixSize", "\(Wire.linkPacketPrefixSize)"),
        ("Wire.linkIndexSize", "\(Wire.linkIndexSize)"),
        ("Wire.linkMacSize", "\(Wire.linkMacSize)"),
        ("Wire.linkSenderIndexOffset", "\(Wire.linkSenderIndexOffset)"),
        ("Wire.handshakeResponseReceiverIndexOffset", "\(Wire.handshakeResponseReceiverIndexOffset)"),
        ("Wire.linkReceiverIndexOffset", "\(Wire.linkReceiverIndexOffset)"),
        ("Wire.handshakeInitiationTimestampOffset", "\(Wire.handshakeInitiationTimestampOffset)"),
        ("Wire.handshakeInitiationTimestampSize", "\(Wire.handshakeInitiationTimestampSize)"),
        ("Wire.handshakeInitiationMessageOffset", "\(Wire.handshakeInitiationMessageOffset)"),
        ("Wire.handshakeResponseMessageOffset", "\(Wire.handshakeResponseMessageOffset)"),
        ("Wire.handshakeFinishMessageOffset", "\(Wire.handshakeFinishMessageOffset)"),
        ("Wire.dataCounterOffset", "\(Wire.dataCounterOffset)"),
        ("Wire.dataCounterSize", "\(Wire.dataCounterSize)"),
        ("Wire.handshakeInitiationMessageSize", "\(Wire.handshakeInitiationMessageSize)"),
        ("Wire.linkIncarnationSize", "\(Wire.linkIncarnationSize)"),
        ("Wire.handshakeResponseMessageSize", "\(Wire.handshakeResponseMessageSize)"),
        ("Wire.handshakeFinishMessageSize", "\(Wire.handshakeFinishMessageSize)"),
        ("Wire.handshakeInitiationSize", "\(Wire.handshakeInitiationSize)"),
        ("Wire.handshakeResponseSize", "\(Wire.handshakeResponseSize)"),
        ("Wire.handshakeFinishSize", "\(Wire.handshakeFinishSize)"),
        ("Wire.minDataPacketSize", "\(Wire.minDataPacketSize)"),
        ("Wire.maxLinkDatagramSize", "\(Wire.maxLinkDatagramSize)"),
        ("Wire.maxFramesSize", "\(Wire.maxFramesSize)"),
        ("Wire.punchRandomSize", "\(Wire.punchRandomSize)"),
        ("Wire.punchSize", "\(Wire.punchSize)"),
        ("Wire.handshakeInitiationPaddingOffset", "\(Wire.handshakeInitiationPaddingOffset)"),
        ("Wire.handshakeInitiationPaddingSize", "\(Wire.handshakeInitiationPaddingSize)"),
        ("Wire.handshakeInitiationMac1Offset", "\(Wire.handshakeInitiationMac1Offset)"),
        ("Wire.handshakeInitiationMac2Offset", "\(Wire.handshakeInitiationMac2Offset)"),
        ("Wire.cookieReplyReceiverIndexOffset", "\(Wire.cookieReplyReceiverIndexOffset)"),
        ("Wire.cookieReplyNonceOffset", "\(Wire.cookieReplyNonceOffset)"),
        ("Wire.cookieReplyNonceSize", "\(Wire.cookieReplyNonceSize)"),
        ("Wire.cookieReplyCookieOffset", "\(Wire.cookieReplyCookieOffset)"),
        ("Wire.linkCookieSize", "\(Wire.linkCookieSize)"),
        ("Wire.cookieReplySize", "\(Wire.cookieReplySize)"),
        ("Wire.linkLoadHalfOpen", "\(Wire.linkLoadHalfOpen)"),
        ("Wire.linkLoadDuration", seconds(Wire.linkLoadDuration)),
        ("Wire.linkCookieSecretLifetime", seconds(Wire.linkCookieSecretLifetime)),
        ("Wire.linkCookieLifetime", seconds(Wire.linkCookieLifetime)),
        ("Wire.linkRekeyAfterTime", seconds(Wire.linkRekeyAfterTime)),
        ("Wire.linkRejectAfterTime", seconds(Wire.linkRejectAfterTime)),
        ("Wire.linkKeepaliveInterval", seconds(Wire.linkKeepaliveInterval)),
        ("Wire.linkDeadAfter", seconds(Wire.linkDeadAfter)),
        ("Wire.linkHandshakeRetryInterval", seconds(Wire.linkHandshakeRetryInterval)),
        ("Wire.linkHandshakeRetryJitter", milliseconds(Wire.linkHandshakeRetryJitter)),
        ("Wire.linkHandshakeTimeout", seconds(Wire.linkHandshakeTimeout)),
        ("Wire.linkMaxHalfOpen", "\(Wire.linkMaxHalfOpen)"),
        ("Wire.linkInitiationWindow", seconds(Wire.linkInitiationWindow)),
        ("Wire.linkReplayCacheSize", "\(Wire.linkReplayCacheSize)"),
        ("Wire.linkDirectSilenceTimeout", seconds(Wire.linkDirectSilenceTimeout)),
        ("Wire.linkHandshakePathInterval", milliseconds(Wire.linkHandshakePathInterval)),
        ("Wire.linkHandshakePathBurst", "\(Wire.linkHandshakePathBurst)"),
        ("Wire.linkHandshakeGlobalInterval", milliseconds(Wire.linkHandshakeGlobalInterval)),
        ("Wire.linkHandshakeGlobalBurst", "\(Wire.linkHandshakeGlobalBurst)"),
        ("Wire.linkRateLimitedPaths", "\(Wire.linkRateLimitedPaths)"),
        ("Wire.linkMaxLinks", "\(Wire.linkMaxLinks)"),
        ("Wire.linkMaxOlderEpochs", "\(Wire.linkMaxOlderEpochs)"),
        ("Wire.linkMaxSessionsPerLink", "\(Wire.linkMaxSessionsPerLink)"),
        ("Wire.linkMaxCandidatePaths", "\(Wire.linkMaxCandidatePaths)"),
    ]

    @Test func everyConstantIsListedWithItsValue() throws {
        let section = try Self.section()
        for (name, value) in Self.rows {
            #expect(section.contains("| `\(name)` | \(value) |"), "PROTOCOL.md: \(name) should read \(value)")
        }
        #expect(Wire.linkRejectAfterMessages == 1 << 60 && section.contains("| `Wire.linkRejectAfterMessages` | 2^60 |"))
    }

    @Test func theInitiationLayoutIsThePacketTables() throws {
        let section = try Self.section()
        #expect(section.contains("| 0x01 handshake initiation (`Wire.handshakeInitiationSize` = \(Wire.handshakeInitiationSize), exactly) |"))
        #expect(section.contains("| \(Wire.handshakeInitiationTimestampOffset) (`Wire.handshakeInitiationTimestampOffset`) | \(Wire.handshakeInitiationTimestampSize) (`Wire.handshakeInitiationTimestampSize`) |"))
        #expect(section.contains("| \(Wire.handshakeInitiationMessageOffset) (`Wire.handshakeInitiationMessageOffset`) | \(Wire.handshakeInitiationMessageSize) (`Wire.handshakeInitiationMessageSize`) |"))
        #expect(section.contains("| | zero padding | \(Wire.handshakeInitiationPaddingOffset) (`Wire.handshakeInitiationPaddingOffset`) | \(Wire.handshakeInitiationPaddingSize) (`Wire.handshakeInitiationPaddingSize`) |"))
        #expect(section.contains("| | mac1 (room mac) | \(Wire.handshakeInitiationMac1Offset) (`Wire.handshakeInitiationMac1Offset`) | 16 (`Wire.linkMacSize`) |"))
        #expect(section.contains("| | mac2 (cookie mac, or zero) | \(Wire.handshakeInitiationMac2Offset) (`Wire.handshakeInitiationMac2Offset`) | 16 (`Wire.linkMacSize`) |"))
        #expect(section.contains("| 0x06 cookie reply (`Wire.cookieReplySize` = \(Wire.cookieReplySize), exactly) |"))
        #expect(section.contains("| 0x02 handshake response (`Wire.handshakeResponseSize` = \(Wire.handshakeResponseSize), exactly) |"))
        #expect(section.contains("| 0x03 handshake finish (`Wire.handshakeFinishSize` = \(Wire.handshakeFinishSize), exactly) |"))
    }

    @Test func everyDropReasonIsListed() throws {
        let section = try Self.section()
        let drops = try #require(section.range(of: "### Drops"))
        let list = section[drops.lowerBound...].prefix(800)
        for reason in LinkDropReason.allCases {
            #expect(list.contains("`\(reason)`"), "PROTOCOL.md Drops: \(reason)")
        }
    }
}
