import ArgumentParser
import Foundation
import Model
import Registry
import Rules
import MQTT
import Simulation

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulated sensor gateways: realistic traffic for all eight scenarios, with incident-worthy episodes.",
        discussion: """
        Publishes to a broker in real time (event time = wall clock), optionally starting with --backfill of recent \
        history published at once (as gateways do after a reconnect), so that slow rules (a bin full for 15 min, a \
        car overstaying) show up in a short demo. With --log FILE it writes a JSON Lines log instead (for replay and \
        benchmarks): --events messages starting at --start, --rate events per second of event time.
        """)

    @Option(help: ArgumentHelp("The registry whose devices publish.", valueName: "FILE")) var registry: String
    @Option(help: ArgumentHelp("A rules folder whose schema files declare the registry's own device types (its other devices are simulated; those of declared types send nothing).", valueName: "DIR")) var rules: String?
    @Option(help: "Broker host.") var host = "127.0.0.1"
    @Option(help: "Broker port.") var port = 1883
    @Option(help: "Seed: the same seed gives the same traffic.") var seed: UInt64 = 1
    @Option(help: "Events per second.") var rate: Double = 50
    @Option(help: "How long to publish live, e.g. 60s, 10m.") var duration = "60s"
    @Option(help: "History to publish first, e.g. 30m (0 for none).") var backfill = "0s"
    @Option(help: "Share of draws that start an incident-worthy episode.") var episodeRate = 0.004
    @Option(help: "Share of malformed or redelivered messages.") var faultRate = 0.0
    @Option(help: "QoS 0 or 1.") var qos = 1
    @Option(help: ArgumentHelp("Write a JSON Lines log here instead of publishing.", valueName: "FILE")) var log: String?
    @Option(help: "With --log: how many events.") var events = 100_000
    @Option(help: "With --log: event time of the first event (RFC 3339).") var start: String?

    static func duration(_ s: String, _ name: String) throws -> Millis {
        let units: [(String, Millis)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (u, f) in units where s.hasSuffix(u) {
            if let n = Double(s.dropLast(u.count)), n >= 0 { return Millis(n * Double(f)) }
        }
        throw ValidationError("\(name) \(s): use a duration like 30s, 10m, 2h")
    }

    func validate() throws {
        _ = try Self.duration(duration, "--duration")
        _ = try Self.duration(backfill, "--backfill")
        guard rate > 0 else { throw ValidationError("--rate must be more than 0") }
        guard qos == 0 || qos == 1 else { throw ValidationError("--qos must be 0 or 1") }
        if let start { _ = try parseTime(start, option: "--start") }
    }

    func run() throws {
        if let rules { _ = try failing { try RuleSet.load(directory: rules) } }
        let reg = try failing { try RegistryLoader.load(path: registry) }
        guard reg.catalog.count > 0 else { throw Failure("registry \(registry) has no devices to simulate") }
        if let log { try writeLog(reg, to: log); return }
        let now = Instant(ms: Int64(Date().timeIntervalSince1970 * 1000))
        let back = try Self.duration(backfill, "--backfill"), live = try Self.duration(duration, "--duration")
        var gen = TrafficGenerator(registry: reg, seed: seed, start: now - back, eventsPerSecond: rate,
                                   episodeRate: episodeRate, faultRate: faultRate)
        let pub = try failing {
            try MQTTPublisher(settings: MQTTSettings(host: host, port: port, clientID: "cityeye-sim-\(ProcessInfo.processInfo.processIdentifier)",
                                                     cleanSession: true, topics: [], qos: qos, keepalive: 30))
        }
        try failing { try pub.connect(timeout: 10) }
        let end = now + live
        var sent = 0
        var lastReport = Date()
        print("simulating \(reg.catalog.count) devices: \(back > 0 ? "\(back / 1000) s of history, then " : "")\(live / 1000) s live at \(Int(rate)) events/s")
        while true {
            let m = gen.next()
            if m.ts > end { break }
            let wait = Double(m.ts.ms) / 1000 - Date().timeIntervalSince1970
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            try failing { _ = try pub.publish(topic: m.topic, payload: Array(m.payload.utf8), qos: qos) }
            sent += 1
            if Date().timeIntervalSince(lastReport) >= 5 {
                lastReport = Date()
                print("  published \(sent) messages")
                fflush(nil)
            }
        }
        try failing { try pub.waitForAcks(timeout: 30) }
        pub.disconnect()
        print("published \(sent) messages")
    }

    func writeLog(_ reg: Registry, to path: String) throws {
        let t0 = try start.map { try parseTime($0, option: "--start") } ?? RFC3339.parse("2026-11-24T00:00:00+08:00")!
        var gen = TrafficGenerator(registry: reg, seed: seed, start: t0, eventsPerSecond: rate, episodeRate: episodeRate, faultRate: faultRate)
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw Failure("cannot write \(path)")
        }
        var buf = [UInt8]()
        for _ in 0..<events {
            let m = gen.next()
            buf.append(contentsOf: "{\"topic\":\"\(m.topic)\",".utf8)
            buf.append(contentsOf: m.payload.utf8.dropFirst())
            buf.append(10)
            if buf.count > 4 << 20 { h.write(Data(buf)); buf.removeAll(keepingCapacity: true) }
        }
        h.write(Data(buf))
        try h.close()
        print("wrote \(events) events to \(path)")
    }
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a generated, realistic registry (communities, grids, workers, devices of all eight scenarios).",
        discussion: "Used for demos and benchmarks: `cityeye plan --devices 300 --seed 7 --out registry.yaml`.")
    @Option(help: "About how many devices.") var devices = 300
    @Option(help: "Seed: the same seed gives the same registry.") var seed: UInt64 = 7
    @Option(help: ArgumentHelp("Where to write it.", valueName: "FILE")) var out: String

    func validate() throws { guard devices > 0 else { throw ValidationError("--devices must be at least 1") } }

    func run() throws {
        let plan = DeploymentPlan.make(seed: seed, devices: devices)
        do { try plan.yaml.write(toFile: out, atomically: true, encoding: .utf8) } catch {
            let folder = (out as NSString).deletingLastPathComponent
            throw Failure("cannot write \(out): check that the folder \(folder.isEmpty ? "." : folder) exists and you may write in it")
        }
        print("wrote \(plan.registry.catalog.count) devices, \(plan.registry.workers.count) workers in \(plan.registry.grids.count) grids to \(out)")
    }
}
