/// The deployment (SPEC §3): communities, grids, workers and devices, with lookups the hot path needs.
public struct Community: Hashable, Sendable {
    public var id: String
    public var name: String
    public var timezone: String
    public init(id: String, name: String, timezone: String = "Asia/Shanghai") {
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
    public private(set) var devices: [String: Device] = [:]
    /// Devices in id order; an accepted event carries its device's position here (`Event.deviceRef`), so later
    /// stages index an array instead of hashing the id again.
    public private(set) var deviceTable: [Device] = []
    public private(set) var deviceRefs: [String: Int32] = [:]
    /// Where each id was declared, for error messages: "registry.yaml:12".
    public var sourceFile: String = ""

    public init(communities: [Community], grids: [Grid], workers: [Worker], devices: [Device]) {
        for c in communities { self.communities[c.id] = c }
        for g in grids { self.grids[g.id] = g }
        for w in workers { self.workers[w.id] = w }
        for d in devices { self.devices[d.id] = d }
        deviceTable = self.devices.values.sorted { $0.id < $1.id }
        for (i, d) in deviceTable.enumerated() { deviceRefs[d.id] = Int32(i) }
    }

    /// Workers with role `worker` in a grid, sorted by id.
    public func workers(inGrid grid: String) -> [Worker] {
        workers.values.filter { $0.role == .worker && $0.grid == grid }.sorted { $0.id < $1.id }
    }

    /// Supervisors of a community, sorted by id.
    public func supervisors(of community: String) -> [Worker] {
        workers.values.filter { $0.role == .supervisor && $0.community == community }.sorted { $0.id < $1.id }
    }

    public func timezone(ofCommunity id: String) -> String { communities[id]?.timezone ?? "Asia/Shanghai" }
}
