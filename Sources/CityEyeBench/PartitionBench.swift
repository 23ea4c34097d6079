import Foundation
import Logging
import Model
import MQTT
import Store
import Lease
import PostgresStore
import PostgresNIO
import Simulation
import Live

/// Issue 15's figures for a partitioned city (`cityeye-bench partitions`): how long a killed engine's partitions stay
/// unheld, whether anything is lost or counted twice across the kills, and one engine's rate on PostgreSQL against
/// the same engine on SQLite. Everything runs here: a private PostgreSQL 15, two mosquitto, real `cityeye run`
/// processes (the binary beside this one).
enum PartitionBench {
    struct Options: Sendable {
        var communities = 6
        var detectorsEach = 50
        var rate = 3000.0
        var duration = 60.0
        var kills = 10
        var restartAfter = 15.0
        var messages = 300_000
        var runs = 3
        /// The brokers' inflight window towards each subscriber (`max_inflight_messages`): a partition acknowledges
        /// after each commit, so the window is how much the broker sends on while a batch commits: two of the engine's
        /// batches, as docs/scale.md says to run with.
        var window = 4000
        var seed: UInt64 = 1
        var failover = true
        var throughput = true
        /// `capture_dir` in both engines' configs (files for SQLite, the store's `capture_line` for PostgreSQL).
        var capture = false
        var dir = NSTemporaryDirectory() + "cityeye-bench-partitions"

        static func parse() -> Options {
            var o = Options()
            o.detectorsEach = Int(arg("--detectors", "50")) ?? 50
            o.rate = Double(arg("--rate", "3000")) ?? 3000
            o.duration = Double(arg("--duration", "60")) ?? 60
            o.kills = Int(arg("--kills", "10")) ?? 10
            o.restartAfter = Double(arg("--restart-after", "15")) ?? 15
            o.messages = Int(arg("--messages", "300000")) ?? 300_000
            o.runs = Int(arg("--runs", "3")) ?? 3
            o.window = max(1, Int(arg("--window", "4000")) ?? 4000)
            o.seed = UInt64(arg("--seed", "1")) ?? 1
            o.dir = arg("--dir", o.dir)
            o.capture = CommandLine.arguments.contains("--capture")
            switch arg("--only", "") {
            case "failover": o.throughput = false
            case "throughput": o.failover = false
            default: break
            }
            return o
        }

        var sectionName: String {
            (failover && throughput ? "partitions" : failover ? "partitions-failover" : "partitions-throughput") + (capture ? "-capture" : "")
        }
        var title: String {
            "Partitions: " + (failover && throughput ? "failover and throughput" : failover ? "failover only" : "throughput only")
                + (capture ? ", with capture_dir" : "") + " (issue 15)"
        }

        var communityIDs: [String] { (1...communities).map { "c\($0)" } }
        var devices: [(community: String, device: String)] {
            communityIDs.flatMap { c in (1...detectorsEach).map { (c, "\(c)-sd-\($0)") } }
        }
    }

    /// Where things are and what they print while they run.
    struct Bench {
        let options: Options
        let binary: String
        let pg: BenchPostgres
        let brokers: [MosquittoBroker]
        let registry: String
    }

