import Primitives
import Rendezvous

/// How much a node may send to an address it has never had an authenticated packet from
/// (docs/PROTOCOL.md, "NAT traversal", Sending to unheard addresses).
///
/// Punches, initiations and probes go to candidate addresses an introduction named; a member
/// could name someone else's. Each such address gets at most `Wire.natUnverifiedBudgetBytes` until
/// something authenticated comes from it (then it is verified and unlimited); an address's spent
/// budget is forgotten only after `Wire.natUnverifiedIdleTime` without sends, and at most
/// `Wire.natUnverifiedMaxAddresses` are tracked at once — a new one beyond gets nothing rather than
/// displacing another, so cycling through addresses cannot refill anyone's budget. Pure and
/// clock-free; owned by the transport loop.
struct UnverifiedSendBudget: Sendable {
    private struct Spent: Sendable {
        var bytes: Int
        var lastSentAt: UInt64
    }

    private var spent: [UDPEndpoint: Spent] = [:]
    private var verified: Set<UDPEndpoint> = []
    /// The last address found verified: the common case (one busy link) skips the set lookup.
    private var lastVerified: UDPEndpoint?

    /// Records an authenticated packet from `address`: it receives without limit from now on.
    mutating func heard(from address: UDPEndpoint) {
        // Called for every authenticated datagram: the usual sender skips the set lookup.
        if address == lastVerified { return }
        lastVerified = address
        guard !verified.contains(address) else { return }
        if verified.count >= Wire.natVerifiedMaxAddresses { verified.removeAll(keepingCapacity: true) }
        verified.insert(address)
        spent[address] = nil
    }

    /// True if `bytes` may go to `address` now (and charges them when it is unverified).
    mutating func allow(_ bytes: Int, to address: UDPEndpoint, now: UInt64) -> Bool {
        if address == lastVerified || verified.contains(address) {
            lastVerified = address
            return true
        }
        if var entry = spent[address], now &- entry.lastSentAt < Wire.natUnverifiedIdleTime {
            guard entry.bytes + bytes <= Wire.natUnverifiedBudgetBytes else { return false }
            entry.bytes += bytes
            entry.lastSentAt = now
            spent[address] = entry
            return true
        }
        if spent.count >= Wire.natUnverifiedMaxAddresses {
            spent = spent.filter { now &- $0.value.lastSentAt < Wire.natUnverifiedIdleTime }
            guard spent.count < Wire.natUnverifiedMaxAddresses else { return false }
        }
        guard bytes <= Wire.natUnverifiedBudgetBytes else { return false }
        spent[address] = Spent(bytes: bytes, lastSentAt: now)
        return true
    }
}
