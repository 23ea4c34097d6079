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

    @OptionGroup var store: StoreOptions
    @Option(help: "Only this status: dispatched, acknowledged, resolved or closed.") var status: String?
    @Option(help: "Only incidents assigned to this worker id.") var worker: String?
    @Option(help: "Only this scenario, e.g. elevator.") var scenario: String?
    @Option(help: "Only this severity: critical, major or minor.") var severity: String?
    @Option(help: "Only this grid id.") var grid: String?
    @Option(help: "Only incidents seen at or after this time (RFC 3339).") var since: String?
    @Flag(help: "What --worker must do now, most urgent first.") var mine = false
    @Flag(help: "One JSON object per line.") var json = false

    func validate() throws {
        if let status, IncidentStatus(rawValue: status) == nil {
            throw ValidationError("--status \(status): use one of dispatched, acknowledged, resolved, closed")
        }
        if let severity, Severity(rawValue: severity) == nil {
            throw ValidationError("--severity \(severity): use one of critical, major, minor")
        }
        if let since { _ = try parseTime(since, option: "--since") }
        if mine && worker == nil { throw ValidationError("--mine needs --worker W") }
    }

    func run() throws {
        let db = try store.openExisting()
        let registry = try? Deployment.registry(in: db)
        var filter = IncidentFilter()
        filter.status = status.flatMap(IncidentStatus.init(rawValue:))
        filter.scenario = scenario
        filter.severity = severity.flatMap(Severity.init(rawValue:))
        filter.grid = grid
        filter.since = try since.map { try parseTime($0, option: "--since") }
        var list: [Incident]
        if mine, let worker {
            guard let registry, let me = registry.workers[worker] else {
                throw Failure("unknown worker \(worker): workers are listed in the registry recorded in \(store.db)")
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
        if json {
            for i in list { print(IncidentFormat.json(i)) }
        } else if list.isEmpty {
            print("no incidents")
        } else {
            print(IncidentFormat.table(list, registry: registry))
        }
    }
}
