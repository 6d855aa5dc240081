import ArgumentParser
import CommandLineKit
import Foundation
import LocalAPI
import Node
import Primitives

#if canImport(Glibc)
    import Glibc
#endif

/// Options `host` and `join` share: where the node listens, its folder, its name, its viewer.
struct SessionOptions: ParsableArguments {
    @OptionGroup var data: DataOptions

    @Option(help: "Your name as the others see it (default: the one used last, or your role).")
    var name: String?

    @Option(help: "UDP address to listen on (default: every interface, a free port).")
    var listen: String?

    @Option(help: "Where the local viewer listens: 127.0.0.1:PORT (default: a free port).")
    var ui: String?

    func validate() throws {
        if let listen, HostPort(parsing: listen) == nil { throw ValidationError("--listen must be HOST:PORT, got '\(listen)'") }
        if let ui {
            guard let address = HostPort(parsing: ui) else { throw ValidationError("--ui must be 127.0.0.1:PORT, got '\(ui)'") }
            guard address.host == "127.0.0.1" || address.host == "localhost" else {
                throw ValidationError("--ui must be on 127.0.0.1: the viewer is for this machine only")
            }
        }
        if let name, name.isEmpty || name.utf8.count > 64 { throw ValidationError("--name must be 1 to 64 bytes") }
    }

    /// The node's options: the agent's for `host` (`joining` nil), else the joining member's.
    func options(joining: JoinRole?, rendezvous: HostPort? = nil) throws -> NodeOptions {
        NodeOptions(
            dataFolder: try data.folder(), seat: joining == nil ? .host : joining == .guest ? .guest : .customer, name: name, listen: listen.flatMap(HostPort.init(parsing:)),
            ui: ui.flatMap(HostPort.init(parsing:)), rendezvous: rendezvous)
    }
}

struct HostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "Open a new coviewing room and print the invite line for your customer.",
        discussion: """
            Runs your node until Ctrl-C (or SIGTERM). The invite line carries the room's secret key: send it to your customer privately (chat, e-mail, SMS). Without --rendezvous the invite names this node's own address, which the customer must be able to reach.

            Examples:
              cvpeer host --rendezvous rv.shop.example:7700 --name Ana
              cvpeer host --listen 192.168.1.20:7701 --name Ana
              cvpeer host --resume        (reopen the room this folder hosted last)
            """
    )

    @Option(help: "The shop's rendezvous, HOST:PORT.")
    var rendezvous: String?

    @Flag(help: "Reopen the room this data folder hosted last instead of opening a new one.")
    var resume = false

    @Flag(help: "Ask before admitting each new member: answer y or n here, in your viewer, or with `cvpeer admit`.")
    var approve = false

    @Flag(help: "Also print a one-time short code to read out on the phone (needs --rendezvous); `cvpeer code` gives more.")
    var code = false

    @OptionGroup var session: SessionOptions

    func validate() throws {
        if let rendezvous, HostPort(parsing: rendezvous) == nil {
            throw ValidationError("--rendezvous must be HOST:PORT, got '\(rendezvous)'")
        }
        if code, rendezvous == nil {
            throw ValidationError("--code needs --rendezvous: a short code is exchanged through the shop's rendezvous")
        }
    }

    func run() async throws {
        var configured = try session.options(joining: nil, rendezvous: rendezvous.flatMap(HostPort.init(parsing:)))
        configured.approveMembers = approve
        let options = configured
        let (resume, approve, giveCode, hasRendezvous) = (self.resume, self.approve, code, rendezvous != nil)
        try await UntilTerminated.run {
            let node = try await NodeRuntime.host(options, resume: resume)
            print("Room ready. Send this line to your customer, privately (it holds the room's key):")
            print("")
            print("  " + node.invite.joinCommand)
            print("")
            SessionConsole.announce(node)
            if approve { JoinRequestConsole.start(node) }
            // Codes given later (`cvpeer code`, the viewer) are reported here too.
            if hasRendezvous { CodeConsole.start(node, giveOne: giveCode) }
            await SessionConsole.runUntilShutdown(node)
        }
    }
}

/// Lines of standard input read with read(2), for a thread that waits on them.
enum RawLines {
    nonisolated(unsafe) private static var pending: [UInt8] = []

    /// The next line without its newline; nil at end of input. One reader thread only.
    static func next() -> String? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            var buffer = [UInt8](repeating: 0, count: 512)
            let count = buffer.withUnsafeMutableBytes { Glibc.read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                defer { pending = [] }
                return pending.isEmpty ? nil : String(decoding: pending, as: UTF8.self)
            }
            pending += buffer[..<count]
        }
    }
}

