import CSQLite
import Model

extension WriteTransaction {
    /// Writes the occurrences behind incidents (`IncidentEvent`) and drops, for each incident in `counts`, those that
    /// are no longer among its first and latest ones at its new count. `events` should hold only kept ones.
    public func writeIncidentEvents(_ events: [IncidentEvent], counts: [(incident: Int64, count: Int64)]) throws {
        let drop = try conn.statement("DELETE FROM incident_event WHERE incident = ? AND seq > ? AND seq <= ?")
        for c in counts where IncidentEvent.dropped(count: c.count) > 0 {
            sqlite3_reset(drop.stmt)
            drop.bind(1, c.incident); drop.bind(2, IncidentEvent.keptFirst); drop.bind(3, c.count - IncidentEvent.keptLatest)
            try drop.run()
        }
        guard !events.isEmpty else { return }
        // OR REPLACE: an occurrence written again (a batch retried after a failed commit) keeps one row.
        let s = try conn.statement("INSERT OR REPLACE INTO incident_event (incident, seq, event_id, device, type, ts, data) VALUES (?,?,?,?,?,?,?)")
        for e in events {
            sqlite3_reset(s.stmt)
            s.bind(1, e.incident); s.bind(2, e.seq); s.bind(3, e.eventID); s.bind(4, e.device); s.bind(5, e.type)
            s.bind(6, e.ts.ms); s.bind(7, e.data)
            try s.run()
        }
    }
}

extension Store {
    /// The occurrences kept behind an incident, in order (see `IncidentEvent`).
    public func events(of incident: Int64) throws -> [IncidentEvent] {
        try incidentEvents("WHERE incident = ? ORDER BY seq") { $0.bind(1, incident) }
    }

    /// Every kept occurrence of every incident, by (incident, seq): for comparing two stores.
    public func allIncidentEvents() throws -> [IncidentEvent] {
        try incidentEvents("ORDER BY incident, seq") { _ in }
    }

    private func incidentEvents(_ clause: String, _ bind: (Statement) -> Void) throws -> [IncidentEvent] {
        try read {
            let s = try conn.statement("SELECT incident, seq, event_id, device, type, ts, data FROM incident_event " + clause)
            bind(s)
            var out: [IncidentEvent] = []
            while try s.step() {
                out.append(IncidentEvent(incident: s.int(0), seq: s.int(1), eventID: s.text(2), device: s.text(3), type: s.text(4),
                                         ts: Instant(ms: s.int(5)), data: s.text(6)))
            }
            return out
        }
    }
}
