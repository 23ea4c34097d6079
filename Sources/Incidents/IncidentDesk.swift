import Model

/// One incident's new state and the audit rows that explain the change.
public struct IncidentChange: Sendable {
    public var incident: Incident
    public var audit: [AuditEntry]
}

/// Turns rule signals into incidents (docs/contract.md §8): dedup per (rule, key) while not closed, assignment to the
/// least-loaded grid worker, SLA escalation and overdue on the clock. In memory; the Engine persists the changes.
/// Only not-closed incidents are kept. Call `advance(to:)` before applying a signal of a later time.
public final class IncidentDesk {
    private struct RuleKey: Hashable { var rule: String; var key: String }
    private struct Deadline: Comparable {
        var due: Instant; var id: Int64; var overdue: Bool
        static func < (a: Deadline, b: Deadline) -> Bool {
            (a.due, a.id, a.overdue ? 1 : 0) < (b.due, b.id, b.overdue ? 1 : 0)
        }
    }

    private let registry: Registry
    private var open: [Int64: Incident] = [:]
    private var byKey: [RuleKey: Int64] = [:]
    private var loads: [String: Int] = [:]
    private var deadlines = MinHeap<Deadline>()
    private var nextID: Int64
    private let gridWorkers: [String: [String]]
    private let supervisors: [String: [String]]

    public init(registry: Registry, openIncidents: [Incident], nextID: Int64) {
        self.registry = registry
        self.nextID = max(1, nextID)
        var gw: [String: [String]] = [:], sv: [String: [String]] = [:]
        for w in registry.workers.values {
            switch w.role {
            case .worker: if let g = w.grid { gw[g, default: []].append(w.id) }
            case .supervisor: sv[w.community, default: []].append(w.id)
            }
        }
        gridWorkers = gw.mapValues { $0.sorted() }
        supervisors = sv.mapValues { $0.sorted() }
        for i in openIncidents.sorted(by: { $0.id < $1.id }) { refresh(i) }
    }

    public var openCount: Int { open.count }

    /// New incidents take ids above `id` (another engine sharing the store gave ids up to it).
    public func reserveIDs(above id: Int64) { nextID = max(nextID, id + 1) }
    public var nextDeadline: Instant? {
        while let top = deadlines.peek, !isLive(top) { deadlines.pop() }
        return deadlines.peek?.due
    }
    /// Incidents not yet resolved assigned to a worker.
    public func load(ofWorker id: String) -> Int { loads[id] ?? 0 }

    /// Takes in an incident people changed elsewhere (an acknowledge, resolve, close or reopen committed by the CLI)
    /// and returns what it now is: people own status, assignee and deadlines; the engine's own fields (count, last
    /// seen, condition, and escalated/overdue unless a reopen reset the deadlines) keep the desk's newer value, which
    /// a replay may not have committed yet. A closed incident leaves the desk (the next occurrence raises a new one).
    @discardableResult
    public func refresh(_ people: Incident) -> Incident {
        let known = open[people.id]
        let incident = known.map { Self.merge(engine: $0, people: people) } ?? people
        if let known, known.status.isOpen { loads[known.assignee, default: 0] -= 1 }
        let k = RuleKey(rule: incident.rule, key: incident.key)
        nextID = max(nextID, incident.id + 1)
        if incident.status == .closed {
            open[incident.id] = nil
            if byKey[k] == incident.id { byKey[k] = nil }
            return incident
        }
        open[incident.id] = incident
        if (byKey[k] ?? 0) <= incident.id { byKey[k] = incident.id }
        if incident.status.isOpen { loads[incident.assignee, default: 0] += 1 }
        schedule(incident)
        return incident
    }

    static func merge(engine: Incident, people: Incident) -> Incident {
        var m = engine
        m.status = people.status
        m.assignee = people.assignee
        m.count = max(engine.count, people.count)
        m.lastSeen = max(engine.lastSeen, people.lastSeen)
        if people.ackDue != engine.ackDue || people.resolveDue != engine.resolveDue {
            m.ackDue = people.ackDue
            m.resolveDue = people.resolveDue
            m.escalated = people.escalated
            m.overdue = people.overdue
        } else {
            m.escalated = engine.escalated || people.escalated
            m.overdue = engine.overdue || people.overdue
        }
        return m
    }

