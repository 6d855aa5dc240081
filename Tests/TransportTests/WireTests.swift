import Testing
import Transport

@Suite struct WireTests {
    @Test func datagramsFitTheIPv6MinimumMTU() {
        // 1280-byte IPv6 minimum MTU less a 40-byte IPv6 header and an 8-byte UDP header.
        #expect(Wire.maxDatagramSize <= 1280 - 40 - 8)
    }
}
