import Model
import Store

/// What the cockpit's list shows: the CLI's filters (`cityeye incidents --status --worker --scenario`) plus grid.
struct CockpitQuery: Sendable, Equatable {
    /// A status, `open` (not closed: the default) or `all`.
    var status = "open"
    var scenario = ""
    var grid = ""
    var worker = ""

    /// The store's filter for the list: newest first, at most `limit`.
    func filter(community: String, limit: Int?) -> IncidentFilter {
        var f = IncidentFilter(scenario: scenario.isEmpty ? nil : scenario, grid: grid.isEmpty ? nil : grid,
                               community: community)
        f.assignee = worker.isEmpty ? nil : worker
        switch status {
        case "all": break
        case "open": f.notClosed = true
        default:
            // A status no incident can have lists nothing (as before: the filter matched none).
            guard let s = IncidentStatus(rawValue: status) else { f.limit = 0; f.status = .closed; f.notClosed = true; break }
            f.status = s
        }
        f.newestFirst = true
        if let limit { f.limit = min(f.limit ?? limit, limit) }
        return f
    }
}

/// What one cockpit page shows, read with a few indexed queries (not the community's every incident); the chart and
/// the scenarios come from the `ChartCache`.
struct CockpitData: Sendable {
    /// Not yet resolved (dispatched or acknowledged): the tiles, the board and "escalated to me" come from these.
    var open: [Incident]
    /// The list: newest first, at most `CockpitPage.listLimit`; `listed` is how many match.
    var list: [Incident]
    var listed: Int
    var scenarios: [String]
    var chart: HTML

    static func read(_ store: any WebStore, charts: ChartCache, query q: CockpitQuery, viewer v: Viewer, now: Instant) throws -> CockpitData {
        let community = v.person.community
        let (chart, scenarios) = try charts.read(store, community: community, now: now, viewer: v)
        return CockpitData(
            open: try store.incidents(IncidentFilter(community: community, openOnly: true)),
            list: try store.incidents(q.filter(community: community, limit: CockpitPage.listLimit)),
            listed: try store.incidentCount(q.filter(community: community, limit: nil)),
            scenarios: scenarios, chart: chart)
    }
}

/// Open / escalated / overdue among incidents not yet closed.
struct Tally: Sendable, Equatable {
    var open = 0, escalated = 0, overdue = 0

    mutating func add(_ i: Incident) {
        guard i.status.isOpen else { return }
        open += 1
        if i.escalated { escalated += 1 }
        if i.overdue { overdue += 1 }
    }

    static func by(_ incidents: [Incident], _ key: (Incident) -> String) -> [(String, Tally)] {
        var out: [String: Tally] = [:]
        for i in incidents { out[key(i), default: Tally()].add(i) }
        return out.filter { $0.value.open > 0 }.sorted { ($1.value.open, $0.key) < ($0.value.open, $1.key) }
    }
}

/// The supervisor's wall screen: the community's counts by scenario, grid and worker, what was escalated to
/// them, and the list with close / reopen.
enum CockpitPage {
    static let listLimit = 300

    static func render(_ data: CockpitData, query q: CockpitQuery, viewer v: Viewer, path: String) -> HTML {
        var total = Tally()
        for i in data.open { total.add(i) }
        let incidents = data.open
        let target = escalationTarget(of: v.person.community, v)
        // Newest first, at most `listLimit` shown (the heading says how many there are).
        let escalatedToMe: [Incident] = target == v.person.id ? Array(incidents.filter { $0.escalated && $0.status.isOpen }.reversed()) : []
        let tiles: HTML = """
        <div class="tiles"><div class="tile"><b id="count-open">\(total.open)</b>\(v.t("Open"))</div>\
        <div class="tile esc"><b id="count-escalated">\(total.escalated)</b>\(v.t("Escalated"))</div>\
        <div class="tile late"><b id="count-overdue">\(total.overdue)</b>\(v.t("Overdue"))</div></div>
        """
        let board: HTML = """
        <div class="board">\(tally(v.t("By scenario"), Tally.by(incidents) { $0.scenario }, v))\
        \(tally(v.t("By grid"), Tally.by(incidents) { $0.grid }, v, label: v.gridName))\
        \(tally(v.t("By worker"), Tally.by(incidents) { $0.assignee }, v, label: v.name))</div>
        """
        let escalated: HTML = escalatedToMe.isEmpty ? "<p class=\"meta\">\(v.t("Nothing here."))</p>"
            : "<div class=\"scroll\">\(table(Array(escalatedToMe.prefix(listLimit)), v, back: path))</div>"
        return Layout.page(title: v.t("Cockpit"), language: v.language, path: path, viewer: v, live: true, body: """
        \(tiles)\(board)\(data.chart)<div class="wide"><section><h2>\(v.t("Incidents")) (\(data.listed))</h2>\(filters(q, data.scenarios, v))\
        <div class="scroll">\(table(data.list, v, back: path))</div></section>\
        <section><h2>\(v.t("Escalated to me")) (\(escalatedToMe.count))</h2>\(escalated)</section></div>
        """)
    }

