import ArgumentParser
import Foundation
import Node

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Try cvpeer on this machine: a rendezvous and two nodes (agent and customer) with sample products.",
        discussion: """
            Nothing to configure and nothing leaves this machine: everything listens on 127.0.0.1. Open the two printed addresses in two browser windows side by side and coview: zoom, point, draw, upload, recommend, buy. Stop with Ctrl-C; the demo's data is deleted then unless you pass --keep.

            Example:
              cvpeer demo
            """
    )

    @Flag(help: "Keep the demo's data folders when it stops (their path is printed).")
    var keep = false

    func run() async throws {
        let folder = NSTemporaryDirectory() + "cvpeer-demo-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        print("Starting a rendezvous and two nodes on 127.0.0.1…")
        let keep = self.keep
        try await UntilTerminated.run {
            let demo: Demo
            do {
                demo = try await Demo.start(folder: folder)
            } catch {
                try? FileManager.default.removeItem(atPath: folder)
                throw error
            }
            print("""

                cvpeer demo is running: an agent (Ana) and a customer (Ben) in one room, with three sample products.

                  Agent's viewer:    \(demo.agent.viewerURL)
                  Customer's viewer: \(demo.customer.viewerURL)

                Open both, side by side. Each has its own zoom and pan; pointers, marks, uploads and chat are shared.
                Control commands work too, for example:
                  cvpeer status --data \(folder)/agent
                  cvpeer say "hello from the terminal" --data \(folder)/customer

                Stop with Ctrl-C.
                """)
            fflush(nil)
            await UntilTerminated.untilShutdown()
            print("Stopping…")
            await demo.stop()
            if keep {
                print("Stopped. The data is in \(folder).")
            } else {
                try? FileManager.default.removeItem(atPath: folder)
                print("Stopped.")
            }
        }
    }
}
