import Foundation
import Model

/// What a grid worker or supervisor does to an incident (docs/contract.md §8).
public enum PeopleAction: Sendable, Equatable {
    case acknowledge
    case resolve(note: String)
    case close
    case reopen(note: String)
}

/// A refused action: nothing changes. The message says why and what to do instead.
public struct Refusal: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable { case unknownWorker, notAllowed, wrongStatus, noteRequired, newerOpen }
    public var code: Code
    public var message: String
    public var description: String { message }
}

extension IncidentDesk {
    /// Checks and applies a person's action at `at`; returns the new incident and its audit row.
    /// Reopen sends the incident back to `dispatched`, to the same assignee, with new deadlines from `at`; it is
    /// refused while `newerNotClosed` (a later incident for the same rule and key, not closed) exists.
    public static func apply(_ action: PeopleAction, to incident: Incident, by actor: String, registry: Registry,
                             at: Instant, newerNotClosed: Incident? = nil) throws(Refusal) -> (Incident, AuditEntry) {
        guard let who = registry.workers[actor] else {
            throw Refusal(code: .unknownWorker, message: "unknown worker \(actor): use a worker id from the registry (e.g. the ASSIGNEE column of `cityeye incidents`)")
        }
        let id = incident.id
        let isSupervisor = who.role == .supervisor && who.community == incident.community
        let isAssignee = incident.assignee == actor
        var i = incident
        let action2: AuditAction
        var note = ""
        func status(_ verb: String, needs: String) -> Refusal {
            Refusal(code: .wrongStatus, message: "incident \(id) is \(incident.status.rawValue): only \(needs) incidents can be \(verb)")
        }
        switch action {
        case .acknowledge, .resolve:
            guard isAssignee || isSupervisor else {
                let assignee = incident.assignee.isEmpty ? "nobody" : incident.assignee
                throw Refusal(code: .notAllowed, message: "incident \(id) is assigned to \(assignee): only the assignee or a supervisor of \(incident.community) may act on it")
            }
            if case .resolve(let n) = action {
                guard incident.status.isOpen else { throw status("resolved", needs: "dispatched or acknowledged") }
                let trimmed = n.trimmingCharacters(in: .whitespacesAndNewlines)
                guard !trimmed.isEmpty else {
                    throw Refusal(code: .noteRequired, message: "resolving incident \(id) needs a note saying what was done on site: --note TEXT")
                }
                i.status = .resolved
                action2 = .resolved
                note = trimmed
            } else {
                guard incident.status == .dispatched else {
                    throw status("acknowledged", needs: "dispatched")
                }
                i.status = .acknowledged
                action2 = .acknowledged
            }
        case .close, .reopen:
            guard isSupervisor else {
                throw Refusal(code: .notAllowed, message: "only a supervisor of \(incident.community) may close or reopen incident \(id); \(actor) is a \(who.role.rawValue)\(who.role == .supervisor ? " of \(who.community)" : "")")
            }
            if case .reopen(let n) = action {
                guard incident.status == .resolved || incident.status == .closed else {
                    throw status("reopened", needs: "resolved or closed")
                }
                if let newer = newerNotClosed {
                    throw Refusal(code: .newerOpen, message: "incident \(id) cannot be reopened: incident \(newer.id) for the same rule \(incident.rule) and key \(incident.key) is \(newer.status.rawValue); add to that one (`cityeye show \(newer.id)`), or close it first")
                }
                let trimmed = n.trimmingCharacters(in: .whitespacesAndNewlines)
                guard !trimmed.isEmpty else {
                    throw Refusal(code: .noteRequired, message: "reopening incident \(id) needs a note saying why: --note TEXT")
                }
                i.status = .dispatched
                i.escalated = false
                i.overdue = false
                i.ackDue = at + i.severity.ackWithin
                i.resolveDue = at + i.severity.resolveWithin
                action2 = .reopened
                note = trimmed
            } else {
                if incident.status == .closed {
                    throw Refusal(code: .wrongStatus, message: "incident \(id) is already closed: nothing to do (`cityeye reopen \(id) --note TEXT` sends it back)")
                }
                guard incident.status == .resolved else {
                    throw Refusal(code: .wrongStatus, message: "incident \(id) is \(incident.status.rawValue), not resolved: its assignee \(incident.assignee) must resolve it before a supervisor can close it")
                }
                i.status = .closed
                action2 = .closed
            }
        }
        return (i, AuditEntry(incident: id, at: at, actor: actor, action: action2, note: note))
    }
}
