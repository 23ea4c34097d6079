import XCTest
import Foundation
import TestSupport
import Model
import Registry
@testable import Rules

/// The partition `keyed` hears only the devices whose events can affect its rules (`RuleSet.devicesThatCanAffect`); the
/// community partitions count those rules' evaluations not applicable on every other device (`RuleEngine`'s
/// `gapsOf`), so a partitioned city reports what one engine would.
final class KeyedDevicesTests: XCTestCase {
    let repeatVisitor = "health_marketing.repeat-visitor"

    func registry(_ extra: String = "") throws -> Registry {
        try RegistryLoader.parse(yaml: RuleHarness.registryYAML + "\n" + extra, file: "test-registry.yaml")
    }

    func keyedRules() throws -> RuleSet {
        let all = try RuleSet.load(directory: RuleHarness.scenarios)
        XCTAssertEqual(all.keyedAcrossCommunities.map(\.id), [repeatVisitor])
        return all.filtered { $0.id == repeatVisitor }
    }

    func testTheKeyedRuleIsAffectedOnlyByTheDevicesWithTheAttrItsConditionNeeds() throws {
        // venue-1 (flagged: true) and venue-2 (flagged: false) have the attr the rule reads; a venue without it and
        // every other device have not.
        let r = try registry("  - {id: venue-3, type: footfall_cam, community: czq, grid: g1}\n")
        XCTAssertEqual(try keyedRules().devicesThatCanAffect(in: r), ["venue-1", "venue-2"])
        XCTAssertEqual(try keyedRules().devicesThatCanAffect(in: try registry()), ["venue-1", "venue-2"])
    }

    func testARuleWhoseConditionNeedsNoAttrAndThatNamesNoDeviceTypeIsAffectedByEveryDevice() throws {
        let d = try temporaryPath("keyed-devices")
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        try """
        scenario: custom
        rules:
          - id: custom.any-visit
            severity: minor
            key: data.person
            kind: match
            on: venue.visit
            when: "data.elderly == true"
          - id: custom.typed
            severity: minor
            key: data.person
            kind: match
            devices: [gate]
            on: access.pass
            when: "data.result == 'denied'"

        """.write(toFile: d + "/rules.yaml", atomically: true, encoding: .utf8)
        let both = try RuleSet.load(directory: d)
        XCTAssertNil(both.devicesThatCanAffect(in: try registry()), "custom.any-visit can raise on any device")
        XCTAssertEqual(both.filtered { $0.id == "custom.typed" }.devicesThatCanAffect(in: try registry()), ["gate-1"],
                       "a rule naming device types is evaluated on those devices")
    }

    /// Narrowed only where a device without the attrs can neither raise the rule nor change its state: otherwise a
    /// keyed rule would quietly never fire for the devices the partition does not hear.
    func testEveryConditionThatCanHoldWithoutTheAttrKeepsEveryDevice() throws {
        func devices(_ kind: String, _ when: String, _ extra: String = "") throws -> Set<String>? {
            let d = try temporaryPath("keyed-conditions")
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            try """
            scenario: custom
            rules:
              - id: custom.rule
                severity: minor
                key: data.person
                kind: \(kind)
                on: venue.visit
                when: "\(when)"
            \(extra)

            """.write(toFile: d + "/rules.yaml", atomically: true, encoding: .utf8)
            return try RuleSet.load(directory: d).devicesThatCanAffect(in: try registry())
        }
        let venues: Set<String> = ["venue-1", "venue-2"]
        XCTAssertEqual(try devices("match", "attrs.flagged == true and data.elderly == true"), venues)
        XCTAssertEqual(try devices("match", "attrs.flagged"), venues)
        XCTAssertEqual(try devices("match", "(attrs.flagged == true and data.elderly) or (attrs.flagged == false and data.elderly == false)"), venues)
        XCTAssertEqual(try devices("count", "attrs.flagged == true and data.elderly == true", "    within: 1h\n    at_least: 2"), venues)
        // An attr that is missing is null to `== null`, and `!=`, `not` and `or` can hold without it.
        XCTAssertNil(try devices("match", "attrs.flagged == null and data.elderly == true"))
        XCTAssertNil(try devices("match", "attrs.flagged != false"))
        XCTAssertNil(try devices("match", "not (attrs.flagged == false)"))
        XCTAssertNil(try devices("match", "attrs.flagged == true or data.elderly == true"))
        XCTAssertNil(try devices("match", "attrs.flagged == data.elderly"))
        // A clear that needs no attr, or `clear: otherwise`, can change the key's state on any device.
        XCTAssertNil(try devices("count", "attrs.flagged == true", "    within: 1h\n    at_least: 2\n    clear: \"data.elderly == false\""))
        XCTAssertNil(try devices("count", "attrs.flagged == true", "    within: 1h\n    at_least: 2\n    clear: otherwise"))
        XCTAssertEqual(try devices("count", "attrs.flagged == true", "    within: 1h\n    at_least: 2\n    clear: \"attrs.flagged == false\""), venues)
    }

    /// What is not applicable is counted once: by the engine of the devices the keyed partition does not hear.
    func testAnEngineCountsTheKeyedRulesGapsOnlyOnTheDevicesTheKeyedPartitionDoesNotHear() throws {
        let r = try registry("  - {id: venue-3, type: footfall_cam, community: czq, grid: g1}\n")
        let heard = try XCTUnwrap(try keyedRules().devicesThatCanAffect(in: r))
        let all = try RuleSet.load(directory: RuleHarness.scenarios)
        let community = RuleEngine(rules: all.filtered { $0.id != repeatVisitor }, registry: r, gapsOf: (try keyedRules(), heard))
        let keyed = RuleEngine(rules: try keyedRules(), registry: r)
        let visit = JSONObject([.init(key: "elderly", value: .bool(true)), .init(key: "person", value: .string("p-1"))])
        var out: [RuleSignal] = []
        for (i, device) in ["venue-1", "venue-3", "venue-3", "bin-1"].enumerated() {
            let e = Event(id: "v\(i)", ts: RuleHarness.t("10:00:0\(i)"), device: device, type: .venueVisit, data: visit)
            community.ingest(e, into: &out)
            if heard.contains(device) { keyed.ingest(e, into: &out) }
        }
        XCTAssertEqual(community.registryGaps, [RuleGap(rule: repeatVisitor, device: "venue-3", attrs: ["flagged"]): 2,
                                                RuleGap(rule: repeatVisitor, device: "bin-1", attrs: ["flagged"]): 1])
        XCTAssertEqual(keyed.registryGaps, [:])
        XCTAssertTrue(out.isEmpty, "the community engine evaluates nothing else of the keyed rule: \(out)")
        XCTAssertEqual(community.trackedKeys, 0)

        // One engine with every rule counts the same gaps.
        let one = RuleEngine(rules: all, registry: r)
        for (i, device) in ["venue-1", "venue-3", "venue-3", "bin-1"].enumerated() {
            one.ingest(Event(id: "v\(i)", ts: RuleHarness.t("10:00:0\(i)"), device: device, type: .venueVisit, data: visit), into: &out)
        }
        XCTAssertEqual(one.registryGaps, community.registryGaps)
    }
}
