import Foundation
import Model
import YAMLSupport
import Journal

public typealias ConfigError = YAMLFileError

/// The live engine's configuration (docs/contract.md §9). Relative paths are resolved against the config file's folder.
public struct LiveConfig: Sendable {
    public struct TLSPaths: Sendable { public var caFile: String; public var certFile: String?; public var keyFile: String? }
    public struct Broker: Sendable {
        public var host: String
        public var port: Int
        public var clientID = "cityeye-engine"
        public var topics = ["cityeye/#"]
        /// Set by the engine, not the config: filters an earlier configuration's persistent session may still hold
        /// (`MQTTSettings.unsubscribes`).
        public var unsubscribes: [String] = []
        public var qos = 1
        /// QoS 0 (at most once: a message lost on a reconnect is gone) only when the config says so in words.
        public var allowQos0 = false
        public var keepaliveS = 30
        public var username: String?
        public var password: String?
        public var tls: TLSPaths?
        /// Other nodes of the same clustered broker (`fallbacks:`), tried in order when `host:port` cannot be reached.
        public var fallbacks: [ListenAddress] = []
    }
    public var broker: Broker
    public var registry: String
    public var rules: String
    public var store: String
    public var captureDir: String?
    /// The ingress journal's folder (`journal.dir`; default `<store>.journal`, next to the store).
    public var journalDir: String
    /// When the journal is forced to disk (`journal.sync`: `200ms` by default, `always`, `never`).
    public var journalSync: JournalSync = .default
    /// What the engine keeps of rejected messages (`dead_letters:`).
    public var deadLetters = DeadLetterPolicy()
    /// Where `cityeye run` serves `/metrics` and `/healthz` (`metrics.listen`); nil: no HTTP listener.
    public var metricsListen: ListenAddress?
    /// The audit key file (`audit_key_file`; default `<store>.audit-key`, created 0600 on first use).
    public var auditKeyFile: String?
    /// How often, after the first pass at start, the audit rows added since are checked (`audit_recheck`, default
    /// `1m`; 0: never).
    public var auditRecheck: Millis = Durations.minute
    /// Outgoing webhooks by community (`webhooks:`); empty: none.
    public var webhooks: [WebhookTarget] = []
    /// How the city's communities are split among engines (`partitions:`); nil: one engine hears `broker.topics`
    /// as SPEC §8 describes.
    public var partitions: PartitionPlan?

