import Model

/// One incident: what, where, deadlines, the actions this person may take, what happened (the events behind it)
/// and its full audit trail.
enum IncidentPage {
    static func render(_ i: Incident, trail: [AuditEntry], events: [IncidentEvent], viewer v: Viewer, path: String) -> HTML {
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
        <h2>\(v.t("What happened"))</h2>\(happened(events, of: i, v))
        <h2>\(v.t("Audit trail"))</h2><div class="scroll"><table class="audit"><thead><tr><th>\(v.t("Time"))</th><th>\(v.t("Actor"))</th>\
        <th>\(v.t("Via"))</th><th>\(v.t("Action"))</th><th>\(v.t("Note"))</th></tr></thead><tbody>\(audit)</tbody></table></div>
        """)
    }

    /// The kept occurrences behind the incident, as `cityeye show` lists them: time, type, device, data; the
    /// clock's in words; a row saying how many between were not kept.
    static func happened(_ events: [IncidentEvent], of i: Incident, _ v: Viewer) -> HTML {
        guard !events.isEmpty else { return "<p class=\"meta\">\(v.t("No events kept: the incident is older than the record of events."))</p>" }
        var rows: [HTML] = []
        var previous: Int64 = 0
        for e in events {
            if e.seq > previous + 1 {
                let more = v.t("%@ more occurrence(s) not kept").replacingOccurrences(of: "%@", with: String(e.seq - previous - 1))
                rows.append("<tr class=\"gap\"><td>…</td><td colspan=\"4\">\(more)</td></tr>")
            }
            previous = e.seq
            let time = v.local(e.ts, community: i.community)
            if e.byClock {
                let how = v.t(e.seq == 1 ? "Raised by the clock" : "Repeated by the clock")
                let why = e.clockPhrase.flatMap { p in
                    e.clockTimer.map { v.t(p).replacingOccurrences(of: "%@", with: v.local($0.since, community: i.community)) }
                }
                let what = how + v.t(": ") + (why ?? v.t("a timed rule came due"))
                rows.append("<tr class=\"clock\"><td>\(e.seq)</td><td>\(time)</td><td>\(v.t("(clock)"))</td><td>\(e.device)</td><td>\(what)</td></tr>")
            } else {
                rows.append("<tr><td>\(e.seq)</td><td>\(time)</td><td>\(e.type)</td><td>\(e.device)</td><td><code>\(e.data)</code></td></tr>")
            }
        }
        return """
        <div class="scroll"><table class="events"><thead><tr><th>#</th><th>\(v.t("Time"))</th><th>\(v.t("Event type"))</th>\
        <th>\(v.t("Device"))</th><th>\(v.t("Data"))</th></tr></thead><tbody>\(rows)</tbody></table></div>
        """
    }
}
