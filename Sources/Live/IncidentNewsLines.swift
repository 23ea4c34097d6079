import Model
import Engine

extension IncidentNews {
    /// At most this many lines a batch; a burst (a city-wide outage) ends in one line counting the rest.
    static let maxLines = 20

    /// One line per incident dispatched, escalated, overdue or closed in the batch, e.g.
    /// `incident 12 CRIT elevator.entrapment czq-elev-01 (czq-g1): dispatched to w-li 李敏`. Keys and notes come from
    /// payloads and people: shown with control characters escaped.
    public func lines(registry: Registry) -> [String] {
        var out: [String] = []
        var more = 0
        func add(_ line: String) { if out.count < Self.maxLines { out.append(line) } else { more += 1 } }
        func name(_ worker: String) -> String {
            registry.workers[worker].map { "\(worker) \($0.name)" } ?? worker
        }
        func head(_ i: Incident) -> String {
            "incident \(i.id) \(i.severity.rawValue) \(i.rule) \(i.key) (\(i.grid))"
        }
        for a in audit {
            guard let i = incidents[a.incident] else { continue }
            switch a.action {
            case .dispatched: add("\(head(i)): dispatched to \(name(i.assignee))")
            case .escalated: add("\(head(i)): escalated \(a.note)")
            case .overdue: add("\(head(i)): overdue, \(a.note)")
            default: break
            }
        }
        for i in closedByPeople { add("\(head(i)): closed") }
        if more > 0 { out.append("… and \(more) more incident change(s) in this batch: `cityeye incidents` lists them") }
        return out.map(DisplayText.safe)
    }
}
