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

/// Runs JSON Lines logs through a pipeline on event time (SPEC §4), committing one transaction per batch.
public enum Replay {
    /// Events per transaction. Larger batches write each changed incident and index page once per batch: from
    /// 8,192 to 65,536 made the bench replay about a fifth faster. A replay cut short loses at most its last batch,
    /// and replaying the log again counts what was committed as duplicates.
    public static let batchSize = 65_536

    public static func run(_ pipeline: Pipeline, files: [String], until: Instant? = nil,
                           progress: ((ReplayProgress) -> Void)? = nil) throws -> ReplaySummary {
        try pipeline.store.bulkLoading { try replay(pipeline, files: files, until: until, progress: progress) }
    }

    private static func replay(_ pipeline: Pipeline, files: [String], until: Instant?,
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
            var fileBytes: Int64 = 0
            try LogReader.forEachLine(path: file) { lineNumber, line in
                pipeline.handle(line, topic: nil, source: name, line: lineNumber)
                events += 1
                fileBytes += Int64(line.count + 1)
                if pipeline.pendingEvents >= batchSize { try pipeline.commit() }
                if let progress, events & 0x3FFF == 0 {
                    let now = Date()
                    if now.timeIntervalSince(lastReport) >= 0.5 {
                        lastReport = now
                        progress(ReplayProgress(file: name, events: events, bytesRead: doneBytes + fileBytes,
                                                totalBytes: totalBytes, elapsedSeconds: now.timeIntervalSince(start)))
                    }
                }
            }
            doneBytes += fileBytes
        }
        if let until { pipeline.advance(to: until) }
        try pipeline.commit(saveRuleState: true)
        return ReplaySummary(counts: pipeline.counts, files: files, elapsedSeconds: Date().timeIntervalSince(start),
                             clock: pipeline.clock, incidentsOpen: pipeline.openIncidents)
    }
}
