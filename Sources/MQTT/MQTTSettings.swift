public struct MQTTSettings: Sendable {
    public var host: String
    public var port: Int
    public var clientID: String
    /// False for the engine: the broker keeps the session and queues QoS 1 messages while it is away.
    public var cleanSession: Bool
    public var topics: [String]
    /// Filters unsubscribed on each connect before `topics` are subscribed: a persistent session keeps the
    /// subscriptions of an earlier configuration (the partition `keyed` once heard whole communities).
    public var unsubscribes: [String] = []
    public var qos: Int
    public var keepalive: Int
    public var username: String?
    public var password: String?
    public var tls: TLSFiles?
    public var maxInflight: Int
    /// Other nodes of the same clustered broker: a subscriber's connect attempt tries `host:port`, then these in order,
    /// before it counts as failed (empty: one broker, as before).
    public var fallbacks: [(host: String, port: Int)]

    public init(host: String = "127.0.0.1", port: Int = 1883, clientID: String = "cityeye-engine", cleanSession: Bool = false,
                topics: [String] = ["cityeye/#"], qos: Int = 1, keepalive: Int = 30, username: String? = nil,
                password: String? = nil, tls: TLSFiles? = nil, maxInflight: Int = 1000,
                fallbacks: [(host: String, port: Int)] = []) {
        self.host = host; self.port = port; self.clientID = clientID; self.cleanSession = cleanSession
        self.topics = topics; self.qos = qos; self.keepalive = keepalive; self.username = username
        self.password = password; self.tls = tls; self.maxInflight = maxInflight; self.fallbacks = fallbacks
    }

    /// `host:port` first, then the fallbacks (without `host:port` itself, if a fallback repeats it).
    public var nodes: [(host: String, port: Int)] { [(host, port)] + fallbacks.filter { $0.host != host || $0.port != port } }
}