    public static func load(path: String) throws(ConfigError) -> LiveConfig {
        let doc = try YAMLValue.load(path: path, what: "config")
        let base = (URL(fileURLWithPath: path).deletingLastPathComponent().path)
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : (base as NSString).appendingPathComponent(p) }
        func need(_ f: [String: YAMLValue], _ key: String, _ prefix: String, _ v: YAMLValue) throws(ConfigError) -> YAMLValue {
            guard let x = f[key] else { throw v.error("missing required key `\(prefix)\(key)`") }
            return x
        }
        let top = try doc.fields("the config", allowed: ["broker", "registry", "rules", "store", "capture_dir", "journal",
                                                                 "dead_letters", "metrics", "audit_key_file", "audit_recheck", "webhooks",
                                                                 "partitions"])
        let bv = try need(top, "broker", "", doc)
        let broker = try Self.broker(bv, key: "broker", inheriting: nil, resolve: resolve)
        let registryV = try need(top, "registry", "", doc)
        let registry = try readableFile(resolve(try registryV.string("registry")), "registry", registryV)
        let rulesV = try need(top, "rules", "", doc)
        let rules = resolve(try rulesV.string("rules"))
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: rules, isDirectory: &isDir), isDir.boolValue else {
            throw rulesV.error("rules: no such folder \(rules)")
        }
        let storeV = try need(top, "store", "", doc)
        let storeText = try storeV.string("store")
        let onPostgres = PostgresStoreName.names(storeText)
        if onPostgres && top["partitions"] == nil {
            throw storeV.error("store: a PostgreSQL store (postgres://…) is for engines that share a city by partitions: add `partitions:` (`{hash: 1}` for one engine, docs/scale.md), or give an SQLite store file")
        }
        let store = onPostgres ? storeText : resolve(storeText)
        let storeDir = (store as NSString).deletingLastPathComponent
        guard onPostgres || FileManager.default.fileExists(atPath: storeDir) else { throw storeV.error("store: folder \(storeDir) does not exist") }
        var capture: String?
        if let v = top["capture_dir"] { capture = resolve(try v.string("capture_dir")) }
        var config = LiveConfig(broker: broker, registry: registry, rules: rules, store: store, captureDir: capture,
                                journalDir: store + ".journal")
        if let v = top["audit_key_file"] { config.auditKeyFile = resolve(try v.string("audit_key_file")) }
        if let v = top["audit_recheck"] {
            let text = try v.string("audit_recheck")
            guard let ms = text == "0" ? 0 : Durations.parse(text), ms == 0 || (Durations.second...Durations.day).contains(ms) else {
                throw v.error("audit_recheck must be a duration from 1s to 1d (e.g. 1m, 30s), or 0 for never; got `\(text)`")
            }
            config.auditRecheck = ms
        }
        if let jv = top["journal"] {
            let j = try jv.fields("journal", allowed: ["dir", "sync"])
            if let v = j["dir"] { config.journalDir = resolve(try v.string("journal.dir")) }
            if let v = j["sync"] {
                let text = try v.string("journal.sync")
                guard let sync = Self.journalSync(text) else {
                    throw v.error("journal.sync must be `always`, `never` or an interval such as `200ms` (at most 60000ms), got `\(text)`")
                }
                config.journalSync = sync
            }
        }
        if let v = top["dead_letters"] { config.deadLetters = try DeadLettersConfig.parse(v) }
        if let mv = top["metrics"] { config.metricsListen = try Self.metricsListen(mv) }
        if let wv = top["webhooks"] { config.webhooks = try WebhooksConfig.parse(wv, resolve: resolve) }
        if let pv = top["partitions"] {
            if let tv = try bv.fields("broker", allowed: Self.brokerKeys)["topics"] {
                throw tv.error("broker.topics cannot be used with `partitions:`: each partition subscribes to cityeye/<community>/# for its own communities (docs/scale.md)")
            }
            config.partitions = try PartitionPlan.parse(pv, broker: broker, resolve: resolve)
        }
        return config
    }

    /// The resolved path `p`, which must be a readable file.
    static func readableFile(_ p: String, _ key: String, _ v: YAMLValue) throws(ConfigError) -> String {
        guard FileManager.default.isReadableFile(atPath: p) else { throw v.error("\(key): cannot read file \(p)") }
        return p
    }

    static let brokerKeys: Set<String> = ["host", "port", "client_id", "topics", "qos", "allow_qos0", "keepalive_s", "username",
                                          "password_file", "tls", "fallbacks"]

    /// A `broker:` mapping; `key` names it in errors (`broker`, `partitions[p1].broker`). With `base`, every key is
    /// optional and a missing one keeps the base's value (a partition's broker inherits the top one's).
    static func broker(_ bv: YAMLValue, key: String, inheriting base: Broker?,
                       resolve: (String) -> String) throws(ConfigError) -> Broker {
        func readable(_ p: String, _ key: String, _ v: YAMLValue) throws(ConfigError) -> String {
            try readableFile(resolve(p), key, v)
        }
        func need(_ f: [String: YAMLValue], _ name: String) throws(ConfigError) -> YAMLValue {
            guard let x = f[name] else { throw bv.error("missing required key `\(key).\(name)`") }
            return x
        }
        let b = try bv.fields(key, allowed: brokerKeys)
        var broker: Broker
        if let base {
            broker = base
            if let v = b["host"] { broker.host = try v.string("\(key).host") }
        } else {
            broker = Broker(host: try need(b, "host").string("\(key).host"), port: 0)
        }
        if let v = base == nil ? Optional(try need(b, "port")) : b["port"] {
            let port = try v.int("\(key).port")
            guard (1...65535).contains(port) else { throw v.error("\(key).port must be 1–65535, got \(port)") }
            broker.port = port
        }
        if let v = b["client_id"] { broker.clientID = try v.string("\(key).client_id") }
        if let v = b["topics"] {
            guard base == nil else {
                throw v.error("\(key).topics: a partition subscribes to cityeye/<community>/# for its own communities; list them in its `communities:`")
            }
            broker.topics = try v.strings("\(key).topics")
            guard !broker.topics.isEmpty else { throw v.error("\(key).topics is empty: the engine would hear nothing (e.g. [\"cityeye/#\"])") }
            for t in broker.topics {
                if let why = TopicLevel.filterProblem(t) { throw v.error("\(key).topics: `\(t)` is not a valid MQTT filter: \(why)") }
            }
        }
        if let v = b["allow_qos0"] { broker.allowQos0 = try v.bool("\(key).allow_qos0") }
        if let v = b["qos"] {
            broker.qos = try v.int("\(key).qos")
            switch broker.qos {
            case 1: break
            case 0 where broker.allowQos0: break
            case 0: throw v.error("\(key).qos 0 is at-most-once: a message in flight at a reconnect is lost without a trace; use 1, or set \(key).allow_qos0: true to accept that")
            default: throw v.error("\(key).qos must be 1 (at least once; City Eye drops repeats by (device, id)), got \(broker.qos)")
            }
        }
        if let v = b["keepalive_s"] {
            broker.keepaliveS = try v.int("\(key).keepalive_s")
            guard (5...65535).contains(broker.keepaliveS) else {
                throw v.error("\(key).keepalive_s must be 5–65535 seconds, got \(broker.keepaliveS)")
            }
        }
        if let v = b["username"] { broker.username = try v.string("\(key).username") }
        if let v = b["password_file"] {
            let p = try readable(try v.string("\(key).password_file"), "\(key).password_file", v)
            guard let text = try? String(contentsOfFile: p, encoding: .utf8) else { throw v.error("\(key).password_file: cannot read file \(p)") }
            broker.password = text.trimmingCharacters(in: .newlines)
        }
        if let tv = b["tls"] {
            let t = try tv.fields("\(key).tls", allowed: ["ca_file", "cert_file", "key_file"])
            guard let cv = t["ca_file"] else { throw tv.error("missing required key `\(key).tls.ca_file`") }
            let ca = try readable(try cv.string("\(key).tls.ca_file"), "\(key).tls.ca_file", tv)
            var tls = TLSPaths(caFile: ca, certFile: nil, keyFile: nil)
            if let v = t["cert_file"] { tls.certFile = try readable(try v.string("\(key).tls.cert_file"), "\(key).tls.cert_file", v) }
            if let v = t["key_file"] { tls.keyFile = try readable(try v.string("\(key).tls.key_file"), "\(key).tls.key_file", v) }
            broker.tls = tls
        }
        if let v = b["fallbacks"] {
            var nodes: [ListenAddress] = []
            for item in try v.items("\(key).fallbacks") {
                let text = try item.string("\(key).fallbacks")
                guard let a = ListenAddress(text), a.port > 0, !a.host.isEmpty else {
                    throw item.error("\(key).fallbacks: `\(text)` is not host:port with a port 1–65535 (another node of the same clustered broker, e.g. mq-2:1883)")
                }
                nodes.append(a)
            }
            broker.fallbacks = nodes
        }
        return broker
    }

    /// `metrics: {listen: "127.0.0.1:9464"}`.
    static func metricsListen(_ mv: YAMLValue) throws(ConfigError) -> ListenAddress {
        let m = try mv.fields("metrics", allowed: ["listen"])
        guard let v = m["listen"] else { throw mv.error("missing required key `metrics.listen` (e.g. 127.0.0.1:9464)") }
        let text = try v.string("metrics.listen")
        guard let address = ListenAddress(text) else {
            throw v.error("metrics.listen must be host:port with a port 0–65535, e.g. 127.0.0.1:9464; got \(text)")
        }
        return address
    }

    /// `always`, `never`, or `<n>ms` (1…60000).
    static func journalSync(_ text: String) -> JournalSync? {
        switch text {
        case "always": return .always
        case "never": return .never
        default:
            guard text.hasSuffix("ms"), let ms = Int(text.dropLast(2)), (1...60_000).contains(ms) else { return nil }
            return .interval(ms: ms)
        }
    }
}
