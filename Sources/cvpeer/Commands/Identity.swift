import ArgumentParser
import Node

struct IdentityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Print this node's identity fingerprint, creating the identity on first use.",
        discussion: """
            The identity is an Ed25519 key kept in the data folder with mode 0600. Read the fingerprint to a peer to confirm who you are.

            Example:
              cvpeer identity --data ~/cvpeer-ana
            """
    )

    @OptionGroup var options: DataOptions

    func run() throws {
        let folder = try options.folder()
        print("fingerprint: \(try folder.identityFingerprint())")
        print("key file:    \(folder.identityPath)")
    }
}
