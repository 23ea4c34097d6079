import XCTest
import Foundation
import TestSupport

/// An evaluation that is not applicable because of the registry (a device without an attr the rule reads) is
/// counted per (rule, device) and shown in the replay summary: such a rule would otherwise never fire, silently.
extension CLITests {
    func testEvaluationsOnADeviceWithoutTheAttrsARuleReadsAreCountedAndShown() throws {
        let withVenue = RegistryFixtures.changzhengqiao.replacingOccurrences(of: "devices:\n", with: """
            devices:
              - {id: czq-bar-01, type: occupancy_sensor, community: changzhengqiao, grid: czq-g1, attrs: {capacity: 40, category: bar}}
              - {id: czq-net-01, type: occupancy_sensor, community: changzhengqiao, grid: czq-g1, attrs: {capacity: 40, hours: "08:00-23:00", category: internet_cafe}}

            """)
        try withVenue.write(toFile: registry, atomically: true, encoding: .utf8)
        let log = try writeLog([
            env("1", "2026-11-24T02:00:00.000+08:00", "czq-bar-01", "venue.occupancy", #"{"count":3}"#),
            env("2", "2026-11-24T02:05:00.000+08:00", "czq-bar-01", "venue.occupancy", #"{"count":5}"#),
            env("3", "2026-11-24T02:06:00.000+08:00", "czq-net-01", "venue.occupancy", #"{"count":2}"#),
        ])
        let r = try cityeye(["replay", log, "--rules", "scenarios", "--registry", registry, "--db", db, "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        XCTAssertEqual(summary["not_applicable"] as? Int, 2, "czq-bar-01 has no hours: after-hours cannot judge its 2 events: \(r.out)")
        let pairs = try XCTUnwrap(summary["not_applicable_by_rule_device"] as? [[String: Any]])
        XCTAssertEqual(pairs.count, 1, r.out)
        XCTAssertEqual(pairs.first?["rule"] as? String, "sensitive_venue.after-hours")
        XCTAssertEqual(pairs.first?["device"] as? String, "czq-bar-01")
        XCTAssertEqual(pairs.first?["attrs"] as? [String], ["hours"])
        XCTAssertEqual(pairs.first?["evaluations"] as? Int, 2)
        XCTAssertEqual(summary["incidents_raised"] as? Int, 1, "czq-net-01, open 08:00-23:00, is judged and raises at 02:06")

        let text = try cityeye(["replay", log, "--rules", "scenarios", "--registry", registry, "--db", db + "-text"])
        XCTAssertTrue(text.out.contains("not applicable    2  (evaluations on devices without an attr the rule reads: sensitive_venue.after-hours on czq-bar-01 (no attrs.hours) 2)"), text.out)

        let clean = try cityeye(["replay", log, "--rules", "scenarios", "--registry", registry, "--db", db + "-clean"]
                                .map { $0 == "scenarios" ? Repo.scenarios.appendingPathComponent("elevator").path : $0 })
        XCTAssertFalse(clean.out.contains("not applicable"), "no rule of the folder reads attrs: \(clean.out)")
    }
}
