import Foundation
import Testing
import Transport

/// docs/PROTOCOL.md lists every reliability constant under the code's name, with the code's value.
@Suite struct ReliabilityProtocolDocumentTests {
    static func section() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        let start = try #require(text.range(of: "## Reliability (inside data packets)"))
        // Up to the next section, which another part of the protocol owns.
        let end = text.range(of: "\n## ", range: start.upperBound..<text.endIndex)?.lowerBound ?? text.endIndex
        return String(text[start.lowerBound..<end])
    }

    static func milliseconds(_ nanoseconds: UInt64) -> String { "\(nanoseconds / 1_000_000) ms" }

    static let rows: [(String, String)] = [
        ("Wire.maxDatagramSize", "\(Wire.maxDatagramSize)"),
        ("Wire.maxLinkDatagramSize", "\(Wire.maxLinkDatagramSize)"),
        ("Wire.dataHeaderSize", "\(Wire.dataHeaderSize)"),
        ("Wire.aeadTagSize", "\(Wire.aeadTagSize)"),
        ("Wire.maxFramesSize", "\(Wire.maxFramesSize)"),
        ("Wire.maxMessageSize", "\(Wire.maxMessageSize >> 20) MiB"),
        ("Wire.linkReceiveWindow", "\(Wire.linkReceiveWindow >> 20) MiB"),
        ("Wire.linkMessageWindow", "\(Wire.linkMessageWindow)"),
        ("Wire.maxAckRanges", "\(Wire.maxAckRanges)"),
        ("Wire.maxUnreliableSize", "\(Wire.maxUnreliableSize)"),
        ("Reliability.granularity", milliseconds(Reliability.granularity)),
        ("Reliability.initialRTT", milliseconds(Reliability.initialRTT)),
        ("Reliability.maxAckDelay", milliseconds(Reliability.maxAckDelay)),
        ("Reliability.ackElicitingThreshold", "\(Reliability.ackElicitingThreshold)"),
        ("Reliability.packetThreshold", "\(Reliability.packetThreshold)"),
        ("Reliability.timeThresholdNumerator` / `timeThresholdDenominator",
         "\(Reliability.timeThresholdNumerator) / \(Reliability.timeThresholdDenominator)"),
        ("Reliability.probePacketsPerTimeout", "\(Reliability.probePacketsPerTimeout)"),
        ("Reliability.maxTimeoutBackoffExponent", "\(Reliability.maxTimeoutBackoffExponent)"),
        ("Reliability.maxDatagramSize", "\(Reliability.maxDatagramSize)"),
        ("Reliability.initialWindowPackets", "\(Reliability.initialWindowPackets)"),
        ("Reliability.minimumWindowPackets", "\(Reliability.minimumWindowPackets)"),
        ("Reliability.lossReductionDivisor", "\(Reliability.lossReductionDivisor)"),
        ("Reliability.pacingGainNumerator` / `pacingGainDenominator",
         "\(Reliability.pacingGainNumerator) / \(Reliability.pacingGainDenominator)"),
        ("Reliability.pacingBurstPackets", "\(Reliability.pacingBurstPackets)"),
        ("Reliability.maxTrackedAckRanges", "\(Reliability.maxTrackedAckRanges)"),
        ("Reliability.maxAckRangesSent", "\(Reliability.maxAckRangesSent)"),
        ("Reliability.maxQueuedUnreliable", "\(Reliability.maxQueuedUnreliable)"),
        ("Reliability.maxReassemblyRanges", "\(Reliability.maxReassemblyRanges)"),
        ("Reliability.flowControlUpdateDivisor", "\(Reliability.flowControlUpdateDivisor)"),
    ]

    @Test func everyConstantIsListedWithItsValue() throws {
        let section = try Self.section()
        for (name, value) in Self.rows {
            #expect(section.contains("| `\(name)` | \(value)"), "PROTOCOL.md: \(name) should read \(value)")
        }
    }

    @Test func everyFrameTypeIsListed() throws {
        let section = try Self.section()
        for type in Wire.LinkFrameType.allCases {
            let hex = "0x0" + String(type.rawValue, radix: 16)
            let name: String
            switch type {
            case .padding: name = "PADDING"
            case .ping: name = "PING"
            case .ack: name = "ACK"
            case .message: name = "MESSAGE"
            case .unreliable: name = "UNRELIABLE"
            case .close: name = "CLOSE"
            case .maxData: name = "MAX_DATA"
            }
            #expect(section.contains("| \(hex) | \(name) |"), "PROTOCOL.md: frame \(hex) \(name)")
        }
    }
}
