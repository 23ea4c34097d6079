import XCTest
import Foundation
import TestSupport

/// `cityeye rules test`: how a city tunes a threshold and sees what it changes.
extension CLITests {
    func testRuleTestsPassOnTheShippedPacksAndNameWhatATunedThresholdChanges() throws {
        let shipped = try cityeye(["rules", "test", "scenarios"])
        XCTAssertEqual(shipped.code, 0, shipped.out + shipped.err)
        XCTAssertGreaterThanOrEqual(shipped.out.split(separator: "\n").filter { $0.hasPrefix("ok    ") }.count, 16, shipped.out)
        XCTAssertTrue(shipped.out.contains(" passed, 0 failed"), shipped.out)

        // A copy of the elevator pack whose entrapment hold is tuned from 30 s to 10 min.
        let dir = (db as NSString).deletingLastPathComponent + "/tuned"
        try FileManager.default.copyItem(atPath: Repo.scenarios.appendingPathComponent("elevator").path, toPath: dir)
        try? FileManager.default.removeItem(atPath: dir + "/independent")
        let rules = try String(contentsOfFile: dir + "/rules.yaml", encoding: .utf8)
        let tuned = rules.replacingOccurrences(of: "for: 30s", with: "for: 10m")
        XCTAssertNotEqual(tuned, rules, "the entrapment rule holds for 30s")
        try tuned.write(toFile: dir + "/rules.yaml", atomically: true, encoding: .utf8)
        let r = try cityeye(["rules", "test", dir])
        XCTAssertEqual(r.code, 1, r.out)
        XCTAssertTrue(r.out.contains("FAIL  elevator-morning"), r.out)
        XCTAssertTrue(r.out.contains("elevator.entrapment"), "the incident that differs is named: \(r.out)")
        XCTAssertTrue(r.out.contains("0 passed, 1 failed"), r.out)

        let none = try cityeye(["rules", "test", (db as NSString).deletingLastPathComponent + "/nothing-here"])
        XCTAssertEqual(none.code, 1)
        XCTAssertTrue(none.err.contains("no rule tests"), none.err)
    }
}
