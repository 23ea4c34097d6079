import XCTest
import Foundation
import TestSupport
import Model
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

    func testShippedRulesCompileToTheirKindsWithTheirFields() throws {
        let set = try RuleSet.load(directory: RuleHarness.scenarios)
        let rule = Dictionary(uniqueKeysWithValues: set.compiled.map { ($0.ref.id, $0) })
        guard case .notFollowed(.fixed(let within), _, let clearOnFollow)? = rule["charging.overtime"]?.kind else {
            return XCTFail("charging.overtime is not_followed with a fixed window")
        }
        XCTAssertEqual(within, 8 * Durations.hour)
        XCTAssertTrue(clearOnFollow)
        guard case .sumBelow(let window, let below, _, let afterFirst)? = rule["elderly.no-water"]?.kind else {
            return XCTFail("elderly.no-water is sum_below")
        }
        XCTAssertEqual([window, afterFirst], [12 * Durations.hour, 12 * Durations.hour])
        XCTAssertEqual(below, 10)
        guard case .held(.attr("max_minutes", let unit, let fallback))? = rule["filial_parking.overstay"]?.kind else {
            return XCTFail("filial_parking.overstay is held for an attribute")
        }
        XCTAssertEqual(unit, Durations.minute)
        XCTAssertEqual(fallback, 240)
        guard case .distinctDays(.fixed(7 * Durations.day), 3)? = rule["health_marketing.repeat-visitor"]?.kind else {
            return XCTFail("health_marketing.repeat-visitor is distinct_days over 7 days")
        }
        guard case .match(let unless?)? = rule["access.forced-entry"]?.kind else { return XCTFail("forced-entry has unless") }
        XCTAssertEqual(unless.within, 10 * Durations.second)
        XCTAssertTrue(rule["elderly.inactivity"]!.clears, "an absence clears on the next event")
        XCTAssertFalse(rule["elderly.sos"]!.clears)
        XCTAssertTrue(rule["elevator.entrapment"]!.clears)
    }

    func dir(_ files: [String: String]) throws -> String {
        let d = try temporaryPath("rules")
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
        // Found by the fuzzer: a duration too long for 64 bits crashed `rules check`.
        p = try problems("  - {id: x.b2, severity: major, kind: held, on: access.door, when: \"data.state == 'open'\", for: 22222222222222222222222m}\n")
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

    /// Each kind holds only its own fields: a field that another kind's would be silently ignored is refused.
    func testFieldsThatTheKindCannotUseAreRefusedWithTheRuleAndField() throws {
        var p = try problems("  - {id: x.g, severity: major, kind: held, on: access.door, for: 5m, unless: {on: access.pass, within: 10s}}\n")
        XCTAssertEqual(p.count, 1)
        XCTAssertTrue(p[0].contains("x.yaml:3") && p[0].contains("x.g") && p[0].contains("`unless` is only for kind match"), p[0])
        p = try problems("  - {id: x.h, severity: major, kind: match, on: access.door, clear: followed_by}\n")
        XCTAssertTrue(p.first?.contains("x.h") ?? false && p.first!.contains("`clear: followed_by` is only for kind not_followed"), "\(p)")
        p = try problems("  - {id: x.i, severity: major, kind: sum_below, on: water.usage, value: data.liters, below: 5, within: {attr: hours, unit: 1h}}\n")
        XCTAssertTrue(p.first?.contains("x.i") ?? false && p.first!.contains("sum_below needs `within:`"), "\(p)")
        p = try problems("  - {id: x.j, severity: major, kind: sum_below, on: water.usage, value: data.liters, below: 5, within: 24h, after_first: {attr: hours}}\n")
        XCTAssertTrue(p.first?.contains("x.j") ?? false && p.first!.contains("`after_first` must be a duration"), "\(p)")
        p = try problems("  - {id: x.k, severity: major, kind: count, on: access.pass, within: 1h}\n")
        XCTAssertTrue(p.first?.contains("kind count needs `at_least:`") ?? false, "\(p)")
        p = try problems("  - {id: x.l, severity: major, kind: not_followed, on: band.fall, within: 10m}\n")
        XCTAssertTrue(p.first?.contains("kind not_followed needs `followed_by") ?? false, "\(p)")
        // The same fields where the kind uses them load.
        XCTAssertEqual(try problems("""
          - {id: x.m, severity: major, kind: match, on: access.door, unless: {on: access.pass, within: 10s}}
          - {id: x.n, severity: major, kind: not_followed, on: band.fall, within: 10m, followed_by: {on: band.ok}, clear: followed_by}
          - {id: x.o, severity: major, kind: sum_below, on: water.usage, value: data.liters, below: 5, within: 24h, after_first: 12h}

        """), [])
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
