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
