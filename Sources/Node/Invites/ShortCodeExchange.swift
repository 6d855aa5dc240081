import PeerCrypto
import Primitives
import Rendezvous
import Synchronization

/// A short code's whole exchange, host side and joiner side: CPace through the rendezvous's
/// mailbox, then the invite sealed under the run's key (PROTOCOL.md, "CPace (short codes)" and
/// "Short-code mailbox").
///
/// The host draws the words, publishes its CPace message, learns its nameplate, and answers the
/// first knock only: a joiner whose confirmation does not match (a wrong code) burns the code
/// and gets nothing; one that matches gets the host's confirmation and the sealed invite.
public enum ShortCodeExchange {
    /// How a code ended on the host's side.
    public enum Outcome: Sendable, Equatable {
        /// The joiner typed the right code and has the invite.
        case answered
        /// Someone typed a wrong code: it is burnt, and nobody got anything.
        case burnt
    }

    /// The default and longest life of a code: ten minutes to read it out and type it.
    public static let defaultLifetime = Duration.seconds(600)

    /// Runs the host's side for `invite`: calls `opened` once with the code to read out and its
    /// life, then waits for the first knock and answers or burns.
    ///
    /// - Throws: `RendezvousError` if the rendezvous cannot be reached, refuses, or the code
    ///   expires unused (`codeExpired`); `CancellationError`-like `codeCancelled` when the task
    ///   is cancelled (the code is closed at the rendezvous).
    public static func host(
        rendezvous: HostPort, invite: Invite, lifetime: Duration = defaultLifetime,
        opened: @escaping @Sendable (ShortCode, Duration) -> Void
    ) async throws -> Outcome {
        let words = try ShortCode.generate(nameplate: ShortCode.nameplateRange.lowerBound)
        let run = PendingCPace(words.startCPace(side: .host, sessionID: []))
        let message = run.message
        let code = Mutex<ShortCode?>(nil)
        let outcome = try await CodeMailboxClient.runHost(
            rendezvous: rendezvous, pakeMessage: message, lifetime: lifetime,
            opened: { nameplate, life in
                let numbered = try words.at(nameplate: Int(nameplate.rawValue))
                code.withLock { $0 = numbered }
                opened(numbered, life)
            },
            decide: { knock in
                guard let numbered = code.withLock({ $0 }), let isk = try? run.finish(peerMessage: knock.pakeMessage) else { return .burn }
                let keys = ShortCodeKeys(isk: isk, context: numbered.keyContext)
                guard (try? keys.verifyJoiner(knock.tag)) != nil else { return .burn }
                return .answer(keys.hostConfirmation + keys.sealInvite(invite.binary))
            })
        return outcome == .answered ? .answered : .burnt
    }

    /// Runs the joiner's side of `code` and returns the invite it carried.
    ///
    /// - Throws: `RendezvousError.codeRefused` (unknown, used, expired, burnt — a wrong code burns
    ///   it), `codeNoReply`/`codeNoAnswer` when nobody answers in time, `NodeError.invalidInvite`
    ///   if what the host sealed is no invite, `CryptoError` if the host's confirmation is wrong.
    public static func join(_ code: ShortCode, rendezvous: HostPort) async throws -> Invite {
        guard let nameplate = CodeNameplate(rawValue: UInt16(code.nameplate)) else {
            throw CryptoError.invalidShortCode("the number must be 1 to 999")
        }
        let keys = Mutex<ShortCodeKeys?>(nil)
        let payload = try await CodeMailboxClient.runJoiner(rendezvous: rendezvous, nameplate: nameplate) { hostMessage in
            let run = code.startCPace(side: .joiner, sessionID: [])
            let message = run.message
            let (isk, _) = try run.finish(peerMessage: hostMessage)
            let derived = ShortCodeKeys(isk: isk, context: code.keyContext)
            keys.withLock { $0 = derived }
            return (message, derived.joinerConfirmation)
        }
        guard let derived = keys.withLock({ $0 }), payload.count > ShortCodeKeys.confirmationLength else {
            throw CryptoError.authenticationFailed
        }
        try derived.verifyHost(Array(payload.prefix(ShortCodeKeys.confirmationLength)))
        let opened = try derived.openInvite(Array(payload.dropFirst(ShortCodeKeys.confirmationLength)))
        return try Invite(binary: opened.unsafeCopy())
    }
}

extension ShortCodeExchange {
    /// The invite behind a code as a person typed it, with errors that say what to do.
    ///
    /// - Throws: `NodeError.badRequest` with a sentence for the person (never the words).
    public static func invite(code text: String, rendezvous: HostPort) async throws -> Invite {
        let code: ShortCode
        do {
            code = try ShortCode(parsing: text)
        } catch {
            throw NodeError.badRequest("that is not a code: \(error)")
        }
        do {
            return try await join(code, rendezvous: rendezvous)
        } catch let error as RendezvousError {
            throw NodeError.badRequest(explain(error))
        } catch is CryptoError {
            throw NodeError.badRequest("the agent's node did not prove it knows the code: nothing was taken; ask the agent for a new code")
        }
    }

    /// What a failed exchange means for the person who typed the code.
    static func explain(_ error: RendezvousError) -> String {
        switch error {
        case .codeRefused(.burnt): "the code did not work (a word misheard, or someone else tried it first): it is used up now, and nothing was sent; ask the agent for a new code"
        case .codeRefused(.unknown): "the rendezvous knows no code with that number (mistyped, or it ended): ask the agent for a new code"
        case .codeRefused(.used): "that code was used already: ask the agent for a new one"
        case .codeRefused(.expired), .codeExpired: "that code expired: ask the agent for a new one"
        case .codeRefused(.closed): "the agent cancelled that code: ask for a new one"
        case .codeRefused(.unavailable): "the rendezvous is too busy to take the code now: try again in a minute"
        case .codeNoReply: "the rendezvous does not answer: check its address (--rendezvous) and your connection"
        case .codeNoAnswer: "the agent's node did not answer (it may have stopped): ask the agent"
        default: "the code exchange failed: \(error)"
        }
    }
}

/// A host's CPace run, finished at most once from the mailbox's callback.
private final class PendingCPace: Sendable {
    let message: [UInt8]
    private let state: Mutex<CPace?>

    init(_ run: consuming sending CPace) {
        message = run.message
        state = Mutex(run)
    }

    /// The ISK against the joiner's message; throws if already used or the message is bad.
    func finish(peerMessage: [UInt8]) throws -> SecretBytes {
        guard let run = state.withLock({ $0.take() }) else { throw CryptoError.authenticationFailed }
        return try run.finish(peerMessage: peerMessage).isk
    }
}
