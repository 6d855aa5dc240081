import ArgumentParser
import Node

struct CVPeer: AsyncParsableCommand {
    /// The release's version; `buildCommit` comes from the BuildCommit plugin.
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "cvpeer",
        abstract: "A peer-to-peer coviewing node: share products, photos and videos, end-to-end encrypted.",
        version: "cvpeer \(version) (\(buildCommit))",
        subcommands: [
            DemoCommand.self,
            HostCommand.self, JoinCommand.self, RendezvousCommand.self, IdentityCommand.self,
            ShareCommand.self,
            MarkCommand.self,
            ViewCommand.self,
            RecommendCommand.self,
            CartCommand.self,
            BuyCommand.self,
            SayCommand.self,
            GrantCommand.self, AdmitCommand.self, RemoveMemberCommand.self, RotateCommand.self, CodeCommand.self,
            StatusCommand.self,
            ExportCommand.self,
            SaveCommand.self,
            ReportCommand.self,
        ]
    )
}

/// Options every command that touches a node's data shares.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "The node's data folder (default: $XDG_DATA_HOME/cvpeer or ~/.local/share/cvpeer).")
    var data: String?

    /// The folder, opened (and created 0700) on use.
    func folder() throws -> DataFolder {
        try DataFolder(path: data ?? DataFolder.defaultPath())
    }
}

