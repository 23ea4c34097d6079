import XCTest
import Foundation
import TestSupport
import Model
@testable import Store

/// The live engine's checkpoints on a thread of their own (`Store.checkpointInBackground`): the write-ahead log stays
/// bounded under a writer that never pauses, what a commit says is durable has been synced, and nothing is lost.
final class BackgroundCheckpointTests: XCTestCase {
    func path() throws -> String { try temporaryPath("ckpt") + "/s.db" }

    /// Commits of many pages each, back to back: a checkpoint beside such a writer alone would never see the log fully
    /// copied when a write begins, and the log would grow without bound. With the writer finishing what the thread
    /// copied (`finishCheckpoint` after each commit, as the live engine does), the log starts again from its beginning
    /// and stays within a few times the checkpoint size.
    func testTheLogStaysBoundedUnderAWriterThatNeverPauses() throws {
        let p = try path()
        let s = try Store(path: p)
        s.setCheckpointPages(200)
        try s.checkpointInBackground()
        var ids: Int64 = 0
        var largestLog: UInt64 = 0
        var logSizes: UInt64 = 0
        for _ in 0..<1_500 {
            // 40 incidents spread over the table: several pages a commit.
            let batch = (0..<40).map { _ -> Incident in ids += 1; return StoreTests.incident(ids) }
            try s.writeTransaction { tx in try tx.upsert(batch) }
            s.finishCheckpoint()
            largestLog = max(largestLog, fileSize(p + "-wal"))
            logSizes += UInt64(s.walFrames)
        }
        let averageFrames = logSizes / 1_500
        XCTAssertGreaterThan(s.completeCheckpoints, 5, "checkpoints completed while the writer never paused")
        // The writer's own fallback (the whole log, at 8 × the checkpoint size) bounds it in any case; the thread and
        // the finish keep it near the checkpoint size (without the finish: 4 × on average, up to 8 ×). The average,
        // not the peak: a checkpoint thread held up once by a busy machine lets the log grow for a while.
        XCTAssertLessThan(largestLog, UInt64(200 * 8 + 400) * 4_120, "the log never grew without bound")
        XCTAssertLessThan(averageFrames, 200 * 5 / 2, "the log was started again from its beginning near the checkpoint size")
        XCTAssertEqual(try s.maxIncidentID(), 60_000)
        XCTAssertEqual(try integrity(s), "ok")
        s.close()
        let reopened = try Store(path: p, create: false)
        XCTAssertEqual(try reopened.incidents().count, 60_000, "every commit is in the store")
    }

    /// `durableCommits` only ever names a commit that a complete checkpoint synced: never past `commitCount`, and it
    /// catches up with the writer (so journal segments behind it can be removed) without the writer doing the copying.
    func testDurableCommitsFollowTheWriterAndNeverPassIt() throws {
        let s = try Store(path: try path())
        s.setCheckpointPages(50)
        try s.checkpointInBackground()
        var ids: Int64 = 0
        var sawDurable = false
        let opened = s.commitCount  // the migrations' commits
        for _ in 0..<400 {
            let batch = (0..<20).map { _ -> Incident in ids += 1; return StoreTests.incident(ids) }
            try s.writeTransaction { tx in try tx.upsert(batch) }
            s.finishCheckpoint()
            let (commits, durable) = (s.commitCount, s.durableCommits)
            XCTAssertLessThanOrEqual(durable, commits)
            if durable > 0 { sawDurable = true }
        }
        XCTAssertTrue(sawDurable, "checkpoints made commits durable as the writer went on")
        let last = s.commitCount
        XCTAssertEqual(last - opened, 400, "each transaction that wrote is one commit")
        // One more commit after the writer paused finishes the thread's checkpoint: everything before it is synced.
        let deadline = Date().addingTimeInterval(10)
        while s.durableCommits < last && Date() < deadline {
            ids += 1
            let one = StoreTests.incident(ids)
            try s.writeTransaction { tx in try tx.upsert([one]) }
            s.finishCheckpoint()
            Thread.sleep(forTimeInterval: 0.02)
        }
        XCTAssertGreaterThanOrEqual(s.durableCommits, last)
        s.close()
    }

    /// Closing the store stops the thread and closes its connection; the store opens again and holds everything.
    func testCloseStopsTheThreadAndLeavesAConsistentStore() throws {
        let p = try path()
        let s = try Store(path: p)
        s.setCheckpointPages(10)
        try s.checkpointInBackground()
        for i in Int64(1)...300 { try s.writeTransaction { tx in try tx.upsert([StoreTests.incident(i)]) } }
        s.close()
        let again = try Store(path: p, create: false)
        XCTAssertEqual(try again.incidents().count, 300)
        XCTAssertEqual(try integrity(again), "ok")
    }

    private func fileSize(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    private func integrity(_ s: Store) throws -> String {
        try s.read { () throws -> String in
            let st = try s.conn.statement("PRAGMA integrity_check")
            _ = try st.step()
            return st.text(0)
        }
    }
}
