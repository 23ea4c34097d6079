/// The deployment (docs/contract.md §4): communities, grids, workers and devices, with lookups the hot path needs.
public struct Community: Hashable, Sendable {
    /// A community's timezone when the registry names none (docs/contract.md §4).
    public static let defaultTimezone = "Asia/Shanghai"
    public var id: String
    public var name: String
    public var timezone: String
    public init(id: String, name: String, timezone: String = Community.defaultTimezone) {
        self.id = id; self.name = name; self.timezone = timezone
    }
}

public struct Grid: Hashable, Sendable {
    public var id: String
    public var community: String
    public var name: String
    public init(id: String, community: String, name: String) { self.id = id; self.community = community; self.name = name }
}

public enum WorkerRole: String, Hashable, Sendable { case worker, supervisor }

public struct Worker: Hashable, Sendable {
    public var id: String
    public var name: String
    public var role: WorkerRole
    /// Set for role `worker`.
    public var grid: String?
    /// The community: a supervisor's own, or a worker's grid's.
    public var community: String
    public init(id: String, name: String, role: WorkerRole, grid: String?, community: String) {
        self.id = id; self.name = name; self.role = role; self.grid = grid; self.community = community
    }
}

public struct Device: Hashable, Sendable {
    public var id: String
    /// Device type, e.g. `elevator`, `bin`, `water_meter`.
    public var type: String
    public var community: String
    public var grid: String
    /// Defaults to the device id.
    public var subject: String
    public var attrs: JSONObject
    public init(id: String, type: String, community: String, grid: String, subject: String? = nil, attrs: JSONObject = JSONObject()) {
        self.id = id; self.type = type; self.community = community; self.grid = grid
        self.subject = subject ?? id; self.attrs = attrs
    }
}

public struct Registry: Sendable {
    public private(set) var communities: [String: Community] = [:]
    public private(set) var grids: [String: Grid] = [:]
    public private(set) var workers: [String: Worker] = [:]
    /// The devices: look-up by id, and everything about a device by its `DeviceRef`.
    public let catalog: DeviceCatalog

    public init(communities: [Community], grids: [Grid], workers: [Worker], devices: [Device]) {
        for c in communities { self.communities[c.id] = c }
        for g in grids { self.grids[g.id] = g }
        for w in workers { self.workers[w.id] = w }
        var unique: [String: Device] = [:]
        for d in devices { unique[d.id] = d }
        catalog = DeviceCatalog(devices: Array(unique.values), communities: communities)
    }

    /// The registered device with this id.
    public func device(_ id: String) -> Device? { catalog.device(id) }

    public func timezone(ofCommunity id: String) -> String { communities[id]?.timezone ?? Community.defaultTimezone }
}
