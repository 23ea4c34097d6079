import Foundation
import ServiceLifecycle
import Model
import Store

/// Notices changes in the store cheaply: one look-up of the audit table's newest row id every `interval`, shared
/// by every open page (each Server-Sent Events stream only compares numbers). Every change to an incident, by
/// the engine or a person, in this process or another, appends an audit row. When the row id moves, the rows
/// written since that give someone work (dispatched, escalated, reopened) are read once, with whom each is for,
/// and kept for the streams of those people (`notices(for:after:)`).
public final class ChangeFeed: Service, @unchecked Sendable {
    let store: any WebStore
    let registry: Registry?
    let interval: Duration
    private let lock = NSLock()
    private var latestRow: Int64 = 0
    private var recent: [WorkNotice] = []
    private var stopping = false

    /// How many notices are kept for streams to pick up (a stream more than this far behind misses the oldest).
    static let keptNotices = 2_000

    /// `registry`: whom an escalation goes to (nil: no notices, only changes).
    public init(store: any WebStore, registry: Registry? = nil, interval: Duration = .milliseconds(500)) {
        self.store = store
        self.registry = registry
        self.interval = interval
        latestRow = (try? store.lastAuditRow()) ?? 0
    }

    /// The newest audit row id seen.
    public var latest: Int64 { lock.withLock { latestRow } }
    /// True once the server is shutting down: streams end.
    public var stopped: Bool { lock.withLock { stopping } }

    /// Reads the store now (the poll loop calls it; tests may too).
    public func poll() {
        guard let row = try? store.lastAuditRow() else { return }
        let seen = latest
        var fresh: [WorkNotice] = []
        if row > seen, let registry {
            guard let rows = try? store.workNotices(after: seen, upTo: row, limit: Self.keptNotices) else { return }
            fresh = rows.compactMap { WorkNotice($0, registry: registry) }
        }
        lock.withLock {
            guard row >= latestRow else { return }
            latestRow = row
            recent.append(contentsOf: fresh)
            if recent.count > Self.keptNotices { recent.removeFirst(recent.count - Self.keptNotices) }
        }
    }

    /// The notices for `person` in audit rows after `row`, oldest first.
    public func notices(for person: String, after row: Int64) -> [WorkNotice] {
        lock.withLock { recent.filter { $0.row > row && $0.person == person } }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            while !stopped && !Task.isCancelled {
                poll()
                try? await Task.sleep(for: interval)
            }
        } onGracefulShutdown: {
            self.lock.withLock { self.stopping = true }
        }
    }
}

/// An incident dispatched, escalated or reopened to one person, for the pop-up on their open pages.
public struct WorkNotice: Sendable, Equatable {
    public var row: Int64
    /// Whom it is for: the assignee (dispatched, reopened) or the escalation target.
    public var person: String
    public var entry: AuditEntry
    public var incident: Incident

    init?(_ r: WorkNoticeRow, registry: Registry) {
        let person: String?
        switch r.entry.action {
        case .escalated: person = registry.escalationTarget(ofCommunity: r.incident.community)
        default: person = r.incident.assignee
        }
        guard let person, !person.isEmpty else { return nil }
        self.row = r.row; self.person = person; self.entry = r.entry; self.incident = r.incident
    }

    /// The Server-Sent Event for it: one `data` line of JSON (a newline in a note is `\n` in it, and `<` is `\u003c`,
    /// so a note can neither start another event nor close a script), the text in `language`.
    func event(_ language: Language) -> String {
        let i = incident
        let what = "\(i.rule) (\(i.scenario)) · \(i.device) · \(language.t(i.severity.rawValue))"
        let text: String
        switch entry.action {
        case .escalated: text = language.t("Incident #%@ escalated to you").replacingOccurrences(of: "%@", with: String(i.id))
        case .reopened: text = language.t("Incident #%@ reopened for you").replacingOccurrences(of: "%@", with: String(i.id))
        default: text = language.t("Incident #%@ dispatched to you").replacingOccurrences(of: "%@", with: String(i.id))
        }
        var out: [UInt8] = Array("{\"row\":\(row),\"incident\":\(i.id),\"action\":".utf8)
        JSONText.appendQuoted(entry.action.rawValue, to: &out)
        out.append(contentsOf: Array(",\"title\":".utf8))
        JSONText.appendQuoted(text, to: &out)
        out.append(contentsOf: Array(",\"what\":".utf8))
        JSONText.appendQuoted(what, to: &out)
        out.append(contentsOf: Array(",\"note\":".utf8))
        JSONText.appendQuoted(entry.note, to: &out)
        out.append(0x7D)
        let json = String(decoding: out, as: UTF8.self).replacingOccurrences(of: "<", with: "\\u003c")
        return "event: notice\nid: \(row)\ndata: \(json)\n\n"
    }
}

extension Registry {
    /// Escalations go to the community's supervisor with the smallest id (docs/contract.md §8).
    func escalationTarget(ofCommunity community: String) -> String? {
        workers.values.filter { $0.role == .supervisor && $0.community == community }.map(\.id).min()
    }
}
