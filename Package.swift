// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "CityEye",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cityeye", targets: ["CityEyeCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // Value types shared by every layer: events, registry, incidents, time.
        .target(name: "Model"),
        // The deployment file (SPEC §3) and the live config (SPEC §8), from YAML.
        .target(name: "Registry", dependencies: ["Model", "Yams"]),
        // Envelope decoding and validation, dead-letter reasons, JSON Lines logs.
        .target(name: "Ingest", dependencies: ["Model"]),
        // Rule files -> compiled rules; the event-time rule engine.
        .target(name: "Rules", dependencies: ["Model", "Yams"]),
        // Incidents (closed-loop dispatch): dedup, assignment, SLA escalation, people's actions, audit.
        .target(name: "Incidents", dependencies: ["Model"]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // SQLite: migrations, incidents, audit, dead letters, processed ids, rule state.
        .target(name: "Store", dependencies: ["Model", "CSQLite"]),
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        // The MQTT edge: libmosquitto bridged once into Swift concurrency.
        .target(name: "MQTT", dependencies: ["CMosquitto"]),
        // Ingest -> Rules -> Dispatch -> Store, shared by replay and the live engine.
        .target(name: "Engine", dependencies: ["Model", "Registry", "Ingest", "Rules", "Incidents", "Store"]),
        // Seeded, realistic gateway traffic for all eight scenarios: demo, simulator, benchmark.
        .target(name: "Simulation", dependencies: ["Model"]),
        .executableTarget(name: "CityEyeCLI", dependencies: [
            "Model", "Simulation", "Registry", "Ingest", "Rules", "Incidents", "Store", "MQTT", "Engine",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "ModelTests", dependencies: ["Model"]),
        .testTarget(name: "RegistryTests", dependencies: ["Registry"]),
        .testTarget(name: "IngestTests", dependencies: ["Ingest", "Registry"]),
        .testTarget(name: "RulesTests", dependencies: ["Rules", "Registry"]),
        .testTarget(name: "IncidentsTests", dependencies: ["Incidents"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"]),
        .testTarget(name: "MQTTTests", dependencies: ["MQTT"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Registry"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "Ingest", "Registry"]),
        .testTarget(name: "CLITests", dependencies: ["Model"]),
    ]
)
