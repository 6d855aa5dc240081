import Foundation
import PeerCrypto
import Primitives
import Rendezvous
import Replication
import Sockets
import Store
import Transport

/// How a node is started: `cvpeer host` and `cvpeer join` fill this in from their flags.
public struct NodeOptions: Sendable {
    /// The data folder (identity, store, api.json).
    public var dataFolder: DataFolder
    /// The display name; nil keeps the stored one (or "Agent"/"Customer"/"Guest" on first use).
    public var name: String?
    /// The role this node takes in the room.
    public var role: Role
    /// Where the UDP socket binds; nil is every interface on a free port.
    public var listen: HostPort?
    /// Where the local API and viewer listen; nil is 127.0.0.1 on a free port.
    public var ui: HostPort?
    /// The rendezvous to use (the host chooses; a joiner takes the invite's).
    public var rendezvous: HostPort?
    /// The owner asks its agent before admitting each new member (`host --approve`).
    public var approveMembers = false

    /// Options with defaults for everything but the folder and the role.
    public init(dataFolder: DataFolder, role: Role, name: String? = nil, listen: HostPort? = nil, ui: HostPort? = nil, rendezvous: HostPort? = nil) {
        self.dataFolder = dataFolder
        self.role = role
        self.name = name
        self.listen = listen
        self.ui = ui
        self.rendezvous = rendezvous
    }

    /// The seat a command-line session takes: `host` is the room's agent; a joiner asks to be a guest or a customer.
    public enum Seat: String, Sendable {
        case host, guest, customer
    }

    /// Options for a command-line session, whose role follows from its seat.
    public init(dataFolder: DataFolder, seat: Seat, name: String? = nil, listen: HostPort? = nil, ui: HostPort? = nil, rendezvous: HostPort? = nil) {
        let role: Role = switch seat {
        case .host: .agent
        case .guest: .guest
        case .customer: .customer
        }
        self.init(dataFolder: dataFolder, role: role, name: name, listen: listen, ui: ui, rendezvous: rendezvous)
    }
}

/// A running node: the room engine, its UDP transport, its timers and its local API.
///
/// `host` and `join` start one; `stop()` closes it cleanly (queued messages drained, peers told,
/// the API's `api.json` removed). One node per data folder: a second start is refused while the
/// first runs (an advisory lock on the folder).
public final class NodeRuntime: Sendable {
    /// The room's engine.
    public let engine: RoomEngine
    /// The invite that brings others into the room (it holds the room secret: show it only to the user).
    public let invite: Invite
    /// The viewer's URL, token included (show it only to the user).
    package let viewerURL: String
    /// The local API's port.
    package let apiPort: Int
    /// Where the UDP socket is bound.
    package let listenEndpoint: UDPEndpoint
    let transport: PeerTransport
    let api: LocalAPIServer
    let tasks: [Task<Void, Never>]
    let lock: FileLock

    private init(
        engine: RoomEngine, invite: Invite, transport: PeerTransport, listen: UDPEndpoint, api: LocalAPIServer,
        endpoint: LocalAPIEndpoint, tasks: [Task<Void, Never>], lock: FileLock
    ) {
        self.engine = engine
        self.invite = invite
        self.transport = transport
        listenEndpoint = listen
        self.api = api
        viewerURL = endpoint.viewerURL
        apiPort = endpoint.port
        self.tasks = tasks
        self.lock = lock
    }

    /// Starts a node that hosts a new room (or, with `resume`, the room it hosted last).
    public static func host(_ options: NodeOptions, resume: Bool = false) async throws -> NodeRuntime {
        let lock = try lockFolder(options.dataFolder)
        do {
            let store = try Store(path: options.dataFolder.storePath)
            let identity = try options.dataFolder.identity()
            var keys = RoomKeys.generate(owner: identity.publicKey)
            if resume {
                guard let tag = try store.setting(lastHostedKey), let room = try store.rooms().first(where: { $0.keys.tag == tag }) else {
                    throw NodeError.badRequest("this data folder has not hosted a room yet; run `cvpeer host` without --resume")
                }
                keys = room.keys
            }
            let runtime = try await start(options, store: store, keys: keys, lock: lock) { bound in
                if let rendezvous = options.rendezvous {
                    return try Invite(route: .rendezvous, address: rendezvous, roomSecret: keys.secret, owner: keys.owner)
                }
                return try Invite(route: .direct, address: reachableAddress(bound), roomSecret: keys.secret, owner: keys.owner)
            }
            try store.setSetting(lastHostedKey, keys.tag)
            return runtime
        } catch {
            lock.release()
            throw error
        }
    }

    /// Starts a node that joins the room of `invite` (resuming it if this folder was there before).
    public static func join(_ invite: Invite, options: NodeOptions) async throws -> NodeRuntime {
        let lock = try lockFolder(options.dataFolder)
        do {
            let store = try Store(path: options.dataFolder.storePath)
            var options = options
            if invite.route == .rendezvous { options.rendezvous = invite.address }
            return try await start(
                options, store: store, keys: invite.roomKeys, laterEpochs: invite.laterEpochKeys, lock: lock,
                direct: invite.route == .direct ? invite.address : nil
            ) { _ in invite }
        } catch {
            lock.release()
            throw error
        }
    }

    private static let lastHostedKey = "last-hosted-room"