    public func apply(_ signal: RuleSignal, into changes: inout [IncidentChange]) {
        switch signal {
        case let .occurrence(rule, key, device, at):
            if let id = byKey[RuleKey(rule: rule.id, key: key)], var i = open[id] {
                i.count += 1
                if at > i.lastSeen { i.lastSeen = at }
                var audit = [AuditEntry(incident: id, at: at, actor: AuditEntry.engineActor, action: .repeated, note: "count \(i.count)")]
                if i.condition == .cleared {
                    i.condition = .active
                    audit.append(AuditEntry(incident: id, at: at, actor: AuditEntry.engineActor, action: .conditionActive, note: ""))
                }
                open[id] = i
                changes.append(IncidentChange(incident: i, audit: audit))
            } else {
                changes.append(raise(rule: rule, key: key, device: device, at: at))
            }
        case let .cleared(rule, key, _, at):
            guard let id = byKey[RuleKey(rule: rule.id, key: key)], var i = open[id], i.condition == .active else { return }
            i.condition = .cleared
            open[id] = i
            changes.append(IncidentChange(incident: i, audit: [
                AuditEntry(incident: id, at: at, actor: AuditEntry.engineActor, action: .conditionCleared, note: ""),
            ]))
        }
    }

    private func raise(rule: RuleRef, key: String, device ref: DeviceRef, at: Instant) -> IncidentChange {
        let device = registry.catalog[ref]
        let community = device.community
        let grid = device.grid
        let assignee: String
        let note: String
        if let workers = gridWorkers[grid], !workers.isEmpty {
            assignee = workers.min { (loads[$0] ?? 0, $0) < (loads[$1] ?? 0, $1) }!
            note = "to \(assignee)"
        } else if let s = supervisors[community]?.first {
            assignee = s
            note = "to \(s) (supervisor: grid \(grid) has no worker)"
        } else {
            assignee = ""
            note = "nobody: grid \(grid) has no worker and community \(community) no supervisor"
        }
        let id = nextID
        nextID += 1
        let i = Incident(id: id, rule: rule.id, scenario: rule.scenario, severity: rule.severity, key: key,
                         device: device.id, subject: device.subject, community: community, grid: grid,
                         firstSeen: at, lastSeen: at, count: 1, condition: .active, status: .dispatched,
                         assignee: assignee, escalated: false, overdue: false,
                         ackDue: at + rule.severity.ackWithin, resolveDue: at + rule.severity.resolveWithin)
        open[id] = i
        byKey[RuleKey(rule: rule.id, key: key)] = id
        loads[assignee, default: 0] += 1
        schedule(i)
        return IncidentChange(incident: i, audit: [
            AuditEntry(incident: id, at: at, actor: AuditEntry.engineActor, action: .raised, note: "\(rule.id) for \(key)"),
            AuditEntry(incident: id, at: at, actor: AuditEntry.engineActor, action: .dispatched, note: note),
        ])
    }

    /// Fires SLA deadlines due at or before `t`, in (due, id) order: escalation to the community's supervisor
    /// when not acknowledged in time, overdue when not resolved in time.
    public func advance(to t: Instant, into changes: inout [IncidentChange]) {
        while let top = deadlines.peek, top.due <= t {
            deadlines.pop()
            guard isLive(top), var i = open[top.id] else { continue }
            let entry: AuditEntry
            if top.overdue {
                i.overdue = true
                entry = AuditEntry(incident: i.id, at: top.due, actor: AuditEntry.engineActor, action: .overdue,
                                   note: "not resolved within \(Self.span(i.severity.resolveWithin))")
            } else {
                i.escalated = true
                let to = supervisors[i.community]?.first.map { "to \($0)" } ?? "no supervisor in \(i.community)"
                entry = AuditEntry(incident: i.id, at: top.due, actor: AuditEntry.engineActor, action: .escalated,
                                   note: "\(to): not acknowledged within \(Self.span(i.severity.ackWithin))")
            }
            open[i.id] = i
            changes.append(IncidentChange(incident: i, audit: [entry]))
        }
    }

    private func isLive(_ d: Deadline) -> Bool {
        guard let i = open[d.id] else { return false }
        return d.overdue ? (i.status.isOpen && !i.overdue && i.resolveDue == d.due)
                         : (i.status == .dispatched && !i.escalated && i.ackDue == d.due)
    }

    private func schedule(_ i: Incident) {
        if i.status == .dispatched && !i.escalated { deadlines.push(Deadline(due: i.ackDue, id: i.id, overdue: false)) }
        if i.status.isOpen && !i.overdue { deadlines.push(Deadline(due: i.resolveDue, id: i.id, overdue: true)) }
    }

    static func span(_ ms: Millis) -> String {
        ms % Durations.hour == 0 ? "\(ms / Durations.hour) h" : "\(ms / Durations.minute) min"
    }
}

