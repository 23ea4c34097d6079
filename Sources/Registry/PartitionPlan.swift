import Model
import YAMLSupport

/// How a city's communities are split among engine processes (`partitions:` in the live config, docs/scale.md).
/// A partition is the unit of ownership: one MQTT client id (so the broker's persistent session goes with it), its
/// topic filters, and later its rule state and journal position. Nothing here talks to a broker or a database.
public struct PartitionPlan: Sendable {
    public enum Kind: Sendable, Equatable {
        /// Partitions listed in the config, each with its communities (and maybe its own broker).
        case listed
        /// `{hash: N}`: a community belongs to partition `FNV-1a-64(UTF-8 id) mod N`; partitions are named 0…N-1.
        case hashed(count: Int)
    }

    public struct Partition: Sendable {
        /// Letters, digits, `-` and `_` (it ends the MQTT client id); `0`…`N-1` in hash mode.
        public var id: String
        /// The communities named in the config; empty in hash mode, where the registry decides (`communities(of:in:)`).
        public var communities: [String]
        /// Where and how this partition connects: the top `broker:` with the partition's own keys over it, the client
        /// id `<client_id>-p<id>`. Its `topics` are the partition's filters in listed mode; in hash mode they are
        /// formed from the registry (`topics(of:registryCommunities:)`), and empty here.
        public var broker: LiveConfig.Broker
        /// Where the partition is declared (for errors about it).
        public var line: Int?
    }

    public var kind: Kind
    public var partitions: [Partition]

    /// Partitions per city at most (and `hash:` at most): each is a broker session and a lease row.
    public static let maxPartitions = 4096

    /// The MQTT filter that carries one community's traffic (SPEC §2.1).
    public static func filter(community: String) -> String { "cityeye/\(community)/#" }
    /// One device's topic (SPEC §2.1), a filter that matches it alone.
    public static func filter(community: String, device: String) -> String { "cityeye/\(community)/\(device)" }

    /// The hash-mode partition of a community: FNV-1a 64 of its UTF-8 bytes, modulo `count`.
    public static func hashIndex(community: String, count: Int) -> Int {
        Int(FNV1a.hash(community) % UInt64(count))
    }

    /// The id of the partition that owns `community`, or nil if none does (listed mode only).
    public func owner(of community: String) -> String? {
        switch kind {
        case .hashed(let n): return String(Self.hashIndex(community: community, count: n))
        case .listed: return partitions.first { $0.communities.contains(community) }?.id
        }
    }

    /// The registered communities no partition owns, sorted: the engine refuses to start on any (nobody would hear
    /// their gateways). Always empty in hash mode.
    public func unowned<C: Sequence>(_ registryCommunities: C) -> [String] where C.Element == String {
        guard kind == .listed else { return [] }
        let owned = Set(partitions.flatMap(\.communities))
        return Set(registryCommunities).subtracting(owned).sorted()
    }

    /// The communities partition `id` holds: the listed ones, or in hash mode the registered ones that hash to it.
    public func communities<C: Sequence>(of id: String, in registryCommunities: C) -> [String] where C.Element == String {
        guard let p = partitions.first(where: { $0.id == id }) else { return [] }
        switch kind {
        case .listed: return p.communities
        case .hashed: return registryCommunities.filter { owner(of: $0) == id }.sorted()
        }
    }

    /// The topic filters partition `id` subscribes to: `cityeye/<community>/#` for each of its communities. In hash
    /// mode a community added to the registry later is heard once the engine reloads the registry.
    public func topics<C: Sequence>(of id: String, registryCommunities: C) -> [String] where C.Element == String {
        communities(of: id, in: registryCommunities).map(Self.filter(community:))
    }

    /// Why `id` cannot name a partition, or nil.
    static func idProblem(_ id: String) -> String? {
        if id.isEmpty || id.utf8.count > 32 { return "must be 1–32 characters" }
        let ok = id.utf8.allSatisfy { c in
            (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || c == 0x2D || c == 0x5F
        }
        return ok ? nil : "may hold only letters, digits, `-` and `_` (it ends the MQTT client id)"
    }

    /// `partitions:` — a list of `{id, communities, broker}` or `{hash: N}`.
    static func parse(_ v: YAMLValue, broker top: LiveConfig.Broker,
                      resolve: (String) -> String) throws(ConfigError) -> PartitionPlan {
        func named(_ id: String, _ base: LiveConfig.Broker) -> LiveConfig.Broker {
            var b = base
            b.clientID = "\(base.clientID)-p\(id)"
            return b
        }
        if v.node.mapping != nil {
            let f = try v.fields("partitions", allowed: ["hash"])
            guard let hv = f["hash"] else {
                throw v.error("partitions must be a list of {id, communities, broker} or {hash: N}")
            }
            let n = try hv.int("partitions.hash")
            guard (1...maxPartitions).contains(n) else {
                throw hv.error("partitions.hash must be 1–\(maxPartitions) partitions, got \(n)")
            }
            var b = top
            b.topics = []
            let parts = (0..<n).map { Partition(id: String($0), communities: [], broker: named(String($0), b), line: hv.line) }
            return PartitionPlan(kind: .hashed(count: n), partitions: parts)
        }
        let items = try v.items("partitions")
        guard !items.isEmpty else { throw v.error("partitions is empty: list at least one partition, or remove the key for one engine") }
        guard items.count <= maxPartitions else {
            throw v.error("partitions lists \(items.count) partitions; at most \(maxPartitions)")
        }
        var parts: [Partition] = []
        var idLines: [String: Int?] = [:]
        var ownerOf: [String: (partition: String, line: Int?)] = [:]
        for item in items {
            let f = try item.fields("partition", allowed: ["id", "communities", "broker"])
            guard let iv = f["id"] else { throw item.error("missing required key `partitions[].id`") }
            let id = try iv.string("partitions[].id")
            if let why = idProblem(id) { throw iv.error("partition id `\(id)` \(why)") }
            if let first = idLines[id] {
                throw iv.error("partition id `\(id)` given twice (first at line \(first.map(String.init) ?? "?"))")
            }
            idLines[id] = iv.line
            guard let cv = f["communities"] else {
                throw item.error("partition `\(id)` has no `communities:`: list the communities it owns")
            }
            let listed = try cv.items("partitions[\(id)].communities")
            guard !listed.isEmpty else { throw cv.error("partition `\(id)` has no communities: list at least one, or remove it") }
            var communities: [String] = []
            for c in listed {
                let community = try c.string("partitions[\(id)].communities")
                if let bad = TopicLevel.problem(community) { throw c.error("partition `\(id)`: community `\(community)`: \(bad)") }
                if let prior = ownerOf[community] {
                    let where_ = prior.line.map { " (line \($0))" } ?? ""
                    throw c.error(prior.partition == id
                        ? "community `\(community)` is listed twice in partition `\(id)`\(where_)"
                        : "community `\(community)` is in partition `\(prior.partition)`\(where_) and again in partition `\(id)`: a community has one owner")
                }
                ownerOf[community] = (id, c.line)
                communities.append(community)
            }
            var b = top
            if let bv = f["broker"] {
                b = try LiveConfig.broker(bv, key: "partitions[\(id)].broker", inheriting: top, resolve: resolve)
            }
            b.topics = communities.map(filter(community:))
            parts.append(Partition(id: id, communities: communities, broker: named(id, b), line: item.line))
        }
        return PartitionPlan(kind: .listed, partitions: parts)
    }
}
