import Store

/// A store's audit chains followed beside a running engine, on a read-only connection: a first pass over the whole
/// trail, then passes over only the rows appended since the last (cheap), each against the heads the store
/// records when the pass begins. A break ends the following: every later pass returns it again.
public struct AuditFollower {
    private var verifier: AuditVerifier
    /// The last row id checked.
    public private(set) var checkedUpTo: Int64 = 0
    public private(set) var firstBreak: AuditChain.Break?
    /// Rows read per read transaction.
    public var chunkRows = 5_000

    public init(key: AuditKey) { verifier = AuditVerifier(key: key) }

    /// What is known so far.
    public var report: AuditReport {
        AuditReport(rows: verifier.sealedRows, chains: verifier.chains, rowsBeforeChain: verifier.rowsBeforeChain,
                    firstBreak: firstBreak)
    }

    /// Checks the rows after `checkedUpTo` up to the trail's last row as the pass begins. `afterChunk` is told the
    /// report and the last row id checked after each read, and returns false to stop early (the engine is stopping).
    public mutating func pass(_ reader: AuditTrailReader,
                              afterChunk: (AuditReport, _ checkedUpTo: Int64) -> Bool = { _, _ in true }) throws(StoreError) -> AuditReport {
        guard firstBreak == nil else { return report }
        let (heads, lastRow) = try reader.bounds()
        if let b = verifier.expect(heads: heads) { firstBreak = b; return report }
        while checkedUpTo < lastRow {
            let rows = try reader.rows(after: checkedUpTo, upTo: lastRow, limit: chunkRows)
            guard let lastRead = rows.last?.id else { break }
            for row in rows {
                if let b = verifier.check(row) { firstBreak = b; return report }
            }
            checkedUpTo = lastRead
            if !afterChunk(report, checkedUpTo) { return report }
        }
        firstBreak = verifier.finish()
        return report
    }
}
