import ArgumentParser
import Foundation
import Model
import Live

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One look at a store: is an engine writing it, its last commit and rule clock, what is open, what was rejected.",
        discussion: """
        Reads the store only (beside a running engine too). `last write` is when the store's files last changed \
        (with an engine running: its last commit or a person's action); \
        `rule clock` is where the rules' time stands at the last commit (a live engine: the wall-clock time of its \
        last commit; a replay: the event time it reached). Open incidents are dispatched or acknowledged ones; \
        escalated and overdue count among them. For a running engine's live figures, scrape its /metrics \
        (docs/operations.md). Exit 0 whenever the store can be read.
        """)

    @OptionGroup var store: StoreOptions
    @Flag(help: "One JSON object: store, size_bytes, last_write, engine_running, engine, rule_clock, rule_state_keys, journal_position, incidents (by scenario: open, escalated, overdue), dead_letters, dead_letters_by_reason.")
    var json = false

    func run() throws {
        let files = StoreStatus.files(store.db)
        let db = try store.openExisting()
        defer { db.close() }
        let s = try failing { try StoreStatus.read(db, files: files) }
        print(json ? Self.json(s) : Self.text(s, now: SystemClock().now()))
    }

    static func json(_ s: StoreStatus) -> String {
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
        return j.text
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
