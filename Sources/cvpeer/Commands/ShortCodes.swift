import ArgumentParser
import Foundation
import LocalAPI
import Node
import Primitives

/// `cvpeer join` with a short code: meets the agent's node at the rendezvous and takes the invite.
enum ShortCodeJoin {
    /// The invite a short code carries, fetched through `rendezvous`.
    static func fetch(_ text: String, rendezvous: String?) async throws -> Invite {
        guard let address = rendezvous.flatMap(HostPort.init(parsing:)) else {
            throw ValidationError("a short code is exchanged through the shop's rendezvous: run `cvpeer join --rendezvous HOST:PORT` (the agent can tell you the address)")
        }
        FileHandleOutput.stderr("Meeting the agent's node through \(address)…\n")
        return try await ShortCodeExchange.invite(code: text, rendezvous: address)
    }
}

struct CodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code",
        abstract: "Give a one-time short code for your room, to read out on the phone (agents).",
        discussion: """
            Prints a code like 7-orbit-lantern. The customer runs `cvpeer join --rendezvous HOST:PORT` with your shop's rendezvous and types it. It works once, for ten minutes (or --minutes); if someone types it wrong it is used up and nothing is given away: give a new one. The rendezvous never sees the words. Needs a node started with --rendezvous.

            Example:
              cvpeer code
            """
    )

    @Option(help: "Minutes the code works, 1 to 10.")
    var minutes: Int = 10

    @OptionGroup var options: DataOptions

    mutating func validate() throws {
        guard (1...10).contains(minutes) else { throw ValidationError("--minutes must be 1 to 10") }
    }

    func run() async throws {
        try await Control.run {
            let answer: CodeAnswer = try await Control.client(options).send(.post, "/api/code", json: CodeRequest(seconds: minutes * 60))
            print(answer.code)
            print("works once, until \(Date(timeIntervalSince1970: Double(answer.expires) / 1000).formatted(date: .omitted, time: .shortened))")
        }
    }
}

/// `host --code`: gives a code at start and says in the terminal how each code ends.
enum CodeConsole {
    static func start(_ node: NodeRuntime, giveOne: Bool) {
        Task {
            if giveOne {
                do {
                    let given = try await node.engine.giveCode()
                    print("Or read this code to your customer (works once, for ten minutes): \(given.code)")
                    print("They run: cvpeer join --rendezvous \(node.invite.address)   and type it.")
                } catch {
                    FileHandleOutput.stderr("error: no short code: \(error)\n")
                }
                fflush(nil)
            }
            var told: [Int: GivenCode.State] = [:]
            while !Task.isCancelled {
                for code in await node.engine.codes where code.state != .waiting && told[code.nameplate] != code.state {
                    told[code.nameplate] = code.state
                    switch code.state {
                    case .used: print("Code \(code.nameplate) was used: the customer has the invite.")
                    case .burnt: print("Someone typed a wrong code for \(code.nameplate): it is used up and nothing was given away. Give a new one with `cvpeer code` or your viewer.")
                    case .expired: print("Code \(code.nameplate) expired unused.")
                    case .failed: print("Code \(code.nameplate) failed: the rendezvous stopped answering.")
                    case .cancelled: print("Code \(code.nameplate) was closed: the room's keys changed. Give a new one.")
                    case .waiting: break
                    }
                    fflush(nil)
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}
