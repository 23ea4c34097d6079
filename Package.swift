// swift-tools-version:6.0
import PackageDescription

/// Hot-path targets skip dynamic exclusivity checks in release builds (measured: ~5 % of a replay).
let fast: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "CityEye",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cityeye", targets: ["CityEyeCLI"]),
        .executable(name: "cityeye-bench", targets: ["CityEyeBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.25.0"),
    ],
    targets: [
        // __builtin_prefetch, which Swift cannot call directly: the device catalog and the dedup table are far
        // bigger than the caches.
        .target(name: "CPrefetch"),
        // Value types shared by every layer: events, the device catalog, registry, incidents, time.
        .target(name: "Model", dependencies: ["CPrefetch"], swiftSettings: fast),
        // Reading hand-written YAML with file:line in every error (over Yams).
        .target(name: "YAMLSupport", dependencies: ["Model", "Yams"]),
        // The deployment file (SPEC §3) and the live config (SPEC §8), from YAML.
        .target(name: "Registry", dependencies: ["Model", "YAMLSupport", "Journal"]),
        // Envelope decoding and validation, dead-letter reasons, JSON Lines logs.
        .target(name: "Ingest", dependencies: ["Model", "CPrefetch"], swiftSettings: fast),
        // Rule files -> compiled rules; the event-time rule engine.
        .target(name: "Rules", dependencies: ["Model", "YAMLSupport", "CPrefetch"], swiftSettings: fast),
        // Incidents (closed-loop dispatch): dedup, assignment, SLA escalation, people's actions, audit.
        .target(name: "Incidents", dependencies: ["Model"], swiftSettings: fast),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // SQLite: migrations, incidents, audit, dead letters, processed ids, rule state.
        .target(name: "Store", dependencies: ["Model", "CSQLite"]),
        // The audit trail's HMAC chain (one per community), its key file and its verification.
        .target(name: "AuditChain", dependencies: ["Model", "Store", .product(name: "Crypto", package: "swift-crypto")]),
        // The ingress journal: every message appended before the broker may be acknowledged.
        .target(name: "Journal", dependencies: ["Model"]),
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        // The MQTT edge: libmosquitto bridged once into Swift concurrency.
        .target(name: "MQTT", dependencies: ["CMosquitto", "Journal"]),
        // Ingest -> Rules -> Dispatch -> Store, shared by replay and the live engine.
        .target(name: "Engine", dependencies: ["Model", "Registry", "Ingest", "Rules", "Incidents", "Store", "AuditChain"], swiftSettings: fast),
        // Outgoing webhooks: the outbox's sender (plain HTTP over SwiftNIO, HMAC-SHA256 signatures).
        .target(name: "Webhooks", dependencies: [
            "Model", "Registry", "Store",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // The live engine: MQTT messages through the pipeline on the wall clock, batched commits, capture.
        .target(name: "Live", dependencies: [
            "Model", "Registry", "Ingest", "Rules", "Store", "Journal", "MQTT", "Engine", "AuditChain", "Webhooks",
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // The process's Prometheus registry, its text exposition and the `/metrics` + `/healthz` routes; the engine
        // and the web app record through swift-metrics only and never see Prometheus.
        .target(name: "Telemetry", dependencies: [
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // People's actions on incidents, one code path for the CLI and the web: read, check, write, audit.
        .target(name: "Closedloop", dependencies: ["Model", "Incidents", "Store", "Engine"]),
        // Accounts (bcrypt password hashes in the store) and sessions for `cityeye serve`.
        .target(name: "Accounts", dependencies: [
            "Model", "Store", "Engine",
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
        ]),
        // `cityeye serve`: server-rendered pages for grid workers and the supervisors' cockpit (Hummingbird 2).
        .target(name: "Web", dependencies: [
            "Model", "Registry", "YAMLSupport", "Store", "Engine", "Incidents", "Closedloop", "Accounts", "Telemetry",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Partition leases in PostgreSQL (docs/scale.md): acquire, renew, release, and the fencing check every commit
        // transaction runs; the connection string and where its password comes from.
        .target(name: "Lease", dependencies: [
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The store in PostgreSQL behind the Store target's `EngineStore` interface (docs/scale.md): its migrations,
        // batched writes, reads; postgres-nio bridged once to the engine's synchronous calls.
        .target(name: "PostgresStore", dependencies: [
            "Model", "Store", "Lease",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Engines that share a city (docs/scale.md): a partition's engine on its lease, and the process that takes
        // its fair share of partitions and gives them back.
        .target(name: "Partitions", dependencies: [
            "Model", "Registry", "Rules", "MQTT", "Engine", "Live", "Store", "Lease", "PostgresStore", "Webhooks",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // Seeded, realistic gateway traffic for all eight scenarios: demo, simulator, benchmark.
        .target(name: "Simulation", dependencies: ["Model"]),
        .executableTarget(name: "CityEyeCLI", dependencies: [
            "Model", "Simulation", "Registry", "Ingest", "Rules", "Incidents", "Store", "MQTT", "Engine", "Live",
            "Closedloop", "Accounts", "Web", "Telemetry", "AuditChain", "Lease", "PostgresStore", "Partitions",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Benchmarks: writes BENCHMARKS.md (not a test: figures, not assertions).
        .executableTarget(name: "CityEyeBench", dependencies: [
            "Model", "Registry", "Ingest", "Rules", "Store", "Engine", "Simulation", "MQTT", "Live", "Incidents", "Closedloop",
            // The partitions benchmark reads the lease table and the store.
            "Lease", "PostgresStore",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // libFuzzer targets (scripts/fuzz.sh builds each alone with -sanitize=fuzzer,address).
        .target(name: "CFuzz", path: "Sources/Fuzzing/CFuzz"),
        .target(name: "FuzzDriver", dependencies: ["CFuzz"], path: "Sources/Fuzzing/FuzzDriver"),
        .executableTarget(name: "FuzzEnvelope", dependencies: ["FuzzDriver", "Model", "Ingest"], path: "Sources/Fuzzing/FuzzEnvelope"),
        .executableTarget(name: "FuzzExpression", dependencies: ["FuzzDriver", "Rules"], path: "Sources/Fuzzing/FuzzExpression"),
        .executableTarget(name: "FuzzRuleFile", dependencies: ["FuzzDriver", "Rules"], path: "Sources/Fuzzing/FuzzRuleFile"),
        .executableTarget(name: "FuzzRegistry", dependencies: ["FuzzDriver", "Registry"], path: "Sources/Fuzzing/FuzzRegistry"),
        .executableTarget(name: "FuzzConfig", dependencies: ["FuzzDriver", "Registry"], path: "Sources/Fuzzing/FuzzConfig"),

        // What the test targets share: the repository's paths, temporary folders, registry fixtures, the binary.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "ModelTests", dependencies: ["Model"]),
        .testTarget(name: "RegistryTests", dependencies: ["TestSupport", "Registry"]),
        .testTarget(name: "IngestTests", dependencies: ["TestSupport", "Ingest", "Registry"]),
        .testTarget(name: "RulesTests", dependencies: ["TestSupport", "Rules", "Registry"]),
        .testTarget(name: "IncidentsTests", dependencies: ["Incidents"]),
        .testTarget(name: "StoreTests", dependencies: ["TestSupport", "Store"]),
        .testTarget(name: "JournalTests", dependencies: ["TestSupport", "Journal"]),
        .testTarget(name: "AuditChainTests", dependencies: ["TestSupport", "AuditChain", "Store"]),
        .testTarget(name: "MQTTTests", dependencies: ["TestSupport", "MQTT"]),
        .testTarget(name: "EngineTests", dependencies: ["TestSupport", "Engine", "Registry", "Rules", "Ingest", "Incidents", "AuditChain", "Store"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "Ingest", "Registry"]),
        .testTarget(name: "LiveTests", dependencies: [
            "TestSupport", "Live", "MQTT", "Journal", "Engine", "Store", "Registry", "Simulation", "Telemetry", "AuditChain",
        ]),
        .testTarget(name: "WebhooksTests", dependencies: [
            "TestSupport", "Webhooks", "Live", "Store", "Registry", "Engine", "Closedloop", "Model",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "LeaseTests", dependencies: [
            "TestSupport", "Lease",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "PostgresStoreTests", dependencies: [
            "TestSupport", "PostgresStore", "Store", "Engine", "Lease", "Model", "Registry", "Rules", "AuditChain", "Simulation",
        ]),
        .testTarget(name: "PartitionTests", dependencies: [
            "TestSupport", "Partitions", "PostgresStore", "Store", "Engine", "Lease", "Live", "MQTT", "Model", "Registry",
            "Simulation",
        ]),
        .testTarget(name: "TelemetryTests", dependencies: [
            "Telemetry",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "Model"]),
        .testTarget(name: "WebTests", dependencies: [
            "TestSupport",
            "Web", "Closedloop", "Accounts", "Store", "Engine", "Model", "Incidents", "Telemetry", "Registry",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
    ]
)