    /// Writes the section; returns false when a ledger did not balance (the caller exits 1 after the brokers and the
    /// server here were stopped: an `exit` inside would skip the `defer`s and leave them running).
    static func run(out: String) async throws -> Bool {
        let o = Options.parse()
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cityeye").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchError("no cityeye binary beside this one (\(binary)); build it first (swift build -c release --product cityeye)")
        }
        // Emptied first (an earlier run's stores would be carried on), but only a folder this benchmark made.
        let marker = o.dir + "/.cityeye-bench-partitions"
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: o.dir)) ?? []
        if !existing.isEmpty && !FileManager.default.fileExists(atPath: marker) {
            throw BenchError("--dir \(o.dir) is not empty and was not made by this benchmark: name a new or empty folder")
        }
        try? FileManager.default.removeItem(atPath: o.dir)
        try FileManager.default.createDirectory(atPath: o.dir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: marker, contents: nil)
        let pg = try BenchPostgres()
        defer { pg.stop(keepLog: o.dir + "/postgresql.log") }
        let window = "max_inflight_messages \(o.window)"
        let brokers = [try MosquittoBroker(extraConfig: window), try MosquittoBroker(extraConfig: window)]
        defer { brokers.forEach { $0.stop() } }
        let registry = o.dir + "/registry.yaml"
        try registryYAML(o).write(toFile: registry, atomically: true, encoding: .utf8)
        let bench = Bench(options: o, binary: binary, pg: pg, brokers: brokers, registry: registry)
        print("PostgreSQL \(pg.version) on 127.0.0.1:\(pg.port) (fsync on), mosquitto on \(brokers[0].port) and \(brokers[1].port); logs in \(o.dir)")
        let loadBefore = loadAverage()
        var failover: FailoverResult?
        if o.failover { failover = try await runFailover(bench) }
        var throughput: [ThroughputRow] = []
        if o.throughput {
            for r in 1...max(1, o.runs) { throughput.append(try await runThroughput(bench, run: r)) }
        }
        let body = section(bench, failover: failover, throughput: throughput, load: (loadBefore, loadAverage()))
        // A run of one half (--only) has a section of its own: it never replaces the full run's figures.
        try writeSection(o.sectionName, body, to: out)
        print("written to \(out), section \"\(o.title)\"")
        if let f = failover, !f.ledger.exact { return false }
        return !throughput.contains(where: { $0.sqlite.counted != o.messages || $0.postgres.counted != o.messages })
    }

    static func registryYAML(_ o: Options) -> String {
        var lines = ["communities:"] + o.communityIDs.map { "  - {id: \($0), name: \($0), timezone: Asia/Shanghai}" }
        lines += ["grids:"] + o.communityIDs.map { "  - {id: \($0)-g1, community: \($0), name: G1}" }
        lines += ["workers:"] + o.communityIDs.map { "  - {id: w-\($0), name: W \($0), grid: \($0)-g1, role: worker}" }
        lines += ["devices:"] + o.devices.map { "  - {id: \($0.device), type: smoke_detector, community: \($0.community), grid: \($0.community)-g1}" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Communities listed one per partition, p0…; the second half of the partitions on the second broker.
    static func cityConfig(_ b: Bench, database: String) throws -> String {
        let ids = b.options.communityIDs
        let parts = ids.enumerated().map { i, c in
            i < ids.count / 2 ? "  - {id: p\(i), communities: [\(c)]}"
                              : "  - {id: p\(i), communities: [\(c)], broker: {port: \(b.brokers[1].port)}}"
        }
        let path = b.options.dir + "/city.yaml"
        try ("""
        broker: {host: 127.0.0.1, port: \(b.brokers[0].port), client_id: city, keepalive_s: 5}
        registry: \(b.registry)
        rules: \(scenariosDir())
        store: \(b.pg.url(database))
        audit_key_file: city-audit-key
        partitions:
        \(parts.joined(separator: "\n"))

        """).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    // MARK: - Failover

    struct KillRow {
        var number: Int
        var atSeconds: Double
        var slot: String
        var engine: String
        var held: [String]
        /// From the kill until every partition's lease is live and held by a live engine (nil: not within 60 s).
        var failover: Double?
        /// From the kill until the last of the victim's partitions logged `connected` (its session resumed: the broker
        /// delivers what it kept) on a survivor.
        var connected: Double?
        /// From the kill until the last of the victim's partitions logged `ready` (the SUBACK read) on a survivor.
        var ready: Double?
        /// From the restart until the three engines hold their fair share again.
        var rebalance: Double?
    }

    struct Ledger {
        var published = 0
        var counted: Int64 = 0
        var lost: Int64 = 0
        var countedTwice: Int64 = 0
        var devices = 0
        var devicesCounted = 0
        var devicesOff = 0
        var incidents = 0
        /// Counted minus published, by community, where they differ.
        var offByCommunity: [String: Int64] = [:]
        var exact: Bool { lost == 0 && countedTwice == 0 && devicesOff == 0 && incidents == devices && devicesCounted == devices }
    }

    struct FailoverResult {
        var kills: [KillRow]
        var ledger: Ledger
        var publishSeconds: Double
        var publisherErrors: [String]
        var stops: [String]
        var notable: [String]
        var logsFolder: String
    }

    /// Three engines, two publishers at `rate`, `kills` kill -9 of a random engine each restarted `restartAfter` later.
    static func runFailover(_ b: Bench) async throws -> FailoverResult {
        let o = b.options
        try await b.pg.createDatabase("failover")
        let config = try cityConfig(b, database: "failover")
        let leases = try await LeaseView(target: b.pg.target("failover"))
        defer { Task { await leases.close() } }
        var slots: [String: EngineProcess] = [:]
        var generation: [String: Int] = [:]
        var all: [EngineProcess] = []
        func start(_ slot: String) throws -> EngineProcess {
            generation[slot, default: 0] += 1
            let e = try EngineProcess(binary: b.binary, config: config, name: "\(slot)\(generation[slot]!)", dir: o.dir)
            slots[slot] = e
            all.append(e)
            return e
        }
        defer { for e in all where e.process.isRunning { kill(e.process.processIdentifier, SIGKILL) } }
        for s in ["a", "b", "c"] { _ = try start(s) }
        for e in slots.values { _ = try await e.engineID() }
        let liveIDs = { () async throws -> Set<String> in
            var ids = Set<String>()
            for e in slots.values where e.process.isRunning { ids.insert(try await e.engineID()) }
            return ids
        }
        guard try await leases.waitUntilBalanced(live: try await liveIDs(), partitions: o.communities, timeout: 60) != nil else {
            throw BenchError("the three engines did not take the \(o.communities) partitions within 60 s; see the logs in \(o.dir)")
        }
        // A lease held is not yet a session subscribed: on brokers that never saw a partition's client id, what is
        // published before its first SUBSCRIBE reaches no session and is gone (MQTT; docs/operations.md).
        let names = try await leases.rows().map(\.partition).sorted()
        let readyBy = Date().addingTimeInterval(60)
        while logged("ready", after: .distantPast, partitions: names, logs: all) == nil {
            guard Date() < readyBy else { throw BenchError("not every partition said `ready` (subscribed) within 60 s; see the logs in \(o.dir)") }
            try await Task.sleep(for: .milliseconds(100))
        }
        print("failover: 3 engines hold \(o.communities) partitions; publishing \(Int(o.rate))/s on two brokers")
        let gateways = [
            Gateways(port: b.brokers[0].port, devices: Array(o.devices.prefix(o.devices.count / 2)), rate: o.rate / 2, tag: "g0"),
            Gateways(port: b.brokers[1].port, devices: Array(o.devices.dropFirst(o.devices.count / 2)), rate: o.rate / 2, tag: "g1"),
        ]
        let begun = ContinuousClock.now
        gateways.forEach { $0.start() }
        func sinceBegun() -> Double { seconds(ContinuousClock.now - begun) }
        var rng = SeededRandom(seed: o.seed)
        var rows: [KillRow] = []
        let firstKill = o.kills == 1 ? o.duration / 2 : min(10, o.duration / 2)
        try await Task.sleep(for: .seconds(max(0, firstKill - sinceBegun())))
        for k in 1...max(1, o.kills) where o.kills > 0 {
            if k > 1 {
                // A random point of the lease renewal cycle, not right after the rebalance.
                try await Task.sleep(for: .milliseconds(1000 + Int(rng.next() % 3000)))
            }
            let slot = ["a", "b", "c"][Int(rng.next() % 3)]
            let victim = slots[slot]!
            let victimID = try await victim.engineID()
            let held = try await leases.rows().filter { $0.holder == victimID && $0.msLeft > 0 }.map(\.partition).sorted()
            let at = sinceBegun()
            let killedWall = Date()
            let killed = ContinuousClock.now
            kill(victim.process.processIdentifier, SIGKILL)
            victim.process.waitUntilExit()
            let survivors = try await liveIDs()
            let failover = try await leases.waitUntilAllHeld(by: survivors, partitions: o.communities, since: killed, timeout: 60)
            print("kill \(k)/\(o.kills) at \(String(format: "%.1f", at)) s: engine \(slot) (\(victimID)) held \(held.joined(separator: ",")); "
                  + "all partitions held again after \(failover.map { String(format: "%.2f s", $0) } ?? "more than 60 s")")
            try await Task.sleep(for: .seconds(max(0, o.restartAfter - seconds(ContinuousClock.now - killed))))
            let survivorLogs = all.filter { $0 !== victim && $0.process.isRunning }
            let connected = logged("connected to", after: killedWall, partitions: held, logs: survivorLogs)
            let ready = logged("ready", after: killedWall, partitions: held, logs: survivorLogs)
            let restarted = ContinuousClock.now
            let fresh = try start(slot)
            _ = try await fresh.engineID()
            let balanced = try await leases.waitUntilBalanced(live: try await liveIDs(), partitions: o.communities, timeout: 60)
            let rebalance = balanced.map { seconds($0 - restarted) }
            print("  restarted as \(fresh.name): \(rebalance.map { String(format: "a fair share each again after %.2f s", $0) } ?? "not rebalanced within 60 s")"
                  + "; victim's partitions connected on survivors after \(connected.map { String(format: "%.2f s", $0) } ?? "?")"
                  + ", ready after \(ready.map { String(format: "%.2f s", $0) } ?? "?")")
            rows.append(KillRow(number: k, atSeconds: at, slot: slot, engine: victimID, held: held, failover: failover,
                                connected: connected, ready: ready, rebalance: rebalance))
            fflush(nil)
        }
        // Publishing goes on for --duration, and at least 10 s past the last rebalance.
        let end = max(o.duration, sinceBegun() + 10)
        try await Task.sleep(for: .seconds(max(0, end - sinceBegun())))
        gateways.forEach { $0.stop() }
        while !gateways.allSatisfy(\.finished) { try await Task.sleep(for: .milliseconds(50)) }
        let publishSeconds = sinceBegun()
        var published: [String: Int] = [:]
        for g in gateways { published.merge(g.published) { $0 + $1 } }
        let total = published.values.reduce(0, +)
        print("published \(total) alarms in \(String(format: "%.1f", publishSeconds)) s; waiting for the store to count them")
        let target = try b.pg.target("failover")
        try await waitForCount(target, total: total)
        // Anything counted twice would arrive late.
        try await Task.sleep(for: .seconds(3))
        let ledger = try ledgerCheck(target: target, published: published)
        if !ledger.exact {
            // Kept to find which layer dropped or doubled them: the store (which devices, which batches) and the logs.
            b.pg.keepsData = true
            print("the ledger does not balance (\(ledger.offByCommunity.map { "\($0.key): \($0.value)" }.sorted().joined(separator: ", "))); "
                  + "PostgreSQL's data is kept in \(b.pg.folder), the engines' logs in \(o.dir)")
        }
        // A clean stop of the engines still running: each gives every partition back.
        let stops = try await stopCleanly(slots.values.sorted { $0.name < $1.name })
        // The partitions' sessions would keep queueing for nobody on the brokers (the throughput runs use them).
        for p in 0..<o.communities {
            LiveBench.forgetSession(port: b.brokers[p < o.communities / 2 ? 0 : 1].port, clientID: "city-pp\(p)")
        }
        return FailoverResult(kills: rows, ledger: ledger, publishSeconds: publishSeconds,
                              publisherErrors: gateways.compactMap(\.error), stops: stops, notable: notableLines(all),
                              logsFolder: o.dir)
    }

    /// Polls the store every second until it counts `total` alarms, its count stands still for 30 s, or 180 s pass.
    static func waitForCount(_ target: PostgresTarget, total: Int) async throws {
        var counted: Int64 = 0, last: Int64 = -1
        var still = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            counted = (try? storeCounts(target).byDevice.values.reduce(0, +)) ?? counted
            if counted >= Int64(total) { break }
            if counted != last { last = counted; still = ContinuousClock.now }
            if ContinuousClock.now - still > .seconds(30) { break }
            try await Task.sleep(for: .seconds(1))
        }
    }

    /// SIGTERM to the engines still running, and how each ended (a kill after 30 s); one line each.
    static func stopCleanly(_ running: [EngineProcess]) async throws -> [String] {
        var stops: [String] = []
        for e in running where e.process.isRunning { e.process.terminate() }
        for e in running {
            let until = Date().addingTimeInterval(30)
            while e.process.isRunning && Date() < until { try await Task.sleep(for: .milliseconds(100)) }
            if e.process.isRunning {
                stops.append("\(e.name): did not stop within 30 s of SIGTERM (killed)")
                kill(e.process.processIdentifier, SIGKILL)
                e.process.waitUntilExit()
            } else {
                let gaveBack = e.text().contains("every partition given back")
                stops.append("\(e.name): exit \(e.process.terminationStatus)\(gaveBack ? ", every partition given back" : ", NO `every partition given back` line")")
            }
        }
        return stops
    }

    /// Each device's count summed over its incidents, and the number of incidents.
    static func storeCounts(_ target: PostgresTarget) throws -> (byDevice: [String: Int64], incidents: Int) {
        let store = try PostgresStore(target: target, create: false)
        defer { store.close() }
        let all = try store.incidents()
        return (all.reduce(into: [:]) { $0[$1.device, default: 0] += $1.count }, all.count)
    }

    static func ledgerCheck(target: PostgresTarget, published: [String: Int]) throws -> Ledger {
        let (byDevice, incidents) = try storeCounts(target)
        var l = Ledger()
        l.published = published.values.reduce(0, +)
        l.counted = byDevice.values.reduce(0, +)
        l.devices = published.count
        l.devicesCounted = byDevice.count
        l.incidents = incidents
        for (device, n) in published {
            let c = byDevice[device] ?? 0
            if c < Int64(n) { l.lost += Int64(n) - c }
            if c > Int64(n) { l.countedTwice += c - Int64(n) }
            if c != Int64(n) {
                l.devicesOff += 1
                l.offByCommunity[String(device.prefix { $0 != "-" }), default: 0] += c - Int64(n)
            }
        }
        for (device, c) in byDevice where published[device] == nil { l.countedTwice += c; l.devicesOff += 1 }
        return l
    }

    /// When the last of `partitions` first logged `partition X: <what>` after `since` in one of `logs`, as seconds
    /// after `since` (nil if one of them has not).
    static func logged(_ what: String, after since: Date, partitions: [String], logs: [EngineProcess]) -> Double? {
        var latest = 0.0
        for p in partitions {
            var first: Double?
            for e in logs {
                for line in e.text().split(separator: "\n") where line.contains(" partition \(p): \(what)") {
                    guard let t = RFC3339.parse(String(line.prefix { $0 != " " })) else { continue }
                    let d = Double(t.ms) / 1000 - since.timeIntervalSince1970
                    if d >= 0, d < (first ?? .infinity) { first = d }
                }
            }
            guard let first else { return nil }
            latest = max(latest, first)
        }
        return latest
    }

    /// Lines of the engines' logs an operator would want to see after such a run (troubles, lost leases), at most
    /// two of each kind, with how many there were.
    static func notableLines(_ engines: [EngineProcess]) -> [String] {
        let kinds = ["lease lost", "a commit failed", "cannot", ": broker ", "unsealed", "error", "fenced"]
        var out: [String] = []
        for k in kinds {
            var hits: [String] = []
            for e in engines {
                for line in e.text().split(separator: "\n") where line.contains(k) { hits.append("\(e.name): \(line)") }
            }
            if hits.isEmpty { continue }
            out.append("`\(k)`: \(hits.count) line(s)")
            out += hits.prefix(2).map { "    " + $0 }
        }
        return out
    }

    // MARK: - Throughput

    struct Rate {
        var seconds: Double
        var publishSeconds: Double
        var counted: Int
        var perSecond: Double { seconds > 0 ? Double(counted) / seconds : 0 }
    }

    struct ThroughputRow {
        var run: Int
        var sqlite: Rate
        var postgres: Rate
        var raw: Double
        /// The 1-minute load average when the run began.
        var load: String
        var ratio: Double { postgres.perSecond / max(1, sqlite.perSecond) }
    }

    /// One engine alone, as fast as one publisher can send: SQLite (no partitions) then PostgreSQL (`{hash: 1}`), each
    /// on a fresh store and a new client id; then `mosquitto_sub -q 1` on the same broker.
    static func runThroughput(_ b: Bench, run: Int) async throws -> ThroughputRow {
        let o = b.options
        let port = b.brokers[0].port
        let devices = o.devices
        let load = String(loadAverage().split(separator: " ").first ?? "?")
        func messages(_ tag: String) -> [(String, [UInt8])] {
            let ts = RFC3339.format(SystemClock().now())
            return (0..<o.messages).map { i in
                let (c, d) = devices[i % devices.count]
                return ("cityeye/\(c)/\(d)", Array("{\"id\":\"\(tag)-\(i)\",\"ts\":\"\(ts)\",\"device\":\"\(d)\",\"type\":\"smoke.alarm\",\"data\":{}}".utf8))
            }
        }
        let sqliteName = "tput-sqlite-\(run)"
        let sqliteConfig = o.dir + "/\(sqliteName).yaml"
        try """
        broker: {host: 127.0.0.1, port: \(port), client_id: \(sqliteName)}
        registry: \(b.registry)
        rules: \(scenariosDir())
        store: \(sqliteName).db
        audit_key_file: \(sqliteName).audit-key
        \(o.capture ? "capture_dir: \(sqliteName)-capture" : "")

        """.write(toFile: sqliteConfig, atomically: true, encoding: .utf8)
        let sqlite = try await measure(b, config: sqliteConfig, name: sqliteName, ready: "ready: ", messages: messages(sqliteName)) {
            try Store(path: o.dir + "/\(sqliteName).db", create: false)
        }
        LiveBench.forgetSession(port: port, clientID: sqliteName)
        let pgName = "tput_pg_\(run)"
        try await b.pg.createDatabase(pgName)
        let pgConfig = o.dir + "/\(pgName).yaml"
        try """
        broker: {host: 127.0.0.1, port: \(port), client_id: \(pgName)}
        registry: \(b.registry)
        rules: \(scenariosDir())
        store: \(b.pg.url(pgName))
        audit_key_file: \(pgName).audit-key
        partitions: {hash: 1}
        \(o.capture ? "capture_dir: \(pgName)-capture" : "")

        """.write(toFile: pgConfig, atomically: true, encoding: .utf8)
        let target = try b.pg.target(pgName)
        let postgres = try await measure(b, config: pgConfig, name: pgName, ready: "partition 0: ready", messages: messages(pgName)) {
            try PostgresStore(target: target, create: false)
        }
        LiveBench.forgetSession(port: port, clientID: pgName + "-p0")
        // Each run on a fresh store, as the SQLite runs are: a finished run's database would otherwise be vacuumed (its
        // deleted occurrences, its updated incidents) by the server's autovacuum during the next runs, on the same cores.
        try await b.pg.dropDatabase(pgName)
        let raw = try await LiveBench.rawRate(port: port, n: o.messages, devices: devices.count)
        let row = ThroughputRow(run: run, sqlite: sqlite, postgres: postgres, raw: raw, load: load)
        print("throughput run \(run): SQLite \(Int(sqlite.perSecond))/s (counted \(sqlite.counted)), PostgreSQL \(Int(postgres.perSecond))/s "
              + "(counted \(postgres.counted)), mosquitto_sub -q 1 \(Int(raw))/s; PostgreSQL/SQLite \(Int(postgres.perSecond / max(1, sqlite.perSecond) * 100)) %")
        fflush(nil)
        return row
    }

    /// Starts the engine, publishes `messages` as fast as one publisher can (to `port`, by default the first broker's), and times until the store counts them all
    /// (polled every 100 ms); then stops the engine with SIGTERM.
    static func measure(_ b: Bench, config: String, name: String, ready: String, messages: [(String, [UInt8])],
                        publishTo port: Int? = nil, open: () throws -> any StoreReader) async throws -> Rate {
        let engine = try EngineProcess(binary: b.binary, config: config, name: name, dir: b.options.dir)
        defer {
            if engine.process.isRunning { engine.process.terminate(); engine.process.waitUntilExit() }
        }
        let until = Date().addingTimeInterval(60)
        while !engine.text().contains(ready) {
            guard engine.process.isRunning, Date() < until else {
                throw BenchError("\(name): the engine did not say `\(ready)` within 60 s: \(engine.text().suffix(600))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let store = try open()
        defer { store.close() }
        func counted() throws -> Int { Int(try store.incidents().reduce(0) { $0 + $1.count }) }
        let n = messages.count
        let progress = PublishProgress()
        let start = ContinuousClock.now
        let port = port ?? b.brokers[0].port
        let publisher = Thread { try? LiveBench.publish(messages, port: port, progress: progress) }
        publisher.start()
        var publishSeconds: Double?
        var got = 0
        var end = start
        let deadline = start + .seconds(600)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            if publishSeconds == nil && publisher.isFinished { publishSeconds = seconds(ContinuousClock.now - start) }
            got = try counted()
            end = ContinuousClock.now
            if got >= n { break }
        }
        while !publisher.isFinished { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .seconds(1))
        got = try counted()
        return Rate(seconds: seconds(end - start), publishSeconds: publishSeconds ?? seconds(end - start), counted: got)
    }

    // MARK: - The section

    static func section(_ b: Bench, failover: FailoverResult?, throughput: [ThroughputRow],
                        load: (before: String, after: String)) -> String {
        let o = b.options
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        let command = "cityeye-bench " + CommandLine.arguments.dropFirst().joined(separator: " ")
        var s = """
        ## \(o.title)

        Machine: \(machine()) (`nproc` \(ProcessInfo.processInfo.activeProcessorCount)), shared with other builds; load
        average \(load.before) at the start, \(load.after) at the end. Build: \(build) (`cityeye-bench` and the `cityeye` beside
        it). Command: `\(command)` (scripts/partition-bench.sh).
        Everything on this machine, over loopback: PostgreSQL \(b.pg.version) started for the run (a temporary folder,
        **fsync on**, `synchronous_commit` on, default settings otherwise), two mosquitto (`max_queued_messages 0`,
        `max_inflight_messages \(o.window)`), a registry of \(o.communities) communities × \(o.detectorsEach) smoke detectors, and
        `cityeye run --quiet --stats-every 0` processes. Every message is a `smoke.alarm` with a unique id, published with
        QoS 1; every alarm adds 1 to its device's incident count, so the counts are the publishers' ledger.

        """
        if let f = failover {
            let done = f.kills.compactMap(\.failover).sorted()
            let ready = f.kills.compactMap(\.ready).sorted()
            let connected = f.kills.compactMap(\.connected).sorted()
            let rebal = f.kills.compactMap(\.rebalance).sorted()
            func stats(_ v: [Double]) -> String {
                v.isEmpty ? "—" : String(format: "min %.2f s, median %.2f s, max %.2f s", v.first!, median(v), v.last!)
            }
            let short = f.kills.count < o.kills ? " (of the \(o.kills) asked for)" : ""
            s += """

            ### Failover: \(f.kills.count) kill(s)\(short)

            \(o.communities) listed partitions, one community each, p0–p\(o.communities / 2 - 1) on the first broker and
            p\(o.communities / 2)–p\(o.communities - 1) on the second (a partition's own `broker: {port: …}`); lease TTL 6 s, renewed every
            1 s, a 2 s margin, rebalancing every 1 s (PartitionRunner's defaults). Three engines; two publishers (one per
            broker, \(Int(o.rate / 2))/s each, \(Int(o.rate))/s in all) for \(String(format: "%.0f", f.publishSeconds)) s. Each kill: `kill -9` of a random
            engine (seeded, seed \(o.seed)), started again \(Int(o.restartAfter)) s after the kill; the next kill comes 1–4 s after the
            three engines hold their fair share again (two or three each of the six and `keyed`, the partition of the rules
            keyed across communities). **Failover** is from the kill until every partition's lease
            (`partition_lease`, polled every 100 ms, so each figure is up to ~0.1 s late) has `expires_at > now()` and a
            holder that is a live engine. **Connected** is from the kill until the last of the killed engine's partitions
            logged `partition pN: connected` in a survivor's log (its broker session resumed: the broker delivers what it
            kept from then on); **ready** until they logged `ready` (the SUBACK read: it comes after the kept messages the
            broker sent first, so it includes the first commits). **Rebalance** is from the restart until each engine holds
            its fair share again (the survivors give back, the restarted engine takes on its next round).

            | kill | at (s into the run) | engine killed | its partitions | failover (s) | connected (s) | ready (s) | rebalance after restart (s) |
            |---|---|---|---|---|---|---|---|

            """
            for k in f.kills {
                func fmt(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "not within 60 s" }
                func seen(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "not seen" }
                s += "| \(k.number) | \(String(format: "%.1f", k.atSeconds)) | \(k.slot) | \(k.held.joined(separator: ", ")) | \(fmt(k.failover)) | "
                    + "\(seen(k.connected)) | \(seen(k.ready)) | \(fmt(k.rebalance)) |\n"
            }
            let l = f.ledger
            s += """

            Failover: **\(stats(done))**. Connected: \(stats(connected)). Ready: \(stats(ready)). Rebalance: \(stats(rebal)).

            **Ledger:** \(l.published) alarms published (acknowledged by the brokers) over \(l.devices) devices; the store counts
            \(l.counted) in \(l.incidents) incident(s) over \(l.devicesCounted) devices: **lost \(l.lost), counted twice \(l.countedTwice)**,
            \(l.devicesOff) device(s) whose count differs from what was published; \(l.incidents == l.devices ? "one incident a device" : "**not one incident a device**").
            \(l.exact ? "Every alarm counted exactly once." : "**The ledger does not balance** (counted minus published: "
                + l.offByCommunity.map { "\($0.key) \($0.value)" }.sorted().joined(separator: ", ") + ").")
            \(f.publisherErrors.isEmpty ? "" : "Publisher errors: " + f.publisherErrors.joined(separator: "; ") + ".")
            Clean stop at the end (SIGTERM): \(f.stops.joined(separator: "; ")).

            """
            if !f.notable.isEmpty {
                s += "\nLines of note in the engines' logs:\n\n```\n" + f.notable.joined(separator: "\n") + "\n```\n"
            }
        }
        if !throughput.isEmpty {
            let sq = throughput.map(\.sqlite.perSecond).sorted(), pq = throughput.map(\.postgres.perSecond).sorted()
            let raw = throughput.map(\.raw).sorted()
            let ratio = median(throughput.map(\.ratio))
            s += """

            ### Throughput: one engine, PostgreSQL vs SQLite

            One engine alone on the first broker, \(o.messages) alarms over the \(o.devices.count) devices from one publisher as fast as
            it can (QoS 1; the broker's inflight window towards the engine \(o.window)), timed from the first publish until the store counts them all (read every
            100 ms). SQLite: `cityeye run` without partitions (its local journal, acknowledged on append). PostgreSQL:
            `partitions: {hash: 1}` and `store: postgres://…` (one partition holding every community, acknowledged only after
            each commit, each commit fenced by the lease). Each on a fresh store (a PostgreSQL run's database is dropped
            after it) and a new client id, alternating, \(throughput.count)
            run(s); then `mosquitto_sub -q 1` from the same kind of publisher on the same broker.\(o.capture ? " Both with `capture_dir`: the SQLite engine writes its day file, the partition inserts each batch's lines into the store's `capture_line` in the batch's transaction." : "")

            | run | load (1 min) at its start | SQLite events/s | PostgreSQL events/s | PostgreSQL / SQLite | mosquitto_sub -q 1 msg/s | publisher done (SQLite / PostgreSQL, s) | counted (SQLite / PostgreSQL) |
            |---|---|---|---|---|---|---|---|

            """
            for r in throughput {
                s += "| \(r.run) | \(r.load) | \(Int(r.sqlite.perSecond)) | \(Int(r.postgres.perSecond)) | \(Int(r.ratio * 100)) % | "
                    + "\(Int(r.raw)) | \(String(format: "%.1f / %.1f", r.sqlite.publishSeconds, r.postgres.publishSeconds)) | \(r.sqlite.counted) / \(r.postgres.counted) |\n"
            }
            s += """

            Median: SQLite **\(Int(median(sq)))** events/s, PostgreSQL **\(Int(median(pq)))** events/s; PostgreSQL / SQLite, the median
            of the paired runs: **\(Int(ratio * 100)) %** (range \(Int((throughput.map(\.ratio).min() ?? 0) * 100))–\(Int((throughput.map(\.ratio).max() ?? 0) * 100)) %; the ratio of the medians
            \(Int(median(pq) / max(1, median(sq)) * 100)) %; issue 15's target ≥ 80 %: \(ratio >= 0.8 ? "met by the median" : "**not met** by the median")); `mosquitto_sub -q 1`
            \(Int(median(raw))) msg/s. Broker, publisher, engine and (for the PostgreSQL runs) the server share the 2 cores,
            with other builds beside them: the figures are what the engine got of the machine, not its ceiling, and runs
            differ widely (the range).

            """
        }
        return s
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }
}

/// Something the benchmark could not set up or run; the message says what and where to look.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One `cityeye run` process, its output in `<dir>/<name>.log`.
final class EngineProcess: @unchecked Sendable {
    let name: String
    let logPath: String
    let process = Process()
    private var id: String?

    init(binary: String, config: String, name: String, dir: String) throws {
        self.name = name
        logPath = dir + "/\(name).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", "--config", config, "--quiet", "--stats-every", "0"]
        process.standardOutput = FileHandle(forWritingAtPath: logPath)
        process.standardError = process.standardOutput
        try process.run()
    }

    func text() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The engine id it announces (`engine <id>: running …`), the holder named in its leases.
    func engineID() async throws -> String {
        if let id { return id }
        let until = Date().addingTimeInterval(30)
        while Date() < until {
            if let line = text().split(separator: "\n").first(where: { $0.contains(" engine ") && $0.contains(": running ") }),
               let r = line.range(of: " engine ") {
                let rest = line[r.upperBound...]
                let found = String(rest.prefix { $0 != ":" })
                id = found
                return found
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError("\(name): no `engine <id>: running` line within 30 s: \(text().suffix(600))")
    }
}

/// The `partition_lease` table read on a connection of its own.
actor LeaseView {
    struct Row { var partition: String; var holder: String?; var msLeft: Int64 }
    let connection: PostgresConnection
    let logger: Logger

    init(target: PostgresTarget) async throws {
        var l = Logger(label: "cityeye-bench.leases")
        l.logLevel = .critical
        logger = l
        connection = try await target.connect(logger: l)
    }

    /// Every lease row with the milliseconds it has left by the server's clock (none before an engine made the table).
    func rows() async throws -> [Row] {
        do {
            let rows = try await connection.query("""
                SELECT partition, holder, (extract(epoch FROM expires_at - now()) * 1000)::bigint FROM partition_lease
                """, logger: logger)
            var out: [Row] = []
            for try await (p, h, ms) in rows.decode((String, String?, Int64).self) { out.append(Row(partition: p, holder: h, msLeft: ms)) }
            return out
        } catch where PostgresTrouble.sqlState(error) == "42P01" {
            return []
        }
    }

    /// Polls every 100 ms until every partition (the `partitions` listed, and `keyed` if the plan has it) has a live
    /// lease held by one of `live`; the seconds from `since`, or nil after `timeout` s.
    func waitUntilAllHeld(by live: Set<String>, partitions: Int, since: ContinuousClock.Instant, timeout: Double) async throws -> Double? {
        let deadline = since + .seconds(timeout)
        while ContinuousClock.now < deadline {
            let r = try await rows()
            if Self.listed(partitions).isSubset(of: r.map(\.partition)) && r.allSatisfy({ $0.msLeft > 0 && $0.holder.map(live.contains) == true }) {
                return PartitionBench.seconds(ContinuousClock.now - since)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    /// Polls every 100 ms until the partitions are held, each engine of `live` holding its equal share; when, or nil.
    /// Waits until every partition is held by a live engine and each live engine holds its fair share (all of them
    /// the same number, or one more). `partitions` counts the listed ones; the plan may add `keyed` (the rules keyed
    /// across communities), whose lease row counts too once it exists.
    func waitUntilBalanced(live: Set<String>, partitions: Int, timeout: Double) async throws -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            let all = try await rows()
            // Each listed partition by name: until an engine first takes one, it has no row, and `keyed`'s row would
            // otherwise make up the number (the first failover runs began publishing before p3 was even taken).
            guard Self.listed(partitions).isSubset(of: all.map(\.partition)) else {
                try await Task.sleep(for: .milliseconds(100))
                continue
            }
            let n = all.count, engines = max(1, live.count)
            let held = all.filter { $0.msLeft > 0 && $0.holder.map(live.contains) == true }
            let byHolder = Dictionary(grouping: held, by: { $0.holder! }).mapValues(\.count)
            let fair = (n / engines)...((n + engines - 1) / engines)
            if held.count == n && live.allSatisfy({ fair.contains(byHolder[$0] ?? 0) }) { return ContinuousClock.now }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    /// The listed partitions' names, p0…
    static func listed(_ partitions: Int) -> Set<String> { Set((0..<partitions).map { "p\($0)" }) }

    func close() async { try? await connection.close() }
}

/// One publisher thread: smoke alarms at `rate` a second, round-robin over its devices, each with a unique id, until
/// stopped; what the broker acknowledged is counted per device (the ledger).
final class Gateways: @unchecked Sendable {
    let port: Int
    let devices: [(community: String, device: String)]
    let rate: Double
    let tag: String
    private let lock = NSLock()
    private var stopAsked = false
    private var done = false
    private var counts: [String: Int] = [:]
    private var failure: String?

    init(port: Int, devices: [(community: String, device: String)], rate: Double, tag: String) {
        self.port = port
        self.devices = devices
        self.rate = rate
        self.tag = tag
    }

    var finished: Bool { lock.withLock { done } }
    var published: [String: Int] { lock.withLock { counts } }
    var error: String? { lock.withLock { failure } }
    func stop() { lock.withLock { stopAsked = true } }

    func start() {
        let t = Thread { [self] in
            var local = [Int](repeating: 0, count: devices.count)
            var why: String?
            do {
                let pub = try MQTTPublisher(settings: MQTTSettings(port: port, clientID: "gateways-\(tag)", cleanSession: true, topics: []))
                try pub.connect()
                let start = Date()
                var ts = RFC3339.format(SystemClock().now())
                var i = 0
                while !lock.withLock({ stopAsked }) {
                    let wait = start.addingTimeInterval(Double(i) / rate).timeIntervalSinceNow
                    if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                    if i % 500 == 0 { ts = RFC3339.format(SystemClock().now()) }
                    let k = i % devices.count
                    let (c, d) = devices[k]
                    let body = "{\"id\":\"\(tag)-\(i)\",\"ts\":\"\(ts)\",\"device\":\"\(d)\",\"type\":\"smoke.alarm\",\"data\":{}}"
                    try pub.publish(topic: "cityeye/\(c)/\(d)", payload: Array(body.utf8), qos: 1)
                    local[k] += 1
                    i += 1
                }
                try pub.waitForAcks(timeout: 60)
                pub.disconnect()
            } catch {
                why = "publisher \(tag): \(error)"
            }
            lock.withLock {
                for (k, n) in local.enumerated() where n > 0 { counts[devices[k].device, default: 0] += n }
                failure = why
                done = true
            }
        }
        t.start()
    }
}

/// A private PostgreSQL 15 for the benchmark: `initdb` in a temporary folder, the server on a free loopback port with
/// fsync on (commits reach the disk, as in production), run as the `postgres` user when we are root.
final class BenchPostgres: @unchecked Sendable {
    static let bin = "/usr/lib/postgresql/15/bin"
    let port: Int
    let folder: String
    let user = "cityeye"
    private(set) var version = "15"

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.bin + "/initdb") else {
            throw BenchError("PostgreSQL 15 not found (\(Self.bin)/initdb): apt-get install -y postgresql-15")
        }
        port = try MosquittoBroker.freePort()
        folder = NSTemporaryDirectory() + "cityeye-bench-pg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if geteuid() == 0 { _ = try Self.spawn(["/bin/chown", "postgres:postgres", folder], asServer: false) }
        _ = try Self.spawn([Self.bin + "/initdb", "-D", folder + "/data", "-U", user, "-E", "UTF8", "-A", "trust"], asServer: true)
        // CITYEYE_BENCH_PG_OPTIONS: more server options, to look inside a run (e.g. `-c
        // shared_preload_libraries=pg_stat_statements`, then read the view with psql on the socket in `folder`).
        let extra = ProcessInfo.processInfo.environment["CITYEYE_BENCH_PG_OPTIONS"].map { " " + $0 } ?? ""
        _ = try Self.spawn([Self.bin + "/pg_ctl", "-D", folder + "/data", "-l", folder + "/log", "-w", "-t", "60", "-o",
                            "-p \(port) -k \(folder) -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on" + extra, "start"],
                           asServer: true)
        // `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`
        let words = ((try? Self.spawn([Self.bin + "/postgres", "--version"], asServer: true)) ?? "").split(separator: " ")
        version = words.firstIndex(of: "(PostgreSQL)").flatMap { words.indices.contains($0 + 1) ? String(words[$0 + 1]) : nil } ?? "15"
    }

    func url(_ database: String) -> String { "postgres://\(user)@127.0.0.1:\(port)/\(database)" }
    func target(_ database: String) throws -> PostgresTarget { try PostgresTarget.parse(url(database), environment: [:]) }

    func createDatabase(_ name: String) async throws { try await execute("CREATE DATABASE \(name)") }

    func dropDatabase(_ name: String) async throws { try await execute("DROP DATABASE \(name) WITH (FORCE)") }

    /// One statement on the server's `postgres` database (what cannot run inside the database it acts on).
    private func execute(_ sql: String) async throws {
        var logger = Logger(label: "cityeye-bench.pg")
        logger.logLevel = .critical
        let c = try await target("postgres").connect(logger: logger)
        defer { Task { try? await c.close() } }
        _ = try await c.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }

    /// The server's folder stays after `stop` (a ledger that does not balance).
    var keepsData = false

    /// Stops the server and removes its folder (unless `keepsData`); its log is kept as `keepLog` first.
    func stop(keepLog: String? = nil) {
        _ = try? Self.spawn([Self.bin + "/pg_ctl", "-D", folder + "/data", "-m", "fast", "-w", "stop"], asServer: true)
        if let keepLog {
            try? FileManager.default.removeItem(atPath: keepLog)
            try? FileManager.default.copyItem(atPath: folder + "/log", toPath: keepLog)
        }
        if !keepsData { try? FileManager.default.removeItem(atPath: folder) }
    }

    /// Runs a program to its end and returns its output. posix_spawn, not `Process`: the server that `pg_ctl start`
    /// leaves behind would inherit the descriptor through which `Process` learns that its child ended.
    static func spawn(_ argv0: [String], asServer: Bool) throws -> String {
        let argv = asServer && geteuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + argv0 : argv0
        let out = NSTemporaryDirectory() + "cityeye-bench-pg-out-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: out) }
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        posix_spawn_file_actions_adddup2(&fa, 1, 2)
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, argv[0], &fa, nil, cArgs, environ)
        guard rc == 0 else { throw BenchError("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw BenchError("\(argv0.joined(separator: " ")) failed (status \(status)): \(text.suffix(600))")
        }
        return text
    }
}
