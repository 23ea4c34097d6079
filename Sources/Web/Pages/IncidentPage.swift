import Model

/// One incident: what, where, deadlines, the actions this person may take, and its full audit trail.
enum IncidentPage {
    static func render(_ i: Incident, trail: [AuditEntry], viewer v: Viewer, path: String) -> HTML {
        let r = v.registry
        let device = r.device(i.device)
        let community = r.communities[i.community]?.name ?? i.community
        let rows: [(String, HTML)] = [
            ("Rule", "\(i.rule) (\(i.scenario))"),
            ("Severity", "\(Bits.severity(i.severity, v))\(Bits.flags(i, v))"),
            ("Device", "\(i.device)\(device.map { " (\($0.type))" } ?? "")"),
            ("Subject", "\(i.subject)"),
            ("Where", "\(community) / \(v.gridName(i.grid)) (\(i.grid))"),
            ("Seen", "\(v.local(i.firstSeen, community: i.community)) → \(v.local(i.lastSeen, community: i.community)), \(i.count) \(v.t("times"))"),
            ("Status", "\(v.t(i.status.rawValue)) \(Bits.deadline(i, v))"),
            ("Assignee", "\(v.name(i.assignee)) (\(i.assignee))"),
        ]
        let fields = rows.map { (k, val) -> HTML in "<dt>\(v.t(k))</dt><dd>\(val)</dd>" }
        let back = "/incidents/\(i.id)"
        var actions: [HTML] = []
        let mayWork = i.assignee == v.person.id || (v.isSupervisor && i.community == v.person.community)
        if mayWork && i.status == .dispatched { actions.append(Bits.action("ack", i, v, back: back, label: v.t("Acknowledge"))) }
        if mayWork && i.status.isOpen {
            actions.append(Bits.action("resolve", i, v, back: back, label: v.t("Resolve"), note: v.t("What was done on site")))
        }
        if v.isSupervisor && i.community == v.person.community {
            if i.status == .resolved { actions.append(Bits.action("close", i, v, back: back, label: v.t("Close"))) }
            if i.status == .resolved || i.status == .closed {
                actions.append(Bits.action("reopen", i, v, back: back, label: v.t("Reopen"), note: v.t("Why it is reopened")))
            }
        }
        let audit = trail.map { a -> HTML in
            let actor = a.actor == AuditEntry.engineActor ? a.actor : "\(v.name(a.actor)) (\(a.actor))"
            let via = a.osUser.isEmpty ? a.channel.rawValue : "\(a.channel.rawValue) \(a.osUser)"
            return "<tr><td>\(v.local(a.at, community: i.community))</td><td>\(actor)</td><td>\(via)</td><td>\(a.action.rawValue)</td><td>\(a.note)</td></tr>"
        }
        return Layout.page(title: "\(v.t("Incident")) #\(i.id)", language: v.language, path: path, viewer: v, live: true, body: """
        <h2>\(v.t("Incident")) #\(i.id)</h2><dl>\(fields)</dl>\(actions)
        <h2>\(v.t("Audit trail"))</h2><div class="scroll"><table class="audit"><thead><tr><th>\(v.t("Time"))</th><th>\(v.t("Actor"))</th>\
        <th>\(v.t("Via"))</th><th>\(v.t("Action"))</th><th>\(v.t("Note"))</th></tr></thead><tbody>\(audit)</tbody></table></div>
        """)
    }
}
