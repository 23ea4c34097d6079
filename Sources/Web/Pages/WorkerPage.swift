import Model

/// A grid worker's phone: my open incidents, most urgent first, each with its countdown and one-tap actions.
enum WorkerPage {
    /// Escalated or overdue first, then by the deadline that applies now, then severity, then id.
    static func urgent(_ a: Incident, _ b: Incident) -> Bool {
        func key(_ i: Incident) -> (Int, Int64, Int, Int64) {
            (i.escalated || i.overdue ? 0 : 1, i.status == .dispatched ? i.ackDue.ms : i.resolveDue.ms, i.severity.rank, i.id)
        }
        return key(a) < key(b)
    }

    static func render(_ mine: [Incident], viewer v: Viewer, path: String) -> HTML {
        let cards = mine.sorted(by: urgent).map { card($0, v) }
        let body: HTML = cards.isEmpty
            ? "<p class=\"meta\">\(v.t("Nothing to do: no open incident is assigned to you."))</p>"
            : "<div class=\"cards\">\(cards)</div>"
        return Layout.page(title: v.t("My incidents"), language: v.language, path: path, viewer: v, live: true,
                           body: "<h2>\(v.t("My incidents")) (\(mine.count))</h2>\(body)")
    }

    static func card(_ i: Incident, _ v: Viewer) -> HTML {
        let device = v.registry.device(i.device)
        let action: HTML = i.status == .dispatched
            ? Bits.action("ack", i, v, back: "/", label: v.t("Acknowledge"))
            : Bits.action("resolve", i, v, back: "/", label: v.t("Resolve"), note: v.t("What was done on site"))
        return """
        <article class="card \(i.severity.rawValue)" data-incident="\(i.id)">
        <h3>\(Bits.severity(i.severity, v))<a href="/incidents/\(i.id)">#\(i.id) \(i.rule)</a>\(Bits.flags(i, v))</h3>
        <div class="meta">\(v.gridName(i.grid)) · \(i.device)\(device.map { " (\($0.type))" } ?? "") · \(i.subject)</div>
        <div class="meta">\(v.t(i.status.rawValue)) · \(v.t("Last seen")) \(v.local(i.lastSeen, community: i.community)) · \(i.count) \(v.t("times"))</div>
        <div>\(Bits.deadline(i, v))</div>\(action)</article>
        """
    }
}
