import Foundation
import PeerCrypto
import Rendezvous
import Replication
import Synchronization
import Transport

/// A short code an agent gave, as status shows it: never its words.
public struct GivenCode: Sendable, Equatable {
    /// Where it stands.
    public enum State: String, Sendable {
        /// Read out, not typed yet.
        case waiting
        /// Typed right: the joiner has the invite.
        case used
        /// Typed wrong: nobody got anything, and it works no more.
        case burnt
        /// Its ten minutes (or the life asked for) passed unused.
        case expired
        /// The rendezvous stopped answering, or refused it.
        case failed
        /// The room's keys changed before it was used: the invite it carried admits nobody now.
        case cancelled
    }

    /// Its public number at the rendezvous.
    public let nameplate: Int
    /// When it stops working (ms since 1970).
    package let expiresMillis: UInt64
    /// Where it stands.
    public var state: State
}

extension RoomEngine {
    /// An agent gives a one-time short code for the room as it is now; returns once the
    /// rendezvous has numbered it, with the code to read out. The exchange goes on in the
    /// background; `givenCodes` says how it ended (a wrong guess burns the code).
    ///
    /// - Throws: `NodeError.forbidden` for anyone but an agent, `.badRequest` without a
    ///   rendezvous, or when the rendezvous gives no code (its reason).
    public func giveCode(lifetime: Duration = ShortCodeExchange.defaultLifetime) async throws -> (code: String, record: GivenCode) {
        guard myRole == .agent else { throw NodeError.forbidden("only an agent gives codes for the room") }
        guard let rendezvous = transport?.rendezvousAddress else {
            throw NodeError.badRequest("short codes travel through the shop's rendezvous: start the node with --rendezvous HOST:PORT")
        }
        let invite = try currentInvite()
        let (opened, continuation) = AsyncStream<(ShortCode, Duration)>.makeStream()
        let failure = Mutex<(any Error)?>(nil)
        let numbered = Mutex<Int?>(nil)
        let exchange = Task { [weak self] in
            do {
                let outcome = try await ShortCodeExchange.host(rendezvous: rendezvous, invite: invite, lifetime: lifetime) { code, life in
                    numbered.withLock { $0 = code.nameplate }
                    continuation.yield((code, life))
                    continuation.finish()
                }
                if let nameplate = numbered.withLock({ $0 }) { await self?.codeEnded(nameplate, outcome == .answered ? .used : .burnt) }
            } catch {
                failure.withLock { $0 = error }
                continuation.finish()
                if let nameplate = numbered.withLock({ $0 }) {
                    await self?.codeEnded(nameplate, error as? RendezvousError == .codeExpired ? .expired : .failed)
                }
            }
        }
        for await (code, life) in opened {
            let seconds = Double(life.components.seconds) + Double(life.components.attoseconds) / 1e18
            let record = GivenCode(nameplate: code.nameplate, expiresMillis: Self.wallMillis() + UInt64(seconds * 1000), state: .waiting)
            givenCodes.removeAll { $0.nameplate == code.nameplate }
            givenCodes.append(record)
            if givenCodes.count > Self.maxGivenCodes { givenCodes.removeFirst(givenCodes.count - Self.maxGivenCodes) }
            codeExchanges[code.nameplate] = exchange
            pushStatus()
            return (code.spoken, record)
        }
        let reason = failure.withLock { $0 }.map { "\($0)" } ?? "no reason given"
        throw NodeError.badRequest("the rendezvous gave no code: \(reason)")
    }

    /// Codes kept for status, newest last.
    static var maxGivenCodes: Int { 32 }

    private func codeEnded(_ nameplate: Int, _ state: GivenCode.State) {
        codeExchanges[nameplate] = nil
        guard let index = givenCodes.lastIndex(where: { $0.nameplate == nameplate && $0.state == .waiting }) else { return }
        givenCodes[index].state = state
        pushStatus()
    }

    /// After a key change: codes not used yet carry an invite that admits nobody now, so they are
    /// closed at the rendezvous (a joiner typing one is told the agent cancelled it).
    func cancelWaitingCodes() {
        for (nameplate, exchange) in codeExchanges {
            exchange.cancel()
            if let index = givenCodes.lastIndex(where: { $0.nameplate == nameplate && $0.state == .waiting }) {
                givenCodes[index].state = .cancelled
            }
        }
        codeExchanges = [:]
    }

    /// The codes this node gave, oldest first.
    public var codes: [GivenCode] { givenCodes }
}
