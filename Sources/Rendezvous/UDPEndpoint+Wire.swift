import Primitives

/// How an endpoint appears as a candidate in rendezvous messages.
extension UDPEndpoint {
    /// The candidate family byte of this address.
    public var family: RendezvousWire.Family {
        switch address {
        case .v4: .ipv4
        case .v6: .ipv6
        }
    }
}
