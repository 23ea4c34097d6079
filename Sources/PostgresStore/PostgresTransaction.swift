import NIOCore
import PostgresNIO
import Model
import Store

/// The writes of one `PostgresStore.transaction`. Every call is one statement (or a few) whatever the number of rows:
/// the rows go as one array per column and `unnest` turns them back into rows on the server. Writes are sent without
/// waiting for their answers (`PostgresSession.send`): the engine goes on with the next part of a batch while the
/// server runs them, and the next read or the COMMIT reads their answers (a failure among them fails the commit).
final class PostgresTransaction: StoreTransaction {
    private let store: PostgresStore
    private let sealer: (any AuditSealer)?
    /// Appended audit rows of notifying actions go to the webhook outbox (off for a replay).
    private let enqueuesNotices: Bool
    /// The chain heads this transaction's audit rows moved.
    var sealedHeads: [String: AuditHead] = [:]
    /// The last audit row as this transaction knows it: read once, then moved on by its own appends (every writer
    /// holds the store's write lock for its whole transaction, so nobody else appends meanwhile).
    private var lastAudit: Int64?
    /// The chain heads read or moved in this transaction (nil: the chain has no sealed row yet), so that an append
    /// reads only the heads of chains it has not seen: a read waits for every write sent before it.
    private var knownHeads: [String: AuditHead?] = [:]
    /// Appended rows of notifying actions, for the webhook outbox at the end (`enqueueNotices`).
    private var noticeRows: [AuditRow] = []

    init(store: PostgresStore, sealer: (any AuditSealer)?, enqueuesNotices: Bool) {
        self.store = store
        self.sealer = sealer
        self.enqueuesNotices = enqueuesNotices
    }

