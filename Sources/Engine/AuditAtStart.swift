import Store
import AuditChain

/// What an engine's start found of the audit trail: the key it seals with, and the chains checked. Neither a
/// missing key nor a broken chain stops the engine (alarms come first); both are said loudly.
public struct AuditAtStart: Sendable {
    public var keyProblem: AuditKeyError?
    public var report: AuditReport?
    /// Something an operator must look at.
    public var isAlarming: Bool { keyProblem != nil || report?.intact == false }

    /// One line per finding, for the log or a summary.
    public var lines: [String] {
        var out: [String] = []
        if let k = keyProblem {
            out.append("AUDIT KEY UNREADABLE: \(k): audit rows are written without a MAC (not sealed) until the engine can "
                       + "read it; fix the file's owner or mode and restart")
        }
        if let r = report { out.append(r.summary) }
        return out
    }
}

extension EngineSetup {
    /// `open()`, then a check of every audit chain in the store (with the key, when it could be read).
    public func openCheckingAudit() throws(EngineError) -> (Pipeline, AuditAtStart) {
        let (pipeline, key) = try openSealed()
        switch key {
        case .failure(let e):
            return (pipeline, AuditAtStart(keyProblem: e))
        case .success(let k):
            do {
                return (pipeline, AuditAtStart(report: try AuditTrail.verify(store: pipeline.store, key: k)))
            } catch {
                throw EngineError(.store, path: store, "cannot read the audit trail of \(store): \(error)")
            }
        }
    }
}
