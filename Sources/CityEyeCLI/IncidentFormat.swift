import Foundation
import Model

/// How incidents look on a terminal and to scripts.
enum IncidentFormat {
    /// docs/contract.md §10's fields, in a fixed order, times in UTC with `Z`.
    static func json(_ i: Incident) -> String {
        var j = JSONLine()
        j.add("id", i.id)
        j.add("rule", i.rule)
        j.add("scenario", i.scenario)
        j.add("severity", i.severity.rawValue)
        j.add("key", i.key)
        j.add("device", i.device)
        j.add("subject", i.subject)
        j.add("community", i.community)
        j.add("grid", i.grid)
        j.add("first_seen", i.firstSeen)
        j.add("last_seen", i.lastSeen)
        j.add("count", i.count)
        j.add("condition", i.condition.rawValue)
        j.add("status", i.status.rawValue)
        j.add("assignee", i.assignee)
        j.add("escalated", i.escalated)
        j.add("overdue", i.overdue)
        j.add("ack_due", i.ackDue)
        j.add("resolve_due", i.resolveDue)
        return j.text
    }

    /// `show --json`'s incident line: the fields of `json(_:)`, then `events` (the kept occurrences, `data` as the
    /// event carried it, `type` and `event_id` empty for the clock) and `events_not_kept`.
    static func json(_ i: Incident, events: [IncidentEvent]) -> String {
        let rows = events.map { e -> String in
            var j = JSONLine()
            j.add("seq", e.seq)
            j.add("event_id", e.eventID)
            j.add("device", e.device)
            j.add("type", e.type)
            j.add("ts", e.ts)
            j.addRaw("data", e.data)
            return j.text
        }
        var text = json(i)
        text.removeLast()
        return text + ",\"events\":[" + rows.joined(separator: ",") + "],\"events_not_kept\":\(IncidentEvent.dropped(count: i.count))}"
    }

    /// `show`'s EVENTS section: each kept occurrence (time, type, device, data as compact JSON), the clock's in
    /// words, and how many between were not kept.
    static func events(_ events: [IncidentEvent], of i: Incident, zone: String, local: (Instant) -> String) -> String {
        let t = Terminal.safe
        guard !events.isEmpty else {
            return "EVENTS  none kept (the incident was raised before this store recorded the events behind incidents)"
        }
        var rows: [[String]] = []
        var previous: Int64 = 0
        for e in events {
            if e.seq > previous + 1 { rows.append(["…", "", "", "", "\(e.seq - previous - 1) more occurrence(s) not kept"]) }
            previous = e.seq
            if e.byClock {
                let how = e.seq == 1 ? "raised by the clock" : "repeated by the clock"
                let why = e.clockPhrase.flatMap { p in e.clockTimer.map { p.replacingOccurrences(of: "%@", with: local($0.since)) } }
                rows.append([String(e.seq), local(e.ts), "(clock)", t(e.device), how + ": " + (why ?? "a timed rule came due")])
            } else {
                rows.append([String(e.seq), local(e.ts), t(e.type), t(e.device), t(e.data)])
            }
        }
        let title = "EVENTS  \(events.count) of \(i.count) occurrence(s): the first \(IncidentEvent.keptFirst) and the latest \(IncidentEvent.keptLatest) are kept"
        return title + "\n" + Terminal.table(["#", "TIME (\(zone))", "TYPE", "DEVICE", "DATA"], rows)
    }

    static func auditJSON(_ a: AuditEntry) -> String {
        var j = JSONLine()
        j.add("incident", a.incident)
        j.add("at", a.at)
        j.add("actor", a.actor)
        j.add("action", a.action.rawValue)
        j.add("note", a.note)
        j.add("channel", a.channel.rawValue)
        if !a.osUser.isEmpty { j.add("os_user", a.osUser) }
        return j.text
    }

    /// Local time in the incident's community, e.g. `11-24 08:15`.
    static func local(_ t: Instant, community: String, registry: Registry?, long: Bool = false) -> String {
        let clock = registry?.catalog.clock(ofCommunity: community) ?? LocalClock.standard
        let offset = clock.offsetSeconds(at: t)
        let s = RFC3339.formatLocal(t, offsetSeconds: offset, withSeconds: long)
        return long ? s : String(s.dropFirst(5))
    }

    /// Which way an audit row came in: `engine`, `web`, or `cli` with the operating-system user (`cli root`).
    static func via(_ a: AuditEntry) -> String {
        a.osUser.isEmpty ? a.channel.rawValue : "\(a.channel.rawValue) \(a.osUser)"
    }

    static func flags(_ i: Incident) -> String {
        var f: [String] = []
        if i.escalated { f.append(Terminal.colour("ESCALATED", "1;35")) }
        if i.overdue { f.append(Terminal.colour("OVERDUE", "1;31")) }
        if i.condition == .cleared { f.append("cleared") }
        return f.joined(separator: " ")
    }

    /// The incidents as a table: local times, labelled with their zone (one zone for all in the header, else each
    /// time with its UTC offset). `fit`: the terminal's width, cutting rule, key and assignee to it.
    static func table(_ incidents: [Incident], registry: Registry?, fit: Int? = nil) -> String {
        let zones = Set(incidents.map { zone(ofCommunity: $0.community, registry: registry) })
        let oneZone = zones.count == 1 ? zones.first : nil
        let rows = incidents.map { i -> [String] in
            let who = registry?.workers[i.assignee].map { "\(i.assignee) \($0.name)" } ?? i.assignee
            let t = Terminal.safe
            var seen = local(i.lastSeen, community: i.community, registry: registry)
            if oneZone == nil { seen += " " + offset(i.lastSeen, community: i.community, registry: registry) }
            return [String(i.id), Terminal.severity(i.severity), t(i.rule), t(i.key), t(i.grid), i.status.rawValue, t(who),
                    seen, String(i.count), flags(i)]
        }
        // On a narrow terminal the zone's city alone (`Shanghai`) leaves the room to the rule and key.
        let zoneLabel = oneZone.map { fit == nil ? $0 : String($0.split(separator: "/").last ?? Substring($0)) }
        let seenHeader = fit == nil ? zoneLabel.map { "LAST SEEN (\($0))" } ?? "LAST SEEN" : zoneLabel.map { "SEEN (\($0))" } ?? "SEEN"
        return Terminal.table(["ID", "SEV", "RULE", "KEY", "GRID", "STATUS", "ASSIGNEE", seenHeader, "N", "FLAGS"], rows,
                              fit: fit, shrinkable: [2, 3, 6])
    }

    /// The time zone a community's local times are in (its registry entry, else the default).
    static func zone(ofCommunity community: String, registry: Registry?) -> String {
        registry?.timezone(ofCommunity: community) ?? Community.defaultTimezone
    }

    /// `+08:00`: the UTC offset of a community's local time at `t`.
    static func offset(_ t: Instant, community: String, registry: Registry?) -> String {
        let seconds = (registry?.catalog.clock(ofCommunity: community) ?? LocalClock.standard).offsetSeconds(at: t)
        let m = abs(seconds) / 60
        return (seconds < 0 ? "-" : "+") + String(format: "%02d:%02d", m / 60, m % 60)
    }
}
