import Foundation
import Model
import MQTT
import Store
import PostgresStore
import Live

/// Issue 15, item 5: partitioned engines on a clustered broker (`cityeye-bench cluster`). A three-node RabbitMQ cluster
/// on loopback (its MQTT plugin, QoS 1 sessions in quorum queues), a private PostgreSQL, three `cityeye run` engines
/// whose partitions name one node each and the two others as `fallbacks`, publishers that move to another node when
/// theirs dies and send again what it had not acknowledged; one node killed with -9 mid-stream and started again; then
/// the publishers' ledger against the store.
enum ClusterBench {
    struct Options: Sendable {
        var base = PartitionBench.Options()
        var rate = 1500.0
        var duration = 60.0
        var killAt = 20.0
        var killNode = 1
        var restartAfter = 20.0
        var messages = 100_000
        var throughput = true
        var prefetch = 1000

        static func parse() -> Options {
            var o = Options()
            o.base.detectorsEach = Int(arg("--detectors", "50")) ?? 50
            o.base.dir = arg("--dir", NSTemporaryDirectory() + "cityeye-bench-cluster")
            o.rate = Double(arg("--rate", "1500")) ?? 1500
            o.duration = Double(arg("--duration", "60")) ?? 60
            o.killAt = Double(arg("--kill-at", "20")) ?? 20
            o.killNode = Int(arg("--kill-node", "1")) ?? 1
            o.restartAfter = Double(arg("--restart-after", "20")) ?? 20
            o.messages = Int(arg("--messages", "100000")) ?? 100_000
            o.throughput = o.messages > 0
            o.prefetch = Int(arg("--prefetch", "1000")) ?? 1000
            return o
        }
    }

