import XCTest
import Foundation
import TestSupport
import Model
@testable import Registry
@testable import Rules

/// `cityeye rules check`'s static checks: rules that load but could never fire, and expressions too deep to parse.
final class RuleCheckTests: XCTestCase {
    func folder(_ rules: String) throws -> String {
        let d = try temporaryPath("rulecheck")
        try ("scenario: x\nrules:\n" + rules).write(toFile: d + "/x.yaml", atomically: true, encoding: .utf8)
        return d
    }

    func rule(_ id: String, on: String?, when: String, extra: String = "") -> String {
        "  - id: \(id)\n    severity: major\n    kind: match\n" + (on.map { "    on: \($0)\n" } ?? "") + "    when: \"\(when)\"\n" + extra
    }

    func check(_ rules: String, registry: Registry? = nil) throws -> [String] {
        let set = try RuleSet.load(directory: try folder(rules))
        return RuleCheck.problems(in: set, registry: registry).map(\.description)
    }

    func testTheIssuesThreeNeverFiringRulesAreReported() throws {
        let p = try check(rule("x.typo", on: "elevator.ebike", when: "data.confidense >= 0.85")
            + rule("x.door", on: "elevator.status", when: "data.door == 3")
            + rule("x.literals", on: nil, when: "'abc' > 3"))
        XCTAssertEqual(p.count, 3, "\(p)")
        XCTAssertTrue(p[0].hasPrefix("") && p[0].contains("x.yaml:3") && p[0].contains("rule x.typo")
                      && p[0].contains("data.confidense") && p[0].contains("known fields: confidence"), p[0])
        XCTAssertTrue(p[1].contains("x.yaml:8") && p[1].contains("rule x.door") && p[1].contains("data.door == 3")
                      && p[1].contains("open|closed"), p[1])
        XCTAssertTrue(p[2].contains("rule x.literals") && p[2].contains("'abc' > 3") && p[2].contains("never true"), p[2])
    }

    func testAttrsFieldsKeysAndListsAreCheckedAgainstTheSchema() throws {
        let p = try check(rule("x.attr", on: "venue.occupancy", when: "data.count > attrs.capcity")
            + rule("x.devices", on: "venue.occupancy", when: "attrs.capacity > 0", extra: "    devices: [school_cam]\n")
            + rule("x.choice", on: "access.door", when: "data.state == 'opne'")
            + rule("x.list", on: "elevator.status", when: "data.floor in ['a', 2]")
            + rule("x.range", on: "venue.occupancy", when: "local_time in '7-9'")
            + rule("x.key", on: "venue.occupancy", when: "data.count > 0", extra: "    key: data.plate\n")
            + "  - id: x.dur\n    severity: minor\n    kind: held\n    on: parking.spot\n    when: \"data.occupied\"\n    for: {attr: max_minuts, unit: 1m}\n")
        let text = p.joined(separator: "\n")
        // (Types other tests declared may be listed among the known attrs too: they live for the whole test process.)
        for x in ["rule x.attr: reads attrs.capcity, which no device type has (known attrs: ",
                  "rule x.devices: reads attrs.capacity, which device type school_cam does not have",
                  "rule x.choice: `data.state == 'opne'`: data.state is one of open|closed, never 'opne'",
                  "rule x.list: `data.floor in [...]` looks for data.floor (a number) among 'a' (text)",
                  "rule x.range: `local_time in '7-9'`: '7-9' is not a time range",
                  "rule x.key: reads data.plate, which venue.occupancy does not carry (known fields: count)",
                  "rule x.dur: reads attrs.max_minuts"] {
            XCTAssertTrue(text.contains(x), "missing: \(x)\nin:\n\(text)")
        }
        XCTAssertEqual(p.count, 7, text)
    }

    func testARegistrysOwnAttrsAreKnownWithIt() throws {
        let rules = rule("x.zone", on: "access.door", when: "attrs.zone == 'north' and attrs.floor > 'x'")
        XCTAssertEqual(try check(rules).count, 2)
        let registry = try RegistryLoader.parse(yaml: """
        communities: [{id: c1, name: C1}]
        grids: [{id: g1, community: c1, name: G1}]
        workers: []
        devices: [{id: gate-1, type: gate, community: c1, grid: g1, attrs: {zone: north, floor: 3}}]
        """, file: "registry.yaml")
        let p = try check(rules, registry: registry)
        XCTAssertEqual(p.count, 1, "\(p)")
        XCTAssertTrue(p[0].contains("attrs.floor > 'x'"), p[0])
    }

    func testTheShippedScenariosPassClean() throws {
        let set = try RuleSet.load(directory: RuleHarness.scenarios)
        XCTAssertEqual(RuleCheck.problems(in: set).map(\.description), [])
        for scenario in try FileManager.default.contentsOfDirectory(atPath: RuleHarness.scenarios) {
            let path = RuleHarness.scenarios + "/" + scenario + "/registry.yaml"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let registry = try RegistryLoader.load(path: path)
            XCTAssertEqual(RuleCheck.problems(in: set, registry: registry).map(\.description), [], scenario)
        }
    }

    func testRuleFileScalarsAreYAML12Too() throws {
        let yes = RuleSet.check(directory: try folder("  - id: x.yes\n    severity: major\n    kind: match\n    on: smoke.alarm\n    when: yes\n"))
        XCTAssertTrue(yes.first?.description.contains("unknown name `yes`") == true, "\(yes): `yes` is text in YAML 1.2, not true")
        XCTAssertEqual(RuleSet.check(directory: try folder("  - id: x.true\n    severity: major\n    kind: match\n    on: smoke.alarm\n    when: True\n")).count, 0)
    }

    func testTenThousandNestedParenthesesGiveAClearError() throws {
        let deep = String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000)
        let p = RuleSet.check(directory: try folder(rule("x.deep", on: nil, when: deep))).map(\.description)
        XCTAssertEqual(p.count, 1)
        XCTAssertTrue(p[0].contains("x.yaml:6") && p[0].contains("nested too deeply") && p[0].contains("64"), String(p[0].suffix(200)))
        for text in [String(repeating: "not ", count: 5_000) + "true", String(repeating: "-", count: 5_000) + "1",
                     (0..<5_000).map { _ in "1" }.joined(separator: " + ") + " > 0"] {
            let q = RuleSet.check(directory: try folder(rule("x.deep", on: nil, when: text))).map(\.description)
            XCTAssertEqual(q.count, 1)
            XCTAssertTrue(q.first?.contains("too deep") == true, String(q.first?.suffix(200) ?? "none"))
        }
        // 64 levels still compile.
        let ok = String(repeating: "(", count: 60) + "data.count > 1" + String(repeating: ")", count: 60)
        XCTAssertEqual(RuleSet.check(directory: try folder(rule("x.ok", on: "venue.occupancy", when: ok))).map(\.description), [])
    }
}
