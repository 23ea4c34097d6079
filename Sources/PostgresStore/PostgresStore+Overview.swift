import PostgresNIO
import Model
import Store

/// What `cityeye status` shows of a PostgreSQL store beyond what any store holds: the partitioned engines that beat
/// on its roster, each partition's lease and how far its rules have got, and the one-engine state (a replay's).
/// Times are the server's, so that one look from any machine agrees with the engines' fencing.
public struct CityOverview: Sendable {
    public struct Engine: Sendable, Equatable {
        public var id: String
        public var startedAt: Instant
        /// How long ago its last heartbeat was, by the server's clock.
        public var beatAgoMs: Int64
    }
    public struct Partition: Sendable, Equatable {
        public var id: String
        /// Who holds the lease, if anyone ever took it and has not given it back.
        public var holder: String?
        public var token: Int64?
        /// Milliseconds until the lease expires (negative: expired that long ago).
        public var expiresInMs: Int64?
        /// The partition's rule clock as its last commit saved it.
        public var ruleClock: Instant?
        public var ruleKeys: Int

        public var held: Bool { holder != nil && (expiresInMs ?? 0) > 0 }
    }
    public var sizeBytes: Int64
    public var engines: [Engine]
    public var partitions: [Partition]
    /// The rule clock and rule keys of one engine that owns the whole store (a replay), if it saved any.
    public var wholeStoreClock: Instant?
    public var wholeStoreRuleKeys: Int
    /// The dead letters kept, by reason.
    public var deadLetters: [String: Int]
}

extension PostgresStore {
    /// The store's engines and partitions as they are now (a few reads; a lease may move between two of them).
    public func cityOverview(ruleClockName: String) throws -> CityOverview {
        func exists(_ table: String) throws -> Bool {
            var b = PostgresBindings(); b.append(table)
            let rows = try read("SELECT to_regclass($1) IS NOT NULL", b)
            return try decode { try rows[0].bool(0) }
        }
        let size = try decode { try read("SELECT pg_database_size(current_database())::bigint")[0].int(0) }
        var engines: [CityOverview.Engine] = []
        if try exists("engine_heartbeat") {
            let rows = try read("""
                SELECT engine, (extract(epoch FROM started_at) * 1000)::bigint,
                       (extract(epoch FROM clock_timestamp() - beat_at) * 1000)::bigint
                FROM engine_heartbeat ORDER BY engine
                """)
            engines = try decode { try rows.map { .init(id: try $0.text(0), startedAt: Instant(ms: try $0.int(1)), beatAgoMs: try $0.int(2)) } }
        }
        var partitions: [String: CityOverview.Partition] = [:]
        func partition(_ id: String) -> CityOverview.Partition {
            partitions[id] ?? .init(id: id, holder: nil, token: nil, expiresInMs: nil, ruleClock: nil, ruleKeys: 0)
        }
        if try exists("partition_lease") {
            let rows = try read("""
                SELECT partition, holder, token, (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::bigint
                FROM partition_lease
                """)
            for r in rows {
                let (id, holder, token, ms) = try decode { (try r.text(0), try r.optionalText(1), try r.int(2), try r.int(3)) }
                var p = partition(id)
                p.holder = holder; p.token = token; p.expiresInMs = ms
                partitions[id] = p
            }
        }
        var b = PostgresBindings(); b.append(ruleClockName)
        var wholeClock: Instant?
        for r in try read("SELECT part, value FROM engine_state WHERE name = $1", b) {
            let (part, value) = try decode { (try r.text(0), try r.bytes(1)) }
            let clock = Int64(String(decoding: value, as: UTF8.self)).map(Instant.init(ms:))
            if part.isEmpty { wholeClock = clock } else { var p = partition(part); p.ruleClock = clock; partitions[part] = p }
        }
        var wholeKeys = 0
        for r in try read("SELECT part, count(*)::bigint FROM rule_key GROUP BY part") {
            let (part, n) = try decode { (try r.text(0), Int(try r.int(1))) }
            if part.isEmpty { wholeKeys = n } else { var p = partition(part); p.ruleKeys = n; partitions[part] = p }
        }
        var deadLetters: [String: Int] = [:]
        for r in try read("SELECT reason, count(*)::bigint FROM dead_letter GROUP BY reason") {
            let (reason, n) = try decode { (try r.text(0), Int(try r.int(1))) }
            deadLetters[reason] = n
        }
        return CityOverview(sizeBytes: size, engines: engines, partitions: partitions.values.sorted { $0.id < $1.id },
                            wholeStoreClock: wholeClock, wholeStoreRuleKeys: wholeKeys, deadLetters: deadLetters)
    }
}