    @discardableResult
    private func run(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws(StoreError) -> [PostgresRandomAccessRow] {
        try store.session.query(sql, binds)
    }

    /// A write whose answer is read later (by the next read, or the COMMIT).
    private func send(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws(StoreError) {
        try store.session.send(sql, binds)
    }

    func upsert(_ incidents: [Incident]) throws {
        // One row per id, the last version (ON CONFLICT cannot change one row twice in a statement).
        var at: [Int64: Int] = [:]
        var rows: [Incident] = []
        for i in incidents {
            if let k = at[i.id] { rows[k] = i } else { at[i.id] = rows.count; rows.append(i) }
        }
        guard !rows.isEmpty else { return }
        var b = PostgresBindings()
        b.append(rows.map(\.id)); b.append(rows.map { pgText($0.rule) }); b.append(rows.map { pgText($0.scenario) })
        b.append(rows.map(\.severity.rawValue)); b.append(rows.map { pgText($0.key) }); b.append(rows.map { pgText($0.device) })
        b.append(rows.map { pgText($0.subject) }); b.append(rows.map { pgText($0.community) }); b.append(rows.map { pgText($0.grid) })
        b.append(rows.map(\.firstSeen.ms)); b.append(rows.map(\.lastSeen.ms)); b.append(rows.map(\.count))
        b.append(rows.map(\.condition.rawValue)); b.append(rows.map(\.status.rawValue)); b.append(rows.map { pgText($0.assignee) })
        b.append(rows.map(\.escalated)); b.append(rows.map(\.overdue)); b.append(rows.map(\.ackDue.ms)); b.append(rows.map(\.resolveDue.ms))
        let updates = PostgresStore.incidentColumns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0 != "id" }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        try send("""
            INSERT INTO incident (\(PostgresStore.incidentColumns))
            SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                                 $9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], $14::text[], $15::text[],
                                 $16::boolean[], $17::boolean[], $18::bigint[], $19::bigint[])
            ON CONFLICT (id) DO UPDATE SET \(updates)
            """, b)
    }

    @discardableResult
    func append(_ audit: [AuditEntry], chains: [String]?) throws -> Int64 {
        let first = try (lastAudit ?? lastAuditRow()) + 1
        guard !audit.isEmpty else { return first - 1 }
        let chains = try chains ?? audit.map { try incident(id: $0.incident)?.community ?? "" }
        let (rows, moved) = try AuditRow.appending(audit, chains: chains, first: first, sealer: sealer, heads: heads(of:))
        if !moved.isEmpty {
            try saveHeads(moved)
            sealedHeads.merge(moved) { $1 }
        }
        var b = PostgresBindings()
        b.append(rows.map(\.id)); b.append(rows.map { pgText($0.chain) }); b.append(rows.map { bytea($0.mac) })
        b.append(rows.map(\.entry.incident)); b.append(rows.map(\.entry.at.ms)); b.append(rows.map { pgText($0.entry.actor) })
        b.append(rows.map(\.entry.action.rawValue)); b.append(rows.map { pgText($0.entry.note) })
        b.append(rows.map(\.entry.channel.rawValue)); b.append(rows.map { pgText($0.entry.osUser) })
        // An empty MAC is a row written without the key: NULL, as in the SQLite store.
        try send("""
            INSERT INTO audit (id, chain, mac, \(PostgresStore.auditColumns))
            SELECT id, chain, NULLIF(mac, ''::bytea), incident, at, actor, action, note, channel, os_user
            FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[],
                        $9::text[], $10::text[]) AS r(id, chain, mac, incident, at, actor, action, note, channel, os_user)
            """, b)
        lastAudit = rows[rows.count - 1].id
        if enqueuesNotices { noticeRows += rows.filter { IncidentNotice.actions.contains($0.entry.action) } }
        return rows[rows.count - 1].id
    }

    func replaceWebhookTargets(_ targets: [String]) throws {
        try run("DELETE FROM webhook_target")
        var b = PostgresBindings(); b.append(targets.map(pgText))
        try run("INSERT INTO webhook_target (community) SELECT DISTINCT unnest($1::text[])", b)
    }

    /// The rows of notifying actions (`IncidentNotice.actions`) whose chain has a webhook target go into the outbox
    /// in this transaction, with the incident as this transaction left it (as the SQLite store does): just before
    /// the COMMIT, since an engine writes a batch's audit rows as it goes and its incidents at the batch's end.
    func enqueueNotices() throws {
        let notifying = noticeRows
        noticeRows = []
        guard !notifying.isEmpty else { return }
        let targets = try store.decode { try run("SELECT community FROM webhook_target").map { try $0.text(0) } }
        guard !targets.isEmpty else { return }
        let all = targets.contains(Store.anyCommunity)
        var ids: [Int64] = [], communities: [String] = [], bodies: [String] = [], at: [Int64] = []
        for r in notifying where all || targets.contains(pgText(r.chain)) {
            guard let incident = try incident(id: r.entry.incident) else { continue }
            ids.append(r.id); communities.append(pgText(incident.community))
            bodies.append(pgText(IncidentNotice.body(auditRow: r.id, entry: r.entry, incident: incident))); at.append(r.entry.at.ms)
        }
        guard !ids.isEmpty else { return }
        var b = PostgresBindings(); b.append(ids); b.append(communities); b.append(bodies); b.append(at)
        try run("""
            INSERT INTO webhook_outbox (id, community, body, created_at, next_at)
            SELECT id, community, body, at, at FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) AS r(id, community, body, at)
            ON CONFLICT (id) DO NOTHING
            """, b)
    }

    /// The recorded heads of `chains` (a chain with no sealed row yet is absent).
    private func heads(of chains: Set<String>) throws -> [String: AuditHead] {
        let unseen = chains.filter { knownHeads[$0] == nil }
        if !unseen.isEmpty {
            let read = try readHeads(of: Set(unseen))
            for c in unseen { knownHeads[c] = .some(read[c]) }
        }
        var out: [String: AuditHead] = [:]
        for c in chains { if let h = knownHeads[c] ?? nil { out[c] = h } }
        return out
    }

    private func readHeads(of chains: Set<String>) throws -> [String: AuditHead] {
        var b = PostgresBindings(); b.append(chains.map(pgText))
        let rows = try run("SELECT chain, row, mac FROM audit_head WHERE chain = ANY($1::text[])", b)
        var out: [String: AuditHead] = [:]
        try store.decode { for r in rows { out[try r.text(0)] = AuditHead(row: try r.int(1), mac: try r.bytes(2)) } }
        // A chain name with U+0000 is stored with U+2400: look it up under the name the caller gave.
        for c in chains where out[c] == nil { if let h = out[pgText(c)] { out[c] = h } }
        return out
    }

    private func saveHeads(_ heads: [String: AuditHead]) throws {
        for (c, h) in heads { knownHeads[c] = .some(h) }
        let chains = Array(heads.keys)
        var b = PostgresBindings()
        b.append(chains.map(pgText)); b.append(chains.map { heads[$0]!.row }); b.append(chains.map { bytea(heads[$0]!.mac) })
        try send("""
            INSERT INTO audit_head (chain, row, mac) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])
            ON CONFLICT (chain) DO UPDATE SET row = excluded.row, mac = excluded.mac
            """, b)
    }

    func writeIncidentEvents(_ events: [IncidentEvent], counts: [(incident: Int64, count: Int64)]) throws {
        let dropping = counts.filter { IncidentEvent.dropped(count: $0.count) > 0 }
        if !dropping.isEmpty {
            var b = PostgresBindings()
            b.append(dropping.map(\.incident)); b.append(dropping.map { $0.count - IncidentEvent.keptLatest })
            b.append(IncidentEvent.keptFirst)
            try send("""
                DELETE FROM incident_event e USING unnest($1::bigint[], $2::bigint[]) AS c(incident, upto)
                WHERE e.incident = c.incident AND e.seq > $3 AND e.seq <= c.upto
                """, b)
        }
        // One row per (incident, seq), the last: an occurrence written again (a batch retried) keeps one row.
        var at: [[Int64]: Int] = [:]
        var rows: [IncidentEvent] = []
        for e in events {
            if let k = at[[e.incident, e.seq]] { rows[k] = e } else { at[[e.incident, e.seq]] = rows.count; rows.append(e) }
        }
        guard !rows.isEmpty else { return }
        var b = PostgresBindings()
        b.append(rows.map(\.incident)); b.append(rows.map(\.seq)); b.append(rows.map { pgText($0.eventID) })
        b.append(rows.map { pgText($0.device) }); b.append(rows.map { pgText($0.type) }); b.append(rows.map(\.ts.ms))
        b.append(rows.map { pgText($0.data) })
        try send("""
            INSERT INTO incident_event (incident, seq, event_id, device, type, ts, data)
            SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[])
            ON CONFLICT (incident, seq) DO UPDATE SET event_id = excluded.event_id, device = excluded.device, type = excluded.type,
                ts = excluded.ts, data = excluded.data
            """, b)
    }

    func appendCaptured(_ lines: [CapturedLines]) throws {
        guard !lines.isEmpty else { return }
        var b = PostgresBindings()
        b.append(lines.map { Int64($0.day) }); b.append(lines.map { bytea($0.text) }); b.append(store.part)
        // In the order given: `seq` is handed out as the ordered rows are inserted.
        try send("""
            INSERT INTO capture_line (day, part, lines)
            SELECT day, $3::text, lines FROM unnest($1::bigint[], $2::bytea[]) WITH ORDINALITY AS c(day, lines, n) ORDER BY n
            """, b)
    }

    func append(_ deadLetters: [DeadLetter]) throws {
        guard !deadLetters.isEmpty else { return }
        var b = PostgresBindings()
        b.append(deadLetters.map(\.receivedAt.ms)); b.append(deadLetters.map { bytea(Array($0.topic.utf8)) })
        b.append(deadLetters.map(\.reason.rawValue)); b.append(deadLetters.map { bytea(Array($0.detail.utf8)) })
        b.append(deadLetters.map { bytea($0.payload) })
        // In the order given: ids are handed out as the ordered rows are inserted.
        try send("""
            INSERT INTO dead_letter (received_at, topic, reason, detail, payload)
            SELECT received_at, topic, reason, detail, payload
            FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::bytea[], $5::bytea[]) WITH ORDINALITY
                AS d(received_at, topic, reason, detail, payload, n)
            ORDER BY n
            """, b)
    }

    func add(_ counts: [DeadLetterCount]) throws {
        // One row per (reason, topic), summed (ON CONFLICT cannot change one row twice in a statement).
        struct Key: Hashable { var reason: RejectReason; var topic: String }
        var at: [Key: Int] = [:]
        var rows: [DeadLetterCount] = []
        for c in counts {
            let k = Key(reason: c.reason, topic: c.topic)
            if let i = at[k] {
                rows[i].count += c.count
                rows[i].firstAt = min(rows[i].firstAt, c.firstAt)
                rows[i].lastAt = max(rows[i].lastAt, c.lastAt)
            } else {
                at[k] = rows.count
                rows.append(c)
            }
        }
        guard !rows.isEmpty else { return }
        var b = PostgresBindings()
        b.append(rows.map(\.reason.rawValue)); b.append(rows.map { bytea(Array($0.topic.utf8)) }); b.append(rows.map { Int64($0.count) })
        b.append(rows.map(\.firstAt.ms)); b.append(rows.map(\.lastAt.ms))
        try send("""
            INSERT INTO dead_letter_count AS c (reason, topic, count, first_at, last_at)
            SELECT * FROM unnest($1::text[], $2::bytea[], $3::bigint[], $4::bigint[], $5::bigint[])
            ON CONFLICT (reason, topic) DO UPDATE SET count = c.count + excluded.count,
                first_at = least(c.first_at, excluded.first_at), last_at = greatest(c.last_at, excluded.last_at)
            """, b)
    }

    /// As the SQLite store's: received before `before` first (by time, then id), then the oldest kept while the table
    /// is over `maxPayloadBytes`; at most `limit`'s rows and bytes in one pass.
    func pruneDeadLetters(receivedBefore before: Instant, maxPayloadBytes: Int, limit: DeadLetterPruneLimit) throws
        -> (deleted: Int, complete: Bool) {
        var pass = DeadLetterPrunePass(limit: limit)
        var b = PostgresBindings(); b.append(before.ms); b.append(Int64(limit.rows) + 1)
        let old = try candidates("SELECT id, length(payload)::bigint FROM dead_letter WHERE received_at < $1 ORDER BY received_at, id LIMIT $2", b)
        var next = old.makeIterator()
        pass.collect(while: { _ in true }, next: { next.next() })
        try delete(&pass)
        if !pass.full {
            let over = try deadLetterTotal().payloadBytes - maxPayloadBytes
            if over > 0 {
                var b = PostgresBindings(); b.append(Int64(limit.rows - pass.deleted) + 1)
                let oldest = try candidates("SELECT id, length(payload)::bigint FROM dead_letter ORDER BY id LIMIT $1", b)
                var next = oldest.makeIterator()
                let bytesBefore = pass.bytes
                pass.collect(while: { p in p.bytes - bytesBefore < over }, next: { next.next() })
                try delete(&pass)
            }
        }
        return (pass.deleted, !pass.full)
    }

    /// (id, payload bytes) rows: at most as many as one pass may delete, plus one.
    private func candidates(_ sql: String, _ binds: PostgresBindings) throws -> [(id: Int64, bytes: Int)] {
        let rows = try run(sql, binds)
        return try store.decode { try rows.map { (try $0.int(0), Int(try $0.int(1))) } }
    }

    private func delete(_ pass: inout DeadLetterPrunePass) throws {
        if !pass.ids.isEmpty {
            var b = PostgresBindings(); b.append(pass.ids)
            try run("DELETE FROM dead_letter WHERE id = ANY($1::bigint[])", b)
        }
        pass.deletedCollected()
    }

    func deadLetterTotal() throws -> (payloadBytes: Int, rows: Int) {
        let rows = try run("SELECT payload_bytes, rows FROM dead_letter_total")
        return try store.decode { rows.isEmpty ? (0, 0) : (Int(try rows[0].int(0)), Int(try rows[0].int(1))) }
    }

    func appendProcessed(keys: [UInt8], at: Instant, format: Int) throws {
        guard !keys.isEmpty else { return }
        var b = PostgresBindings(); b.append(at.ms); b.append(bytea(keys)); b.append(Int64(format)); b.append(store.part)
        try send("INSERT INTO processed_batch (at, keys, format, part) VALUES ($1, $2, $3, $4)", b)
    }

    func pruneProcessed(before: Instant) throws {
        var b = PostgresBindings(); b.append(before.ms); b.append(store.part)
        try run("DELETE FROM processed_batch WHERE part = $2 AND at < $1", b)
    }

    func setState(_ name: String, _ value: [UInt8]) throws { try setState(name, value, part: store.part) }

    /// Under the part of one engine that owns the whole store (''), where people's commands read it.
    func setCityState(_ name: String, _ value: [UInt8]) throws { try setState(name, value, part: "") }

    private func setState(_ name: String, _ value: [UInt8], part: String) throws {
        var b = PostgresBindings(); b.append(pgText(name)); b.append(bytea(value)); b.append(part)
        try send("INSERT INTO engine_state (part, name, value) VALUES ($3, $1, $2) ON CONFLICT (part, name) DO UPDATE SET value = excluded.value", b)
    }

    func deleteState(_ name: String) throws {
        var b = PostgresBindings(); b.append(pgText(name)); b.append(store.part)
        try run("DELETE FROM engine_state WHERE part = $2 AND name = $1", b)
    }

    func state(_ name: String) throws -> [UInt8]? {
        var b = PostgresBindings(); b.append(pgText(name)); b.append(store.part)
        let rows = try run("SELECT value FROM engine_state WHERE part = $2 AND name = $1", b)
        return try store.decode { try rows.first.map { try $0.bytes(0) } }
    }

    func saveRuleKeys(removed: [(rule: String, key: String)], written: [SavedRuleKey], replaceAll: Bool) throws {
        if replaceAll { var b = PostgresBindings(); b.append(store.part); try send("DELETE FROM rule_key WHERE part = $1", b) }
        if !removed.isEmpty {
            var b = PostgresBindings(); b.append(removed.map { pgText($0.rule) }); b.append(removed.map { pgText($0.key) }); b.append(store.part)
            try send("DELETE FROM rule_key k USING unnest($1::text[], $2::text[]) AS r(rule, key) WHERE k.part = $3 AND k.rule = r.rule AND k.key = r.key", b)
        }
        var at: [[String]: Int] = [:]
        var rows: [SavedRuleKey] = []
        for w in written {
            let k = [pgText(w.rule), pgText(w.key)]
            if let i = at[k] { rows[i] = w } else { at[k] = rows.count; rows.append(w) }
        }
        guard !rows.isEmpty else { return }
        var b = PostgresBindings()
        b.append(rows.map { pgText($0.rule) }); b.append(rows.map { pgText($0.key) }); b.append(rows.map { bytea($0.state) })
        b.append(store.part)
        try send("""
            INSERT INTO rule_key (part, rule, key, state) SELECT $4, * FROM unnest($1::text[], $2::text[], $3::bytea[])
            ON CONFLICT (part, rule, key) DO UPDATE SET state = excluded.state
            """, b)
    }

    func peopleChanges(afterAuditRow row: Int64) throws -> (lastRow: Int64, incidents: [Incident]) {
        var b = PostgresBindings(); b.append(row)
        // A partition picks up only the incidents it owns (another partition's desk owns the rest).
        let mine = store.scope?.owned(&b) ?? ""
        // People's audit rows since the last batch first (`audit_by_people`, migration v5), then their incidents.
        // Written as a plain `id IN (SELECT …)`, the planner walked every owned incident's whole audit instead
        // (86 ms a batch at 300 incidents and 300,000 audit rows, growing with the audit).
        let rows = try run("""
            WITH changed AS MATERIALIZED (SELECT DISTINCT incident FROM audit WHERE id > $1 AND actor <> 'engine')
            SELECT \(PostgresStore.incidentColumns) FROM incident
            WHERE id IN (SELECT incident FROM changed)\(mine) ORDER BY id
            """, b)
        let incidents = try store.decode { try rows.map { try PostgresStore.incident($0) } }
        return (try lastAuditRow(), incidents)
    }

    func sharedMaxIncidentID() throws -> Int64? {
        guard store.scope != nil else { return nil }
        let rows = try run("SELECT COALESCE(MAX(id), 0)::bigint FROM incident")
        return try store.decode { try rows[0].int(0) }
    }

    func lastAuditRow() throws -> Int64 {
        let rows = try run("SELECT COALESCE(MAX(id), 0)::bigint FROM audit")
        return try store.decode { try rows[0].int(0) }
    }

    func incident(id: Int64) throws -> Incident? {
        var b = PostgresBindings(); b.append(id)
        let rows = try run("SELECT \(PostgresStore.incidentColumns) FROM incident WHERE id = $1", b)
        return try store.decode { try rows.first.map { try PostgresStore.incident($0) } }
    }

    func newerNotClosed(than incident: Incident) throws -> Incident? {
        var b = PostgresBindings(); b.append(incident.rule); b.append(incident.key); b.append(incident.id)
        let rows = try run("""
            SELECT \(PostgresStore.incidentColumns) FROM incident
            WHERE rule = $1 AND key = $2 AND id > $3 AND status <> 'closed' ORDER BY id LIMIT 1
            """, b)
        return try store.decode { try rows.first.map { try PostgresStore.incident($0) } }
    }
}
