/// One registration's right to have the rendezvous relay its datagrams: a window of time with a
/// byte budget (libp2p circuit relay v2's reservation, kept by the server alone).
///
/// A window opens when the peer registers and lasts `lifetime`; the bytes the peer sends through
/// the relay in it (whole datagrams) may not exceed `budget`. A refresh (an accepted register of
/// the same peer id) renews the reservation only once the window is in its last `renewalLead` or
/// over; the new window starts at that refresh with a full budget. A refresh earlier in the window
/// changes nothing, so re-registering never refills a spent budget. Between the end of a window
/// and the refresh that renews it the relay is refused (`expired`); once the budget is spent it
/// is refused until the next window (`exhausted`).
///
/// Not thread-safe; a value inside the server's room table.
struct RelayReservation: Sendable, Equatable {
    /// What the relay may do with one datagram.
    enum Decision: Equatable, Sendable {
        /// Within the window and the budget.
        case allow
        /// The window is over and no refresh has renewed it.
        case expired
        /// The datagram would take the window past its budget.
        case exhausted
    }

    /// When the current window opened.
    private(set) var windowStart: ContinuousClock.Instant
    /// Bytes relayed in the current window.
    private(set) var bytesUsed = 0
    /// True once this window's end (expiry or exhaustion) has been reported, so it is logged once.
    private(set) var reportedEnd = false

    /// A reservation whose first window opens now.
    init(now: ContinuousClock.Instant) {
        windowStart = now
    }

    /// Whether a datagram of `size` bytes may be relayed now; charges nothing.
    ///
    /// - Parameters:
    ///   - size: the whole datagram's size.
    ///   - now: the current time.
    ///   - lifetime: the window's length.
    ///   - budget: the window's byte budget.
    /// - Returns: the decision.
    func decide(size: Int, now: ContinuousClock.Instant, lifetime: Duration, budget: Int) -> Decision {
        if now - windowStart >= lifetime { return .expired }
        if bytesUsed > budget - size { return .exhausted }
        return .allow
    }

    /// Charges a relayed datagram to the window.
    mutating func charge(_ size: Int) {
        bytesUsed += size
    }

    /// Marks this window's end as reported; returns true the first time.
    mutating func reportEnd() -> Bool {
        defer { reportedEnd = true }
        return !reportedEnd
    }

    /// A refresh of the registration: opens a new window when the current one is within
    /// `renewalLead` of its end or over.
    ///
    /// - Parameters:
    ///   - now: the time of the accepted register.
    ///   - lifetime: the window's length.
    ///   - renewalLead: how long before the end a refresh renews (the refresh interval, so that a
    ///     node refreshing on time never sees its window lapse).
    /// - Returns: true when a new window opened.
    mutating func refreshed(now: ContinuousClock.Instant, lifetime: Duration, renewalLead: Duration) -> Bool {
        guard now - windowStart >= lifetime - renewalLead else { return false }
        windowStart = now
        bytesUsed = 0
        reportedEnd = false
        return true
    }
}
