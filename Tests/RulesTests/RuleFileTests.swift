import XCTest
import Foundation
@testable import Rules

final class RuleFileTests: XCTestCase {
    static let specRuleIDs = [
        "access.door-held-open", "access.forced-entry", "access.repeated-denial", "access.tailgating",
        "waste.bin-full", "waste.mis-sorting", "waste.off-hours-dumping",
        "elevator.entrapment", "elevator.ebike", "elevator.alarm", "elevator.offline",
        "health_marketing.elderly-gathering", "health_marketing.repeat-visitor",
        "electricity.leakage", "electricity.overheat", "electricity.overload", "charging.abnormal-power",
        "charging.port-overheat", "charging.overtime", "electricity.ebike-in-corridor", "electricity.smoke",
        "sensitive_venue.over-capacity", "sensitive_venue.after-hours", "sensitive_venue.minor-in-venue",
        "sensitive_venue.school-loitering",
        "elderly.sos", "elderly.fall", "elderly.no-water", "elderly.inactivity", "elderly.abnormal-heart-rate",
        "elderly.band-offline",
        "filial_parking.unregistered", "filial_parking.overstay", "filial_parking.unidentified",
    ]

    func testShippedRulesHoldEverySpecRuleWithItsSeverity() throws {
        let set = try RuleSet.load(directory: RuleHarness.scenarios)
        XCTAssertEqual(Set(set.rules.map(\.id)), Set(Self.specRuleIDs))
        XCTAssertEqual(set.files.count, 8)
        let sev = Dictionary(uniqueKeysWithValues: set.rules.map { ($0.id, $0.severity.rawValue) })
        XCTAssertEqual(sev["elevator.entrapment"], "critical")
        XCTAssertEqual(sev["charging.overtime"], "minor")
        XCTAssertEqual(sev["elderly.no-water"], "major")
        XCTAssertTrue(RuleSet.check(directory: RuleHarness.scenarios).isEmpty)
    }

    func dir(_ files: [String: String]) throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("rules-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: d + "/" + name, atomically: true, encoding: .utf8) }
        return d
    }

    func problems(_ rule: String) throws -> [String] {
        let d = try dir(["x.yaml": "scenario: x\nrules:\n" + rule])
        return RuleSet.check(directory: d).map(\.description)
    }

    func testBrokenRulesNameFileLineRuleAndProblem() throws {
        var p = try problems("  - {id: x.a, severity: major, kind: teleport, on: smoke.alarm}\n")
        XCTAssertEqual(p.count, 1)
        XCTAssertTrue(p[0].contains("x.yaml:3") && p[0].contains("x.a") && p[0].contains("kind"), p[0])
        p = try problems("  - {id: x.b, severity: major, kind: held, on: access.door, when: \"data.state == 'open'\", for: 5 parsecs}\n")
        XCTAssertTrue(p.first?.contains("bad duration") ?? false, "\(p)")
        p = try problems("  - {id: x.c, severity: major, kind: match, on: access.door, when: \"data.state == \"}\n")
        XCTAssertTrue(p.first?.contains("x.c") ?? false && p.first!.contains("bad expression"), "\(p)")
        p = try problems("  - {id: x.d, severity: major, kind: match, on: door.teleport}\n")
        XCTAssertTrue(p.first?.contains("unknown event type door.teleport") ?? false, "\(p)")
        p = try problems("  - {id: x.e, severity: urgent, kind: match, on: smoke.alarm}\n")
        XCTAssertTrue(p.first?.contains("severity") ?? false, "\(p)")
        p = try problems("  - {id: x.f, severity: minor, kind: match, on: smoke.alarm, colour: red}\n")
        XCTAssertTrue(p.first?.contains("unknown key `colour`") ?? false, "\(p)")
    }

    func testDuplicateIdAcrossFilesAndNonRuleYAMLIsSkipped() throws {
        let d = try dir([
            "a.yaml": "scenario: a\nrules:\n  - {id: dup.x, severity: minor, kind: match, on: smoke.alarm}\n",
            "b.yaml": "scenario: b\nrules:\n  - {id: dup.x, severity: minor, kind: match, on: smoke.alarm}\n",
            "registry.yaml": "communities: []\n",
        ])
        let p = RuleSet.check(directory: d).map(\.description)
        XCTAssertEqual(p.count, 1)
        XCTAssertTrue(p[0].contains("duplicate rule id"), p[0])
        XCTAssertThrowsError(try RuleSet.load(directory: d))
        XCTAssertThrowsError(try RuleSet.load(directory: d + "/nope"))
    }

    func testAThresholdChangedInTheFileChangesBehaviour() throws {
        let text = try String(contentsOfFile: RuleHarness.scenarios + "/access/rules.yaml", encoding: .utf8)
            .replacingOccurrences(of: "data.count >= 2", with: "data.count >= 3")
        let h = try RuleHarness(rulesDirectory: try dir(["access.yaml": text]))
        h.send("gate-1", .accessTailgate, RuleHarness.t("10:00:00"), ["count": 2])
        XCTAssertTrue(h.occurrences("access.tailgating").isEmpty)
        h.send("gate-1", .accessTailgate, RuleHarness.t("10:00:01"), ["count": 3])
        XCTAssertEqual(h.occurrences("access.tailgating").count, 1)
    }
}
