import Foundation
import Model
import AuditChain

/// Where an audit check stands: still checking, intact, broken, or not verifiable (no readable key, a trail that
/// cannot be read). The live engine keeps it for `/healthz` and `/metrics` and records it in the store
/// (`engine_state` 'audit.check', as JSON) for `cityeye status`; `cityeye status` makes one itself with the key.
public struct AuditCheck: Sendable, Equatable {
    public enum State: String, Sendable, Equatable, Codable {
        case checking, intact, broken, keyUnreadable = "key_unreadable", unreadable
    }

    public var state: State
    /// When the check (its first pass) began, and when it last finished a pass.
    public var startedAt: Instant
    public var checkedAt: Instant?
    /// Rows whose MAC held, in how many chains; rows written before the chain began (counted, not checked).
    public var rows = 0
    public var chains = 0
    public var rowsBeforeChain = 0
    /// The last row id checked.
    public var checkedUpTo: Int64 = 0
    /// The first break (`broken`): its chain (the community), row and kind.
    public var chain: String?
    public var row: Int64?
    public var breakKind: AuditChain.Break.Kind?
    /// For a person: the break, the key problem or the read error, and what to do.
    public var detail: String?

    public init(state: State, startedAt: Instant) { self.state = state; self.startedAt = startedAt }

    /// A pass's report as a check: `intact` or `broken`; `finished`: when the pass ended (nil: still checking).
    public init(_ report: AuditReport, startedAt: Instant, finished: Instant?, checkedUpTo: Int64) {
        state = finished == nil ? .checking : report.firstBreak == nil ? .intact : .broken
        self.startedAt = startedAt
        checkedAt = finished
        rows = report.rows
        chains = report.chains
        rowsBeforeChain = report.rowsBeforeChain
        self.checkedUpTo = checkedUpTo
        if let b = report.firstBreak {
            state = .broken
            chain = b.chain; row = b.row; breakKind = b.kind; detail = b.description
        }
    }

    public static func keyUnreadable(_ e: AuditKeyError, at: Instant) -> AuditCheck {
        var c = AuditCheck(state: .keyUnreadable, startedAt: at)
        c.checkedAt = at
        c.detail = "\(e): audit rows are written without a MAC (not sealed) and nothing is verified until the engine "
            + "can read it; fix the file's owner or mode and restart"
        return c
    }

    public static func unreadable(_ error: any Error, store: String, startedAt: Instant, at: Instant) -> AuditCheck {
        var c = AuditCheck(state: .unreadable, startedAt: startedAt)
        c.checkedAt = at
        c.detail = "cannot read the audit trail of \(store): \(error)"
        return c
    }

    /// 1 intact, 0 broken or not verifiable, nil while the first pass runs (for `cityeye_audit_chain_ok`).
    public var okValue: Int? {
        switch state {
        case .checking: nil
        case .intact: 1
        case .broken, .keyUnreadable, .unreadable: 0
        }
    }

    /// One line for a person (the log, `cityeye status`).
    public var summary: String {
        switch state {
        case .checking:
            return "checking in the background since \(startedAt): \(rows) rows verified so far"
        case .intact:
            return "intact: \(rows) rows in \(chains) chains, verified up to row \(checkedUpTo)"
                + (rowsBeforeChain > 0 ? " (\(rowsBeforeChain) rows from before the chain began, not checked)" : "")
        case .broken:
            return "BROKEN in community \(chain.map { $0.isEmpty ? "''" : $0 } ?? "?") at audit row \(row ?? 0): \(detail ?? "")"
        case .keyUnreadable, .unreadable:
            return "NOT VERIFIED: \(detail ?? "")"
        }
    }

    /// The engine's log line for this check following `before`, if it deserves one: a change of state. A pass that
    /// finds the trail as intact as before says nothing; a break, an unreadable key or trail is said in capitals.
    public func logLine(after before: AuditCheck) -> String? {
        guard state != before.state else { return nil }
        switch state {
        case .checking: return nil
        case .intact:
            return AuditReport(rows: rows, chains: chains, rowsBeforeChain: rowsBeforeChain, firstBreak: nil).summary
        case .broken: return "AUDIT CHAIN BROKEN: \(detail ?? "")"
        case .keyUnreadable: return "AUDIT KEY UNREADABLE: \(detail ?? "")"
        case .unreadable: return "AUDIT CHECK FAILED: \(detail ?? ""); the next pass tries again"
        }
    }

    /// What the engine records in the store.
    public var json: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        // Strings, numbers and optionals: encoding cannot fail.
        return (try? Array(encoder.encode(Stored(self)))) ?? []
    }

    /// A record the engine wrote; nil when it is not one (then `cityeye status` says so).
    public init?(json: [UInt8]) {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let s = try? decoder.decode(Stored.self, from: Data(json)), let started = RFC3339.parse(s.startedAt) else {
            return nil
        }
        self.init(state: s.state, startedAt: started)
        checkedAt = s.checkedAt.flatMap(RFC3339.parse)
        rows = s.rowsVerified; chains = s.chains; rowsBeforeChain = s.rowsBeforeChain; checkedUpTo = s.checkedUpTo
        chain = s.chain; row = s.row; breakKind = s.breakKind; detail = s.detail
    }

    /// The recorded form (snake_case keys: the field names `cityeye status --json` shows too).
    private struct Stored: Codable {
        var state: State
        var startedAt: String
        var checkedAt: String?
        var rowsVerified: Int
        var chains: Int
        var rowsBeforeChain: Int
        var checkedUpTo: Int64
        var chain: String?
        var row: Int64?
        var breakKind: AuditChain.Break.Kind?
        var detail: String?

        init(_ c: AuditCheck) {
            state = c.state; startedAt = c.startedAt.description; checkedAt = c.checkedAt?.description
            rowsVerified = c.rows; chains = c.chains; rowsBeforeChain = c.rowsBeforeChain; checkedUpTo = c.checkedUpTo
            chain = c.chain; row = c.row; breakKind = c.breakKind; detail = c.detail
        }
    }
}
