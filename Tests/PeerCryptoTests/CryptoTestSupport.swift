import PeerCrypto
import Testing

/// Runs `body` and returns the `CryptoError` it threw, recording an issue if it returned or threw
/// something else.
@discardableResult
func expectCryptoError(
    _ comment: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) -> CryptoError? {
    do {
        try body()
        Issue.record("accepted, no error thrown: \(comment())", sourceLocation: sourceLocation)
    } catch let error as CryptoError {
        return error
    } catch {
        Issue.record("unexpected error \(error): \(comment())", sourceLocation: sourceLocation)
    }
    return nil
}

/// The owner the crypto tests' rooms are derived with, fixed so derived keys are repeatable.
let testRoomOwner = try! Identity(seed: SecretBytes(copying: [UInt8](repeating: 0x0E, count: Identity.seedLength))).publicKey
