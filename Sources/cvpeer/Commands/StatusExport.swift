import ArgumentParser
import CommandLineKit
import Foundation
import LocalAPI

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show who you are, your peers and links, transfers in progress and the document's state hash.",
        discussion: """
            Compare the safety number of each peer with theirs, read aloud or on another channel: if they match, nobody sits between you. Two nodes that show the same state hash show the same document.

            Examples:
              cvpeer status
              cvpeer status --data ~/cvpeer-ana --json
            """
    )

    @Flag(help: "Print the node's status as JSON, exactly as the node gives it.")
    var json = false

    @OptionGroup var options: DataOptions

    func run() async throws {
        try await Control.run {
            let response = try await Control.client(options).send(.get, "/api/status").successful()
            if json { return printRaw(response.body) }
            let status = try response.decode(NodeStatus.self)
            print(StatusText.render(status), terminator: "")
        }
    }
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print the shared document: participants, panel items, marks, chat and commerce.",
        discussion: """
            Without --json, a summary for people; with it, the canonical document and its state hash, the same on every node that has the same operations.

            Examples:
              cvpeer export
              cvpeer export --json > session.json
            """
    )

    @Flag(help: "Print {\"document\": …, \"stateHash\": …} as the node gives it.")
    var json = false

    @OptionGroup var options: DataOptions

    func run() async throws {
        try await Control.run {
            let response = try await Control.client(options).send(.get, "/api/export").successful()
            if json { return printRaw(response.body) }
            let export = try response.decode(ExportView.self)
            print(DocumentText.render(export.document, stateHash: export.stateHash), terminator: "")
        }
    }
}

/// Prints a node's JSON answer unchanged, ending it with a newline if it has none.
private func printRaw(_ body: [UInt8]) {
    FileHandle.standardOutput.write(Data(body))
    if body.last != UInt8(ascii: "\n") { print() }
}
