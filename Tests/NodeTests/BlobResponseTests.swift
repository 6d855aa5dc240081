import Testing

@testable import Node

@Suite("Blob answers and byte ranges")
struct BlobResponseTests {
    static let bytes = (0..<100).map { UInt8($0) }

    @Test("without a Range the whole blob is answered, saying ranges are accepted")
    func whole() {
        let response = NodeRoutes.blobResponse(Self.bytes, mime: "video/mp4", range: nil)
        #expect(response.status == 200 && response.body == Self.bytes)
        #expect(response.headers["Accept-Ranges"] == "bytes")
        #expect(response.headers["X-Content-Type-Options"] == "nosniff")
    }

    @Test(
        "a satisfiable range gets 206 with exactly those bytes",
        arguments: [("bytes=0-9", 0, 9), ("bytes=90-", 90, 99), ("bytes=-5", 95, 99), ("bytes=50-500", 50, 99), ("bytes=-500", 0, 99), ("bytes=10-99999999999999999999999", 10, 99)])
    func ranges(header: String, lower: Int, upper: Int) {
        let response = NodeRoutes.blobResponse(Self.bytes, mime: "video/mp4", range: header)
        #expect(response.status == 206)
        #expect(response.body == Array(Self.bytes[lower...upper]))
        #expect(response.headers["Content-Range"] == "bytes \(lower)-\(upper)/100")
    }

    @Test("an unsatisfiable range is 416; a malformed or multiple one is ignored", arguments: ["bytes=100-", "bytes=60-50"])
    func unsatisfiable(header: String) {
        let response = NodeRoutes.blobResponse(Self.bytes, mime: "video/mp4", range: header)
        #expect(response.status == 416 && response.body.isEmpty)
        #expect(response.headers["Content-Range"] == "bytes */100")
    }

    @Test("malformed or multi-part ranges get the whole blob", arguments: ["bytes=a-b", "bytes=0-1,5-6", "items=0-1", "bytes=-0", "bytes=", "bytes=1-x", "bytes=1--2"])
    func ignored(header: String) {
        #expect(NodeRoutes.blobResponse(Self.bytes, mime: "video/mp4", range: header).status == 200)
    }
}