/// `host --approve` in the terminal: says who asks to join, and takes `y` or `n` for the oldest
/// request (the viewer and `cvpeer admit` decide too).
enum JoinRequestConsole {
    static func start(_ node: NodeRuntime) {
        print("New members wait for you: answer y or n when one asks (or use your viewer).")
        Task {
            // By fingerprint: one per member key.
            var announced: Set<String> = []
            while !Task.isCancelled {
                for request in await node.engine.admissionRequests where !announced.contains(request.fingerprint) {
                    // A moment for its profile to arrive, so the question can give a name.
                    guard !request.name.isEmpty || UInt64(Date().timeIntervalSince1970 * 1000) > request.sinceMillis + 3000 else { continue }
                    announced.insert(request.fingerprint)
                    let who = request.name.isEmpty ? "Someone" : request.name
                    print("\(who) (fingerprint \(request.fingerprint)) asks to join. Admit? [y/n]")
                    fflush(nil)
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        let (lines, typed) = AsyncStream<String>.makeStream()
        let reader = Thread {
            // read(2), not readLine(): stdio would hold stdin's lock while it waits, and every
            // fflush(nil) of the console (which locks all streams) would wait behind it.
            while let line = RawLines.next() { typed.yield(line) }
            typed.finish()
        }
        reader.start()
        Task {
            for await line in lines {
                let answer = line.trimmingCharacters(in: .whitespaces).lowercased()
                guard ["y", "yes", "n", "no"].contains(answer) else {
                    if !answer.isEmpty { FileHandleOutput.stderr("answer y or n\n") }
                    continue
                }
                guard let request = await node.engine.admissionRequests.first else {
                    print("Nobody is waiting.")
                    fflush(nil)
                    continue
                }
                let admit = answer.hasPrefix("y")
                let who = request.name.isEmpty ? request.fingerprint : request.name
                do {
                    try await node.engine.decide(request.member, admit: admit)
                    print(admit ? "\(who) is in." : "\(who) was refused.")
                } catch {
                    FileHandleOutput.stderr("error: \(error)\n")
                }
                fflush(nil)
            }
        }
    }
}

struct JoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Join the coviewing room of an invite line.",
        discussion: """
            Runs your node until Ctrl-C (or SIGTERM) and prints the address of your own viewer. Joining again with the same data folder resumes where you left off.

            Without an invite, asks for it: type the short code the agent reads out to you (like 7-orbit-lantern; it needs --rendezvous, the shop's address) or paste the cvp2:… line the agent sent you, and press Enter (it is read from the terminal, or from standard input when that is not a terminal). That keeps the room's key out of the command line, where other users of this machine can read it. A code works once and for ten minutes; a wrong one is used up, and the agent gives you a new one.

            Examples:
              cvpeer join --rendezvous rv.shop.example:7700 --name Ben     (then type the code)
              cvpeer join --name Ben                                      (then paste the invite line)
            """
    )

    @Argument(help: "The invite, if not pasted at the prompt (other local users can read a command line).")
    var invite: String?

    @Option(help: "Join as: customer or guest.")
    var role: JoinRole = .customer

    @Option(help: "The shop's rendezvous, HOST:PORT: where a short code is exchanged.")
    var rendezvous: String?

    @OptionGroup var session: SessionOptions

    func validate() throws {
        if let rendezvous, HostPort(parsing: rendezvous) == nil {
            throw ValidationError("--rendezvous must be HOST:PORT, got '\(rendezvous)'")
        }
    }

    func run() async throws {
        let text: String
        if let invite {
            FileHandleOutput.stderr(
                "warning: an invite or code on the command line can be read by other users of this machine; next time run `cvpeer join` and type it at the prompt\n")
            CommandLineScrub.hide { $0.contains(Invite.prefix) || JoinInput.isShortCode($0) }
            text = invite
        } else {
            text = try InvitePrompt.read()
        }
        let parsed: Invite
        if JoinInput.isShortCode(text) {
            parsed = try await ShortCodeJoin.fetch(text, rendezvous: rendezvous)
        } else {
            parsed = try Invite(code: JoinInput.inviteCode(in: text, prefix: Invite.prefix))
        }
        let options = try session.options(joining: role)
        try await UntilTerminated.run {
            let node = try await NodeRuntime.join(parsed, options: options)
            SessionConsole.announce(node)
            await SessionConsole.runUntilShutdown(node)
        }
    }
}

/// Asks for the invite on the terminal, or reads it from standard input when that is a pipe.
enum InvitePrompt {
    static func read() throws -> String {
        if isatty(STDIN_FILENO) == 1 { FileHandleOutput.stderr("Type the code the agent gave you (or paste the invite line), then press Enter: ") }
        guard let line = readLine(strippingNewline: true), !line.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("no code or invite was given: type the code (like 7-orbit-lantern) or paste the cvp2:… line at the prompt")
        }
        return line
    }
}

/// Overwrites arguments in the process's own argv memory, which is what `/proc/PID/cmdline` and
/// `ps` show on Linux: a secret passed as an argument is visible only until the command has
/// read it, instead of for the whole session.
enum CommandLineScrub {
    static func hide(where secret: (String) -> Bool) {
        let argv = CommandLine.unsafeArgv
        for index in 1..<Int(CommandLine.argc) {
            guard let pointer = argv[index], secret(String(cString: pointer)) else { continue }
            let length = strlen(pointer)
            memset(pointer, Int32(UInt8(ascii: "x")), length)
        }
    }
}

/// What `host` and `join` print while they run.
enum SessionConsole {
    static func announce(_ node: NodeRuntime) {
        print("Your viewer (this machine only; keep the link private): \(node.viewerURL)")
        print("Listening on UDP \(node.listenEndpoint). Stop with Ctrl-C.")
        fflush(nil)
    }

    /// Reports peers coming and going and transfers in progress until SIGINT/SIGTERM, then stops the node.
    static func runUntilShutdown(_ node: NodeRuntime) async {
        // Driven by the node's status-only feed (a summary each time who is linked or what arrives
        // changes), not by polling the engine on a timer nor by the viewers' full state feed.
        let monitor = Task {
            let (subscription, summaries) = await node.engine.subscribeSummary()
            var last: NodeSummary?
            let terminal = isatty(STDERR_FILENO) == 1
            for await now in summaries {
                for line in SessionText.peerChanges(from: last, to: now) { print(line) }
                fflush(nil)
                if terminal { FileHandleOutput.stderr(SessionText.transferProgress(from: last, to: now)) }
                last = now
            }
            await node.engine.unsubscribeSummary(subscription)
        }
        await UntilTerminated.untilShutdown()
        monitor.cancel()
        print("Stopping…")
        fflush(nil)
        await node.stop()
        print("Stopped.")
    }
}

enum FileHandleOutput {
    static func stderr(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
