import Foundation
import Model
import Registry
import MQTT
import Live
import Simulation

/// Live figures (issue 4): the engine's sustained rate against a do-nothing subscriber on the same broker and
/// publisher, latency from publish to commit at a fixed rate, and what a kill -9 loses.
enum LiveBench {
    static func registry(dir: String, devices: Int) throws -> String {
        let path = dir + "/live-registry.yaml"
        try DeploymentPlan.smokeDetectorsYAML(count: devices).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func payloads(_ n: Int, devices: Int, run: String) -> [(String, [UInt8])] {
        let ts = RFC3339.format(SystemClock().now())
        return (0..<n).map { i in
            let d = "sd-\(i % devices + 1)"
            return ("cityeye/czq/\(d)", Array("{\"id\":\"\(run)-\(i)\",\"ts\":\"\(ts)\",\"device\":\"\(d)\",\"type\":\"smoke.alarm\",\"data\":{}}".utf8))
        }
    }

    static func publish(_ msgs: [(String, [UInt8])], port: Int, perSecond: Double? = nil, sentAt: UnsafeMutablePointer<Double>? = nil,
                        progress: PublishProgress? = nil) throws {
        // A window of 100 unacknowledged messages, not the settings' 1,000: libmosquitto walks its whole list of
        // messages in flight on every PUBACK, and with 1,000 that walk was a third of this process's CPU at full
        // speed, taken from the engine beside it on the same two cores (a gateway keeps far fewer in flight).
        let window = Int(ProcessInfo.processInfo.environment["CITYEYE_BENCH_PUBLISH_WINDOW"] ?? "") ?? 100
        let pub = try MQTTPublisher(settings: MQTTSettings(port: port, clientID: "bench-pub-\(UUID().uuidString.prefix(6))", cleanSession: true, topics: [],
                                                           maxInflight: window))
        try pub.connect()
        let start = Date().timeIntervalSince1970
        for (i, m) in msgs.enumerated() {
            if let perSecond {
                let due = start + Double(i) / perSecond
                let wait = due - Date().timeIntervalSince1970
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            }
            sentAt?[i] = Date().timeIntervalSince1970
            try pub.publish(topic: m.0, payload: m.1, qos: 1)
            progress?.set(i + 1)
        }
        try pub.waitForAcks(timeout: 60)
        pub.disconnect()
    }

    /// Messages/s a subscriber that does nothing receives.
    /// The do-nothing subscriber the issue names: `mosquitto_sub -q 1 > /dev/null`, timed like the engine, from the
    /// start of publishing until it has received all `n` messages (`-C n` makes it exit then).
    static func rawRate(port: Int, n: Int, devices: Int) async throws -> Double {
        let sub = Process()
        sub.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
        sub.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-t", "cityeye/#", "-C", "\(n)",
                         "-i", "raw-\(UUID().uuidString.prefix(6))"]
        sub.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try sub.run()
        try await Task.sleep(nanoseconds: 300_000_000)
        let msgs = payloads(n, devices: devices, run: "raw\(UUID().uuidString.prefix(4))")
        let start = Date()
        let t = Thread { try? publish(msgs, port: port) }
        t.start()
        while sub.isRunning { try await Task.sleep(nanoseconds: 1_000_000) }
        return Double(n) / Date().timeIntervalSince(start)
    }

    /// Publish → received latency of a do-nothing subscriber at a fixed rate: the floor the engine's latency stands on.
    static func rawLatency(port: Int, n: Int, devices: Int, perSecond: Double) async throws -> (p50: Double, p99: Double) {
        let sub = try MQTTSubscriber(settings: MQTTSettings(port: port, clientID: "rawlat-\(UUID().uuidString.prefix(6))", cleanSession: true))
        try sub.start()
        for await e in sub.events { if case .subscribed = e { break } }
        let box = Box(n: n)
        let msgs = payloads(n, devices: devices, run: "rawlat")
        let t = Thread { try? publish(msgs, port: port, perSecond: perSecond, sentAt: box.sent) }
        t.start()
        var lat: [Double] = []
        var i = 0
        for await e in sub.events {
            if case .message = e {
                let now = Date().timeIntervalSince1970
                if box.sent[i] > 0 { lat.append(now - box.sent[i]) }
                i += 1
                if i == n { break }
            }
        }
        sub.stop()
        lat.sort()
        return (lat[lat.count / 2] * 1000, lat[min(lat.count - 1, Int(Double(lat.count) * 0.99))] * 1000)
    }

