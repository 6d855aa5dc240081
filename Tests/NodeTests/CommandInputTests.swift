import Foundation
import LocalAPI
import Primitives
import Replication
import Synchronization
import Testing

@testable import Node

@Suite struct CommandInputTests {
    // MARK: Points and shapes

    @Test(arguments: [
        ("0.5,0.25", 0.5, 0.25), ("0,1", 0, 1), ("1,0", 1, 0), (".5,1.", 0.5, 1), (" 0.5 , 0.75 ", 0.5, 0.75),
        ("0.000001,0.999999", 0.000001, 0.999999),
    ])
    func pointsAreFractionsOfTheItem(text: String, x: Double, y: Double) throws {
        #expect(try CommandInput.point(text) == FractionPoint(x: x, y: y))
    }

    @Test(arguments: [
        "", ",", "0.5", "0.5,", ",0.5", "0.5,0.5,0.5", "nan,0", "inf,0", "-0.1,0", "+0.1,0", "1e-1,0", "0x1p-1,0",
        "0.5;0.5", "0.5 0.5", "\u{0660}.5,0", "0..5,0", ".,0", "0.5,0.5\n", "0.5,\u{00A0}0.5",
        String(repeating: "0", count: 100_000) + ",0",
    ])
    func malformedPointsAreRefused(text: String) {
        #expect(throws: CommandInputError.invalidCoordinates(text, form: .point)) { try CommandInput.point(text) }
    }

    @Test(arguments: ["1.5,0", "0,1.0000001", "2,2"])
    func pointsBeyondTheItemAreRefused(text: String) {
        #expect(throws: CommandInputError.coordinateOutOfRange(text)) { try CommandInput.point(text) }
    }

    @Test func aRectangleBecomesItsTwoCorners() throws {
        let rectangle = try CommandInput.rectangle("0.1,0.2,0.3,0.4")
        #expect(rectangle.corner1 == FractionPoint(x: 0.1, y: 0.2))
        #expect(abs(rectangle.corner2.x - 0.4) < 1e-12 && abs(rectangle.corner2.y - 0.6) < 1e-12)
        // 0.3 + 0.7 is slightly above 1 in binary floating point, but is meant as the right edge.
        let edge = try CommandInput.rectangle("0.3,0,0.7,1")
        #expect(edge.corner2 == FractionPoint(x: 1, y: 1))
    }

