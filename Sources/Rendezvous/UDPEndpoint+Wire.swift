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

    /// The size of this endpoint as a candidate on the wire.
    package var encodedSize: Int {
        switch address {
        case .v4: RendezvousWire.ipv4CandidateSize
        case .v6: RendezvousWire.ipv6CandidateSize
        }
    }
}