    /// Ends a persistent session: otherwise the broker keeps queueing every later message for a client that is gone.
    static func forgetSession(port: Int, clientID: String) {
        guard let c = try? MQTTPublisher(settings: MQTTSettings(port: port, clientID: clientID, cleanSession: true, topics: [])) else { return }
        try? c.connect(timeout: 5)
        c.disconnect()
    }

    static func config(dir: String, port: Int, registry: String, name: String, journalSync: String = "") throws -> String {
        let path = dir + "/\(name).yaml"
        for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: dir + "/\(name).db" + s) }
        try """
        broker: {host: 127.0.0.1, port: \(port), client_id: \(name)}
        registry: \(registry)
        rules: \(scenariosDir())
        store: \(name).db
        \(journalSync.isEmpty ? "" : "journal: {sync: \(journalSync)}")
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    final class Box: @unchecked Sendable {
        let lock = NSLock()
        var committed = 0
        var latencies: [Double] = []
        let sent: UnsafeMutablePointer<Double>
        /// When each message was committed (0: not yet), for `--latency-dump`.
        let done: UnsafeMutablePointer<Double>
        /// Each commit's end and message count, for `--latency-dump`.
        var commits: [(at: Double, count: Int)] = []
        init(n: Int) {
            sent = .allocate(capacity: n); sent.initialize(repeating: 0, count: n)
            done = .allocate(capacity: n); done.initialize(repeating: 0, count: n)
        }
    }

    /// The engine's sustained rate (rules and commits included), and latency at a fixed rate.
    static func engine(dir: String, port: Int, registry: String, n: Int, devices: Int, perSecond: Double?,
                       tuning: LiveTuning = LiveTuning(), dump: String? = nil, journalSync: String = "") async throws -> (rate: Double, p50: Double, p99: Double) {
        let cfg = try LiveConfig.load(path: try config(dir: dir, port: port, registry: registry, name: "bench-engine-\(UUID().uuidString.prefix(8))",
                                                       journalSync: journalSync))
        let engine = try LiveEngine(config: cfg, tuning: tuning) { _ in }
        let box = Box(n: n)
        engine.onCommit = { count, _ in
            let now = Date().timeIntervalSince1970
            box.lock.lock()
            if box.committed < n {
                for i in box.committed..<min(n, box.committed + count) where box.sent[i] > 0 {
                    box.latencies.append(now - box.sent[i])
                    box.done[i] = now
                }
            }
            box.committed += count
            if dump != nil { box.commits.append((now, count)) }
            box.lock.unlock()
        }
        let run = Task { try await engine.run() }
        while !engine.stats.connected { try await Task.sleep(nanoseconds: 10_000_000) }
        try await Task.sleep(nanoseconds: 300_000_000)
        let msgs = payloads(n, devices: devices, run: "eng\(perSecond ?? 0)")
        let start = Date()
        let t = Thread { try? publish(msgs, port: port, perSecond: perSecond, sentAt: box.sent) }
        t.start()
        while engine.stats.counts.accepted + engine.stats.counts.duplicates < n { try await Task.sleep(nanoseconds: 2_000_000) }
        let secs = Date().timeIntervalSince(start)
        let st = engine.stats
        print("  engine: \(st.batches) commits, \(String(format: "%.1f", st.commitMillis)) ms in commits (\(String(format: "%.1f", st.commitCPUMillis)) ms of it on a CPU), longest \(String(format: "%.1f", st.longestCommitMillis)) ms, \(st.slowCommits) over 10 ms, \(st.checkpoints) checkpoints")
        engine.stop()
        try await run.value
        forgetSession(port: port, clientID: cfg.broker.clientID)
        if let dump {
            // One line a message: its index, when it was published and when committed (seconds since 1970).
            var text = ""
            for i in 0..<n { text += "\(i) \(box.sent[i]) \(box.done[i])\n" }
            try text.write(toFile: dump, atomically: true, encoding: .utf8)
            try box.commits.map { "\($0.at) \($0.count)" }.joined(separator: "\n").write(toFile: dump + ".commits", atomically: true, encoding: .utf8)
        }
        let l = box.latencies.sorted()
        func pct(_ p: Double) -> Double { l.isEmpty ? 0 : l[min(l.count - 1, Int(Double(l.count) * p))] * 1000 }
        return (Double(n) / secs, pct(0.5), pct(0.99))
    }

    /// kill -9 the engine (a `cityeye run` process) mid-stream, start it again, count what never made it.
    /// Events counted by the incidents of a store (every bench message raises or repeats a smoke incident).
    static func countEvents(binary: String, db: String) throws -> Int {
        let out = Pipe()
        let q = Process()
        q.executableURL = URL(fileURLWithPath: binary)
        q.arguments = ["incidents", "--db", db, "--json"]
        q.standardOutput = out
        q.standardError = FileHandle.nullDevice
        try q.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        q.waitUntilExit()
        var counted = 0
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let c = o["count"] as? Int { counted += c }
        }
        return counted
    }

    /// One crash trial: `n` alarms published at `perSecond` (as fast as the publisher can when nil), the engine
    /// killed with SIGKILL once `killAfter` of them are out, started again 1 s later; counted once the broker's kept
    /// messages have drained. `counted` over `n` would be an alarm counted twice; under `n`, lost.
    static func killLoss(dir: String, port: Int, registry: String, n: Int, devices: Int, binary: String,
                         perSecond: Double? = 20_000, killAfter: Double = 0.5, run: String = "kill") throws -> (lost: Int, accepted: Int) {
        // A client id, store and journal of its own per trial: nothing one trial left queued can reach the next.
        let name = "bench-kill-\(run)"
        let db = dir + "/\(name).db"
        let cfg = try config(dir: dir, port: port, registry: registry, name: name)
        for suffix in ["", "-wal", "-shm", ".journal", ".lock"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        var starts = 0
        func start() throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["run", "--config", cfg, "--quiet"]
            // The engine's log per start, kept for a trial that goes wrong.
            starts += 1
            let logPath = dir + "/\(run)-start\(starts).log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = FileHandle(forWritingAtPath: logPath) ?? FileHandle.nullDevice
            p.standardOutput = log
            p.standardError = log
            try p.run()
            Thread.sleep(forTimeInterval: 1.0)
            return p
        }
        var p = try start()
        let msgs = payloads(n, devices: devices, run: run)
        let published = PublishProgress()
        let t = Thread { try? publish(msgs, port: port, perSecond: perSecond, progress: published) }
        t.start()
        let due = Int(Double(n) * killAfter)
        while published.count < due && !t.isFinished { Thread.sleep(forTimeInterval: 0.001) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        while !t.isFinished { Thread.sleep(forTimeInterval: 0.05) }
        Thread.sleep(forTimeInterval: 1.5)
        p = try start()
        // What the broker kept arrives after the restart: wait until every alarm is counted (then 2 s more, to see
        // any counted twice), or 120 s — on a loaded machine a restart can take a while to drain the queue.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            if try countEvents(binary: binary, db: db) >= n { Thread.sleep(forTimeInterval: 2); break }
        }
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let counted = try countEvents(binary: binary, db: db)
        forgetSession(port: port, clientID: name)
        return (n - counted, counted)
    }
}

/// How many messages the publisher has sent, read by the thread that decides when to kill the engine.
final class PublishProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var sent = 0
    func set(_ n: Int) { lock.lock(); sent = n; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return sent }
}

extension LiveBench {
    /// Messages/s through a subscriber whose PUBACKs wait for commits (`acknowledgesAfterCommit`), with each commit
    /// simulated by a pause of `commitMs`: reading stops while a commit is awaited, so this is the rate one partition
    /// could take with the broker as its journal.
    static func acknowledgeAfterCommitRate(port: Int, n: Int, devices: Int, commitMs: Double) async throws -> (rate: Double, commits: Int) {
        let sub = try MQTTSubscriber(settings: MQTTSettings(port: port, clientID: "ackgate-\(UUID().uuidString.prefix(6))", cleanSession: true),
                                     inboxCapacity: 4_000, acknowledgesAfterCommit: true)
        try sub.start()
        for await e in sub.events { if case .subscribed = e { break } }
        let msgs = payloads(n, devices: devices, run: "ackgate\(UUID().uuidString.prefix(4))")
        let start = Date()
        let t = Thread { try? publish(msgs, port: port) }
        t.start()
        var got = 0, commits = 0
        while got < n {
            let batch = sub.takeMessages(upTo: 2_000)
            if batch.isEmpty { try await Task.sleep(nanoseconds: 100_000); continue }
            if commitMs > 0 { try await Task.sleep(nanoseconds: UInt64(commitMs * 1e6)) }
            got += batch.count
            commits += 1
            sub.committed(batch.count)
        }
        let rate = Double(n) / Date().timeIntervalSince(start)
        sub.stop()
        return (rate, commits)
    }
}
