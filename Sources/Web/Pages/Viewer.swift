import Model
import Accounts

/// The signed-in person looking at a page, and what every page needs to draw for them.
struct Viewer: Sendable {
    var person: Worker
    var session: Session
    var language: Language
    var registry: Registry

    var isSupervisor: Bool { person.role == .supervisor }
    func t(_ english: String) -> String { language.t(english) }

    /// May see this incident: its assignee, or a supervisor of its community.
    func maySee(_ i: Incident) -> Bool {
        i.assignee == person.id || (isSupervisor && i.community == person.community)
    }

    func name(_ worker: String) -> String { registry.workers[worker]?.name ?? worker }
    func gridName(_ grid: String) -> String { registry.grids[grid]?.name ?? grid }

    /// Local time in the incident's community, e.g. `2026-11-24 08:15`.
    func local(_ t: Instant, community: String) -> String {
        let clock = registry.catalog.clock(ofCommunity: community) ?? LocalClock.standard
        return RFC3339.formatLocal(t, offsetSeconds: clock.offsetSeconds(at: t), withSeconds: false)
    }
}

/// Small pieces that several pages draw the same way.
enum Bits {
    static func severity(_ s: Severity, _ v: Viewer) -> HTML { "<span class=\"sev \(s.rawValue)\">\(v.t(s.rawValue))</span>" }

    static func flags(_ i: Incident, _ v: Viewer) -> HTML {
        var out: HTML = ""
        if i.escalated { out = "\(out)<span class=\"flag\">\(v.t("escalated"))</span>" }
        if i.overdue { out = "\(out)<span class=\"flag overdue\">\(v.t("overdue"))</span>" }
        if i.condition == .cleared { out = "\(out)<span class=\"flag\">\(v.t("cleared"))</span>" }
        return out
    }

    /// The deadline that matters now, counting down in the browser.
    static func deadline(_ i: Incident, _ v: Viewer) -> HTML {
        switch i.status {
        case .dispatched: "\(v.t("Acknowledge within")) <span class=\"due\" data-due=\"\(i.ackDue.ms)\" data-late=\"\(v.t("overdue"))\"></span>"
        case .acknowledged: "\(v.t("Resolve within")) <span class=\"due\" data-due=\"\(i.resolveDue.ms)\" data-late=\"\(v.t("overdue"))\"></span>"
        case .resolved, .closed: ""
        }
    }

    /// A form that posts one action on one incident, with the session's CSRF token and where to come back to.
    static func action(_ verb: String, _ i: Incident, _ v: Viewer, back: String, label: String, note: String? = nil,
                       small: Bool = false) -> HTML {
        let noteField: HTML = note.map {
            "<label for=\"note-\(verb)-\(i.id)\">\($0)</label><textarea id=\"note-\(verb)-\(i.id)\" name=\"note\" required maxlength=\"\(WebLimits.noteBytes)\"></textarea>"
        } ?? ""
        return """
        <form class="act" method="post" action="/incidents/\(i.id)/\(verb)">\
        <input type="hidden" name="csrf" value="\(v.session.csrf)"><input type="hidden" name="back" value="\(back)">\
        \(noteField)<button type="submit" class="\(small ? "small" : "primary")" data-action="\(verb)">\(label)</button></form>
        """
    }
}

/// Sizes past which a request is refused with 400.
enum WebLimits {
    static let formBytes = 16 * 1024
    static let noteBytes = 4000
}
