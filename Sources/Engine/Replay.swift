import Foundation
import Model
import Ingest

/// Progress of a long replay, reported about twice a second.
public struct ReplayProgress: Sendable {
    public var file: String
    public var events: Int
    public var bytesRead: Int64
    public var totalBytes: Int64
    public var elapsedSeconds: Double
    public var eventsPerSecond: Double { elapsedSeconds > 0 ? Double(events) / elapsedSeconds : 0 }
}

public struct ReplaySummary: Sendable {
    public var counts: IngestCounts
    public var files: [String]
    public var elapsedSeconds: Double
    public var clock: Instant?
    public var incidentsOpen: Int
    public var eventsPerSecond: Double { elapsedSeconds > 0 ? Double(counts.accepted + counts.duplicates + counts.rejectedTotal) / elapsedSeconds : 0 }
}

/// Runs JSON Lines logs through a pipeline on event time (docs/contract.md §7), one transaction per batch of lines.
public enum Replay {
    /// Lines per transaction. Larger batches write each changed incident and index page once per batch: from
    /// 8,192 to 65,536 made the bench replay about a fifth faster. Each batch commits its incidents, audit, dead
    /// letters, processed ids, rule state and clock together, with the line it reached in each log; a replay cut
    /// short at any point and run again counts what was committed as duplicates, records no dead letter twice, and
    /// ends with the same incidents and audit as one uninterrupted run.
    public static let batchSize = 65_536

    /// `writesEvery`: as `Pipeline.process(writesEvery:)`, for a store on a server.
    public static func run(_ pipeline: Pipeline, files: [String], until: Instant? = nil, batchSize: Int = batchSize,
                           writesEvery: Int? = nil, progress: ((ReplayProgress) -> Void)? = nil) throws -> ReplaySummary {
        try pipeline.store.bulkLoading {
            try replay(pipeline, files: files, until: until, batchSize: max(1, batchSize), writesEvery: writesEvery, progress: progress)
        }
    }

    /// Stops (as a crash would) after `batches` committed batches: for tests of a replay cut short.
    static func runCut(_ pipeline: Pipeline, files: [String], batchSize: Int, batches: Int) throws {
        _ = try replay(pipeline, files: files, until: nil, batchSize: max(1, batchSize), writesEvery: nil, progress: nil, batchLimit: batches)
    }

    static func progressName(_ file: String) -> String { "replay.line." + file }

    private static func replay(_ pipeline: Pipeline, files: [String], until: Instant?, batchSize: Int, writesEvery: Int?,
                               progress: ((ReplayProgress) -> Void)?, batchLimit: Int? = nil) throws -> ReplaySummary {
        // A replay audits or tunes: whatever webhooks the store has targets for, it tells nobody.
        pipeline.store.setEnqueuesNotices(false)
        let start = Date()
        var lastReport = start
        var events = 0
        var totalBytes: Int64 = 0
        for f in files {
            totalBytes += (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int64) ?? 0
        }
        // Generated and captured envelopes are about 200 bytes a line.
        pipeline.expect(events: Int(totalBytes / 200))
        var doneBytes: Int64 = 0
        for file in files {
            let name = (file as NSString).lastPathComponent
            let lines = try LogLines(path: file)
            let recorded = try pipeline.store.state(progressName(name)).flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
            let batch = LogBatch(lines: lines, source: name, limit: batchSize, deadLettersRecordedThroughLine: recorded)
            var handled = batchSize
            var batches = 0
            while handled == batchSize {
                if let batchLimit, batches == batchLimit { throw ReplayCut() }
                handled = try pipeline.process(batch: batch, now: nil, saveRuleState: true, writesEvery: writesEvery)
                batches += 1
                events += handled
                guard let progress else { continue }
                let now = Date()
                if now.timeIntervalSince(lastReport) >= 0.5 {
                    lastReport = now
                    progress(ReplayProgress(file: name, events: events, bytesRead: doneBytes + lines.bytesRead,
                                            totalBytes: totalBytes, elapsedSeconds: now.timeIntervalSince(start)))
                }
            }
            doneBytes += lines.bytesRead
        }
        pipeline.retainDeadLettersAtNextBatch()
        try pipeline.process(batch: NoMessages(), now: until, saveRuleState: true)
        return ReplaySummary(counts: pipeline.counts, files: files, elapsedSeconds: Date().timeIntervalSince(start),
                             clock: pipeline.clock, incidentsOpen: pipeline.openIncidents)
    }
}

/// A replay stopped on purpose after a number of batches (`Replay.runCut`).
struct ReplayCut: Error {}

/// Up to `limit` lines of a log, read in place as the pipeline takes them: each batch goes on where the last stopped.
struct LogBatch: MessageBatch {
    let lines: LogLines
    let source: String?
    let limit: Int
    let deadLettersRecordedThroughLine: Int

    /// The line reached, kept per log file name (the most any run reached: a run again from the start does not lower it).
    var progress: BatchProgress? {
        guard let source else { return nil }
        return BatchProgress(name: Replay.progressName(source), value: String(max(lines.lineNumber, deadLettersRecordedThroughLine)))
    }

    func forEachMessage(_ body: (InboundMessage) throws -> Void) throws {
        var n = 0
        while n < limit, let line = try lines.next() {
            try body(InboundMessage(payload: line, topic: nil, line: lines.lineNumber))
            n += 1
        }
    }
}
