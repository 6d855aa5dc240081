import ArgumentParser
import LocalAPI

struct RemoveMemberCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove participants from the room you host, and change its keys (owner only).",
        discussion: """
            Starts a new epoch of the room: a fresh key goes, sealed, to every member who stays; the removed ones get none. Their links close at once; from then on they cannot link, and nothing they write counts on any node. They keep what they had already received (history up to the removal), nothing after it. Members who are offline now pick the new key up when they come back, from a member their node reaches itself (your node, when their invite names its address; through a rendezvous, only within 30 seconds of the change). Anyone still waiting for your approval must ask again with the new invite. The old invite admits nobody any more: the new one is printed.

            PARTICIPANT is an id (or its first 8+ hex digits) or an exact display name, as `cvpeer status` lists them under members.

            Example:
              cvpeer remove Ben
            """
    )

    @Argument(help: ArgumentHelp("Who to remove: id, id prefix or display name.", valueName: "participant"))
    var participants: [String]

    @OptionGroup var options: DataOptions

    func run() async throws {
        try await Control.run {
            let answer: EpochAnswer = try await Control.client(options).send(
                .post, "/api/epoch", json: EpochRequest(remove: participants))
            print("removed \(participants.joined(separator: ", ")); the room is in epoch \(answer.epoch) now")
            answer.printInvite()
        }
    }
}

struct RotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Change the keys of the room you host, keeping its members (owner only).",
        discussion: """
            For an invite that leaked: every member gets the new key sealed to it and carries on; the old invite admits nobody any more. The new invite is printed.

            Example:
              cvpeer rotate
            """
    )

    @OptionGroup var options: DataOptions

    func run() async throws {
        try await Control.run {
            let answer: EpochAnswer = try await Control.client(options).send(.post, "/api/epoch", json: EpochRequest(remove: []))
            print("the room's keys changed; it is in epoch \(answer.epoch) now")
            answer.printInvite()
        }
    }
}

extension EpochAnswer {
    func printInvite() {
        print("the old invite no longer admits anyone; a new member joins with:")
        print("  cvpeer join   (then paste: \(invite))")
    }
}