    @Test func rectanglesOutsideTheItemOrWithoutAreaAreRefused() {
        #expect(throws: CommandInputError.coordinateOutOfRange("0.5,0.5,0.6,0.1")) {
            try CommandInput.rectangle("0.5,0.5,0.6,0.1")
        }
        #expect(throws: CommandInputError.emptyShape("0.1,0.1,0,0.2", shape: "rectangle")) {
            try CommandInput.rectangle("0.1,0.1,0,0.2")
        }
        #expect(throws: CommandInputError.invalidCoordinates("0.1,0.1,0.2", form: .rectangle)) {
            try CommandInput.rectangle("0.1,0.1,0.2")
        }
    }

    @Test func anArrowGoesSomewhere() throws {
        let arrow = try CommandInput.arrow("0.1,0.2,0.6,0.5")
        #expect(arrow.from == FractionPoint(x: 0.1, y: 0.2) && arrow.to == FractionPoint(x: 0.6, y: 0.5))
        #expect(throws: CommandInputError.emptyShape("0.5,0.5,0.5,0.5", shape: "arrow")) {
            try CommandInput.arrow("0.5,0.5,0.5,0.5")
        }
    }

    @Test func anchoredTextKeepsCommasInItsText() throws {
        let mark = try CommandInput.anchoredText("0.5,0.9,the same fabric, in blue")
        #expect(mark.at == FractionPoint(x: 0.5, y: 0.9))
        #expect(mark.text == "the same fabric, in blue")
        #expect(throws: CommandInputError.invalidText(what: "mark text", reason: "is empty")) {
            try CommandInput.anchoredText("0.5,0.5,")
        }
        #expect(throws: CommandInputError.invalidCoordinates("0.5,hello", form: .anchoredText)) {
            try CommandInput.anchoredText("0.5,hello")
        }
        #expect(throws: CommandInputError.coordinateOutOfRange("2,0,hi")) { try CommandInput.anchoredText("2,0,hi") }
    }

    @Test func pointsEncodeAsTheAPIsPairsAndRefuseAnythingElse() throws {
        let encoded = try JSONEncoder().encode(FractionPoint(x: 0.5, y: 0.25))
        #expect(String(decoding: encoded, as: UTF8.self) == "[0.5,0.25]")
        #expect(try JSONDecoder().decode(FractionPoint.self, from: Data("[1,0]".utf8)) == FractionPoint(x: 1, y: 0))
        for bad in ["[1.5,0]", "[0.1]", "[0.1,0.2,0.3]", "[-0.1,0]", "{\"x\":0.1,\"y\":0.2}", "\"0.1,0.2\""] {
            #expect(throws: (any Error).self, "\(bad)") {
                try JSONDecoder().decode(FractionPoint.self, from: Data(bad.utf8))
            }
        }
        #expect(FractionPoint(x: 0.5, y: 1).unitPoint == UnitPoint(x: 500_000, y: 1_000_000))
    }

    // MARK: Zoom and quantities

    @Test func zoomStaysWithinTheDocumentsRange() throws {
        #expect(try CommandInput.zoom("1") == 1)
        #expect(try CommandInput.zoom("0.01") == 0.01)
        #expect(try CommandInput.zoom("100") == 100)
        for bad in ["0", "0.009", "100.5", "1e2"] {
            #expect(throws: CommandInputError.self, "\(bad)") { try CommandInput.zoom(bad) }
        }
    }

    @Test func quantitiesAreOneToTheDocumentsLimit() throws {
        #expect(try CommandInput.quantity(1) == 1)
        #expect(try CommandInput.quantity(Int(Limits.maxQuantity)) == Int(Limits.maxQuantity))
        for bad in [0, -1, Int(Limits.maxQuantity) + 1, Int.min, Int.max] {
            #expect(throws: CommandInputError.quantityOutOfRange(bad)) { try CommandInput.quantity(bad) }
        }
    }

    // MARK: Colours

    @Test(arguments: [
        ("#FF0000", 0xFF00_00FF as UInt32), ("#00ff0080", 0x00FF_0080), ("#123abc", 0x123A_BCFF), ("red", 0xFF00_00FF),
        ("Blue", 0x0000_FFFF), ("WHITE", 0xFFFF_FFFF), ("grey", 0x8080_80FF), ("gray", 0x8080_80FF),
    ])
    func coloursAreHexOrNames(text: String, rgba: UInt32) throws {
        #expect(try CommandInput.colour(text) == Colour(rgba: rgba))
    }

    @Test(arguments: [
        "", "#", "#FFF", "#FFFF", "FF0000", "#GG0000", "#+F0000", "#-F0000", "# FF0000", "#FF0000FF00", "#FF00001",
        "reddish", "rgb(255,0,0)", "#ＦＦ0000",
    ])
    func otherColoursAreRefused(text: String) {
        #expect(throws: CommandInputError.invalidColour(text)) { try CommandInput.colour(text) }
    }

    @Test func theDefaultColourIsTheNamedRed() throws {
        #expect(try CommandInput.colour("red") == CommandInput.defaultColour)
        #expect(CommandInput.defaultColour.hex == "#ff0000ff")
    }

    // MARK: Prices

    @Test(arguments: [
        ("129.90 EUR", "EUR", 12_990 as UInt64), ("EUR 129.90", "EUR", 12_990), ("129.90", "EUR", 12_990),
        ("129.9 eur", "EUR", 12_990), ("  129.90   EUR ", "EUR", 12_990), ("129\tUSD", "USD", 12_900),
        ("1500 JPY", "JPY", 1500), ("JPY 1500", "JPY", 1500), ("12.345 KWD", "KWD", 12_345), ("0", "EUR", 0),
        (".5", "EUR", 50), ("12.", "EUR", 1200), ("007.50 CHF", "CHF", 750),
        ("10000000000000.00 EUR", "EUR", Limits.maxPriceMinorUnits),
    ])
    func pricesBecomeCurrencyAndMinorUnits(text: String, currency: String, minorUnits: UInt64) throws {
        let price = try CommandInput.price(text)
        #expect(price == Price(currency: currency, minorUnits: minorUnits))
        #expect(try CommandInput.price(CommandInput.format(price)) == price, "formatting reads back the same")
    }

    @Test(arguments: [
        "", "   ", "-1 EUR", "+1 EUR", "1,299.00 EUR", "129,90 EUR", "€129.90", "129.90€", "$10", "129.90 EURO",
        "129.90 EU", "129.90 EUR extra", "EUR", "EUR EUR", "1e3 EUR", "nan", "inf EUR", "12.999 EUR", "1500.5 JPY",
        "1.2345 KWD", "99999999999999999999 EUR", "10000000000000.01 EUR", "1.2.3 EUR", "12 E1R",
        "\u{0661}\u{0662} EUR",
        String(repeating: "9", count: 10_000),
    ])
    func otherPricesAreRefused(text: String) {
        #expect(throws: CommandInputError.self) { try CommandInput.price(text) }
    }

    @Test func priceRefusalsSayWhy() {
        #expect(throws: CommandInputError.invalidPrice("1500.5 JPY", reason: "JPY has no decimals")) {
            try CommandInput.price("1500.5 JPY")
        }
        #expect(throws: CommandInputError.invalidPrice("12.999 EUR", reason: "EUR has at most 2 decimals")) {
            try CommandInput.price("12.999 EUR")
        }
        #expect("\(CommandInputError.invalidPrice("129,90 EUR", reason: "x"))".hasPrefix("'129,90 EUR' is not a price"))
        #expect(
            throws: CommandInputError.invalidPrice(
                "129,90 EUR", reason: "use a dot for decimals and no thousands separators, e.g. 1299.90 EUR")
        ) {
            try CommandInput.price("129,90 EUR")
        }
    }

    @Test func pricesAreWrittenWithTheCurrencysDecimals() {
        #expect(CommandInput.format(Price(currency: "EUR", minorUnits: 12_990)) == "129.90 EUR")
        #expect(CommandInput.format(Price(currency: "EUR", minorUnits: 5)) == "0.05 EUR")
        #expect(CommandInput.format(Price(currency: "JPY", minorUnits: 1500)) == "1500 JPY")
        #expect(CommandInput.format(Price(currency: "KWD", minorUnits: 12_345)) == "12.345 KWD")
        #expect(CommandInput.minorUnitDigits(of: "XYZ") == 2)
    }

    // MARK: Text

    @Test func textFollowsTheDocumentsRules() throws {
        #expect(try CommandInput.text("Sofa, left arm", as: .title) == "Sofa, left arm")
        #expect(
            try CommandInput.text("line one\nline two\twith a tab", as: .message) == "line one\nline two\twith a tab")
        #expect(try CommandInput.text("", as: .note) == "")
        #expect(throws: CommandInputError.invalidText(what: "message", reason: "is empty")) {
            try CommandInput.text("", as: .message)
        }
        #expect(throws: CommandInputError.invalidText(what: "title", reason: "contains the control character U+000A")) {
            try CommandInput.text("two\nlines", as: .title)
        }
        #expect(throws: CommandInputError.invalidText(what: "message", reason: "contains the control character U+001B"))
        {
            try CommandInput.text("\u{1B}[2Jgone", as: .message)
        }
        #expect(throws: CommandInputError.invalidText(what: "label", reason: "contains the control character U+202E")) {
            try CommandInput.text("gpj.\u{202E}exe", as: .label)
        }
        #expect(throws: CommandInputError.invalidText(what: "message", reason: "contains the control character U+0085"))
        {
            try CommandInput.text("next\u{85}line", as: .message)
        }
        let long = String(repeating: "é", count: Limits.maxTitleBytes / 2 + 1)
        #expect(
            throws: CommandInputError.invalidText(what: "title", reason: "is longer than \(Limits.maxTitleBytes) bytes")
        ) {
            try CommandInput.text(long, as: .title)
        }
        #expect(try CommandInput.text(String(repeating: "é", count: Limits.maxTitleBytes / 2), as: .title).count == 128)
    }

    @Test func oneLineMakesControlsVisible() {
        #expect(TerminalText.oneLine("plain, ünïcode ✓") == "plain, ünïcode ✓")
        #expect(TerminalText.oneLine("a\nb\u{1B}[31mc") == "a\\u{000A}b\\u{001B}[31mc")
        #expect(TerminalText.oneLine("x\u{202E}y\u{7F}") == "x\\u{202E}y\\u{007F}")
        let escaped = TerminalText.oneLine("\r\n\t")
        #expect(!escaped.contains { $0.isNewline })
    }

    @Test func errorDescriptionsAreOneLineEvenForHostileInput() {
        let hostile = "0.5\n\u{1B}[2J,0"
        let errors: [CommandInputError] = [
            .invalidNumber(hostile), .invalidCoordinates(hostile, form: .point), .coordinateOutOfRange(hostile),
            .emptyShape(hostile, shape: "arrow"), .zoomOutOfRange(hostile), .invalidColour(hostile),
            .invalidPrice(hostile, reason: "x"),
        ]
        for error in errors {
            #expect(!error.description.contains("\n") && !error.description.contains("\u{1B}"), "\(error)")
        }
    }

    // MARK: Items

    private static let items: [(id: String, title: String?)] = [
        ("12-aaaa1111", "Sofa"), ("13-aaaa1111", "Sofa, blue"), ("130-bbbb2222", nil), ("7-cccc3333", "12-a"),
        ("8-dddd4444", "Lamp"), ("9-eeee5555", "Lamp"),
    ]

    @Test func itemsAreNamedByIdPrefixOrTitle() {
        #expect(CommandInput.matchItem("13-aaaa1111", in: Self.items) == .found("13-aaaa1111"))
        #expect(CommandInput.matchItem("130-", in: Self.items) == .found("130-bbbb2222"))
        #expect(CommandInput.matchItem("Sofa", in: Self.items) == .found("12-aaaa1111"))
        #expect(CommandInput.matchItem("Sofa, blue", in: Self.items) == .found("13-aaaa1111"))
        #expect(CommandInput.matchItem("8-dd", in: Self.items) == .found("8-dddd4444"))
    }

    @Test func shortPrefixesUnknownNamesAndTiesAreNotGuessed() {
        #expect(CommandInput.matchItem("8-d", in: Self.items) == .none, "shorter than 4 characters")
        #expect(CommandInput.matchItem("sofa", in: Self.items) == .none, "titles match exactly")
        #expect(CommandInput.matchItem("", in: Self.items) == .none)
        #expect(CommandInput.matchItem("Chair", in: Self.items) == .none)
        #expect(CommandInput.matchItem("Lamp", in: Self.items) == .ambiguous(["8-dddd4444", "9-eeee5555"]))
        #expect(CommandInput.matchItem("13-a", in: Self.items) == .found("13-aaaa1111"))
        #expect(CommandInput.matchItem("12-a", in: Self.items) == .ambiguous(["12-aaaa1111", "7-cccc3333"]))
    }

    // MARK: Query strings

    @Test func queryValuesArePercentEncoded() {
        let path = LocalAPIClient.path(
            "/api/share",
            query: [("name", "photo 1 ü&x=y.jpg"), ("title", nil), ("price", "129.90 EUR"), ("keepMetadata", "1")])
        #expect(path == "/api/share?name=photo%201%20%C3%BC%26x%3Dy.jpg&price=129.90%20EUR&keepMetadata=1")
        #expect(LocalAPIClient.path("/api/status", query: [("json", nil)]) == "/api/status")
        #expect(LocalAPIClient.path("/x", query: [("a", "-._~/?#+%")]) == "/x?a=-._~%2F%3F%23%2B%25")
    }
}

