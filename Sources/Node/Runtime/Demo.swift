import Foundation
import Primitives
import Rendezvous
import Replication

/// `cvpeer demo`: a rendezvous and two nodes on loopback, an agent and a customer, with sample
/// photos and a product card already shared — everything a newcomer needs to try the viewer.
///
/// Everything runs in this process, on 127.0.0.1 only, with data folders under `folder`.
public final class Demo: Sendable {
    /// The agent's node.
    public let agent: NodeRuntime
    /// The customer's node.
    public let customer: NodeRuntime
    /// The rendezvous both use.
    package let rendezvousPort: UInt16
    let rendezvous: RendezvousService

    private init(agent: NodeRuntime, customer: NodeRuntime, rendezvous: RendezvousService, port: UInt16) {
        self.agent = agent
        self.customer = customer
        self.rendezvous = rendezvous
        rendezvousPort = port
    }

    /// The sample content: file name in the package's `Samples`, title, price (nil for a plain photo).
    static let samples: [(file: String, title: String, price: String?)] = [
        ("living-room.jpg", "Living room", nil),
        ("desk-lamp.jpg", "Desk lamp", "129.90 EUR"),
        ("armchair.jpg", "Armchair", "349.00 EUR"),
    ]

    /// Starts the rendezvous and both nodes, and shares the samples from the agent.
    ///
    /// - Parameter folder: where the two data folders go (`agent`, `customer`).
    public static func start(folder: String) async throws -> Demo {
        let service = RendezvousService(
            listenAddress: HostPort(host: "127.0.0.1", port: 0), logLevel: .error, log: { _, _ in })
        let port = try service.start()
        let rendezvous = HostPort(host: "127.0.0.1", port: port)
        let loopback = HostPort(host: "127.0.0.1", port: 0)
        do {
            let agent = try await NodeRuntime.host(
                NodeOptions(
                    dataFolder: try DataFolder(path: folder + "/agent"), role: .agent, name: "Ana (agent)", listen: loopback,
                    rendezvous: rendezvous))
            let customer: NodeRuntime
            do {
                customer = try await NodeRuntime.join(
                    agent.invite,
                    options: NodeOptions(
                        dataFolder: try DataFolder(path: folder + "/customer"), role: .customer, name: "Ben (customer)",
                        listen: loopback))
            } catch {
                await agent.stop()
                throw error
            }
            let demo = Demo(agent: agent, customer: customer, rendezvous: service, port: port)
            do {
                for sample in samples {
                    guard let data = NodeResources.contents("Samples/" + sample.file) else {
                        throw NodeError.badRequest("the demo's sample \(sample.file) was not built into this binary")
                    }
                    let prepared = try MediaUpload.prepare(Array(data), name: sample.file, keepMetadata: false)
                    _ = try await agent.engine.share(
                        bytes: prepared.bytes, mime: prepared.mime, title: sample.title,
                        price: try sample.price.map { try CommandInput.price($0) })
                }
            } catch {
                await demo.stop()
                throw error
            }
            return demo
        } catch {
            service.stop()
            throw error
        }
    }

    /// Stops both nodes and the rendezvous.
    public func stop() async {
        await customer.stop()
        await agent.stop()
        rendezvous.stop()
    }
}
