import ArgumentParser
import Model
import Store
import Engine

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one incident: its fields, device and location, deadlines, full audit trail and the events behind it.")

    @Argument(help: "The incident id.") var id: Int64
    @OptionGroup var store: AnyStoreOptions
    @Flag(help: "The incident as one JSON object (with its kept events), then one per audit row.") var json = false

    func run() throws {
        let db = try store.openReader()
        defer { db.close() }
        let registry = try? Deployment.registry(in: db, devicesIfUnder: 1 << 20)
        let found = try failing { try db.incident(id: id) }
        guard let i = found else {
            throw Failure("no incident \(id) in \(store.display): `cityeye incidents --db \(store.display)` lists them")
        }
        let trail = try failing { try db.audit(of: id) }
        let events = try failing { try db.events(of: id) }
        if json {
            print(IncidentFormat.json(i, events: events))
            for a in trail { print(IncidentFormat.auditJSON(a)) }
            return
        }
        func local(_ t: Instant) -> String { IncidentFormat.local(t, community: i.community, registry: registry, long: true) }
        let device = registry?.device(i.device)
        let community = registry?.communities[i.community]
        let grid = registry?.grids[i.grid]
        let assignee = registry?.workers[i.assignee]
        let tz = IncidentFormat.zone(ofCommunity: i.community, registry: registry)
        let t = Terminal.safe
        let rows: [[String]] = [
            ["incident", "\(i.id)  \(Terminal.severity(i.severity)) \(i.severity.rawValue)  \(IncidentFormat.flags(i))"],
            ["rule", "\(t(i.rule))  (\(t(i.scenario)))"],
            ["key", t(i.key)],
            ["device", t(device.map { "\(i.device) (\($0.type))" } ?? i.device)],
            ["subject", t(i.subject)],
            ["where", t("\(community?.name ?? i.community) / \(grid?.name ?? i.grid) (\(i.grid))")],
            ["seen", "\(local(i.firstSeen)) → \(local(i.lastSeen)), \(i.count) time(s), condition \(i.condition.rawValue)"],
            ["status", i.status.rawValue],
            ["assignee", t(assignee.map { "\(i.assignee) \($0.name)" } ?? (i.assignee.isEmpty ? "(nobody)" : i.assignee))],
            ["ack by", local(i.ackDue) + (i.escalated ? "  (missed: escalated)" : "")],
            ["resolve by", local(i.resolveDue) + (i.overdue ? "  (missed: overdue)" : "")],
            ["times", "local, \(tz)"],
        ]
        print(rows.map { Terminal.pad($0[0], 11) + $0[1] }.joined(separator: "\n"))
        print("")
        let auditRows = trail.map { a -> [String] in
            let actor = a.actor == AuditEntry.engineActor ? a.actor : (registry?.workers[a.actor].map { "\(a.actor) \($0.name)" } ?? a.actor)
            return [local(a.at), t(actor), t(IncidentFormat.via(a)), a.action.rawValue, t(a.note)]
        }
        print(Terminal.table(["TIME (\(tz))", "ACTOR", "VIA", "ACTION", "NOTE"], auditRows))
        print("")
        print(IncidentFormat.events(events, of: i, zone: tz, local: local))
    }
}
