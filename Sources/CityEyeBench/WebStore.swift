import Foundation
import Model
import Registry
import Store
import Engine
import Simulation
import Incidents
import Closedloop

/// `cityeye-bench webstore`: the store the web load benchmark reads (scripts/web-bench.sh). A week of simulated
/// gateway traffic ending now, replayed through the engine in slices of a few hours; after each slice, grid
/// workers and supervisors act on the incidents raised so far through `PeopleActions` (the CLI's and the web's
/// one path, sealed audit rows) at times inside the slice: most are acknowledged, resolved and closed within hours;
/// one in twenty waits a day or more at each stage (escalated, overdue, resolved but not verified), a few are
/// reopened. The week's last days hold incidents at every stage. Nothing is written
/// with raw SQL: every incident and audit row comes from the engine or a person's action.
enum WebStore {
    struct Figures {
        var events = 0
        var incidents: Int64 = 0
        var auditRows: Int64 = 0
        var actions = 0
        var refused = 0
        var byStatus: [String: Int] = [:]
        var seconds = 0.0
    }

    /// One incident's next step of its (seeded) life, and when it is due.
    private struct Life {
        var step: Step
        var at: Int64
        var reopened = false
    }

    private enum Step { case ack, resolve, close, reopen, done }

    /// `perSlice` events per `sliceHours` of event time over `days` days that end at `end`.
    static func build(db: String, registryPath: String, devices: Int, seed: UInt64, days: Int, sliceHours: Int,
                      perSlice: Int, episodeRate: Double, end: Instant, rules: String) throws -> Figures {
        let t0 = Date()
        for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + s) }
        let plan = DeploymentPlan.make(seed: seed, devices: devices)
        try plan.yaml.write(toFile: registryPath, atomically: true, encoding: .utf8)
        let registry = try RegistryLoader.load(path: registryPath)
        let supervisors = Dictionary(grouping: registry.workers.values.filter { $0.role == .supervisor }, by: \.community)
            .mapValues { $0.map(\.id).min()! }
        let slice = Int64(sliceHours) * Durations.hour
        let slices = days * 24 / sliceHours
        let start = end.ms - Int64(slices) * slice
        var gen = TrafficGenerator(plan: plan, seed: seed, start: Instant(ms: start),
                                   eventsPerSecond: Double(perSlice) / Double(sliceHours * 3600), episodeRate: episodeRate)
        var rng = SeededRandom(seed: seed &+ 1)
        var lives: [Int64: Life] = [:]
        var seen = Set<Int64>()
        var f = Figures()
        var carry: SimulatedMessage?
        let log = db + ".slice.jsonl"
        defer { try? FileManager.default.removeItem(atPath: log) }
        for k in 0..<slices {
            let sliceEnd = start + Int64(k + 1) * slice
            // This slice's traffic: the generator runs on across slices, so ids stay unique and episodes continue.
            var buf = [UInt8]()
            buf.reserveCapacity(perSlice * 220)
            var n = 0
            while true {
                let m = carry ?? gen.next()
                carry = nil
                if m.ts.ms >= sliceEnd { carry = m; break }
                buf.append(contentsOf: "{\"topic\":\"\(m.topic)\",".utf8)
                buf.append(contentsOf: m.payload.utf8.dropFirst())
                buf.append(10)
                n += 1
            }
            try Data(buf).write(to: URL(fileURLWithPath: log))
            // A slice is a file of its own: the replay's progress is kept per file name, so each gets a new name.
            let name = db + ".slice-\(k).jsonl"
            try? FileManager.default.removeItem(atPath: name)
            try FileManager.default.moveItem(atPath: log, toPath: name)
            defer { try? FileManager.default.removeItem(atPath: name) }
            let (pipeline, _) = try EngineSetup(registry: registryPath, rules: rules, store: db).openSealed()
            _ = try Replay.run(pipeline, files: [name], until: Instant(ms: sliceEnd))
            f.events += n
            // People's actions write the SQLite store (the only kind they work on yet); EngineSetup opened one.
            guard let store = pipeline.store as? Store else { fatalError("the bench's store is an SQLite file") }
            // People, up to the end of this slice.
            // One in twenty waits a day or more to be acknowledged: it escalates and goes overdue first.
            for i in try store.notClosedIncidents() where seen.insert(i.id).inserted {
                let late = rng.chance(0.05)
                lives[i.id] = Life(step: .ack, at: i.firstSeen.ms + (late ? minutes(&rng, 1440, 4320) : minutes(&rng, 2, 40)))
            }
            for id in lives.keys.sorted() {
                guard var life = lives[id] else { continue }
                while life.step != .done && life.at <= sliceEnd {
                    guard let i = try store.incident(id: id) else { life.step = .done; break }
                    let (action, who): (PeopleAction, String)
                    switch life.step {
                    case .ack: (action, who) = (.acknowledge, i.assignee)
                    case .resolve: (action, who) = (.resolve(note: "on site: \(["fixed", "cleared", "reset", "checked, false alarm"][Int(rng.next() % 4)])"), i.assignee)
                    case .close: (action, who) = (.close, supervisors[i.community] ?? i.assignee)
                    case .reopen: (action, who) = (.reopen(note: "came back: look again"), supervisors[i.community] ?? i.assignee)
                    case .done: continue
                    }
                    if try !perform(action, on: id, by: who, at: life.at, registry: registry, store: store) {
                        f.refused += 1
                        life.step = .done
                        break
                    }
                    f.actions += 1
                    // What happens next, and whether it happens at all (some incidents wait at each stage).
                    switch life.step {
                    case .ack:
                        life.step = .resolve
                        life.at += rng.chance(0.93) ? minutes(&rng, 10, 240) : minutes(&rng, 1440, 2880)
                    case .resolve:
                        life.step = .close
                        life.at += rng.chance(0.95) ? minutes(&rng, 5, 180) : minutes(&rng, 1440, 2880)
                    case .close:
                        life.step = !life.reopened && rng.chance(0.03) ? .reopen : .done
                        life.at += minutes(&rng, 30, 600)
                    case .reopen:
                        life.reopened = true
                        life.step = .ack
                        life.at += minutes(&rng, 2, 40)
                    case .done: break
                    }
                }
                lives[id] = life.step == .done ? nil : life
            }
            f.incidents = try store.maxIncidentID()
            f.auditRows = try store.lastAuditRow()
            store.close()
            print("slice \(k + 1)/\(slices): \(f.events) events, \(f.incidents) incidents, \(f.auditRows) audit rows, \(f.actions) people's actions")
            fflush(nil)
        }
        let store = try Store(path: db, create: false)
        for i in try store.incidents() { f.byStatus[i.status.rawValue, default: 0] += 1 }
        store.close()
        f.seconds = Date().timeIntervalSince(t0)
        return f
    }

    /// A person's action through the CLI's and the web's one path; false when the rules refuse it (e.g. a reopen
    /// while a newer incident for the same key is open), an error for anything else.
    private static func perform(_ action: PeopleAction, on id: Int64, by who: String, at: Int64, registry: Registry,
                                store: Store) throws -> Bool {
        do {
            _ = try PeopleActions.perform(action, on: id, by: .web(worker: who), registry: registry, store: store, at: Instant(ms: at))
            return true
        } catch {
            if case .refused = error { return false }
            throw error
        }
    }

    private static func minutes(_ rng: inout SeededRandom, _ lo: Int, _ hi: Int) -> Int64 {
        Int64(rng.int(lo...hi)) * Durations.minute
    }
}
