import ArgumentParser
import LocalAPI
import Node
import Primitives

struct ViewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view",
        abstract: "Open an item in your own view, zoomed and centred where you say.",
        discussion: """
            Sets your viewport on the item and focuses it; the others see its outline and may follow you, but their own views stay theirs. Zoom 1 shows the whole item, 2 half of it; the centre is the point of the item in the middle of your view, as fractions of its width and height.

            Examples:
              cvpeer view sofa
              cvpeer view 12-3f2a --zoom 3 --center 0.42,0.61
            """
    )

    @Argument(help: itemArgumentHelp)
    var item: String

    @Option(help: ArgumentHelp("The zoom factor, 0.01 to 100 (default: 1, the whole item).", valueName: "zoom"))
    var zoom: String?

    @Option(
        name: [.customLong("center"), .customLong("centre")],
        help: ArgumentHelp("The point of the item in the middle of the view (default: 0.5,0.5).", valueName: "x,y"))
    var center: String?

    @OptionGroup var options: DataOptions

    mutating func validate() throws {
        try Control.validate { _ = try body() }
    }

    func run() async throws {
        try await Control.run {
            let _: EmptyAnswer = try await Control.client(options).send(.post, "/api/view", json: try body())
        }
    }

    private func body() throws(ControlFailure) -> ViewRequest {
        var request = ViewRequest(item: item, zoom: 1, centre: [0.5, 0.5])
        if let zoom { request.zoom = try Control.parse("--zoom") { try CommandInput.zoom(zoom) } }
        if let center {
            let point = try Control.parse("--center") { try CommandInput.point(center) }
            request.centre = [point.x, point.y]
        }
        return request
    }
}

struct RecommendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recommend",
        abstract: "Recommend an item to the room, with an optional note.",
        discussion: """
            The recommendation is recorded in the shared document, so a later purchase of the item counts as influenced by it. Prints the event's id.

            Example:
              cvpeer recommend sofa --note "In stock in blue, delivered in 3 days"
            """
    )

    @Argument(help: itemArgumentHelp)
    var item: String

    @Option(help: ArgumentHelp("A note shown with the recommendation.", valueName: "text"))
    var note: String?

    @OptionGroup var options: DataOptions

    mutating func validate() throws {
        try Control.validate { _ = try body() }
    }

    func run() async throws {
        try await Control.run {
            let answer: EventAnswer = try await Control.client(options).send(.post, "/api/recommend", json: try body())
            print(TerminalText.oneLine(answer.event))
        }
    }

    private func body() throws(CommandInputError) -> ItemRequest {
        ItemRequest(item: item, note: try CommandInput.text(note ?? "", as: .note))
    }
}

struct CartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cart",
        abstract: "Add an item to your cart, for everyone in the room to see.",
        discussion: """
            Prints the event's id.

            Example:
              cvpeer cart sofa --quantity 2
            """
    )

    @OptionGroup var order: OrderArguments

    func run() async throws {
        try await order.send(to: "/api/cart")
    }
}

struct BuyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "buy",
        abstract: "Record a purchase of an item in the room.",
        discussion: """
            A purchase after a recommendation of the same item counts as influenced by it in `cvpeer report`. Prints the event's id.

            Example:
              cvpeer buy sofa --quantity 1
            """
    )

    @OptionGroup var order: OrderArguments

    func run() async throws {
        try await order.send(to: "/api/buy")
    }
}

/// What `cart` and `buy` take, and how they send it.
struct OrderArguments: ParsableArguments {
    @Argument(help: itemArgumentHelp)
    var item: String

    @Option(help: ArgumentHelp("How many, 1 to 10000.", valueName: "n"))
    var quantity = 1

    @OptionGroup var options: DataOptions

    mutating func validate() throws {
        try Control.validate { _ = try CommandInput.quantity(quantity) }
    }

    /// Posts the item and quantity to `path` and prints the new event's id.
    func send(to path: String) async throws {
        try await Control.run {
            let body = ItemRequest(item: item, quantity: quantity)
            let answer: EventAnswer = try await Control.client(options).send(.post, path, json: body)
            print(TerminalText.oneLine(answer.event))
        }
    }
}

struct SayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "say",
        abstract: "Write a message in the room's chat.",
        discussion: """
            Prints the message's id.

            Example:
              cvpeer say "The blue one is back in stock."
            """
    )

    @Argument(help: ArgumentHelp("The message.", valueName: "text"))
    var text: String

    @OptionGroup var options: DataOptions

    mutating func validate() throws {
        try Control.validate { _ = try CommandInput.text(text, as: .message) }
    }

    func run() async throws {
        try await Control.run {
            let answer: MessageAnswer = try await Control.client(options).send(
                .post, "/api/say", json: SayRequest(text: text))
            print(TerminalText.oneLine(answer.message))
        }
    }
}

struct GrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant",
        abstract: "Give a participant a role in the room you host (owner only).",
        discussion: """
            Roles: agent (may edit and remove anyone's items, remove marks, recommend), customer and guest (may share, mark, chat and buy for themselves; edit only what they shared), archive (reads, writes nothing). Members start as customers (guests if they joined with --role guest); only the owner makes agents. The change counts for the participant's edits from its next one on, on every node. PARTICIPANT is an id (or its first 8+ hex digits) or an exact display name, as `cvpeer status` lists them under members.

            Example:
              cvpeer grant Carla agent
            """
    )

    @Argument(help: ArgumentHelp("The participant: id, id prefix or display name.", valueName: "participant"))
    var participant: String

    @Argument(help: ArgumentHelp("agent, customer, guest or archive.", valueName: "role"))
    var role: GrantedRole

    @OptionGroup var options: DataOptions

    func run() async throws {
        try await Control.run {
            let _: EmptyAnswer = try await Control.client(options).send(
                .post, "/api/grant", json: GrantRequest(participant: participant, role: role.rawValue))
            print("\(participant) is now \(role.withArticle)")
        }
    }
}

struct AdmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admit",
        abstract: "Admit (or with --refuse, turn away) a member waiting to join the room you host with --approve.",
        discussion: """
            PARTICIPANT is the name or id (or its first 8+ hex digits) that `cvpeer status` lists under joinRequests; compare the fingerprint with the one the person reads from their screen. An admitted member starts as a customer (a guest if it joined with --role guest); a refused one is ignored by your node from then on.

            Example:
              cvpeer admit Ben
            """
    )

    @Argument(help: ArgumentHelp("The waiting member: name, id or id prefix.", valueName: "participant"))
    var participant: String

    @Flag(help: "Turn the member away instead.")
    var refuse = false

    @OptionGroup var options: DataOptions

    func run() async throws {
        try await Control.run {
            let _: EmptyAnswer = try await Control.client(options).send(
                .post, "/api/admit", json: AdmitRequest(participant: participant, admit: !refuse))
            print(refuse ? "\(participant) was refused" : "\(participant) is in")
        }
    }
}
