import ArgumentParser
import Foundation
import Model
import Live
import Engine
import PostgresStore

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One look at a store: is an engine writing it, its last commit and rule clock, what is open, what was rejected.",
        discussion: """
        Reads the store only (beside a running engine too). `last write` is when the store's files last changed \
        (with an engine running: its last commit or a person's action); \
        `rule clock` is where the rules' time stands at the last commit (a live engine: the wall-clock time of its \
        last commit; a replay: the event time it reached). Open incidents are dispatched or acknowledged ones; \
        escalated and overdue count among them. For a running engine's live figures, scrape its /metrics \
        (docs/operations.md). \
        `audit chain` is verified now when the audit key (--audit-key, or the store's path + .audit-key) can be read \
        (a few seconds per million audit rows), else it is the running engine's last check as it recorded it in the \
        store; --audit-recorded shows the engine's check without verifying. A broken chain names its community and \
        row. Exit 0 whenever the store can be read, whatever the audit chain.
        """)

    @OptionGroup var store: AnyStoreOptions
    @OptionGroup var key: AuditKeyOption
    @Flag(help: "Show the engine's recorded audit check; do not verify the trail here.") var auditRecorded = false
    @Flag(help: "One JSON object: store, size_bytes, last_write, engine_running, engine, rule_clock, rule_state_keys, journal_position, incidents (by scenario: open, escalated, overdue), dead_letters, dead_letters_by_reason, audit_chain.")
    var json = false

    func run() throws {
        if store.isPostgres { return try runOnPostgreSQL() }
        let files = StoreStatus.files(store.db)
        let db = try SQLiteStoreFile.openExisting(store.db)
        defer { db.close() }
        var s = try failing { try StoreStatus.read(db, files: files) }
        s.audit.resolve(store: store.db, keyPath: key.path(store: store.db), verify: !auditRecorded) { SystemClock().now() }
        print(json ? Self.json(s) : Self.text(s, now: SystemClock().now()))
    }

    /// A store several partitioned engines share: their roster and leases instead of one engine's lock and journal.
    private func runOnPostgreSQL() throws {
        let target = try store.target()
        let db = try failing { try PostgresStore(target: target, create: false) }
        defer { db.close() }
        var s = try failing { try CityStatus.read(db) }
        s.verifyAudit(db, keyPath: try key.path(for: store), verify: !auditRecorded) { SystemClock().now() }
        print(json ? s.json() : s.text(now: SystemClock().now()))
    }

    /// `extra`: more members (name, JSON text) after the store's own.
    static func json(_ s: StoreStatus, extra: [(String, String)] = []) -> String {
        var j = JSONLine()
        j.add("store", s.path)
        j.add("size_bytes", s.sizeBytes)
        j.add("last_write", s.lastWrite)
        j.add("engine_running", s.engine != nil)
        j.add("engine", s.engine?.description)
        j.add("rule_clock", s.ruleClock)
        j.add("rule_state_keys", s.ruleStateKeys)
        j.add("journal_position", s.journalPosition)
        let incidents = s.scenarios.map { c -> String in
            var o = JSONLine()
            o.add("open", c.open); o.add("escalated", c.escalated); o.add("overdue", c.overdue)
            return "\(JSONLine.quote(c.scenario)):\(o.text)"
        }
        j.addRaw("incidents", "{" + incidents.joined(separator: ",") + "}")
        j.add("dead_letters", s.deadLetterTotal)
        var reasons = JSONLine()
        for r in RejectReason.allCases { if let n = s.deadLetters[r] { reasons.add(r.rawValue, n) } }
        j.addRaw("dead_letters_by_reason", reasons.text)
        j.addRaw("audit_chain", auditJSON(s.audit))
        for (name, value) in extra { j.addRaw(name, value) }
        return j.text
    }

    /// `state` (checking, intact, broken, key_unreadable, unreadable, or unknown when nothing checked it), `source`
    /// (verified: by this command; engine: the engine's record; none), and the check's figures.
    static func auditJSON(_ a: AuditStatus) -> String {
        var o = JSONLine()
        let c = a.check
        o.add("state", c?.state.rawValue ?? "unknown")
        o.add("source", a.source.rawValue)
        o.add("started_at", c?.startedAt)
        o.add("checked_at", c?.checkedAt)
        o.add("rows_verified", c?.rows ?? 0)
        o.add("chains", c?.chains ?? 0)
        o.add("rows_before_chain", c?.rowsBeforeChain ?? 0)
        o.add("checked_up_to", c?.checkedUpTo ?? 0)
        o.add("chain", c?.chain)
        if let row = c?.row { o.add("row", row) } else { o.addRaw("row", "null") }
        o.add("break_kind", c?.breakKind?.rawValue)
        o.add("detail", c?.detail)
        o.add("key_problem", a.keyProblem)
        return o.text
    }

    static func auditText(_ a: AuditStatus, now: Instant, engineRunning: Bool) -> String {
        guard let c = a.check else {
            return "not known: no engine has recorded a check" + (a.keyProblem.map { ", and this command cannot verify: \($0)" } ?? "")
        }
        let when: String
        switch a.source {
        case .verified: when = "verified now"
        case .engine, .none:
            let at = c.checkedAt ?? c.startedAt
            when = "the engine's check at \(at) (\(Durations.describe(max(0, now - at) / 1000 * 1000)) ago)"
                + (c.state == .checking && !engineRunning ? "; the engine stopped before it ended" : "")
                + (a.keyProblem.map { "; not verified here: \($0)" } ?? "")
        }
        return "\(c.summary) [\(when)]"
    }

    static func text(_ s: StoreStatus, now: Instant) -> String {
        func ago(_ t: Instant?) -> String { t.map { "\($0) (\(Durations.describe(max(0, now - $0) / 1000 * 1000)) ago)" } ?? "-" }
        let reasons = RejectReason.allCases.compactMap { r in s.deadLetters[r].map { "\(r.rawValue) \($0)" } }
        var lines = [
            "store         \(Terminal.safe(s.path)) (\(Self.size(s.sizeBytes)))",
            "engine        " + (s.engine.map { "running: \(Terminal.safe($0.description))" } ?? "not running (no engine holds the store)"),
            "last write    \(ago(s.lastWrite))",
            "rule clock    " + (s.ruleClock.map { "\($0), \(s.ruleStateKeys) key(s) in the rule state" } ?? "- (no rule state saved yet)"),
        ]
        if let p = s.journalPosition { lines.append("journal       processed up to \(Terminal.safe(p))") }
        lines.append("dead letters  \(s.deadLetterTotal)" + (reasons.isEmpty ? "" : " (\(reasons.joined(separator: ", ")))"))
        lines.append("audit chain   " + Terminal.safe(auditText(s.audit, now: now, engineRunning: s.engine != nil)))
        lines.append("")
        if s.scenarios.isEmpty {
            lines.append("no open incidents")
        } else {
            var rows = s.scenarios.map { [Terminal.safe($0.scenario), String($0.open), String($0.escalated), String($0.overdue)] }
            rows.append(["total", String(s.scenarios.map(\.open).reduce(0, +)), String(s.scenarios.map(\.escalated).reduce(0, +)),
                         String(s.scenarios.map(\.overdue).reduce(0, +))])
            lines.append(Terminal.table(["SCENARIO", "OPEN", "ESCALATED", "OVERDUE"], rows))
        }
        return lines.joined(separator: "\n")
    }

    static func size(_ bytes: Int64) -> String {
        bytes < 1 << 20 ? String(format: "%.1f KiB", Double(bytes) / 1024) : String(format: "%.1f MiB", Double(bytes) / 1_048_576)
    }
}