    /// Escalations go to the community's supervisor with the smallest id (docs/contract.md §8).
    static func escalationTarget(of community: String, _ v: Viewer) -> String? {
        v.registry.escalationTarget(ofCommunity: community)
    }

    static func tally(_ title: String, _ rows: [(String, Tally)], _ v: Viewer, label: (String) -> String = { $0 }) -> HTML {
        let body = rows.map { (k, t) -> HTML in
            "<tr><td>\(label(k))</td><td class=\"n\">\(t.open)</td><td class=\"n\">\(t.escalated)</td><td class=\"n\">\(t.overdue)</td></tr>"
        }
        return """
        <section><h2>\(title)</h2><table class="tally"><thead><tr><th></th><th class="n">\(v.t("Open"))</th>\
        <th class="n">\(v.t("Escalated"))</th><th class="n">\(v.t("Overdue"))</th></tr></thead><tbody>\(body)</tbody></table></section>
        """
    }

    static func filters(_ q: CockpitQuery, _ scenarioNames: [String], _ v: Viewer) -> HTML {
        func select(_ name: String, _ label: String, _ current: String, _ options: [(String, String)]) -> HTML {
            let opts = options.map { (value, text) -> HTML in
                "<option value=\"\(value)\"\(HTML(raw: value == current ? " selected" : ""))>\(text)</option>"
            }
            return "<div><label for=\"f-\(name)\">\(label)</label><select id=\"f-\(name)\" name=\"\(name)\">\(opts)</select></div>"
        }
        let statuses = [("open", v.t("not closed")), ("all", v.t("all"))] + IncidentStatus.allCases.map { ($0.rawValue, v.t($0.rawValue)) }
        let scenarios = [("", v.t("all"))] + scenarioNames.map { ($0, $0) }
        let grids = [("", v.t("all"))] + v.registry.grids.values.filter { $0.community == v.person.community }
            .sorted { $0.id < $1.id }.map { ($0.id, $0.name) }
        let workers = [("", v.t("all"))] + v.registry.workers.values.filter { $0.community == v.person.community }
            .sorted { $0.id < $1.id }.map { ($0.id, "\($0.name) (\($0.id))") }
        return """
        <form class="filters" method="get" action="/cockpit">\(select("status", v.t("Status"), q.status, statuses))\
        \(select("scenario", v.t("Scenario"), q.scenario, scenarios))\(select("grid", v.t("Grid"), q.grid, grids))\
        \(select("worker", v.t("Worker"), q.worker, workers))<div><button type="submit" class="small">\(v.t("Filter"))</button></div></form>
        """
    }

    static func table(_ incidents: [Incident], _ v: Viewer, back: String) -> HTML {
        let rows = incidents.map { i -> HTML in
            var act: HTML = ""
            if i.status == .resolved { act = Bits.action("close", i, v, back: back, label: v.t("Close"), small: true) }
            if i.status == .resolved || i.status == .closed {
                act = "\(act)\(reopen(i, v, back: back))"
            }
            return """
            <tr data-incident="\(i.id)" data-status="\(i.status.rawValue)"><td><a href="/incidents/\(i.id)">#\(i.id)</a></td>\
            <td>\(Bits.severity(i.severity, v))</td><td>\(i.rule)\(Bits.flags(i, v))</td><td>\(v.gridName(i.grid))</td>\
            <td>\(v.name(i.assignee))</td><td class="status">\(v.t(i.status.rawValue))</td>\
            <td>\(v.local(i.lastSeen, community: i.community))</td><td>\(act)</td></tr>
            """
        }
        return """
        <table class="incidents"><thead><tr><th>#</th><th>\(v.t("Severity"))</th><th>\(v.t("Rule"))</th><th>\(v.t("Grid"))</th>\
        <th>\(v.t("Assignee"))</th><th>\(v.t("Status"))</th><th>\(v.t("Last seen"))</th><th></th></tr></thead><tbody>\(rows)</tbody></table>
        """
    }

    /// Reopen needs a reason: a one-line note beside the button.
    static func reopen(_ i: Incident, _ v: Viewer, back: String) -> HTML {
        """
        <form class="act inline" method="post" action="/incidents/\(i.id)/reopen"><input type="hidden" name="csrf" value="\(v.session.csrf)">\
        <input type="hidden" name="back" value="\(back)"><input type="text" name="note" required maxlength="\(WebLimits.noteBytes)" \
        placeholder="\(v.t("Why it is reopened"))" aria-label="\(v.t("Why it is reopened"))"><button type="submit" class="small" data-action="reopen">\(v.t("Reopen"))</button></form>
        """
    }
}
