import Foundation
import Rendezvous
import Sockets
import Testing
@testable import Transport

/// docs/PROTOCOL.md, "NAT traversal (node side)", lists the rendezvous client's and the transport
/// shell's constants under the code's names, with the code's values.
@Suite struct RendezvousClientProtocolDocumentTests {
    static func section() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        let start = try #require(text.range(of: "## NAT traversal (node side)"))
        let end = text.range(of: "\n## ", range: start.upperBound..<text.endIndex)?.lowerBound ?? text.endIndex
        return String(text[start.lowerBound..<end])
    }

    static func time(_ nanoseconds: UInt64) -> String {
        nanoseconds % 1_000_000_000 == 0 ? "\(nanoseconds / 1_000_000_000) s" : "\(nanoseconds / 1_000_000) ms"
    }

    static let rows: [(String, String)] = [
        ("RendezvousWire.clientRetryInterval", time(RendezvousWire.clientRetryInterval)),
        ("RendezvousWire.clientMaxRetryInterval", time(RendezvousWire.clientMaxRetryInterval)),
        ("RendezvousWire.clientRestartAfter", time(RendezvousWire.clientRestartAfter)),
        ("RendezvousWire.clientDefaultRefreshInterval", time(RendezvousWire.clientDefaultRefreshInterval)),
        ("RendezvousWire.clientMinRefreshInterval", time(RendezvousWire.clientMinRefreshInterval)),
        ("RendezvousWire.clientMaxRefreshInterval", time(RendezvousWire.clientMaxRefreshInterval)),
        ("RendezvousWire.clientMaxKnownPeers", "\(RendezvousWire.clientMaxKnownPeers)"),
        ("RendezvousWire.clientRetireAttempts", "\(RendezvousWire.clientRetireAttempts)"),
        ("TransportLoop.epochRegistrationOverlap", time(TransportLoop.epochRegistrationOverlap)),
        ("Wire.natPunchInterval", time(Wire.natPunchInterval)),
        ("Wire.natPunchDuration", time(Wire.natPunchDuration)),
        ("Wire.natProbeInterval", time(Wire.natProbeInterval)),
        ("Wire.natProbeDuration", time(Wire.natProbeDuration)),
        ("Wire.linkAnswerAfter", time(Wire.linkAnswerAfter)),
        ("Wire.natMaxPendingTraversals", "\(Wire.natMaxPendingTraversals)"),
        ("Wire.natUnverifiedBudgetBytes", "\(Wire.natUnverifiedBudgetBytes)"),
        ("Wire.natUnverifiedIdleTime", time(Wire.natUnverifiedIdleTime)),
        ("Wire.natUnverifiedMaxAddresses", "\(Wire.natUnverifiedMaxAddresses)"),
        ("Wire.natVerifiedMaxAddresses", "\(Wire.natVerifiedMaxAddresses)"),
        ("TransportLoop.sendBatch", "\(TransportLoop.sendBatch)"),
        ("TransportLoop.receiveBatch", "\(TransportLoop.receiveBatch)"),
        ("TransportLoop.maxWait", time(TransportLoop.maxWait)),
        ("TransportLoop.statusInterval", time(TransportLoop.statusInterval)),
        ("TransportLoop.closeReason", "\(TransportLoop.closeReason)"),
        ("NodeSocket.maxSegments", "\(NodeSocket.maxSegments)"),
        ("NodeSocket.maxSegmentedBytes", "65,507"),
        ("PeerTransport.defaultSocketBufferSize", "\(PeerTransport.defaultSocketBufferSize >> 20) MiB"),
    ]

    @Test func everyConstantIsListedWithItsValue() throws {
        let section = try Self.section()
        for (name, value) in Self.rows {
            #expect(section.contains("| `\(name)` | \(value) |"), "PROTOCOL.md: \(name) should read \(value)")
        }
        #expect(NodeSocket.maxSegmentedBytes == 65_507)
    }

    @Test func everyClientDropReasonIsNamed() throws {
        let section = try Self.section()
        #expect(section.contains("`RendezvousClient.DropReason`"))
        #expect(RendezvousClient.DropReason.allCases.count == 7)
    }
}
