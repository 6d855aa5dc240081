import Primitives
import Rendezvous
import Testing

@Suite struct HostPortTests {
    @Test(arguments: [
        ("127.0.0.1:7700", "127.0.0.1", UInt16(7700)),
        ("rv.shop.example:7700", "rv.shop.example", 7700),
        ("[::1]:0", "::1", 0),
        ("0.0.0.0:65535", "0.0.0.0", 65535),
    ])
    func parsesWhatPeopleType(text: String, host: String, port: UInt16) throws {
        let parsed = try #require(HostPort(parsing: text))
        #expect(parsed.host == host)
        #expect(parsed.port == port)
        #expect(HostPort(parsing: parsed.description) == parsed)
    }

    @Test(arguments: ["", "7700", ":7700", "host:", "host:65536", "host:-1", "::1:7700", "[::1]7700", "a b:1", "h:+7"])
    func rejectsMalformed(text: String) {
        #expect(HostPort(parsing: text) == nil)
    }
}
