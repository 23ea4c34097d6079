import Foundation
import Model
import Store
import Live
import Engine
import AuditChain

/// One look at a store for an operator (`cityeye status`): is an engine writing it, how far its clock is, what is
/// open, what was rejected, how big it is. Read-only; it never takes the engine lock.
struct StoreStatus {
    struct ScenarioCounts { var scenario: String; var open = 0; var escalated = 0; var overdue = 0 }

    var path: String
    /// The store file and its write-ahead log, in bytes.
    var sizeBytes: Int64
    /// When the store file or its write-ahead log last changed: with an engine running, its last commit or a
    /// person's action; without, also the last reader that closed it.
    var lastWrite: Instant?
    /// The engine (`cityeye run` or a replay) holding the store's engine lock now, if any.
    var engine: LockHolder?
    /// The rule engine's clock as the last commit saved it: the wall-clock time of a live engine's last commit
    /// that moved time on, or the event time a replay reached.
    var ruleClock: Instant?
    var ruleStateKeys = 0
    /// How far the ingress journal is processed (live engine), as `segment:offset`.
    var journalPosition: String?
    /// Open incidents (dispatched or acknowledged) by scenario; escalated and overdue count among them.
    var scenarios: [ScenarioCounts] = []
    var deadLetters: [RejectReason: Int] = [:]
    var audit = AuditStatus(source: .none)

    var deadLetterTotal: Int { deadLetters.values.reduce(0, +) }

    /// The store's files as they are before this command opens them: the last connection to close an SQLite
    /// store copies its write-ahead log back, which would make every look a write.
    static func files(_ path: String) -> StoreStatus {
        let files = [path, path + "-wal"].compactMap { try? FileManager.default.attributesOfItem(atPath: $0) }
        let size = files.compactMap { ($0[.size] as? NSNumber)?.int64Value }.reduce(0, +)
        let modified = files.compactMap { $0[.modificationDate] as? Date }.max()
        return StoreStatus(path: path, sizeBytes: size,
                           lastWrite: modified.map { Instant(ms: Int64(($0.timeIntervalSince1970 * 1000).rounded(.down))) },
                           engine: EngineLock.holder(of: path))
    }

    /// Adds what the store holds to `files(path)`, read before the store was opened.
    static func read(_ store: Store, files: StoreStatus) throws -> StoreStatus {
        var s = files
        s.ruleClock = try store.state(Pipeline.ruleClockName)
            .flatMap { Int64(String(decoding: $0, as: UTF8.self)) }.map(Instant.init(ms:))
        s.ruleStateKeys = try store.ruleKeyCount()
        s.journalPosition = try store.state(LiveEngine.journalPositionName).map { String(decoding: $0, as: UTF8.self) }
        s.scenarios = try openByScenario(store)
        s.deadLetters = try store.deadLetterCounts()
        s.audit.recorded = try store.state(AuditWatch.stateName)
        return s
    }

    /// Open incidents (dispatched or acknowledged) by scenario, with the escalated and overdue among them.
    static func openByScenario(_ store: any StoreReader) throws -> [ScenarioCounts] {
        var by: [String: ScenarioCounts] = [:]
        for i in try store.incidents(IncidentFilter(openOnly: true)) {
            by[i.scenario, default: ScenarioCounts(scenario: i.scenario)].open += 1
            if i.escalated { by[i.scenario]!.escalated += 1 }
            if i.overdue { by[i.scenario]!.overdue += 1 }
        }
        return by.values.sorted { $0.scenario < $1.scenario }
    }
}

/// The audit chains as `cityeye status` tells them: checked now with the key when it can read it, else what the
/// engine recorded of its own check (`engine_state` 'audit.check'), else not known.
struct AuditStatus {
    enum Source: String { case verified, engine, none }
    var source: Source
    var check: AuditCheck?
    /// Why this command did not verify itself (no readable key), when it tried.
    var keyProblem: String?
    /// The engine's record as read from the store (decoded by `resolve`).
    var recorded: [UInt8]?

    /// Verifies the trail on a read-only connection when `verify` and the key at `keyPath` can be read; otherwise
    /// takes the engine's record.
    mutating func resolve(store: String, keyPath: String, verify: Bool, now: () -> Instant) {
        resolve(store: store, keyPath: keyPath, verify: verify, now: now) { key in
            let reader = try AuditTrailReader(path: store)
            defer { reader.close() }
            var follower = AuditFollower(key: key)
            return (try follower.pass(reader), follower.checkedUpTo)
        }
    }

    /// The same for any store: `check` verifies the trail with the key, returning the report and the last row checked.
    mutating func resolve(store: String, keyPath: String, verify: Bool, now: () -> Instant,
                          check: (AuditKey) throws -> (report: AuditReport, checkedUpTo: Int64)) {
        guard verify else { return resolve(verified: nil, keyProblem: nil) }
        let key: AuditKey
        do { key = try AuditKey.load(path: keyPath, create: false) } catch {
            return resolve(verified: nil, keyProblem: "\(error)")
        }
        let started = now()
        do {
            let (report, upTo) = try check(key)
            resolve(verified: AuditCheck(report, startedAt: started, finished: now(), checkedUpTo: upTo), keyProblem: nil)
        } catch {
            resolve(verified: .unreadable(error, store: store, startedAt: started, at: now()), keyProblem: nil)
        }
    }

    /// This command's own check when it made one; else the engine's record, with why this command did not verify.
    mutating func resolve(verified: AuditCheck?, keyProblem problem: String?) {
        if let verified {
            source = .verified
            check = verified
            return
        }
        keyProblem = problem
        if let bytes = recorded {
            source = .engine
            check = AuditCheck(json: bytes)
            if check == nil { keyProblem = (keyProblem.map { $0 + "; " } ?? "") + "the engine's recorded check cannot be read" }
        }
    }
}
