/// Schema migrations, applied in order, once each, recorded in `schema_migration`. Never edit a released one:
/// add the next.
enum Migrations {
    static let all: [(name: String, sql: String)] = [
        ("v1-incidents-audit-dead-letters", """
        CREATE TABLE incident (
            id INTEGER PRIMARY KEY,
            rule TEXT NOT NULL, scenario TEXT NOT NULL, severity TEXT NOT NULL, key TEXT NOT NULL,
            device TEXT NOT NULL, subject TEXT NOT NULL, community TEXT NOT NULL, grid TEXT NOT NULL,
            first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, count INTEGER NOT NULL,
            condition TEXT NOT NULL, status TEXT NOT NULL, assignee TEXT NOT NULL,
            escalated INTEGER NOT NULL, overdue INTEGER NOT NULL,
            ack_due INTEGER NOT NULL, resolve_due INTEGER NOT NULL
        );
        CREATE INDEX incident_rule_key ON incident(rule, key);
        CREATE INDEX incident_status ON incident(status);
        CREATE INDEX incident_assignee_status ON incident(assignee, status);
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            incident INTEGER NOT NULL, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
            note TEXT NOT NULL
        );
        CREATE INDEX audit_incident ON audit(incident);
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
        CREATE TABLE dead_letter (
            id INTEGER PRIMARY KEY,
            received_at INTEGER NOT NULL, topic TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
            payload BLOB NOT NULL
        );
        CREATE TABLE processed_batch (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, keys BLOB NOT NULL);
        CREATE INDEX processed_batch_at ON processed_batch(at);
        CREATE TABLE engine_state (name TEXT PRIMARY KEY, value BLOB NOT NULL);
        """),
        // How the keys of a batch were made (ProcessedIDs.keyFormat); batches written before this are format 1.
        ("v2-processed-key-format", """
        ALTER TABLE processed_batch ADD COLUMN format INTEGER NOT NULL DEFAULT 1;
        """),
        // Which way a person's action came in (cli / web) and, for the CLI, the operating-system user. Rows
        // written before this read '' (Store maps it: `engine` for the engine's rows, `cli` for people's, the only
        // way people could act then).
        ("v3-audit-channel", """
        ALTER TABLE audit ADD COLUMN channel TEXT NOT NULL DEFAULT '';
        ALTER TABLE audit ADD COLUMN os_user TEXT NOT NULL DEFAULT '';
        """),
        // People's web accounts (`cityeye people set-password`): only a bcrypt hash of the password is kept.
        ("v4-accounts", """
        CREATE TABLE account (
            worker TEXT PRIMARY KEY, password_hash TEXT NOT NULL, set_at INTEGER NOT NULL, set_by TEXT NOT NULL
        );
        """),
        // The rule state by (rule, key), saved with each batch as far as the batch changed it (a whole snapshot per
        // batch cost what the engine holds, not what changed). `engine_state` 'rules.clock' holds the rule clock.
        ("v5-rule-keys", """
        CREATE TABLE rule_key (
            rule TEXT NOT NULL, key TEXT NOT NULL, state BLOB NOT NULL, PRIMARY KEY (rule, key)
        ) WITHOUT ROWID;
        """),
        // Dead letters within a budget (docs/contract.md §3): every rejected message is counted per (reason, topic),
        // kept or not, so deleting old dead letters never loses a count. Topics are cut to 256 bytes on a character
        // boundary, as `DeadLetterCount.cut` does (a flood of 64 KiB topics must not bloat the counts); the dead
        // letters already kept are counted once here. Triggers keep the payload bytes and rows of `dead_letter`, so the
        // size retention never sums a large table and a row deleted by hand is accounted for; `received_at` is indexed
        // for the age retention.
        ("v6-dead-letter-counts", """
        CREATE TABLE dead_letter_count (
            reason TEXT NOT NULL, topic TEXT NOT NULL, count INTEGER NOT NULL,
            first_at INTEGER NOT NULL, last_at INTEGER NOT NULL,
            PRIMARY KEY (reason, topic)
        ) WITHOUT ROWID;
        INSERT INTO dead_letter_count (reason, topic, count, first_at, last_at)
            SELECT reason, cut, count(*), min(received_at), max(received_at) FROM (
                SELECT reason, received_at, CASE WHEN length(b) <= 256 THEN topic ELSE CAST(substr(b, 1, 256 - (
                    CASE WHEN substr(hex(substr(b, 257, 1)), 1, 1) NOT IN ('8', '9', 'A', 'B') THEN 0
                         WHEN substr(hex(substr(b, 256, 1)), 1, 1) NOT IN ('8', '9', 'A', 'B') THEN 1
                         WHEN substr(hex(substr(b, 255, 1)), 1, 1) NOT IN ('8', '9', 'A', 'B') THEN 2
                         ELSE 3 END)) AS TEXT) END AS cut
                FROM (SELECT reason, received_at, topic, CAST(topic AS BLOB) AS b FROM dead_letter))
            GROUP BY reason, cut;
        CREATE INDEX dead_letter_received_at ON dead_letter(received_at);
        CREATE TABLE dead_letter_total (
            one INTEGER PRIMARY KEY CHECK (one = 1), payload_bytes INTEGER NOT NULL, rows INTEGER NOT NULL
        );
        INSERT INTO dead_letter_total (one, payload_bytes, rows)
            SELECT 1, coalesce(sum(length(payload)), 0), count(*) FROM dead_letter;
        CREATE TRIGGER dead_letter_total_insert AFTER INSERT ON dead_letter BEGIN
            UPDATE dead_letter_total SET payload_bytes = payload_bytes + length(NEW.payload), rows = rows + 1;
        END;
        CREATE TRIGGER dead_letter_total_delete AFTER DELETE ON dead_letter BEGIN
            UPDATE dead_letter_total SET payload_bytes = payload_bytes - length(OLD.payload), rows = rows - 1;
        END;
        """),
        // The tamper-evident audit trail: each row's chain (its incident's community) and its HMAC, chained to the
        // previous row of the chain; `audit_head` is each chain's last sealed row, written with the rows. Rows
        // written before this keep chain '' and mac NULL.
        ("v7-audit-chain", """
        ALTER TABLE audit ADD COLUMN chain TEXT NOT NULL DEFAULT '';
        ALTER TABLE audit ADD COLUMN mac BLOB;
        CREATE TABLE audit_head (chain TEXT PRIMARY KEY, row INTEGER NOT NULL, mac BLOB NOT NULL);
        """),
        // Outgoing webhooks (docs/operations.md, "Webhooks"). `webhook_target`: the communities `cityeye run` has a
        // webhook for ('*': all), written at its start. `webhook_outbox`: one row per change to tell of, keyed by the
        // audit row that recorded it and inserted in the same transaction; the sender in `cityeye run` drains it.
        ("v8-webhook-outbox", """
        CREATE TABLE webhook_target (community TEXT PRIMARY KEY) WITHOUT ROWID;
        CREATE TABLE webhook_outbox (
            id INTEGER PRIMARY KEY, community TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
            last_error TEXT NOT NULL DEFAULT '', done_at INTEGER
        );
        CREATE INDEX webhook_outbox_due ON webhook_outbox(state, next_at);
        """),
        // The occurrences behind each incident (docs/contract.md §8, "Events behind an incident"): the event that raised
        // or repeated it (`type` '' when a timed rule fired on the clock), written with the incident's change. Only the
        // first 5 and the latest 20 occurrences of an incident are kept; `seq` is the occurrence's number (the
        // incident's count after it), so the incident's count says how many were dropped between.
        ("v9-incident-events", """
        CREATE TABLE incident_event (
            incident INTEGER NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL, device TEXT NOT NULL,
            type TEXT NOT NULL, ts INTEGER NOT NULL, data TEXT NOT NULL,
            PRIMARY KEY (incident, seq)
        ) WITHOUT ROWID;
        """),
        // The cockpit reads one community at a time (docs/web.md): its not-closed incidents and the list by status,
        // and the 7-day chart by first seen (scenario in the index: the chart is counted from the index alone).
        // Without them every cockpit page scanned every incident of the store (BENCHMARKS.md, "Web load").
        ("v10-cockpit-indexes", """
        CREATE INDEX incident_community_status ON incident(community, status);
        CREATE INDEX incident_community_first_seen ON incident(community, first_seen, scenario);
        """),
    ]
}
