import ArgumentParser
import LocalAPI
import Node
import Primitives

struct MarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mark",
        abstract: "Draw a mark on an item for everyone to see: a pin, an arrow, a rectangle or a text.",
        discussion: """
            Coordinates are fractions of the item's width and height, from 0 to 1: 0,0 is the top-left corner, 1,1 the bottom-right. Give exactly one shape. Prints the new mark's id.

            Examples:
              cvpeer mark sofa --pin 0.42,0.61 --label "scratch here"
              cvpeer mark 12-3f2a --rect 0.1,0.2,0.3,0.25 --color "#00A0FF"
              cvpeer mark sofa --text 0.5,0.9,"the same fabric, in blue" --color blue
            """
    )

    @Argument(help: itemArgumentHelp)
    var item: String

    @Option(help: ArgumentHelp("A pin at a point.", valueName: "x,y"))
    var pin: String?

    @Option(help: ArgumentHelp("A label shown with the pin (with --pin only).", valueName: "text"))
    var label: String?

    @Option(help: ArgumentHelp("An arrow from the first point to the second.", valueName: "x1,y1,x2,y2"))
    var arrow: String?

    @Option(help: ArgumentHelp("A rectangle by its top-left corner, width and height.", valueName: "x,y,w,h"))
    var rect: String?

    @Option(help: ArgumentHelp("A text at a point; the text may contain commas.", valueName: "x,y,text"))
    var text: String?

    @Option(
        name: [.customLong("color"), .customLong("colour")],
        help: ArgumentHelp(
            "The mark's colour: #RRGGBB, #RRGGBBAA, or red, green, blue, yellow, orange, purple, black, white, grey (default: red).",
            valueName: "color"))
    var color: String?

    @OptionGroup var options: DataOptions

    mutating func validate() throws {
        try Control.validate { _ = try body() }
    }

    func run() async throws {
        try await Control.run {
            let answer = try await Control.client(options).send(
                .post, "/api/mark", json: try body(), as: MarkAnswer.self)
            print(TerminalText.oneLine(answer.mark))
        }
    }

    /// The request, once every option is checked.
    private func body() throws(ControlFailure) -> MarkRequest {
        let given = [("--pin", pin), ("--arrow", arrow), ("--rect", rect), ("--text", text)].filter { $0.1 != nil }
        guard given.count == 1 else {
            let names = given.isEmpty ? "none was given" : given.map(\.0).joined(separator: " and ") + " were given"
            throw ControlFailure(
                "give exactly one shape: --pin, --arrow, --rect or --text (\(names))", exitCode: .validationFailure)
        }
        guard label == nil || pin != nil else {
            throw ControlFailure("--label goes with --pin only", exitCode: .validationFailure)
        }
        let shape: ShapeRequest
        if let pin {
            let at = try Control.parse("--pin") { try CommandInput.point(pin) }
            if let label {
                do throws(CommandInputError) {
                    _ = try CommandInput.text(label, as: .label)
                } catch {
                    throw ControlFailure(error.description, exitCode: .validationFailure)
                }
            }
            shape = ShapeRequest(type: "pin", at: [at.x, at.y], label: label)
        } else if let arrow {
            let (from, to) = try Control.parse("--arrow") { try CommandInput.arrow(arrow) }
            shape = ShapeRequest(type: "arrow", from: [from.x, from.y], to: [to.x, to.y])
        } else if let rect {
            let (corner1, corner2) = try Control.parse("--rect") { try CommandInput.rectangle(rect) }
            shape = ShapeRequest(type: "rectangle", corner1: [corner1.x, corner1.y], corner2: [corner2.x, corner2.y])
        } else {
            let typed = text ?? ""
            let anchored = try Control.parse("--text") { try CommandInput.anchoredText(typed) }
            shape = ShapeRequest(type: "text", at: [anchored.at.x, anchored.at.y], text: anchored.text)
        }
        let colour = try Control.parse("--color") { try CommandInput.colourHex(color) }
        return MarkRequest(item: item, shape: shape, colour: colour)
    }
}
