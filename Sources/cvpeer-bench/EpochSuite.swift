import LocalAPI
import Node
import PeerCrypto
import Primitives
import Rendezvous
import Replication

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `cvpeer-bench epochs`: how long a removal takes to reach every remaining member. An owner and
/// N − 1 members (plus the one removed) as in-process `NodeRuntime`s linked directly on 127.0.0.1;
/// timed from the owner's `startEpoch` until every remaining node holds the new epoch, runs its
/// links in it, and each of its links has a session made with the new keys.
enum EpochSuite {
    static let suite = Suite(
        name: "epochs",
        summary: "removal → every remaining node on the new epoch and linked again, 2, 8 and 16 members on loopback",
        run: run)

    static func run(_ options: BenchOptions) async -> Bool {
        print(
            "epochs: an owner and members as NodeRuntimes in this process, each member linked directly to the owner on 127.0.0.1; "
                + "one more member is removed; timed from startEpoch on the owner until every remaining node has the new epoch, "
                + "runs its links in it and has a new-epoch session on each link")
        var results: [(Int, Double)] = []
        for members in options.quick ? [2, 8] : [2, 8, 16] {
            guard let root = NodeSuite.makeTemporaryFolder(in: NodeSuite.temporaryBase()) else {
                print("epochs: cannot create a temporary folder")
                return false
            }
            defer { NodeSuite.removeTree(root) }
            guard let seconds = await removal(members: members, in: root) else { return false }
            results.append((members, seconds))
            print("\(members) members: \(fixed(seconds * 1e3, decimals: 1)) ms")
        }
        let sixteen = results.first { $0.0 == 16 }.map { $0.1 < 1 ? "met" : "NOT met" } ?? "not run (--quick)"
        print("aim: under 1 s for 16 members: \(sixteen)")
        return true
    }

    /// One removal among `members` remaining nodes plus the removed one; nil after saying why.
    static func removal(members: Int, in root: String) async -> Double? {
        var nodes: [NodeRuntime] = []
        let result = await removal(members: members, in: root, nodes: &nodes)
        for node in nodes.reversed() { await node.stop() }
        return result
    }

    private static func removal(members: Int, in root: String, nodes: inout [NodeRuntime]) async -> Double? {
        let loopback = HostPort(host: "127.0.0.1", port: 0)
        do {
            let owner = try await NodeRuntime.host(
                NodeOptions(dataFolder: try DataFolder(path: root + "/owner"), role: .agent, name: "Owner", listen: loopback))
            nodes.append(owner)
            for index in 0..<members {
                let options = NodeOptions(
                    dataFolder: try DataFolder(path: root + "/m\(index)"), role: .customer, name: "M\(index)", listen: loopback)
                nodes.append(try await NodeRuntime.join(owner.invite, options: options))
            }
        } catch {
            print("epochs: cannot start the nodes: \(error)")
            return nil
        }
        let owner = nodes[0]
        // Set-up, not measured: everyone linked, admitted and in sync.
        var ready = false
        for _ in 0..<3_000 {
            var all = await owner.engine.summary().peers.count == members
            let target = await owner.engine.vector
            for node in nodes.dropFirst() where all {
                let admitted = await node.engine.myRole != nil
                let vector = await node.engine.vector
                all = admitted && vector == target
            }
            if all {
                ready = true
                break
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        guard ready else {
            print("epochs: the \(members + 1) nodes did not link and sync within 30 s")
            return nil
        }
        let removed = nodes.last!.engine.me
        let remaining = Array(nodes.dropLast())
        let clock = ContinuousClock()
        let start = clock.now
        let epoch: UInt32
        do {
            epoch = try await owner.engine.startEpoch(removing: [removed])
        } catch {
            print("epochs: the owner could not remove a member: \(error)")
            return nil
        }
        // Polled every millisecond, bounded, so a broken switch fails the suite instead of hanging it.
        for _ in 0..<20_000 {
            var done = true
            for node in remaining where done {
                let engine = node.engine
                let epochs = await engine.epochs
                let sessions = await engine.linkSessionEpochs()
                let expected = node === owner ? members - 1 : 1
                done = epochs.links == epoch && sessions.count == expected && sessions.allSatisfy { $0 == epoch }
            }
            if done { return NodeSuite.seconds(clock.now - start) }
            try? await Task.sleep(for: .milliseconds(1))
        }
        print("epochs: not every remaining node reached epoch \(epoch) within the bound")
        return nil
    }
}