/// The client's streamed upload and download, against a real local API server.
@Suite struct LocalAPIClientStreamingTests {
    private struct Received: Codable, Equatable {
        var size: Int
        var checksum: UInt64
    }

    private static func checksum(_ bytes: some Sequence<UInt8>, from start: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
        bytes.reduce(start) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }

    private static func writeFile(_ bytes: [UInt8], in folder: String) throws -> String {
        let path = folder + "/upload.bin"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private static let routes = [
        LocalAPIRoute.upload("/share") { request in
            var size = 0
            var sum: UInt64 = 0xCBF2_9CE4_8422_2325
            for try await chunk in request.bodyStream! {
                size += chunk.count
                sum = LocalAPIClientStreamingTests.checksum(chunk, from: sum)
            }
            return try .json(Received(size: size, checksum: sum))
        },
        LocalAPIRoute.upload("/small", limit: 64 << 10) { request in
            for try await _ in request.bodyStream! {}
            return .noContent
        },
        LocalAPIRoute(.get, "/blob") { _ in
            .bytes(LocalAPIClientStreamingTests.blob, contentType: "application/octet-stream")
        },
        LocalAPIRoute(.get, "/arriving") { _ in
            LocalAPIResponse(status: 409, body: Array(#"{"error":"still arriving","have":3,"total":7}"#.utf8))
        },
    ]

    private static let blob: [UInt8] = (0..<(3 << 20) + 12_345).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }

    @Test func anUploadStreamsTheFileInChunksWithProgress() async throws {
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let bytes = Self.blob
        let file = try Self.writeFile(bytes, in: folder)
        let reports = Mutex<[Int64]>([])
        try await withLocalAPIServer(routes: Self.routes, dataFolder: folder) { _, _ in
            let response = try await LocalAPIClient(dataFolderPath: folder).upload("/share", file: file) {
                sent, total in
                #expect(total == Int64(bytes.count))
                reports.withLock { $0.append(sent) }
            }
            #expect(
                try response.successful().decode(Received.self)
                    == Received(size: bytes.count, checksum: Self.checksum(bytes)))
        }
        let sent = reports.withLock { $0 }
        #expect(sent == [1 << 20, 2 << 20, 3 << 20, Int64(bytes.count)], "one report per 1 MiB chunk")
    }

    @Test func aMissingFileFailsBeforeTheNodeIsContacted() async throws {
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // No node runs for this folder either: the file's error must come first.
        await #expect(throws: LocalAPIError.badRequest("cannot read \(folder)/missing.jpg: No such file or directory"))
        {
            try await LocalAPIClient(dataFolderPath: folder).upload("/share", file: folder + "/missing.jpg")
        }
        await #expect(throws: LocalAPIError.badRequest("\(folder) is not a regular file")) {
            try await LocalAPIClient(dataFolderPath: folder).upload("/share", file: folder)
        }
    }