    private static func start(
        _ options: NodeOptions, store: Store, keys: RoomKeys, laterEpochs: [RoomKeys] = [], lock: FileLock, direct: HostPort? = nil,
        invite makeInvite: (UDPEndpoint) throws -> Invite
    ) async throws -> NodeRuntime {
        let identity = try options.dataFolder.identity()
        let engine = try RoomEngine(
            identity: identity, room: keys, laterEpochs: laterEpochs, store: store, nowMillis: Int64(RoomEngine.wallMillis()))
        try await engine.ensureProfile(name: options.name, role: options.role)
        if options.approveMembers { await engine.setApprovesMembers(true) }

        let (events, continuation) = AsyncStream<TransportEvent>.makeStream()
        // In the newest epoch the node holds (a restarted node may be past the invite's).
        let transport = PeerTransport(
            identity: identity, room: await engine.linkKeys, listen: options.listen ?? HostPort(host: "0.0.0.0", port: 0),
            rendezvous: options.rendezvous, events: { continuation.yield($0) })
        let bound: UDPEndpoint
        do {
            bound = try transport.start()
        } catch {
            throw NodeError.badRequest("cannot open the UDP socket: \(error)")
        }
        await engine.attach(transport)
        let base = try makeInvite(bound)
        await engine.setInviteBase(base)
        // The room as it is now when this node holds every epoch (a host), else what it was given.
        let invite = (try? await engine.currentInvite()) ?? base

        var directEndpoint: UDPEndpoint?
        if let direct {
            let endpoint = try UDPSocket.resolveEndpoint(direct)
            directEndpoint = endpoint
            transport.connect(to: [endpoint])
        }
        let eventTask = Task {
            for await event in events {
                if case .registrationRefused(let reason) = event {
                    NodeRuntime.reportRefusal(reason, identity: identity.publicKey, owner: keys.owner)
                }
                await engine.handle(event)
            }
        }
        let timerTask = Task {
            var tick = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                tick += 1
                await engine.flushChunks()
                if tick % 10 == 0 {
                    await engine.transferTimer()
                    await engine.pushStatus()
                    // A joiner without a rendezvous keeps knocking until the host answers again.
                    if let directEndpoint, await engine.linkedPeerCount == 0 { transport.connect(to: [directEndpoint]) }
                }
                if tick % 30 == 0 { await engine.syncTimer() }
            }
        }
        let ui = options.ui ?? HostPort(host: "127.0.0.1", port: 0)
        let api: LocalAPIServer
        let endpoint: LocalAPIEndpoint
        do {
            api = try LocalAPIServer(
                configuration: .init(host: ui.host, port: Int(ui.port), dataFolderPath: options.dataFolder.path),
                routes: NodeRoutes.routes(engine: engine), webSocket: NodeRoutes.live(engine: engine))
            endpoint = try await api.start()
        } catch {
            eventTask.cancel()
            timerTask.cancel()
            await engine.detach()
            transport.close()
            throw error
        }
        return NodeRuntime(
            engine: engine, invite: invite, transport: transport, listen: bound, api: api, endpoint: endpoint,
            tasks: [eventTask, timerTask], lock: lock)
    }

    /// The one line a person sees when the rendezvous will not open this node's room.
    static func refusalLine(_ reason: RendezvousWire.RegisterRefusalReason, identity: PublicKey, owner: PublicKey) -> String {
        switch reason {
        case .ownerNotAllowed:
            identity == owner
                ? "the rendezvous does not let this agent open rooms (ask the shop's operator to add "
                    + "\(identity.fingerprint) to its --allow file)"
                : "the rendezvous has no room open yet and only its owner (\(owner.fingerprint)) may open it; "
                    + "still trying"
        }
    }

    private static func reportRefusal(_ reason: RendezvousWire.RegisterRefusalReason, identity: PublicKey, owner: PublicKey) {
        FileHandle.standardError.write(Data((refusalLine(reason, identity: identity, owner: owner) + "\n").utf8))
    }

    /// Stops cleanly: the API first (no new edits), then buffered chunks written, then the links drained and closed.
    public func stop() async {
        await api.stop()
        for task in tasks { task.cancel() }
        await engine.detach()
        transport.close()
        lock.release()
    }

    // MARK: Helpers

    /// Takes the data folder's lock, or says another node holds it.
    private static func lockFolder(_ folder: DataFolder) throws -> FileLock {
        let lock: FileLock?
        do throws(SocketError) {
            lock = try FileLock.acquire(folder.path + "/node.lock")
        } catch {
            throw NodeError.dataFolder(path: folder.path, reason: error.reason)
        }
        guard let lock else { throw NodeError.alreadyRunning(path: folder.path) }
        return lock
    }

    /// The address a joiner can reach this node at: the bound one, or for a wildcard bind the
    /// first non-loopback IPv4 address of an interface that is up (127.0.0.1 if there is none).
    static func reachableAddress(_ bound: UDPEndpoint) -> HostPort {
        guard bound.isWildcard else { return HostPort(host: bound.host, port: bound.port) }
        let first = NetworkInterfaces.addresses().first { interface in
            guard case .v4 = interface.endpoint.address else { return false }
            return !interface.isLoopback
        }
        return HostPort(host: first?.endpoint.host ?? "127.0.0.1", port: bound.port)
    }
}

extension RoomEngine {
    /// Number of linked peers.
    var linkedPeerCount: Int { peers.count }

    /// Records this node's name and role in the room unless the document already says so.
    func ensureProfile(name: String?, role: Role) throws {
        let current = replica.document.participants.first { $0.id == me }?.profile
        let wanted = Profile(name: name ?? current?.name ?? role.defaultName, requestedRole: current?.requestedRole ?? role)
        guard wanted != current else { return }
        try commit([.setProfile(participant: me, wanted)])
    }
}

extension Role {
    /// The name a participant gets when it gives none.
    var defaultName: String {
        switch self {
        case .agent: "Agent"
        case .customer: "Customer"
        case .guest: "Guest"
        case .archive: "Shop archive"
        }
    }
}
