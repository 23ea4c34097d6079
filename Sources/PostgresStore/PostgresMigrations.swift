/// The PostgreSQL store's schema migrations, applied in order, once each, recorded in its own `schema_migration`
/// table. Never edit a released one: add the next. v1 is the SQLite store's schema as of its v10 (docs/scale.md), in
/// PostgreSQL's types: BIGINT millisecond times, bytea for blobs, boolean flags; the text a store sorts by is
/// `COLLATE "C"` (byte order, as SQLite's BINARY), so both stores list in the same order. v3 adds people's web accounts
/// (`cityeye serve` and `cityeye people` on PostgreSQL). Not yet here: the webhook outbox (webhooks do not run on
/// PostgreSQL yet).
enum PostgresMigrations {
    static let all: [(name: String, sql: [String])] = [
        ("v1-engine-tables", [
            """
            CREATE TABLE incident (
                id BIGINT PRIMARY KEY,
                rule TEXT COLLATE "C" NOT NULL, scenario TEXT COLLATE "C" NOT NULL, severity TEXT NOT NULL,
                key TEXT COLLATE "C" NOT NULL, device TEXT NOT NULL, subject TEXT NOT NULL, community TEXT COLLATE "C" NOT NULL,
                grid TEXT NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, count BIGINT NOT NULL,
                condition TEXT NOT NULL, status TEXT NOT NULL, assignee TEXT NOT NULL,
                escalated BOOLEAN NOT NULL, overdue BOOLEAN NOT NULL,
                ack_due BIGINT NOT NULL, resolve_due BIGINT NOT NULL
            )
            """,
            "CREATE INDEX incident_rule_key ON incident (rule, key)",
            "CREATE INDEX incident_status ON incident (status)",
            "CREATE INDEX incident_assignee_status ON incident (assignee, status)",
            "CREATE INDEX incident_community_status ON incident (community, status)",
            "CREATE INDEX incident_community_first_seen ON incident (community, first_seen, scenario)",
            // Ids are given by the writer (the largest plus one, under the store's write lock), as in SQLite.
            """
            CREATE TABLE audit (
                id BIGINT PRIMARY KEY,
                incident BIGINT NOT NULL, at BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, note TEXT NOT NULL,
                channel TEXT NOT NULL DEFAULT '', os_user TEXT NOT NULL DEFAULT '',
                chain TEXT NOT NULL DEFAULT '', mac BYTEA
            )
            """,
            "CREATE INDEX audit_incident ON audit (incident)",
            """
            CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit rows are append-only'; END $$
            """,
            "CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
            "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
            "CREATE TABLE audit_head (chain TEXT PRIMARY KEY, row BIGINT NOT NULL, mac BYTEA NOT NULL)",
            // A dead letter's topic and detail come from bad input: bytea keeps every byte (text cannot hold NUL) and
            // sorts by byte, as SQLite does.
            """
            CREATE TABLE dead_letter (
                id BIGSERIAL PRIMARY KEY,
                received_at BIGINT NOT NULL, topic BYTEA NOT NULL, reason TEXT NOT NULL, detail BYTEA NOT NULL,
                payload BYTEA NOT NULL
            )
            """,
            "CREATE INDEX dead_letter_received_at ON dead_letter (received_at, id)",
            """
            CREATE TABLE dead_letter_count (
                reason TEXT COLLATE "C" NOT NULL, topic BYTEA NOT NULL, count BIGINT NOT NULL,
                first_at BIGINT NOT NULL, last_at BIGINT NOT NULL,
                PRIMARY KEY (reason, topic)
            )
            """,
            """
            CREATE TABLE dead_letter_total (
                one INTEGER PRIMARY KEY CHECK (one = 1), payload_bytes BIGINT NOT NULL, rows BIGINT NOT NULL
            )
            """,
            "INSERT INTO dead_letter_total (one, payload_bytes, rows) VALUES (1, 0, 0)",
            // Kept by statement triggers over the inserted and deleted rows, so the size retention never sums the table
            // and a row deleted by hand is accounted for.
            """
            CREATE FUNCTION dead_letter_total_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE dead_letter_total SET payload_bytes = payload_bytes + (SELECT coalesce(sum(length(payload)), 0) FROM added),
                    rows = rows + (SELECT count(*) FROM added);
                RETURN NULL;
            END $$
            """,
            """
            CREATE FUNCTION dead_letter_total_delete() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE dead_letter_total SET payload_bytes = payload_bytes - (SELECT coalesce(sum(length(payload)), 0) FROM removed),
                    rows = rows - (SELECT count(*) FROM removed);
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER dead_letter_total_insert AFTER INSERT ON dead_letter REFERENCING NEW TABLE AS added
                FOR EACH STATEMENT EXECUTE FUNCTION dead_letter_total_insert()
            """,
            """
            CREATE TRIGGER dead_letter_total_delete AFTER DELETE ON dead_letter REFERENCING OLD TABLE AS removed
                FOR EACH STATEMENT EXECUTE FUNCTION dead_letter_total_delete()
            """,
            """
            CREATE TABLE processed_batch (
                id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, keys BYTEA NOT NULL, format INTEGER NOT NULL
            )
            """,
            "CREATE INDEX processed_batch_at ON processed_batch (at)",
            "CREATE TABLE engine_state (name TEXT PRIMARY KEY, value BYTEA NOT NULL)",
            """
            CREATE TABLE rule_key (
                rule TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, state BYTEA NOT NULL, PRIMARY KEY (rule, key)
            )
            """,
            """
            CREATE TABLE incident_event (
                incident BIGINT NOT NULL, seq BIGINT NOT NULL, event_id TEXT NOT NULL, device TEXT NOT NULL,
                type TEXT NOT NULL, ts BIGINT NOT NULL, data TEXT NOT NULL,
                PRIMARY KEY (incident, seq)
            )
            """,
        ]),
        // Partitions (docs/scale.md): several engines share the store, each owning a partition's engine state, rule
        // state and processed ids; '' is the one engine (a replay, or a store never partitioned).
        ("v2-partitions", [
            "ALTER TABLE engine_state ADD COLUMN part TEXT COLLATE \"C\" NOT NULL DEFAULT ''",
            "ALTER TABLE engine_state DROP CONSTRAINT engine_state_pkey",
            "ALTER TABLE engine_state ADD PRIMARY KEY (part, name)",
            "ALTER TABLE rule_key ADD COLUMN part TEXT COLLATE \"C\" NOT NULL DEFAULT ''",
            "ALTER TABLE rule_key DROP CONSTRAINT rule_key_pkey",
            "ALTER TABLE rule_key ADD PRIMARY KEY (part, rule, key)",
            "ALTER TABLE processed_batch ADD COLUMN part TEXT COLLATE \"C\" NOT NULL DEFAULT ''",
            "DROP INDEX processed_batch_at",
            "CREATE INDEX processed_batch_part_at ON processed_batch (part, at)",
        ]),
        // People's web accounts (`cityeye people set-password`, `cityeye serve`), as the SQLite store's v4: only a
        // bcrypt hash of the password is kept. The cockpit's queries are served by v1's incident indexes.
        ("v3-accounts", [
            """
            CREATE TABLE account (
                worker TEXT COLLATE "C" PRIMARY KEY, password_hash TEXT NOT NULL, set_at BIGINT NOT NULL, set_by TEXT NOT NULL
            )
            """,
        ]),
        // Outgoing webhooks, as in the SQLite store (docs/operations.md, "Webhooks"): the communities with a webhook
        // ('*': all), and one outbox row per change to tell of, keyed by its audit row and inserted in the same
        // transaction. Each partition's engine drains its own communities' rows.
        ("v4-webhook-outbox", [
            "CREATE TABLE webhook_target (community TEXT COLLATE \"C\" PRIMARY KEY)",
            """
            CREATE TABLE webhook_outbox (
                id BIGINT PRIMARY KEY, community TEXT COLLATE "C" NOT NULL, body TEXT NOT NULL, created_at BIGINT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, next_at BIGINT NOT NULL,
                last_error TEXT NOT NULL DEFAULT '', done_at BIGINT
            )
            """,
            "CREATE INDEX webhook_outbox_due ON webhook_outbox (state, next_at)",
        ]),
        // People's audit rows alone (a few among the engine's millions), for the query every batch starts with
        // (`peopleChanges`): with only the primary key the planner, its statistics behind a growing table, scanned
        // the whole audit (20–40 ms a batch at 55,000 rows, and growing).
        ("v5-people-audit", [
            "CREATE INDEX audit_by_people ON audit (id) WHERE actor <> 'engine'",
        ]),
        // The capture of a partitioned city (`capture_dir` with partitions): each batch's accepted messages as the
        // lines of their local day's file (one row a batch and day), in commit order (`seq`); `cityeye capture`
        // writes them out and deletes them.
        ("v6-capture", [
            "CREATE TABLE capture_line (seq BIGSERIAL PRIMARY KEY, day BIGINT NOT NULL, part TEXT COLLATE \"C\" NOT NULL, lines BYTEA NOT NULL)",
            // Out of line, uncompressed: compressing each batch's ~200 KB cost the server more than writing it.
            "ALTER TABLE capture_line ALTER COLUMN lines SET STORAGE EXTERNAL",
        ]),
    ]
}