    @Test func aRefusalWhileTheBodyIsStillGoingIsReadAndReturned() async throws {
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = try Self.writeFile(Array(repeating: 7, count: 32 << 20), in: folder)
        try await withLocalAPIServer(routes: Self.routes, dataFolder: folder) { _, _ in
            let response = try await LocalAPIClient(dataFolderPath: folder).upload("/small", file: file)
            #expect(response.status == 413)
        }
    }

    @Test func aDownloadHandsTheBodyToTheSinkAndReturnsRefusals() async throws {
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let received = Mutex<[UInt8]>([])
        let lastProgress = Mutex<(Int64, Int64?)>((0, nil))
        try await withLocalAPIServer(routes: Self.routes, dataFolder: folder) { _, _ in
            let client = LocalAPIClient(dataFolderPath: folder)
            let response = try await client.download("/blob") { bytes in
                received.withLock { $0 += bytes }
            } progress: { done, total in
                lastProgress.withLock { $0 = (done, total) }
            }
            #expect(response.status == 200 && response.body.isEmpty)
            let refused = try await client.download("/arriving") { _ in Issue.record("a refusal's body is not media") }
            #expect(refused.status == 409)
            #expect(String(decoding: refused.body, as: UTF8.self).contains(#""have":3"#))
        }
        #expect(received.withLock { $0 == Self.blob })
        let (done, total) = lastProgress.withLock { $0 }
        #expect(done == Int64(Self.blob.count) && (total == nil || total == done))
    }

    @Test func aSinkThatFailsEndsTheDownloadWithItsError() async throws {
        let folder = try localAPITemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await withLocalAPIServer(routes: Self.routes, dataFolder: folder) { _, _ in
            let client = LocalAPIClient(dataFolderPath: folder)
            do throws(LocalAPIError) {
                _ = try await client.download("/blob") { (_: UnsafeRawBufferPointer) throws(LocalAPIError) in
                    throw .badRequest("disk full")
                }
                Issue.record("the download went on after its sink failed")
            } catch {
                #expect(error == .badRequest("disk full"))
            }
        }
    }
}
