import Foundation
import Rendezvous
import Testing

/// docs/PROTOCOL.md and the code must agree: each constant the "Rendezvous" section names is
/// checked against its value here, so changing one without the other fails.
@Suite struct RendezvousProtocolDocumentTests {
    private static func document() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
    }

    private static func rendezvousSection() throws -> String {
        let text = try document()
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
            ("relayReservationLifetime", Self.seconds(C.defaultRelayReservationLifetime)),
            ("relayReservationBytes", Self.grouped(C.defaultRelayReservationBytes)),
            ("registrationLifetime", Self.seconds(C.defaultRegistrationLifetime)),
            ("refreshInterval", Self.seconds(C.defaultRefreshInterval)),
            ("secretRotationInterval", Self.seconds(C.defaultSecretRotationInterval)),
            ("sweepInterval", Self.seconds(C.defaultSweepInterval)),
            ("maxNameplates", Self.grouped(C.defaultMaxNameplates)),
            ("maxNameplatesPerSource", Self.grouped(C.defaultMaxNameplatesPerSource)),
            ("codeLifetime", Self.seconds(C.defaultCodeLifetime)),
            ("codeLinger", Self.seconds(C.defaultCodeLinger)),
            ("codeRepeatInterval", Self.seconds(C.defaultCodeRepeatInterval)),
            (
                "sourceKnocksPerSecond` / `sourceKnockBurst",
                "\(C.defaultSourceKnocksPerSecond) / \(Int(C.defaultSourceKnockBurst))"
            ),
            (
                "sourceSignatureChecksPerSecond` / `sourceSignatureCheckBurst",
                Self.pair(C.defaultSourceSignatureChecksPerSecond, C.defaultSourceSignatureCheckBurst)
            ),
            ("retiredRoomLifetime", Self.seconds(C.defaultRetiredRoomLifetime)),
            ("maxRetiredRooms", Self.grouped(C.defaultMaxRetiredRooms)),
            ("maxRoomsPerIPv4Address", Self.grouped(C.defaultMaxRoomsPerIPv4Address)),
            ("maxRoomsPerIPv4Slash24", Self.grouped(C.defaultMaxRoomsPerIPv4Slash24)),
            ("maxRoomsPerIPv6Slash64", Self.grouped(C.defaultMaxRoomsPerIPv6Slash64)),
            ("maxRoomsPerIPv6Slash56", Self.grouped(C.defaultMaxRoomsPerIPv6Slash56)),
            ("maxRoomsPerIPv6Slash48", Self.grouped(C.defaultMaxRoomsPerIPv6Slash48)),
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
            ("registerWithOwnerMinSize", RendezvousWire.registerWithOwnerMinSize),
            ("registerOwnerPartSize", RendezvousWire.registerOwnerPartSize),
            ("registerRefusedSize", RendezvousWire.registerRefusedSize),
            ("cookieChallengeSize", RendezvousWire.cookieChallengeSize),
            ("registeredMinSize", RendezvousWire.registeredMinSize),
            ("registeredMaxSize", RendezvousWire.registeredMaxSize),
            ("introduceMinSize", RendezvousWire.introduceMinSize),
            ("introduceMaxSize", RendezvousWire.introduceMaxSize),
            ("relayHeaderSize", RendezvousWire.relayHeaderSize),
            ("maxDatagramSize", RendezvousWire.maxDatagramSize),
            ("maxRelayedDatagramSize", RendezvousWire.maxRelayedDatagramSize),
            ("unregisterSize", RendezvousWire.unregisterSize),
            ("retireSize", RendezvousWire.retireSize),
            ("nameplateSize", RendezvousWire.nameplateSize),
            ("maxNameplate", Int(RendezvousWire.maxNameplate)),
            ("maxPakeMessageSize", RendezvousWire.maxPakeMessageSize),
            ("codeTagSize", RendezvousWire.codeTagSize),
            ("knockIDSize", RendezvousWire.knockIDSize),
            ("maxCodePayloadSize", RendezvousWire.maxCodePayloadSize),
            ("codeOpenMinSize", RendezvousWire.codeOpenMinSize),
            ("codeOpenMaxSize", RendezvousWire.codeOpenMaxSize),
            ("codeOpenedSize", RendezvousWire.codeOpenedSize),
            ("codeLookupSize", RendezvousWire.codeLookupSize),
            ("codeOfferMinSize", RendezvousWire.codeOfferMinSize),
            ("codeOfferMaxSize", RendezvousWire.codeOfferMaxSize),
            ("codeKnockSize", RendezvousWire.codeKnockSize),
            ("codeKnockedMinSize", RendezvousWire.codeKnockedMinSize),
            ("codeKnockedMaxSize", RendezvousWire.codeKnockedMaxSize),
            ("codeAnswerMinSize", RendezvousWire.codeAnswerMinSize),
            ("codeAnswerMaxSize", RendezvousWire.codeAnswerMaxSize),
            ("codeAnsweredMinSize", RendezvousWire.codeAnsweredMinSize),
            ("codeAnsweredMaxSize", RendezvousWire.codeAnsweredMaxSize),
            ("codeBurnSize", RendezvousWire.codeBurnSize),
            ("codeCloseSize", RendezvousWire.codeCloseSize),
            ("codeAckSize", RendezvousWire.codeAckSize),
            ("codeErrorSize", RendezvousWire.codeErrorSize),
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
            ("registerKeyOffset", RendezvousWire.registerKeyOffset),
            ("registerCandidateCountOffset", RendezvousWire.registerCandidateCountOffset),
            ("registerCandidatesOffset", RendezvousWire.registerCandidatesOffset),
            ("registerFlagsOffset", RendezvousWire.registerFlagsOffset),
            ("relayPeerIDOffset", RendezvousWire.relayPeerIDOffset),
            ("relayPayloadOffset", RendezvousWire.relayPayloadOffset),
            ("replyClientNonceOffset", RendezvousWire.replyClientNonceOffset),
            ("registeredPeerIDOffset", RendezvousWire.registeredPeerIDOffset),
            ("registeredReflexiveOffset", RendezvousWire.registeredReflexiveOffset),
            ("introduceRoomTagOffset", RendezvousWire.introduceRoomTagOffset),
            ("introducePeerIDOffset", RendezvousWire.introducePeerIDOffset),
            ("introduceReflexiveOffset", RendezvousWire.introduceReflexiveOffset),
            ("unregisterRoomTagOffset", RendezvousWire.unregisterRoomTagOffset),
            ("unregisterPeerIDOffset", RendezvousWire.unregisterPeerIDOffset),
            ("unregisterClientNonceOffset", RendezvousWire.unregisterClientNonceOffset),
            ("unregisterCookieOffset", RendezvousWire.unregisterCookieOffset),
            ("unregisterKeyOffset", RendezvousWire.unregisterKeyOffset),
            ("unregisterSignatureOffset", RendezvousWire.unregisterSignatureOffset),
            ("retireRoomTagOffset", RendezvousWire.retireRoomTagOffset),
            ("retireKeyOffset", RendezvousWire.retireKeyOffset),
            ("retireClientNonceOffset", RendezvousWire.retireClientNonceOffset),
            ("retireCookieOffset", RendezvousWire.retireCookieOffset),
            ("retireSignatureOffset", RendezvousWire.retireSignatureOffset),
        ]
        for (name, value) in offsets {
            #expect(section.contains("| \(value) (`\(name)`) |"), "PROTOCOL.md should give \(name) as offset \(value)")
        }
        // The short-code offsets, in a table or in the text.
        let codeOffsets: [(String, Int)] = [
            ("codeOpenLifetimeOffset", RendezvousWire.codeOpenLifetimeOffset),
            ("codeOpenNameplateOffset", RendezvousWire.codeOpenNameplateOffset),
            ("codeOpenPakeMessageOffset", RendezvousWire.codeOpenPakeMessageOffset),
            ("codeRequestNameplateOffset", RendezvousWire.codeRequestNameplateOffset),
            ("codeLookupPaddingOffset", RendezvousWire.codeLookupPaddingOffset),
            ("codeOfferPakeMessageOffset", RendezvousWire.codeOfferPakeMessageOffset),
            ("codeKnockTagOffset", RendezvousWire.codeKnockTagOffset),
            ("codeKnockPakeMessageLengthOffset", RendezvousWire.codeKnockPakeMessageLengthOffset),
            ("codeKnockPakeMessageOffset", RendezvousWire.codeKnockPakeMessageOffset),
            ("codeKnockedKnockIDOffset", RendezvousWire.codeKnockedKnockIDOffset),
            ("codeKnockedTagOffset", RendezvousWire.codeKnockedTagOffset),
            ("codeKnockedPakeMessageOffset", RendezvousWire.codeKnockedPakeMessageOffset),
            ("codeAnswerKnockIDOffset", RendezvousWire.codeAnswerKnockIDOffset),
            ("codeAnswerPayloadOffset", RendezvousWire.codeAnswerPayloadOffset),
            ("codeAnsweredPayloadOffset", RendezvousWire.codeAnsweredPayloadOffset),
        ]
        for (name, value) in codeOffsets {
            #expect(section.contains("\(value) (`\(name)`)"), "PROTOCOL.md should give \(name) as offset \(value)")
        }

        #expect(section.contains("`RendezvousServer.secretSize`") && RendezvousServer.secretSize == 32)

        // The key, the signature and the labels signed.
        #expect(section.contains("| 32 (`registrationKeySize`) |") && RendezvousWire.registrationKeySize == 32)
        #expect(section.contains("| 64 (`signatureSize`) |") && RendezvousWire.signatureSize == 64)
        let labels: [(String, [UInt8])] = [
            ("registerSignatureLabel", RendezvousWire.registerSignatureLabel),
            ("unregisterSignatureLabel", RendezvousWire.unregisterSignatureLabel),
            ("retireSignatureLabel", RendezvousWire.retireSignatureLabel),
            ("registerOwnerSignatureLabel", RendezvousWire.registerOwnerSignatureLabel),
        ]
        for (name, label) in labels {
            let text = String(decoding: label, as: UTF8.self)
            #expect(section.contains("`\"\(text)\"` (`\(name)`)"), "PROTOCOL.md should give \(name) as \(text)")
        }
        #expect(section.contains("| 32 (`ownerKeySize`) |") && RendezvousWire.ownerKeySize == 32)
        #expect(section.contains("(`registerOwnerFlag`, 0x01)") && RendezvousWire.registerOwnerFlag == 0x01)
        for name in [
            "badRoomKey", "badSignature", "signatureRateLimited", "roomRetired", "ownerNotAllowed", "badOwnerSignature",
            "roomPrefixLimit",
        ] {
            #expect(section.contains("`\(name)`"), "PROTOCOL.md should name the drop reason \(name)")
        }
        // The open part beside an allow list: the server's switch and the command's flags.
        #expect(section.contains("`unlistedOwnersMayCreate`") && !RendezvousServer(now: .now).unlistedOwnersMayCreate)
        #expect(section.contains("`cvpeer rendezvous --allow FILE --open`"))
    }

    @Test func everyMessageTypeIsInTheTypeTableAndEveryCodeMessageHasItsOwnEntry() throws {
        let document = try Self.document()
        let section = try Self.rendezvousSection()
        for type in RendezvousWire.MessageType.allCases {
            let hex = "0x" + String(type.rawValue, radix: 16, uppercase: true)
            #expect(document.contains("| \(hex) |"), "the datagram types table should list \(hex) (\(type))")
            if "\(type)".hasPrefix("code") {
                #expect(section.contains("**\(hex) \(type)**"), "PROTOCOL.md should describe \(hex) \(type)")
            }
        }
        // The reasons print as words for people, so their case names are spelled out here.
        let reasons: [(RendezvousWire.CodeErrorReason, String)] = [
            (.unknown, "unknown"), (.used, "used"), (.expired, "expired"), (.burnt, "burnt"), (.closed, "closed"),
            (.unavailable, "unavailable"),
        ]
        #expect(reasons.count == RendezvousWire.CodeErrorReason.allCases.count)
        for (reason, name) in reasons {
            #expect(
                section.contains("\(reason.rawValue) `\(name)`"),
                "codeError reason \(name) should be \(reason.rawValue)"
            )
        }
        for name in [
            "codeLimit", "codeSourceLimit", "codeUnknown", "codeExpired", "codeUsed", "codeRejected", "codeRepeat",
            "codeKnockRate",
        ] {
            #expect(section.contains("`\(name)`"), "PROTOCOL.md should name the drop reason \(name)")
        }
    }

    @Test func theCodeClientsTimersMatchTheDefaults() throws {
        let section = try Self.rendezvousSection()
        typealias C = CodeMailboxClient.Configuration
        func text(_ duration: Duration) -> String {
            duration < .seconds(1)
                ? "\(duration.components.attoseconds / 1_000_000_000_000_000) ms" : Self.seconds(duration)
        }
        let rows: [(String, Duration)] = [
            ("retryInterval", C.defaultRetryInterval),
            ("maxRetryInterval", C.defaultMaxRetryInterval),
            ("replyTimeout", C.defaultReplyTimeout),
            ("answerTimeout", C.defaultAnswerTimeout),
            ("keepaliveInterval", C.defaultKeepaliveInterval),
        ]
        for (name, value) in rows {
            #expect(
                section.contains("| `\(name)` | \(text(value)) |"),
                "PROTOCOL.md row for \(name) should read \(text(value))"
            )
        }
    }
}
