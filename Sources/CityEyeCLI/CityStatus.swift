import Foundation
import Model
import Store
import Engine
import AuditChain
import PostgresStore
import Partitions

/// `cityeye status` on a PostgreSQL store: what any store shows (open incidents, dead letters, the audit chains)
/// and, instead of one engine's lock and journal, the partitioned engines on the roster and each partition's lease
/// and rule clock. Read-only; it takes no lease and no lock.
struct CityStatus {
    var store: StoreStatus
    var city: CityOverview
    /// Capture rows (a batch's lines of a day each) that `cityeye capture` has not written out yet, and their oldest day.
    var captureWaiting: (rows: Int, oldestDay: Int?) = (0, nil)
    /// An engine whose last heartbeat is older than a lease is gone (its partitions are being or were taken over).
    static let aliveWithinMs = PartitionTiming().ttl.components.seconds * 1000

    static func read(_ db: PostgresStore) throws -> CityStatus {
        let city = try db.cityOverview(ruleClockName: Pipeline.ruleClockName)
        var s = StoreStatus(path: db.path, sizeBytes: city.sizeBytes, lastWrite: nil, engine: nil)
        s.ruleClock = city.wholeStoreClock
        s.ruleStateKeys = city.wholeStoreRuleKeys
        s.scenarios = try StoreStatus.openByScenario(db)
        for (reason, n) in city.deadLetters { if let r = RejectReason(rawValue: reason) { s.deadLetters[r] = n } }
        s.audit.recorded = try db.state(AuditWatch.stateName)
        return CityStatus(store: s, city: city, captureWaiting: try db.captureWaiting())
    }

    /// Verifies every chain with the key when it can be read (the same check as `cityeye audit verify`).
    mutating func verifyAudit(_ db: PostgresStore, keyPath: String, verify: Bool, now: () -> Instant) {
        store.audit.resolve(store: db.path, keyPath: keyPath, verify: verify, now: now) { key in
            (try AuditTrail.verify(store: db, key: key), try db.lastAuditRow())
        }
    }

    var alive: [CityOverview.Engine] { city.engines.filter { $0.beatAgoMs < Self.aliveWithinMs } }

    func json() -> String {
        let engines = "[" + city.engines.map { e in
            var o = JSONLine()
            o.add("id", e.id); o.add("started_at", e.startedAt); o.add("last_beat_ms_ago", e.beatAgoMs)
            o.add("alive", e.beatAgoMs < Self.aliveWithinMs)
            return o.text
        }.joined(separator: ",") + "]"
        let partitions = "[" + city.partitions.map { p in
            var o = JSONLine()
            o.add("id", p.id); o.add("holder", p.holder)
            if let t = p.token { o.add("token", t) } else { o.addRaw("token", "null") }
            if let ms = p.expiresInMs { o.add("lease_expires_in_ms", ms) } else { o.addRaw("lease_expires_in_ms", "null") }
            o.add("held", p.held); o.add("rule_clock", p.ruleClock); o.add("rule_state_keys", p.ruleKeys)
            return o.text
        }.joined(separator: ",") + "]"
        return Status.json(store, extra: [("engines_alive", String(alive.count)), ("engines", engines), ("partitions", partitions),
                                          ("capture_waiting_rows", String(captureWaiting.rows))])
    }

    func text(now: Instant) -> String {
        func seconds(_ ms: Int64) -> String { String(format: "%.1f s", Double(ms) / 1000) }
        var lines = Status.text(store, now: now).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // The one-engine lines that do not apply: a partitioned city has no engine lock and no local journal.
        lines.removeAll { $0.hasPrefix("engine ") || $0.hasPrefix("last write ") }
        if store.ruleClock == nil { lines.removeAll { $0.hasPrefix("rule clock ") } }
        let gone = city.engines.filter { $0.beatAgoMs >= Self.aliveWithinMs }
        var head = ["engines       " + (alive.isEmpty ? "none alive (no partitioned engine beats on this store's roster)"
                                                       : "\(alive.count) alive: " + alive.map { e in
                                                           "\(Terminal.safe(e.id)) (since \(e.startedAt), last beat \(seconds(e.beatAgoMs)) ago)"
                                                       }.joined(separator: ", "))]
        if !gone.isEmpty {
            head.append("              \(gone.count) gone: " + gone.map { "\(Terminal.safe($0.id)) (last beat \(seconds($0.beatAgoMs)) ago)" }
                .joined(separator: ", "))
        }
        let held = city.partitions.filter(\.held).count
        head.append("partitions    " + (city.partitions.isEmpty ? "none (no partitioned engine has run on this store)"
                                                                 : "\(city.partitions.count), \(held) held"))
        if captureWaiting.rows > 0, let day = captureWaiting.oldestDay {
            // A folder name is not known here: the live config's capture_dir is where the day files usually go.
            head.append("capture       \(captureWaiting.rows) batch(es) of lines in the store since \(CaptureFile.name(day: day).dropLast(6)), "
                        + "waiting for `cityeye capture --db … --dir DIR`")
        }
        var out = [lines[0]] + head + lines.dropFirst()
        if !city.partitions.isEmpty {
            let rows = city.partitions.map { p -> [String] in
                let lease: String = switch (p.holder, p.expiresInMs) {
                case (nil, _): "free"
                case (_, let ms?) where ms > 0: "expires in \(seconds(ms))"
                case (_, let ms?): "expired \(seconds(-ms)) ago"
                default: "-"
                }
                return [Terminal.safe(p.id), Terminal.safe(p.holder ?? "-"), p.token.map(String.init) ?? "-", lease,
                        p.ruleClock?.description ?? "-", String(p.ruleKeys)]
            }
            out += ["", Terminal.table(["PARTITION", "HOLDER", "TOKEN", "LEASE", "RULE CLOCK", "RULE KEYS"], rows)]
        }
        return out.joined(separator: "\n")
    }
}
