import ArgumentParser
import Foundation
import Model
import Store
import Engine

struct Incidents: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incidents",
        abstract: "List incidents, with filters.",
        discussion: """
        Without filters every incident is listed, ordered by id. `--mine --worker W` lists what W must do now: \
        incidents assigned to W (or, for a supervisor, escalated in W's community) that are not yet resolved, \
        most urgent first (severity, then deadline). With --json: one JSON object per line, times in UTC.
        """)

    @OptionGroup var store: AnyStoreOptions
    @Option(help: "Only this status: dispatched, acknowledged, resolved, closed, or open (every status but closed).") var status: String?
    @Option(help: "Only incidents assigned to this worker id.") var worker: String?
    @Option(help: "Only this scenario, e.g. elevator.") var scenario: String?
    @Option(help: "Only this severity: critical, major, minor (or CRIT, MAJ, min as the table prints them).") var severity: String?
    @Option(help: "Only this grid id.") var grid: String?
    @Option(help: "Only incidents seen at or after this: a time (2026-11-24T18:00:00+08:00), a local date (2026-11-24) or a duration back from now (30m, 2h, 7d).") var since: String?
    @Option(help: "At most this many incidents (the first by id; with --mine, the most urgent).") var limit: Int?
    @Flag(help: "What --worker must do now, most urgent first.") var mine = false
    @Flag(help: "One JSON object per line.") var json = false
    @Flag(help: "Show every column in full (by default the table is cut to the terminal's width).") var wide = false

    func validate() throws {
        if let status { _ = try FilterValues.status(status) }
        if let severity { _ = try FilterValues.severity(severity) }
        if let limit, limit < 1 { throw ValidationError("--limit \(limit): give a number of incidents, 1 or more") }
        if mine && worker == nil { throw ValidationError("--mine needs --worker W") }
    }

    func run() throws {
        let db = try store.openReader()
        defer { db.close() }
        let registry = try? Deployment.people(in: db)
        if let registry { try checkKnown(registry, db: db) }
        var filter = IncidentFilter()
        let statusFilter = try status.map(FilterValues.status)
        if case .exactly(let st)? = statusFilter { filter.status = st }
        filter.scenario = scenario
        filter.severity = try severity.map(FilterValues.severity)
        filter.grid = grid
        let now = Instant(ms: Int64(Date().timeIntervalSince1970 * 1000))
        let zone = registry?.communities.keys.sorted().first.flatMap { registry?.catalog.clock(ofCommunity: $0) } ?? .standard
        filter.since = try since.map { try FilterValues.since($0, now: now, clock: zone) }
        var list: [Incident]
        if mine, let worker {
            guard let registry, let me = registry.workers[worker] else {
                throw Failure("unknown worker \(worker): workers are listed in the registry recorded in \(store.display)")
            }
            filter.openOnly = true
            list = try failing { try db.incidents(filter) }.filter {
                $0.assignee == worker || (me.role == .supervisor && $0.community == me.community && $0.escalated)
            }
            list.sort { a, b in
                if a.severity != b.severity { return a.severity < b.severity }
                let da = a.status == .dispatched ? a.ackDue : a.resolveDue
                let dbb = b.status == .dispatched ? b.ackDue : b.resolveDue
                return da != dbb ? da < dbb : a.id < b.id
            }
        } else {
            filter.assignee = worker
            list = try failing { try db.incidents(filter) }
        }
        if statusFilter == .notClosed { list.removeAll { $0.status == .closed } }
        if let limit, list.count > limit { list = Array(list.prefix(limit)) }
        if json {
            for i in list { print(IncidentFormat.json(i)) }
        } else if list.isEmpty {
            print("no incidents")
        } else {
            print(IncidentFormat.table(list, registry: registry, fit: wide ? nil : Terminal.outputColumns))
        }
    }
}

extension Incidents {
    /// A filter naming a worker, grid or scenario nobody has is a typo, not "no incidents": say so, like `ack` does.
    func checkKnown(_ registry: Registry, db: any StoreReader) throws {
        if let worker, registry.workers[worker] == nil {
            throw Failure("unknown worker \(worker): known workers are \(registry.workers.keys.sorted().joined(separator: ", "))")
        }
        if let grid, registry.grids[grid] == nil {
            throw Failure("unknown grid \(grid): known grids are \(registry.grids.keys.sorted().joined(separator: ", "))")
        }
        if let scenario {
            let known = Set(Self.scenarios).union(try failing { try db.scenarios() })
            guard known.contains(scenario) else {
                throw Failure("unknown scenario \(scenario): use one of \(known.sorted().joined(separator: ", "))")
            }
        }
    }

    /// The eight scenarios City Eye ships (a deployment's own appear once they have incidents).
    static let scenarios = ["access", "waste", "elevator", "health_marketing", "electricity", "sensitive_venue", "elderly",
                            "filial_parking"]
}
