import Model
import Incidents
import Store

/// Why a person's action did not happen. Nothing was changed in the store.
public enum ActionFailure: Error, CustomStringConvertible {
    /// There is no incident with this id in the store.
    case noIncident(Int64)
    /// The incident desk refused it (docs/contract.md §8's permissions and transitions); its message says why.
    case refused(Refusal)
    /// The store could not be read or written.
    case store(String)

    public var description: String {
        switch self {
        case .noIncident(let id): "no incident \(id)"
        case .refused(let r): r.message
        case .store(let message): message
        }
    }
}

/// People's actions on incidents: the one code path that the command line and the web app both take.
public enum PeopleActions {
    /// Reads the incident, checks the action with `IncidentDesk.apply`, writes the incident and its audit row
    /// (with the person's channel and operating-system user) in one write transaction; returns the new incident.
    /// The live engine sees the change through the audit table, as it does any other person's.
    public static func perform(_ action: PeopleAction, on id: Int64, by person: ActingPerson, registry: Registry,
                               store: any EngineStore, at now: Instant) throws(ActionFailure) -> Incident {
        do {
            return try store.transaction { tx throws -> Incident in
                guard let incident = try tx.incident(id: id) else { throw ActionFailure.noIncident(id) }
                let changed: Incident, applied: AuditEntry
                // docs/contract.md §8: a reopen is refused while a newer incident for the same (rule, key) is not closed.
                let newer = if case .reopen = action { try tx.newerNotClosed(than: incident) } else { Incident?.none }
                switch Result(catching: { () throws(Refusal) in
                    try IncidentDesk.apply(action, to: incident, by: person.worker, registry: registry, at: now,
                                           newerNotClosed: newer)
                }) {
                case .success(let result): (changed, applied) = result
                case .failure(let refusal): throw ActionFailure.refused(refusal)
                }
                var entry = applied
                entry.channel = person.channel
                entry.osUser = person.osUser
                try tx.upsert([changed])
                try tx.append([entry], chains: [changed.community])
                return changed
            }
        } catch let failure as ActionFailure {
            throw failure
        } catch {
            throw .store("\(error)")
        }
    }
}
