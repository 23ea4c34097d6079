import ArgumentParser
import Model
import Store
import Engine

struct Workload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open incidents, escalated and overdue, per grid worker, per grid and per scenario.",
        discussion: """
        OPEN counts incidents not closed (dispatched, acknowledged, or resolved and waiting for a supervisor to \
        verify and close them), as `incidents --status open` lists them. A worker's ESCALATED and OVERDUE count \
        their own incidents that missed a deadline; a supervisor's also count the incidents escalated to them \
        (the community's supervisor with the smallest id), which stay assigned to their worker.
        """)

    @OptionGroup var store: AnyStoreOptions
    @Flag(help: "One JSON object per line: kind (worker|grid), id, open, escalated, overdue.") var json = false

    struct Tally { var open = 0, escalated = 0, overdue = 0 }

    func run() throws {
        let db = try store.openWriter()
        defer { db.close() }
        let registry = try? Deployment.people(in: db)
        let open = try failing { try db.notClosedIncidents() }
        let all = try failing { try db.incidents() }
        var byWorker: [String: Tally] = [:], byGrid: [String: Tally] = [:]
        for w in registry?.workers.keys.sorted() ?? [] { byWorker[w] = Tally() }
        for g in registry?.grids.keys.sorted() ?? [] { byGrid[g] = Tally() }
        // An incident nobody acknowledged in time is escalated to its community's supervisor (smallest id): it
        // stays with its assignee and also counts, as escalated (and overdue), on the supervisor's row.
        let supervisorOf = Dictionary(grouping: registry?.workers.values.filter { $0.role == .supervisor } ?? [], by: \.community)
            .mapValues { $0.map(\.id).min()! }
        for i in open {
            byWorker[i.assignee, default: Tally()].add(i)
            byGrid[i.grid, default: Tally()].add(i)
            if i.escalated, let s = supervisorOf[i.community], s != i.assignee {
                byWorker[s, default: Tally()].escalated += 1
                if i.overdue { byWorker[s]!.overdue += 1 }
            }
        }
        if json {
            for (k, t) in byWorker.sorted(by: { $0.key < $1.key }) { print(line("worker", k, t)) }
            for (k, t) in byGrid.sorted(by: { $0.key < $1.key }) { print(line("grid", k, t)) }
            return
        }
        let workerRows = byWorker.sorted { $0.key < $1.key }.map { k, t -> [String] in
            let w = registry?.workers[k]
            return [k.isEmpty ? "(unassigned)" : Terminal.safe(k), Terminal.safe(w?.name ?? ""), w?.role.rawValue ?? "",
                    Terminal.safe(w?.grid ?? w?.community ?? ""),
                    String(t.open), String(t.escalated), String(t.overdue)]
        }
        print(Terminal.table(["WORKER", "NAME", "ROLE", "GRID", "OPEN", "ESCALATED", "OVERDUE"], workerRows))
        print("")
        let gridRows = byGrid.sorted { $0.key < $1.key }.map { k, t -> [String] in
            [Terminal.safe(k), Terminal.safe(registry?.grids[k]?.name ?? ""), String(t.open), String(t.escalated), String(t.overdue)]
        }
        print(Terminal.table(["GRID", "NAME", "OPEN", "ESCALATED", "OVERDUE"], gridRows))
        print("")
        var byScenario: [String: (all: Int, open: Int)] = [:]
        for i in all { byScenario[i.scenario, default: (0, 0)].all += 1; if i.status.isOpen { byScenario[i.scenario]!.open += 1 } }
        let scenarioRows = byScenario.sorted { $0.key < $1.key }.map { [Terminal.safe($0.key), String($0.value.all), String($0.value.open)] }
        print(Terminal.table(["SCENARIO", "INCIDENTS", "OPEN"], scenarioRows))
    }

    private func line(_ kind: String, _ id: String, _ t: Tally) -> String {
        var j = JSONLine()
        j.add("kind", kind); j.add("id", id); j.add("open", t.open); j.add("escalated", t.escalated); j.add("overdue", t.overdue)
        return j.text
    }
}

extension Workload.Tally {
    mutating func add(_ i: Incident) {
        open += 1
        if i.escalated { escalated += 1 }
        if i.overdue { overdue += 1 }
    }
}
