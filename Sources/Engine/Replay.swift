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

/// Runs JSON Lines logs through a pipeline on event time (SPEC §4), one transaction per batch of lines.
public enum Replay {
    /// Lines per transaction. Larger batches write each changed incident and index page once per batch: from
    /// 8,192 to 65,536 made the bench replay about a fifth faster. A replay cut short loses at most its last batch,
    /// and replaying the log again counts what was committed as duplicates.
    public static let batchSize = 65_536

    public static func run(_ pipeline: Pipeline, files: [String], until: Instant? = nil, batchSize: Int = batchSize,
                           progress: ((ReplayProgress) -> Void)? = nil) throws -> ReplaySummary {
        try pipeline.store.bulkLoading {
            try replay(pipeline, files: files, until: until, batchSize: max(1, batchSize), progress: progress)
        }
    }

    private static func replay(_ pipeline: Pipeline, files: [String], until: Instant?, batchSize: Int,
                               progress: ((ReplayProgress) -> Void)?) throws -> ReplaySummary {
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
            let batch = LogBatch(lines: lines, source: name, limit: batchSize)
            var handled = batchSize
            while handled == batchSize {
                handled = try pipeline.process(batch: batch, now: nil)
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
        try pipeline.process(batch: NoMessages(), now: until, saveRuleState: true)
        return ReplaySummary(counts: pipeline.counts, files: files, elapsedSeconds: Date().timeIntervalSince(start),
                             clock: pipeline.clock, incidentsOpen: pipeline.openIncidents)
    }
}

/// Up to `limit` lines of a log, read in place as the pipeline takes them: each batch goes on where the last stopped.
struct LogBatch: MessageBatch {
    let lines: LogLines
    let source: String?
    let limit: Int

    func forEachMessage(_ body: (InboundMessage) throws -> Void) throws {
        var n = 0
        while n < limit, let line = try lines.next() {
            try body(InboundMessage(payload: line, topic: nil, line: lines.lineNumber))
            n += 1
        }
    }
}
