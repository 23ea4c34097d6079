/// The JSON body of an outgoing webhook for one change of an incident (docs/operations.md, "Webhooks"). It is built
/// once, in the transaction that commits the change, and sent byte for byte on every attempt, so its signature and
/// its delivery id stay the same however often it is retried.
public enum IncidentNotice {
    /// The audit actions a city is told of.
    public static let actions: Set<AuditAction> = [.dispatched, .escalated, .overdue, .closed, .reopened]

    /// The delivery id of the change recorded by audit row `row`: one per change, the same on every retry and restart.
    public static func deliveryID(auditRow row: Int64) -> String { "cityeye-audit-\(row)" }

    /// One JSON object on one line; `incident` is the incident as the change left it.
    public static func body(auditRow row: Int64, entry: AuditEntry, incident: Incident) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(512 + entry.note.utf8.count)
        var first = true
        func key(_ k: String) {
            out.append(contentsOf: Array((first ? "{" : ",").utf8))
            first = false
            JSONText.appendQuoted(k, to: &out)
            out.append(0x3A)
        }
        func text(_ k: String, _ v: String) { key(k); JSONText.appendQuoted(v, to: &out) }
        func raw(_ k: String, _ v: String) { key(k); out.append(contentsOf: Array(v.utf8)) }
        text("delivery", deliveryID(auditRow: row))
        raw("incident", String(incident.id))
        text("action", entry.action.rawValue)
        text("at", RFC3339.format(entry.at))
        text("actor", entry.actor)
        text("channel", entry.channel.rawValue)
        text("note", entry.note)
        text("assignee", incident.assignee)
        text("status", incident.status.rawValue)
        raw("escalated", incident.escalated ? "true" : "false")
        raw("overdue", incident.overdue ? "true" : "false")
        text("rule", incident.rule)
        text("scenario", incident.scenario)
        text("severity", incident.severity.rawValue)
        text("key", incident.key)
        text("community", incident.community)
        text("grid", incident.grid)
        text("device", incident.device)
        text("subject", incident.subject)
        text("first_seen", RFC3339.format(incident.firstSeen))
        out.append(0x7D)
        return String(decoding: out, as: UTF8.self)
    }
}