    static func run(out: String) async throws {
        let o = Options.parse()
        guard (1...3).contains(o.killNode) else { throw BenchError("--kill-node must be 1, 2 or 3, got \(o.killNode)") }
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cityeye").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchError("no cityeye binary beside this one (\(binary)); build it first (swift build -c release --product cityeye)")
        }
        let dir = o.base.dir
        let marker = dir + "/.cityeye-bench-cluster"
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        if !existing.isEmpty && !FileManager.default.fileExists(atPath: marker) {
            throw BenchError("--dir \(dir) is not empty and was not made by this benchmark: name a new or empty folder")
        }
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: marker, contents: nil)

        let loadBefore = PartitionBench.loadAverage()
        let pg = try BenchPostgres()
        defer { pg.stop(keepLog: dir + "/postgresql.log") }
        let cluster = try RabbitCluster(folder: dir + "/rabbitmq", nodes: 3, prefetch: o.prefetch)
        defer { cluster.stop() }
        print("RabbitMQ \(cluster.version) cluster of 3 nodes (MQTT on \(cluster.nodes.map { String($0.mqttPort) }.joined(separator: ", "))), "
              + "PostgreSQL \(pg.version) on \(pg.port); logs in \(dir)")
        let registry = dir + "/registry.yaml"
        try PartitionBench.registryYAML(o.base).write(toFile: registry, atomically: true, encoding: .utf8)
        let rules = try smokeRules(dir)
        let failover = try await runFailover(o, binary: binary, pg: pg, cluster: cluster, registry: registry, rules: rules)
        var throughput: [Tput] = []
        if o.throughput {
            let mosquitto = try MosquittoBroker()
            defer { mosquitto.stop() }
            let bench = PartitionBench.Bench(options: o.base, binary: binary, pg: pg, brokers: [mosquitto], registry: registry)
            for (name, port) in [("mosquitto", mosquitto.port), ("RabbitMQ", cluster.nodes[0].mqttPort)] {
                throughput.append(try await runThroughput(bench, o, broker: name, port: port, rules: rules))
            }
        }
        let body = section(o, cluster: cluster, pg: pg, f: failover, throughput: throughput, load: (loadBefore, PartitionBench.loadAverage()))
        try writeSection("cluster", body, to: out)
        print("written to \(out), section \"Partitions on a clustered broker (RabbitMQ)\"")
        if !failover.ledger.exact { exit(1) }
    }

    /// The smoke rule alone (electricity's rules and the schema): no rule keyed across communities, so no partition
    /// `keyed` (its sessions, one per `host:port`, would share one client id across the cluster's nodes).
    static func smokeRules(_ dir: String) throws -> String {
        let to = dir + "/rules"
        try FileManager.default.createDirectory(atPath: to + "/electricity", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: scenariosDir() + "/schema.yaml", toPath: to + "/schema.yaml")
        try FileManager.default.copyItem(atPath: scenariosDir() + "/electricity/rules.yaml", toPath: to + "/electricity/rules.yaml")
        return to
    }

    /// Partition pN on node N mod 3 (+1), the two other nodes its fallbacks, in order.
    static func nodeOf(partition i: Int) -> Int { i % 3 }

    static func cityConfig(_ o: Options, pg: BenchPostgres, cluster: RabbitCluster, registry: String, rules: String) throws -> String {
        let ports = cluster.nodes.map(\.mqttPort)
        func fallbacks(_ n: Int) -> String { "[" + [1, 2].map { "\"127.0.0.1:\(ports[(n + $0) % 3])\"" }.joined(separator: ", ") + "]" }
        let parts = o.base.communityIDs.enumerated().map { i, c in
            "  - {id: p\(i), communities: [\(c)], broker: {port: \(ports[nodeOf(partition: i)]), fallbacks: \(fallbacks(nodeOf(partition: i)))}}"
        }
        let path = o.base.dir + "/city.yaml"
        try """
        broker: {host: 127.0.0.1, port: \(ports[0]), client_id: city, keepalive_s: 5, fallbacks: \(fallbacks(0))}
        registry: \(registry)
        rules: \(rules)
        store: \(pg.url("cluster"))
        audit_key_file: city-audit-key
        partitions:
        \(parts.joined(separator: "\n"))

        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    struct Failover {
        var ledger: PartitionBench.Ledger
        var killedAt: Double
        var restartedAt: Double?
        var rejoined: Double?
        var partitionsOnNode: [String]
        var connected: Double?
        var ready: Double?
        var gateways: [ClusterGateway.Report]
        var perSecond: [(Double, Int64)]
        var publishSeconds: Double
        var stops: [String]
        var notable: [String]
        var queues: String
        var nackClosures: Int
    }

    static func runFailover(_ o: Options, binary: String, pg: BenchPostgres, cluster: RabbitCluster, registry: String,
                            rules: String) async throws -> Failover {
        try await pg.createDatabase("cluster")
        let config = try cityConfig(o, pg: pg, cluster: cluster, registry: registry, rules: rules)
        let leases = try await LeaseView(target: pg.target("cluster"))
        defer { Task { await leases.close() } }
        let engines = try ["a", "b", "c"].map { try EngineProcess(binary: binary, config: config, name: "engine-\($0)", dir: o.base.dir) }
        defer { for e in engines where e.process.isRunning { kill(e.process.processIdentifier, SIGKILL) } }
        var live = Set<String>()
        for e in engines { live.insert(try await e.engineID()) }
        let n = o.base.communities
        guard try await leases.waitUntilBalanced(live: live, partitions: n, timeout: 60) != nil else {
            throw BenchError("the three engines did not take the \(n) partitions within 60 s; see the logs in \(o.base.dir)")
        }
        // Every partition's session subscribed (its quorum queue declared) before anything is published.
        let until = Date().addingTimeInterval(60)
        while (0..<n).contains(where: { p in !engines.contains { $0.text().contains(" partition p\(p): ready") } }) {
            guard Date() < until else { throw BenchError("not every partition said `ready` within 60 s; see the logs in \(o.base.dir)") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let ports = cluster.nodes.map(\.mqttPort)
        // One publisher per node, for the communities whose partitions are on it; each fails over to the next nodes.
        let gateways = (0..<3).map { k -> ClusterGateway in
            let devices = o.base.devices.filter { d in o.base.communityIDs.firstIndex(of: d.community).map { nodeOf(partition: $0) == k } ?? false }
            return ClusterGateway(ports: (0..<3).map { ports[(k + $0) % 3] }, devices: devices, rate: o.rate / 3, tag: "g\(k + 1)")
        }
        print("3 engines hold \(n) partitions, every session ready; publishing \(Int(o.rate))/s through the 3 nodes")
        let begun = ContinuousClock.now
        func since() -> Double { PartitionBench.seconds(ContinuousClock.now - begun) }
        gateways.forEach { $0.start(begun: begun) }
        let target = try pg.target("cluster")
        var perSecond: [(Double, Int64)] = []
        func sample() { if let c = try? PartitionBench.storeCounts(target).byDevice.values.reduce(0, +) { perSecond.append((since(), c)) } }
        while since() < o.killAt { sample(); try await Task.sleep(for: .seconds(1)) }
        let victim = cluster.nodes[o.killNode - 1]
        let onNode = (0..<n).filter { nodeOf(partition: $0) == o.killNode - 1 }.map { "p\($0)" }
        let killedAt = since()
        let killedWall = Date()
        cluster.kill(victim)
        print(String(format: "killed node %@ (kill -9) at %.1f s; its partitions: %@", victim.name, killedAt, onNode.joined(separator: ", ")))
        var restartedAt: Double?
        var rejoined: Double?
        while since() < o.duration {
            sample()
            if restartedAt == nil && o.restartAfter > 0 && since() >= killedAt + o.restartAfter {
                restartedAt = since()
                let t = ContinuousClock.now
                try cluster.restart(victim)
                rejoined = PartitionBench.seconds(ContinuousClock.now - t)
                print(String(format: "started %@ again at %.1f s; running in the cluster after %.1f s", victim.name, restartedAt!, rejoined!))
            }
            try await Task.sleep(for: .seconds(1))
        }
        gateways.forEach { $0.stop() }
        while !gateways.allSatisfy(\.finished) { try await Task.sleep(for: .milliseconds(50)) }
        let publishSeconds = since()
        var published: [String: Int] = [:]
        for g in gateways { published.merge(g.acknowledged) { $0 + $1 } }
        let total = published.values.reduce(0, +)
        print("published \(total) alarms acknowledged by the cluster in \(String(format: "%.1f", publishSeconds)) s; waiting for the store")
        try await PartitionBench.waitForCount(target, total: total)
        try await Task.sleep(for: .seconds(3))
        let ledger = try PartitionBench.ledgerCheck(target: target, published: published)
        let survivors = engines
        let connected = PartitionBench.logged("connected to", after: killedWall, partitions: onNode, logs: survivors)
        let ready = PartitionBench.logged("ready", after: killedWall, partitions: onNode, logs: survivors)
        let queues = cluster.queues()
        let nackClosures = cluster.nodes.filter { $0 !== victim }.map { cluster.logText($0).components(separatedBy: "** Last message in was {'basic.nack'").count - 1 }.reduce(0, +)
        for g in gateways {
            for m in g.report.moves {
                print(String(format: "  %@ moved at %.1f s to %d after %.2f s, %d not acknowledged sent again", g.tag, m.at, m.port, m.after, m.resent))
            }
        }
        let stops = try await PartitionBench.stopCleanly(engines)
        return Failover(ledger: ledger, killedAt: killedAt, restartedAt: restartedAt, rejoined: rejoined, partitionsOnNode: onNode,
                        connected: connected, ready: ready, gateways: gateways.map(\.report), perSecond: perSecond,
                        publishSeconds: publishSeconds, stops: stops, notable: PartitionBench.notableLines(engines), queues: queues,
                        nackClosures: nackClosures)
    }

    struct Tput {
        var broker: String
        var rate: PartitionBench.Rate
    }

    /// One engine (`partitions: {hash: 1}`, PostgreSQL) alone on one broker, `messages` alarms from one publisher as
    /// fast as it can, timed until the store counts them all.
    static func runThroughput(_ b: PartitionBench.Bench, _ o: Options, broker: String, port: Int, rules: String) async throws -> Tput {
        let name = "tput_" + broker.lowercased()
        try await b.pg.createDatabase(name)
        let config = o.base.dir + "/\(name).yaml"
        try """
        broker: {host: 127.0.0.1, port: \(port), client_id: \(name)}
        registry: \(b.registry)
        rules: \(rules)
        store: \(b.pg.url(name))
        audit_key_file: \(name).audit-key
        partitions: {hash: 1}

        """.write(toFile: config, atomically: true, encoding: .utf8)
        let ts = RFC3339.format(SystemClock().now())
        let devices = o.base.devices
        let messages = (0..<o.messages).map { i -> (String, [UInt8]) in
            let (c, d) = devices[i % devices.count]
            return ("cityeye/\(c)/\(d)", Array("{\"id\":\"\(name)-\(i)\",\"ts\":\"\(ts)\",\"device\":\"\(d)\",\"type\":\"smoke.alarm\",\"data\":{}}".utf8))
        }
        let target = try b.pg.target(name)
        let rate = try await PartitionBench.measure(b, config: config, name: name, ready: "partition 0: ready", messages: messages,
                                                    publishTo: port) {
            try PostgresStore(target: target, create: false)
        }
        LiveBench.forgetSession(port: port, clientID: name + "-p0")
        print("one engine on \(broker): \(Int(rate.perSecond)) events/s (counted \(rate.counted) of \(o.messages))")
        return Tput(broker: broker, rate: rate)
    }

    static func section(_ o: Options, cluster: RabbitCluster, pg: BenchPostgres, f: Failover, throughput: [Tput],
                        load: (before: String, after: String)) -> String {
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        func s2(_ v: Double?) -> String { v.map { String(format: "%.1f s", $0) } ?? "not seen" }
        let l = f.ledger
        let victim = cluster.nodes[o.killNode - 1]
        var s = """
        ## Partitions on a clustered broker (RabbitMQ)

        Machine: \(machine()) (`nproc` \(ProcessInfo.processInfo.activeProcessorCount)), shared with other builds; load average
        \(load.before) at the start, \(load.after) at the end. Build: \(build). Command: `cityeye-bench \(CommandLine.arguments.dropFirst().joined(separator: " "))`
        (scripts/cluster-broker.sh). Everything on this machine, over loopback: RabbitMQ \(cluster.version) (Debian), three nodes
        joined in one cluster, each with the MQTT plugin (`mqtt.durable_queue_type = quorum`, `mqtt.prefetch = \(o.prefetch)`);
        PostgreSQL \(pg.version) (fsync on); \(o.base.communities) listed partitions, one community of \(o.base.detectorsEach) smoke detectors each,
        partition pN on node N mod 3 with the two other nodes as its `fallbacks`; three `cityeye run` engines. Three
        publishers (one per node, for the communities whose partitions are on it; \(Int(o.rate / 3))/s each, QoS 1, a unique id per alarm,
        500 in flight) that, when their node drops them, connect to the next node and send again every alarm not yet
        acknowledged (same id). **Killed:** node \(victim.name) with `kill -9` at \(String(format: "%.1f", f.killedAt)) s
        (partitions \(f.partitionsOnNode.joined(separator: ", ")) had their sessions on it), \(f.restartedAt.map { String(format: "started again at %.1f s (back in the cluster %.1f s later)", $0, f.rejoined ?? 0) } ?? "not started again");
        publishing for \(String(format: "%.0f", f.publishSeconds)) s in all.

        **Ledger:** \(l.published) alarms acknowledged by the cluster over \(l.devices) devices; the store counts \(l.counted) in
        \(l.incidents) incident(s): **lost \(l.lost), counted twice \(l.countedTwice)**, \(l.devicesOff) device(s) off;
        \(l.incidents == l.devices ? "one incident a device" : "**not one incident a device**"). \(l.exact ? "Every acknowledged alarm counted exactly once." : "**The ledger does not balance.**")

        **The district unheard.** The killed node's partitions had their sessions on another node (`connected`, from the
        kill) after \(s2(f.connected)) and were subscribed again (`ready`) after \(s2(f.ready)). The publishers:

        | publisher | first node | acknowledged | moved to another node | longest time without an acknowledgement | sent again |
        |---|---|---|---|---|---|

        """
        for g in f.gateways {
            let moved = g.moves.isEmpty ? "—" : String(format: "%d time(s), the first at %.1f s, the last at %.1f s (to %d)",
                                                       g.moves.count, g.moves.first!.at, g.moves.last!.at, g.moves.last!.port)
            s += "| \(g.tag) | \(g.firstPort) | \(g.acknowledged) | \(moved) | " + String(format: "%.1f s", g.longestGap) + " | \(g.resent) |\n"
        }
        s += """

        A publisher's connection closed by a surviving node while the killed node's quorum queues elected new leaders
        (RabbitMQ 3.10's MQTT plugin ends the connection on a `basic.nack` it does not expect, `mqtt_unexpected_msg` in
        the node's log, instead of holding the PUBACK back): \(f.nackClosures) time(s) in the survivors' logs. Each is a move in
        the table: the publisher connects again and sends what was not acknowledged.

        """
        var rates: [String] = []
        for (i, p) in f.perSecond.enumerated() where i > 0 {
            let (t0, c0) = f.perSecond[i - 1], (t1, c1) = p
            guard t1 > f.killedAt - 5, t1 < f.killedAt + 30 else { continue }
            rates.append(String(format: "%.0f:%d", t1 - f.killedAt, Int(Double(c1 - c0) / max(0.001, t1 - t0))))
        }
        s += """

        Alarms counted by the store per second, around the kill (seconds from the kill : alarms/s): \(rates.joined(separator: " ")).

        Quorum queues at the end (`rabbitmqctl list_queues name type leader members messages`):

        ```
        \(f.queues)
        ```

        Clean stop at the end (SIGTERM): \(f.stops.joined(separator: "; ")).

        """
        if !f.notable.isEmpty { s += "\nLines of note in the engines' logs:\n\n```\n" + f.notable.joined(separator: "\n") + "\n```\n" }
        if throughput.count == 2 {
            let m = throughput[0].rate, r = throughput[1].rate
            s += """

            **One engine, mosquitto vs RabbitMQ.** One `cityeye run` with `partitions: {hash: 1}` on PostgreSQL (acknowledging
            after each commit), \(o.messages) alarms from one publisher as fast as it can, timed until the store counts them all; one
            run each, the same machine: mosquitto 2.0 **\(Int(m.perSecond))** events/s (counted \(m.counted)), one RabbitMQ node of the
            cluster (quorum queue, prefetch \(o.prefetch)) **\(Int(r.perSecond))** events/s (counted \(r.counted)): \(Int(r.perSecond / max(1, m.perSecond) * 100)) %.

            """
        }
        return s
    }
}

/// A publisher of smoke alarms that keeps its own ledger: each message's id is remembered until the broker
/// acknowledges it; when its node drops it, it connects to the next node of the cluster and sends again every message
/// not yet acknowledged (QoS 1 semantics across nodes: the engines drop a repeat by its (device, id)).
final class ClusterGateway: @unchecked Sendable {
    struct Report {
        var tag: String
        var firstPort: Int
        var acknowledged: Int
        var moves: [(at: Double, port: Int, after: Double, resent: Int)]
        var longestGap: Double
        var resent: Int
    }

    let ports: [Int]
    let devices: [(community: String, device: String)]
    let rate: Double
    let tag: String
    let window = 500
    private let cond = NSCondition()
    private var stopAsked = false
    private var done = false
    private var generation = 0
    private var pending: [Int32: Int] = [:]
    private var early: Set<Int32> = []
    private var counts: [Int]
    private var total = 0
    private var lastAck: ContinuousClock.Instant?
    private var longestGap = 0.0
    private var moves: [(at: Double, port: Int, after: Double, resent: Int)] = []
    private var resent = 0

    init(ports: [Int], devices: [(community: String, device: String)], rate: Double, tag: String) {
        self.ports = ports
        self.devices = devices
        self.rate = rate
        self.tag = tag
        counts = [Int](repeating: 0, count: devices.count)
    }

    var finished: Bool { cond.withLock { done } }
    func stop() { cond.withLock { stopAsked = true } }
    /// What the broker acknowledged, by device.
    var acknowledged: [String: Int] {
        cond.withLock { Dictionary(counts.enumerated().filter { $0.element > 0 }.map { (devices[$0.offset].device, $0.element) }, uniquingKeysWith: +) }
    }
    var report: Report {
        cond.withLock { Report(tag: tag, firstPort: ports[0], acknowledged: total, moves: moves, longestGap: longestGap, resent: resent) }
    }

    private func acked(_ mid: Int32, generation g: Int) {
        cond.lock(); defer { cond.unlock() }
        guard g == generation else { return }
        if let i = pending.removeValue(forKey: mid) { count(i) } else { early.insert(mid) }
        cond.broadcast()
    }

    /// Under the lock.
    private func count(_ i: Int) {
        counts[i % devices.count] += 1
        total += 1
        let now = ContinuousClock.now
        if let lastAck { longestGap = max(longestGap, PartitionBench.seconds(now - lastAck)) }
        lastAck = now
    }

    private func body(_ i: Int, _ ts: String) -> (String, [UInt8]) {
        let (c, d) = devices[i % devices.count]
        return ("cityeye/\(c)/\(d)", Array("{\"id\":\"\(tag)-\(i)\",\"ts\":\"\(ts)\",\"device\":\"\(d)\",\"type\":\"smoke.alarm\",\"data\":{}}".utf8))
    }

    /// A connected publisher on the first node that takes one, starting at `from` (tries each node in turn, every
    /// 0.2 s, until one answers or `stop()`).
    private func connect(from: Int) -> (MQTTPublisher, Int)? {
        var k = from
        while true {
            let g = cond.withLock { generation += 1; pending = [:]; early = []; return generation }
            if let pub = try? MQTTPublisher(settings: MQTTSettings(port: ports[k % ports.count], clientID: "gateways-\(tag)", cleanSession: true,
                                                                   topics: [], maxInflight: window * 2),
                                            acknowledged: { [weak self] mid in self?.acked(mid, generation: g) }),
               (try? pub.connect(timeout: 5)) != nil {
                return (pub, k % ports.count)
            }
            if cond.withLock({ stopAsked }) && k - from >= ports.count { return nil }
            k += 1
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// Sends `i` on `pub`; false if the publisher failed (the caller moves to another node).
    private func send(_ pub: MQTTPublisher, _ i: Int, _ ts: String) -> Bool {
        let (topic, payload) = body(i, ts)
        guard let mid = try? pub.publish(topic: topic, payload: payload, qos: 1) else { return false }
        cond.lock(); defer { cond.unlock() }
        if early.remove(mid) != nil { count(i) } else { pending[mid] = i }
        return true
    }

    func start(begun: ContinuousClock.Instant) {
        let t = Thread { [self] in
            var ts = RFC3339.format(SystemClock().now())
            guard var (pub, node) = connect(from: 0) else { cond.withLock { done = true }; return }
            var i = 0
            var unsent: [Int] = []
            func move() {
                let lost = ContinuousClock.now
                pub.disconnect()
                // libmosquitto's thread is stopped: no acknowledgement arrives after this on the old connection.
                let left = cond.withLock { pending.values.sorted() }
                guard let (next, at) = connect(from: node + 1) else { return }
                pub = next
                node = at
                unsent = left + unsent
                cond.withLock {
                    resent += left.count
                    moves.append((PartitionBench.seconds(lost - begun), ports[at], PartitionBench.seconds(ContinuousClock.now - lost), left.count))
                }
            }
            let start = Date()
            while true {
                if !pub.isConnected { move(); continue }
                if let j = unsent.first {
                    if send(pub, j, ts) { unsent.removeFirst() } else { move() }
                    continue
                }
                let stopping = cond.withLock { stopAsked }
                if stopping {
                    // Wait for the last acknowledgements, moving on if the node goes.
                    let idle = cond.withLock { () -> Bool in
                        if !pending.isEmpty { _ = cond.wait(until: Date().addingTimeInterval(0.05)) }
                        return pending.isEmpty
                    }
                    if idle { break } else { continue }
                }
                let wait = start.addingTimeInterval(Double(i) / rate).timeIntervalSinceNow
                if wait > 0 { Thread.sleep(forTimeInterval: min(wait, 0.05)); continue }
                let full = cond.withLock { () -> Bool in
                    if pending.count >= window { _ = cond.wait(until: Date().addingTimeInterval(0.05)) }
                    return pending.count >= window
                }
                if full { continue }
                if i % 500 == 0 { ts = RFC3339.format(SystemClock().now()) }
                if send(pub, i, ts) { i += 1 } else { move() }
            }
            pub.disconnect()
            cond.withLock { done = true }
        }
        t.start()
    }
}

/// A RabbitMQ cluster on loopback, owned by the benchmark: each node a `rabbitmq-server` process of its own (not the
/// Debian service) with its own ports, data and logs under `folder`, one Erlang cookie, a private epmd port.
final class RabbitCluster: @unchecked Sendable {
    static let bin = "/usr/lib/rabbitmq/bin"
    final class Node: @unchecked Sendable {
        let name: String
        let amqpPort: Int
        let distPort: Int
        let mqttPort: Int
        let dir: String
        var process: Process?
        init(name: String, amqpPort: Int, distPort: Int, mqttPort: Int, dir: String) {
            self.name = name; self.amqpPort = amqpPort; self.distPort = distPort; self.mqttPort = mqttPort; self.dir = dir
        }
    }
    let folder: String
    let epmdPort: Int
    let nodes: [Node]
    private(set) var version = "3.10"

    init(folder: String, nodes count: Int, prefetch: Int) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.bin + "/rabbitmq-server") else {
            throw BenchError("RabbitMQ not found (\(Self.bin)/rabbitmq-server): apt-get install -y rabbitmq-server")
        }
        self.folder = folder
        epmdPort = try MosquittoBroker.freePort()
        var made: [Node] = []
        for i in 1...count {
            made.append(Node(name: "cityeye\(i)@localhost", amqpPort: try MosquittoBroker.freePort(), distPort: try MosquittoBroker.freePort(),
                             mqttPort: try MosquittoBroker.freePort(), dir: folder + "/node\(i)"))
        }
        nodes = made
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let cookie = folder + "/.erlang.cookie"
        try "CITYEYE\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))".write(toFile: cookie, atomically: true, encoding: .utf8)
        chmod(cookie, 0o600)
        try "[rabbitmq_mqtt].\n".write(toFile: folder + "/enabled_plugins", atomically: true, encoding: .utf8)
        for n in nodes {
            try FileManager.default.createDirectory(atPath: n.dir + "/log", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: n.dir + "/rabbitmq-env.conf", contents: nil)
            try """
            listeners.tcp.default = 127.0.0.1:\(n.amqpPort)
            mqtt.listeners.tcp.default = 127.0.0.1:\(n.mqttPort)
            mqtt.allow_anonymous = true
            # QoS 1 sessions (clean_session false) in replicated quorum queues, not in a classic queue on one node.
            mqtt.durable_queue_type = quorum
            # The inflight window towards a subscriber: the engine acknowledges after each commit.
            mqtt.prefetch = \(prefetch)
            loopback_users = none

            """.write(toFile: n.dir + "/rabbitmq.conf", atomically: true, encoding: .utf8)
        }
        do {
            for n in nodes { try start(n) }
            for n in nodes { try waitUntilRunning(n) }
            for n in nodes.dropFirst() {
                try ctl(n, ["stop_app"])
                try ctl(n, ["join_cluster", nodes[0].name])
                try ctl(n, ["start_app"], timeout: 120)
            }
            let status = try ctl(nodes[0], ["cluster_status", "--formatter", "json"])
            guard nodes.allSatisfy({ status.contains("\"\($0.name)\"") }) else { throw BenchError("the cluster did not form: \(status.suffix(800))") }
            version = try ctl(nodes[0], ["version"]).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            stop()
            throw error
        }
    }

    private var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = folder
        env["ERL_EPMD_PORT"] = String(epmdPort)
        return env
    }

    private func start(_ n: Node) throws {
        var env = environment
        env["RABBITMQ_NODENAME"] = n.name
        env["RABBITMQ_NODE_PORT"] = String(n.amqpPort)
        env["RABBITMQ_DIST_PORT"] = String(n.distPort)
        env["RABBITMQ_MNESIA_BASE"] = n.dir + "/mnesia"
        env["RABBITMQ_LOG_BASE"] = n.dir + "/log"
        env["RABBITMQ_CONFIG_FILE"] = n.dir + "/rabbitmq.conf"
        env["RABBITMQ_ADVANCED_CONFIG_FILE"] = n.dir + "/advanced.config"
        env["RABBITMQ_CONF_ENV_FILE"] = n.dir + "/rabbitmq-env.conf"
        env["RABBITMQ_ENABLED_PLUGINS_FILE"] = folder + "/enabled_plugins"
        env["RABBITMQ_PID_FILE"] = n.dir + "/pid"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.bin + "/rabbitmq-server")
        p.environment = env
        p.currentDirectoryURL = URL(fileURLWithPath: n.dir)
        let out = n.dir + "/stdout.log"
        if !FileManager.default.fileExists(atPath: out) { _ = FileManager.default.createFile(atPath: out, contents: nil) }
        let h = FileHandle(forWritingAtPath: out)
        h?.seekToEndOfFile()
        p.standardOutput = h
        p.standardError = h
        p.standardInput = FileHandle.nullDevice
        try p.run()
        n.process = p
    }

    /// `rabbitmqctl -n NODE args…`; its output, or an error naming the node and what it said.
    @discardableResult
    func ctl(_ n: Node, _ args: [String], timeout: Int = 60) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.bin + "/rabbitmqctl")
        p.arguments = ["-n", n.name, "--timeout", String(timeout)] + args
        p.environment = environment
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else {
            throw BenchError("rabbitmqctl -n \(n.name) \(args.joined(separator: " ")) failed (exit \(p.terminationStatus)): \(text.suffix(600)); logs in \(n.dir)/log")
        }
        return text
    }

    /// The Erlang VM's process id (the pid file), else the launcher's.
    func pid(_ n: Node) -> pid_t? {
        if let s = try? String(contentsOfFile: n.dir + "/pid", encoding: .utf8), let v = pid_t(s.trimmingCharacters(in: .whitespacesAndNewlines)),
           Foundation.kill(v, 0) == 0 { return v }
        return n.process.flatMap { $0.isRunning ? $0.processIdentifier : nil }
    }

    /// kill -9 of the node's VM: nothing is flushed, nothing is said to the other nodes.
    func kill(_ n: Node) {
        if let v = pid(n) { _ = Foundation.kill(v, SIGKILL) }
        if let p = n.process, p.isRunning { _ = Foundation.kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: n.dir + "/pid")
    }

    /// Starts a killed node again with its data; it rejoins the cluster by itself.
    func restart(_ n: Node) throws {
        try start(n)
        try waitUntilRunning(n)
    }

    /// `await_startup` fails at once while the node is not yet known to epmd: asked again every 0.5 s for 120 s.
    private func waitUntilRunning(_ n: Node) throws {
        let deadline = Date().addingTimeInterval(120)
        while true {
            do { try ctl(n, ["await_startup"], timeout: 120); return } catch {
                guard Date() < deadline, n.process?.isRunning == true else { throw error }
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
    }

    /// The node's main log.
    func logText(_ n: Node) -> String { (try? String(contentsOfFile: n.dir + "/log/\(n.name).log", encoding: .utf8)) ?? "" }

    /// The queues as the first running node lists them.
    func queues() -> String {
        for n in nodes {
            if let t = try? ctl(n, ["list_queues", "name", "type", "leader", "members", "messages"]) {
                return t.split(separator: "\n").filter { !$0.hasPrefix("Timeout") && !$0.hasPrefix("Listing") }.joined(separator: "\n")
            }
        }
        return "(no node answered)"
    }

    func stop() {
        for n in nodes where pid(n) != nil { _ = try? ctl(n, ["stop"], timeout: 30) }
        for n in nodes { kill(n) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/epmd")
        p.arguments = ["-kill"]
        p.environment = environment
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        if (try? p.run()) != nil { p.waitUntilExit() }
    }
}
