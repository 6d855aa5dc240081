// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "cvpeer",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cvpeer", targets: ["cvpeer"]),
        .executable(name: "cvpeer-bench", targets: ["cvpeer-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        // Already in Hummingbird's graph; named here because the local API imports them directly.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.14.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSodium",
            path: "Sources/CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // Byte coding, hex, base32, CRC-32, clocks: pure, no dependencies, used by every layer.
        .target(name: "Primitives", swiftSettings: strict),
        // The POSIX plumbing, each piece once: EINTR-safe calls, poll against a deadline, the UDP
        // sockets, the interface walk, the data folder's lock and private atomic files.
        .target(name: "Sockets", dependencies: ["Primitives"], swiftSettings: strict),
        .target(name: "PeerCrypto", dependencies: ["CSodium", "Primitives"], path: "Sources/Crypto", swiftSettings: strict),
        .target(name: "Replication", dependencies: ["Primitives", "PeerCrypto"], swiftSettings: strict),
        .target(name: "Rendezvous", dependencies: ["Primitives", "PeerCrypto", "Sockets"], swiftSettings: strict),
        .target(name: "Transport", dependencies: ["Primitives", "Rendezvous", "PeerCrypto", "Sockets"], swiftSettings: strict),
        // Business intelligence: pure figures computed from a room's verified batches; no I/O.
        .target(name: "Insights", dependencies: ["Primitives", "Replication", "PeerCrypto"], swiftSettings: strict),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // The node's durable store; the one module besides the transport that does I/O.
        .target(name: "Store", dependencies: ["CSQLite", "PeerCrypto", "Replication"], swiftSettings: strict),
        // The local API's one contract (Codable requests, answers, live events), its server plumbing
        // and its client: shared by the node and the CLI, and free of the node's model (no Node,
        // Replication or Store), so the CLI and tests can use it alone.
        .target(
            name: "LocalAPI",
            dependencies: [
                "Primitives", "PeerCrypto", "Sockets",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Node",
            dependencies: [
                "Primitives", "LocalAPI", "Transport", "Rendezvous", "Replication", "Store", "PeerCrypto", "Insights", "Sockets",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            // The viewer (plain HTML, CSS and JavaScript served as they are: no build step, no CDN)
            // and the demo's sample photos, compiled into the binary by the plugin (no resources
            // folder to ship beside it).
            exclude: ["Viewer", "Samples"],
            swiftSettings: strict,
            plugins: ["EmbedNodeFiles"]
        ),
        // The command line's text and parsing: renders the local API's answers for people and reads
        // what people type; no Node, Replication or Store, so its tests need no running node.
        .target(name: "CommandLineKit", dependencies: ["LocalAPI", "Primitives"], swiftSettings: strict),
        .executableTarget(
            name: "cvpeer",
            dependencies: [
                "Node", "LocalAPI", "CommandLineKit", "Primitives", "Sockets",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict,
            plugins: ["BuildCommit"]
        ),
        // Build steps that run a shell script on every build: the viewer's and samples' files as a
        // generated Swift file, and the commit the binary is built from.
        .plugin(name: "EmbedNodeFiles", capability: .buildTool()),
        .plugin(name: "BuildCommit", capability: .buildTool()),
        // The C reference for benchmarks: the same libsodium calls made from C, measured in the same run.
        .target(name: "CBenchRef", dependencies: ["CSodium"]),
        .executableTarget(
            name: "cvpeer-bench",
            dependencies: [
                "Primitives", "PeerCrypto", "Replication", "Store", "CBenchRef", "Node", "LocalAPI", "Rendezvous", "Sockets",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Seeded randomness, simulated networks and clocks: used by tests only.
        .target(name: "CVPeerTestSupport", dependencies: ["PeerCrypto", "Primitives", "Sockets"], swiftSettings: strict),
        .testTarget(
            name: "PeerCryptoTests",
            dependencies: ["Primitives", "PeerCrypto", "CVPeerTestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ReplicationTests",
            dependencies: ["Replication", "PeerCrypto", "CVPeerTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(name: "RendezvousTests", dependencies: ["Primitives", "Rendezvous", "PeerCrypto", "CVPeerTestSupport"], swiftSettings: strict),
        .testTarget(name: "TransportTests", dependencies: ["Primitives", "Transport", "Rendezvous", "PeerCrypto", "Sockets", "CVPeerTestSupport"], swiftSettings: strict),
        .testTarget(name: "StoreTests", dependencies: ["Store", "PeerCrypto", "Replication", "CVPeerTestSupport"], swiftSettings: strict),
        // A child process for transport end-to-end and NAT-lab tests: one node's transport, driven by arguments.
        .executableTarget(
            name: "TransportProbe", dependencies: ["Primitives", "Transport", "Rendezvous", "PeerCrypto", "Sockets"], path: "Tests/TransportProbe",
            swiftSettings: strict),
        // A child process for the store's crash test: appends batches until it is killed.
        .executableTarget(
            name: "StoreCrashWriter", dependencies: ["Store", "PeerCrypto", "Replication"], path: "Tests/StoreCrashWriter",
            swiftSettings: strict),
        // A hostile member for the end-to-end tests: sends each peer the sealed batches a test chose.
        .executableTarget(
            name: "HostileNode", dependencies: ["Primitives", "Transport", "Rendezvous", "Store", "PeerCrypto", "Replication"], path: "Tests/HostileNode",
            swiftSettings: strict),
        // A hostile rendezvous client for the flood test: room creations from many source
        // addresses, an outsider's tries and an allowed owner, over real sockets.
        .executableTarget(
            name: "RendezvousFlooder", dependencies: ["Primitives", "Transport", "Rendezvous", "PeerCrypto", "Sockets"],
            path: "Tests/RendezvousFlooder", swiftSettings: strict),
        .testTarget(
            name: "NodeTests",
            dependencies: [
                "Primitives", "Node", "LocalAPI", "Transport", "Rendezvous", "PeerCrypto", "Replication", "Store", "CVPeerTestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The local API's contract pinned by fixtures (read by path, so the viewer's scripts can be scanned too).
        .testTarget(name: "LocalAPITests", dependencies: ["LocalAPI"], exclude: ["Fixtures"], swiftSettings: strict),
        // The command line's rendering and parsing, on LocalAPITests' fixtures (read by path).
        .testTarget(name: "CommandLineKitTests", dependencies: ["CommandLineKit", "LocalAPI"], swiftSettings: strict),
        // Reads Package.swift, ARCHITECTURE.md and every source file's imports; depends on nothing.
        .testTarget(name: "ArchitectureTests", swiftSettings: strict),
        .testTarget(name: "SocketsTests", dependencies: ["Primitives", "Sockets"], swiftSettings: strict),
        .testTarget(name: "InsightsTests", dependencies: ["Insights", "Replication", "PeerCrypto"], swiftSettings: strict),
        // Runs the built `cvpeer` binary as a user would.
        .testTarget(name: "EndToEndTests", dependencies: ["PeerCrypto", "Replication", "Store", "CVPeerTestSupport"], swiftSettings: strict),
    ]
)
