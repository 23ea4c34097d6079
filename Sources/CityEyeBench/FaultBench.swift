import Foundation
import Model
import MQTT
import Simulation

/// Issue 11's remaining figures: the engine's peak memory under a flood of garbage, and what a broker stopped or
/// killed mid-stream costs.
enum FaultBench {
    /// `cityeye run` (release, beside this binary) on a store of its own, started and ready.
    static func startEngine(binary: String, config: String, log: String) throws -> Process {
        // A store, journal and key of its own: nothing an earlier run left is handed over again.
        let db = (config as NSString).deletingPathExtension + ".db"
        for suffix in ["", "-wal", "-shm", ".journal", ".lock", ".audit-key"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["run", "--config", config, "--quiet"]
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let h = FileHandle(forWritingAtPath: log) ?? FileHandle.nullDevice
        p.standardOutput = h
        p.standardError = h
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("ready: ") {
            Thread.sleep(forTimeInterval: 0.05)
        }
        return p
    }

    /// kB fields of /proc/PID/status (VmRSS, VmHWM).
    static func memory(_ pid: Int32, _ field: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }

    /// How many rejected messages the store has counted (`dead-letters --counts --json`).
    static func rejectedCount(binary: String, db: String) -> Int {
        let out = Pipe()
        let q = Process()
        q.executableURL = URL(fileURLWithPath: binary)
        q.arguments = ["dead-letters", "--db", db, "--counts", "--json"]
        q.standardOutput = out
        q.standardError = FileHandle.nullDevice
        guard (try? q.run()) != nil else { return 0 }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        q.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").reduce(0) { n, line in
            n + (((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["count"] as? Int ?? 0)
        }
    }

    struct Flood { var peakMiB: Double; var baselineMiB: Double; var counted: Int; var seconds: Double; var publishSeconds: Double }

    /// `n` messages of `size` bytes of garbage (not JSON) published as fast as the publisher can; the engine's
    /// resident memory sampled every 20 ms until it has counted every one as rejected.
    static func flood(dir: String, port: Int, registry: String, binary: String, n: Int, size: Int) throws -> Flood {
        let name = "bench-flood"
        let cfg = try LiveBench.config(dir: dir, port: port, registry: registry, name: name)
        let db = dir + "/\(name).db"
        let engine = try startEngine(binary: binary, config: cfg, log: dir + "/\(name).log")
        defer { if engine.isRunning { kill(engine.processIdentifier, SIGTERM); engine.waitUntilExit() } }
        let baseline = memory(engine.processIdentifier, "VmRSS")
        var rng = SeededRandom(seed: 7)
        let garbage: [(String, [UInt8])] = (0..<n).map { i in
            var b = [UInt8](repeating: 0, count: size)
            for k in stride(from: 0, to: size, by: 8) { let r = rng.next(); for j in 0..<min(8, size - k) { b[k + j] = UInt8(truncatingIfNeeded: r >> (8 * j)) } }
            b[0] = UInt8(ascii: "x")  // never a JSON object
            return ("cityeye/czq/sd-\(i % 1000 + 1)", b)
        }
        let start = Date()
        let published = PublishProgress()
        let t = Thread { try? LiveBench.publish(garbage, port: port, progress: published) }
        t.start()
        var peak = baseline, counted = 0
        var publishDone: Date?
        let deadline = Date().addingTimeInterval(600)
        var lastCount = Date.distantPast
        while Date() < deadline {
            peak = max(peak, memory(engine.processIdentifier, "VmRSS"))
            Thread.sleep(forTimeInterval: 0.02)
            if t.isFinished && publishDone == nil { publishDone = Date() }
            if t.isFinished, Date().timeIntervalSince(lastCount) > 1 {
                lastCount = Date()
                counted = rejectedCount(binary: binary, db: db)
                if counted >= n { break }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let publishedAt = publishDone ?? Date()
        peak = max(peak, memory(engine.processIdentifier, "VmHWM"))
        return Flood(peakMiB: peak, baselineMiB: baseline, counted: counted, seconds: seconds,
                     publishSeconds: publishedAt.timeIntervalSince(start))
    }

    /// `n` alarms published at `perSecond`; once `at` of them are out the broker gets `signal` (SIGTERM: it saves its
    /// persistence on the way out; SIGKILL: it loses what it acknowledged since its last save) and is started again
    /// 1 s later on the same port and persistence; the publisher carries on (reconnecting, sending again what was
    /// not acknowledged). Counted in the store's incidents once all are in (or 120 s).
    static func brokerFault(dir: String, broker: MosquittoBroker, registry: String, binary: String, n: Int,
                            perSecond: Double, at: Double, signal: Int32, run: String) throws -> (lost: Int, counted: Int) {
        let name = "bench-broker-\(run)"
        let cfg = try LiveBench.config(dir: dir, port: broker.port, registry: registry, name: name)
        let db = dir + "/\(name).db"
        let engine = try startEngine(binary: binary, config: cfg, log: dir + "/\(name).log")
        defer { if engine.isRunning { kill(engine.processIdentifier, SIGTERM); engine.waitUntilExit() } }
        let msgs = LiveBench.payloads(n, devices: 1000, run: run)
        func connectPublisher() throws -> MQTTPublisher {
            let p = try MQTTPublisher(settings: MQTTSettings(port: broker.port, clientID: "bench-pub-\(run)-\(UUID().uuidString.prefix(4))",
                                                            cleanSession: true, topics: []))
            try p.connect()
            return p
        }
        var pub = try connectPublisher()
        let begin = Date().timeIntervalSince1970
        var faulted = false
        var i = 0
        while i < msgs.count {
            let wait = begin + Double(i) / perSecond - Date().timeIntervalSince1970
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            if !faulted && Double(i) >= at * Double(n) {
                faulted = true
                if signal == SIGKILL, let pid = broker.pid { kill(pid, SIGKILL) }
                broker.stop()
                pub.disconnect()
                Thread.sleep(forTimeInterval: 1)
                try broker.restart()
                // As a gateway does: connect again and send what may not have been acknowledged (the publisher's
                // inflight window) once more; the engine counts a repeat as a duplicate.
                pub = try connectPublisher()
                i = max(0, i - MQTTSettings(port: broker.port, clientID: "x", topics: []).maxInflight)
            }
            try pub.publish(topic: msgs[i].0, payload: msgs[i].1, qos: 1)
            i += 1
        }
        try? pub.waitForAcks(timeout: 60)
        pub.disconnect()
        let deadline = Date().addingTimeInterval(120)
        var counted = 0
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            counted = try LiveBench.countEvents(binary: binary, db: db)
            if counted >= n { Thread.sleep(forTimeInterval: 2); counted = try LiveBench.countEvents(binary: binary, db: db); break }
        }
        LiveBench.forgetSession(port: broker.port, clientID: name)
        return (n - counted, counted)
    }
}
