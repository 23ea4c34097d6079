import ArgumentParser
import Foundation
import Model
import Engine
import Store
import PostgresStore

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run recorded logs through the rules and dispatch, on event time, into a store.",
        discussion: """
        Each LOG is JSON Lines: one event envelope per line, optionally with a `topic` field. The clock is the \
        largest event time seen; timers (held conditions, absences, SLA deadlines) fire when it reaches them. \
        At the end the clock stands at the last event's time, or at --until. Rejected lines are kept as dead \
        letters and never stop the replay. Replaying the same logs into an empty store gives the same incidents \
        and audit trail, byte for byte.
        """)

    @Argument(help: ArgumentHelp("Log files, replayed in the order given.", valueName: "LOG")) var logs: [String]
    @Option(help: ArgumentHelp("Folder whose rule files are loaded.", valueName: "DIR")) var rules: String = "scenarios"
    @Option(help: ArgumentHelp("The registry file (communities, grids, workers, devices).", valueName: "FILE")) var registry: String
    @OptionGroup var store: AnyStoreOptions
    @OptionGroup var auditKey: AuditKeyOption
    @Option(help: ArgumentHelp("Move the clock on to this time at the end (RFC 3339).", valueName: "TIME")) var until: String?
    @Option(help: ArgumentHelp("The furthest one line may move the clock on (a line beyond it is dead-lettered clock_skew).", valueName: "DURATION"))
    var maxJump: String = "30d"
    @Flag(help: "Print the summary as one JSON object.") var json = false
    @Flag(help: "No progress line.") var quiet = false

    func validate() throws {
        if logs.isEmpty { throw ValidationError("give at least one LOG file") }
        if let until { _ = try parseTime(until, option: "--until") }
        guard Durations.parse(maxJump) != nil else { throw ValidationError("--max-jump \(maxJump): a duration such as 30d, 12h, 90m") }
    }

    func run() throws {
        for log in logs where !FileManager.default.isReadableFile(atPath: log) {
            throw Failure("cannot read log \(log): no such file or not readable")
        }
        // One engine writes a store at a time: a live engine (or another replay) on it refuses this one at once.
        var lock: EngineLock?
        var setup: EngineSetup
        if store.isPostgres {
            let target = try store.target()
            setup = EngineSetup(registry: registry, rules: rules, store: target.description)
            setup.openStore = { _ in
                let db = try PostgresStore(target: target)
                do { try db.lockForEngine(role: "cityeye replay") } catch { db.close(); throw error }
                return db
            }
            setup.auditKeyFile = auditKey.file ?? PostgresStore.defaultAuditKeyPath(target)
        } else {
            lock = try failing { try EngineLock(store: store.db, role: "cityeye replay") }
            setup = EngineSetup(registry: registry, rules: rules, store: store.db)
            setup.auditKeyFile = auditKey.file
        }
        defer { lock?.release() }
        let (pipeline, audit) = try failing { try setup.openCheckingAudit() }
        defer { pipeline.store.close() }
        pipeline.maxClockJump = Durations.parse(maxJump)!
        let showProgress = !quiet && Terminal.stderrIsTTY
        let summary = try failing {
            try Replay.run(pipeline, files: logs, until: try until.map { try parseTime($0, option: "--until") }) { p in
                guard showProgress else { return }
                let pct = p.totalBytes > 0 ? Double(p.bytesRead) * 100 / Double(p.totalBytes) : 0
                Terminal.status(String(format: "\r%@  %5.1f%%  %d events  %.0f events/s   ", p.file, pct, p.events, p.eventsPerSecond))
            }
        }
        if showProgress { Terminal.status("\r\u{1B}[K") }
        print(json ? Self.json(summary, audit: audit) : Self.text(summary, audit: audit))
        let c = summary.counts
        let unreadable = (c.rejected[.badJSON] ?? 0) + (c.rejected[.tooLarge] ?? 0)
        if c.accepted == 0 && c.duplicates == 0 && unreadable > 0 && unreadable == c.rejectedTotal {
            throw Failure("nothing in \(logs.joined(separator: ", ")) could be read as an event (every line is bad_json or too_large): "
                          + "is it a City Eye log, one JSON event envelope per line? `cityeye dead-letters --db \(store.display)` shows the lines")
        }
    }

    static func text(_ s: ReplaySummary, audit: AuditAtStart) -> String {
        let c = s.counts
        let rejected = c.rejected.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }
        let raised = c.raisedByScenario.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        var lines = [
            "replayed \(s.files.count) log(s) in \(String(format: "%.2f", s.elapsedSeconds)) s (\(Int(s.eventsPerSecond)) events/s)",
            "events accepted   \(c.accepted)",
            "duplicates        \(c.duplicates)",
            "rejected          \(c.rejectedTotal)" + (rejected.isEmpty ? "" : "  (" + rejected.joined(separator: ", ") + ")"),
            "incidents raised  \(c.raisedTotal)" + (raised.isEmpty ? "" : "  (" + raised.joined(separator: ", ") + ")"),
            "open incidents    \(s.incidentsOpen)",
        ]
        if c.notApplicableTotal > 0 {
            lines.append("not applicable    \(c.notApplicableTotal)  (evaluations on devices without an attr the rule reads: "
                         + Terminal.safe(NotApplicableText.pairs(c, limit: 5)) + ")")
        }
        if let clock = s.clock { lines.append("clock             \(clock)") }
        lines.append("largest jump      \(Durations.describe(c.largestClockJump))  (the furthest one line moved the clock on)")
        // The check at start: a warning when the trail was broken before this replay or the key is unreadable.
        lines += audit.lines.map { (audit.isAlarming ? "WARNING " : "audit at start    ") + Terminal.safe($0) }
        return lines.joined(separator: "\n")
    }

    static func json(_ s: ReplaySummary, audit: AuditAtStart) -> String {
        var j = JSONLine()
        j.add("accepted", s.counts.accepted)
        j.add("duplicates", s.counts.duplicates)
        var r = JSONLine()
        for (k, v) in s.counts.rejected.sorted(by: { $0.key.rawValue < $1.key.rawValue }) { r.add(k.rawValue, v) }
        j.addRaw("rejected", r.text)
        j.add("incidents_raised", s.counts.raisedTotal)
        var by = JSONLine()
        for (k, v) in s.counts.raisedByScenario.sorted(by: { $0.key < $1.key }) { by.add(k, v) }
        j.addRaw("raised_by_scenario", by.text)
        j.add("open_incidents", s.incidentsOpen)
        j.add("not_applicable", s.counts.notApplicableTotal)
        let gaps = s.counts.notApplicable.sorted { $0.key < $1.key }.map { gap, n -> String in
            var g = JSONLine()
            g.add("rule", gap.rule); g.add("device", gap.device); g.add("evaluations", n)
            g.addRaw("attrs", "[" + gap.attrs.map { JSONText.quoted($0) }.joined(separator: ",") + "]")
            return g.text
        }
        j.addRaw("not_applicable_by_rule_device", "[" + gaps.joined(separator: ",") + "]")
        j.add("clock", s.clock)
        j.add("largest_clock_jump_ms", Int(s.counts.largestClockJump))
        j.add("elapsed_s", String(format: "%.3f", s.elapsedSeconds))
        j.add("audit_at_start_ok", !audit.isAlarming)
        j.add("audit_at_start", audit.lines.joined(separator: "; "))
        return j.text
    }
}

/// Evaluations not applicable because of the registry, as people read them: the pairs with the most first.
enum NotApplicableText {
    static func pairs(_ c: IngestCounts, limit: Int) -> String {
        let top = c.notApplicable.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        var parts = top.prefix(limit).map { "\($0.key.description) \($0.value)" }
        let more = top.count - min(top.count, limit)
        if more > 0 { parts.append("\(more) more pair(s)") }
        if c.notApplicableUntold > 0 { parts.append("\(c.notApplicableUntold) on pairs past the first \(c.notApplicable.count)") }
        return parts.joined(separator: "; ")
    }
}
