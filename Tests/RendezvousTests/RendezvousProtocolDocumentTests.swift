import Foundation
import Rendezvous
import Testing

/// docs/PROTOCOL.md and the code must agree: each constant the "Rendezvous" section names is
/// checked against its value here, so changing one without the other fails.
@Suite struct RendezvousProtocolDocumentTests {
    private static func rendezvousSection() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        let start = try #require(text.range(of: "\n## Rendezvous\n"))
        let rest = text[start.upperBound...]
        let end = rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex
        return String(rest[..<end])
    }

    private static func grouped(_ value: Int) -> String {
        let digits = Array(String(value))
        var out = ""
        for (i, digit) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return out
    }

    private static func pair(_ rate: Double, _ burst: Double) -> String {
        "\(grouped(Int(rate))) / \(grouped(Int(burst)))"
    }

    private static func seconds(_ duration: Duration) -> String { "\(duration.components.seconds) s" }

    @Test func limitsAndTimersTableMatchesTheDefaults() throws {
        let section = try Self.rendezvousSection()
        typealias C = RendezvousServer.Configuration
        let rows: [(String, String)] = [
            ("maxRooms", Self.grouped(C.defaultMaxRooms)),
            ("maxPeersPerRoom", Self.grouped(C.defaultMaxPeersPerRoom)),
            ("maxPeers", Self.grouped(C.defaultMaxPeers)),
            ("maxRegistrationsPerSource", Self.grouped(C.defaultMaxRegistrationsPerSource)),
            ("maxRegistrationsPerEndpoint", Self.grouped(C.defaultMaxRegistrationsPerEndpoint)),
            (
                "sourcePacketsPerSecond` / `sourcePacketBurst",
                Self.pair(C.defaultSourcePacketsPerSecond, C.defaultSourcePacketBurst)
            ),
            (
                "sourceBytesPerSecond` / `sourceByteBurst",
                Self.pair(C.defaultSourceBytesPerSecond, C.defaultSourceByteBurst)
            ),
            ("maxTrackedSources", Self.grouped(C.defaultMaxTrackedSources)),
            (
                "roomRelayBytesPerSecond` / `roomRelayBurstBytes",
                Self.pair(C.defaultRoomRelayBytesPerSecond, C.defaultRoomRelayBurstBytes)
            ),
            ("registrationLifetime", Self.seconds(C.defaultRegistrationLifetime)),
            ("refreshInterval", Self.seconds(C.defaultRefreshInterval)),
            ("secretRotationInterval", Self.seconds(C.defaultSecretRotationInterval)),
            ("sweepInterval", Self.seconds(C.defaultSweepInterval)),
        ]
        for (name, value) in rows {
            #expect(section.contains("| `\(name)` | \(value) |"), "PROTOCOL.md row for \(name) should read \(value)")
        }
    }

    @Test func wireSizesAndOffsetsMatchTheText() throws {
        let section = try Self.rendezvousSection()
        let named: [(String, Int)] = [
            ("headerSize", RendezvousWire.headerSize),
            ("ipv4CandidateSize", RendezvousWire.ipv4CandidateSize),
            ("ipv6CandidateSize", RendezvousWire.ipv6CandidateSize),
            ("maxCandidates", RendezvousWire.maxCandidates),
            ("registerMinSize", RendezvousWire.registerMinSize),
            ("registerMaxSize", RendezvousWire.registerMaxSize),
            ("cookieChallengeSize", RendezvousWire.cookieChallengeSize),
            ("registeredMinSize", RendezvousWire.registeredMinSize),
            ("registeredMaxSize", RendezvousWire.registeredMaxSize),
            ("introduceMinSize", RendezvousWire.introduceMinSize),
            ("introduceMaxSize", RendezvousWire.introduceMaxSize),
            ("relayHeaderSize", RendezvousWire.relayHeaderSize),
            ("maxDatagramSize", RendezvousWire.maxDatagramSize),
            ("maxRelayedDatagramSize", RendezvousWire.maxRelayedDatagramSize),
            ("unregisterSize", RendezvousWire.unregisterSize),
        ]
        for (name, value) in named {
            let mention = section.contains("`\(name)` \(value)") || section.contains("`\(name)` (\(value))")
            #expect(mention, "PROTOCOL.md should give \(name) as \(value)")
        }
        let offsets: [(String, Int)] = [
            ("registerRoomTagOffset", RendezvousWire.registerRoomTagOffset),
            ("registerPeerIDOffset", RendezvousWire.registerPeerIDOffset),
            ("registerClientNonceOffset", RendezvousWire.registerClientNonceOffset),
            ("registerCookieOffset", RendezvousWire.registerCookieOffset),
            ("registerCandidateCountOffset", RendezvousWire.registerCandidateCountOffset),
            ("registerCandidatesOffset", RendezvousWire.registerCandidatesOffset),
            ("relayPeerIDOffset", RendezvousWire.relayPeerIDOffset),
            ("relayPayloadOffset", RendezvousWire.relayPayloadOffset),
        ]
        for (name, value) in offsets {
            #expect(section.contains("| \(value) (`\(name)`) |"), "PROTOCOL.md should give \(name) as offset \(value)")
        }
        #expect(section.contains("`RendezvousServer.secretSize`") && RendezvousServer.secretSize == 32)
    }
}
