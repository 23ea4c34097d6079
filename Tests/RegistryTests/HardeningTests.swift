import XCTest
import Foundation
import TestSupport
import Model
@testable import Registry
@testable import YAMLSupport

/// Registry and config input that used to be accepted quietly: YAML 1.1 scalars, alias bombs, wrong attr types,
/// ids no topic can carry, unsafe broker settings.
final class HardeningTests: XCTestCase {
    let head = """
    communities:
      - {id: c1, name: C1}
    grids:
      - {id: g1, community: c1, name: G1}
    workers:
      - {id: w1, name: W1, grid: g1, role: worker}
    devices:

    """

    func registry(_ devices: String) throws -> Registry { try RegistryLoader.parse(yaml: head + devices, file: "registry.yaml") }

    func problem(_ devices: String) -> String {
        do { _ = try registry(devices); return "no error" } catch { return "\(error)" }
    }

    func testPlainScalarsFollowTheYAML12CoreSchema() throws {
        let r = try registry("""
          - id: v1
            type: occupancy_sensor
            community: c1
            grid: g1
            attrs: {hours: 08:00-23:00, opens: 07:30, code: 0800, capacity: 40, flagged: yes, none: ~, ratio: 1.5e3, hex: 0x1F, quoted: "12", off: .inf}
        """)
        let a = try XCTUnwrap(r.device("v1")?.attrs)
        XCTAssertEqual(a["hours"], .string("08:00-23:00"))
        XCTAssertEqual(a["opens"], .string("07:30"), "not the YAML 1.1 sexagesimal 450")
        XCTAssertEqual(a["code"], .string("0800"))
        XCTAssertEqual(a["capacity"], .number(40))
        XCTAssertEqual(a["flagged"], .string("yes"), "yes is not a 1.2 boolean")
        XCTAssertEqual(a["none"], .null)
        XCTAssertEqual(a["ratio"], .number(1500))
        XCTAssertEqual(a["hex"], .number(31))
        XCTAssertEqual(a["quoted"], .string("12"))
        XCTAssertEqual(a["off"], .number(.infinity))
        for (text, expect) in [("TRUE", CoreScalar.bool(true)), ("False", .bool(false)), ("-12", .int(-12)), ("+3", .int(3)),
                               ("0o17", .int(15)), (".5", .float(0.5)), ("1.", .float(1)), ("NULL", .null), ("", .null),
                               ("on", .string("on")), ("1_000", .string("1_000")), ("12:30:00", .string("12:30:00")),
                               ("2026-11-24", .string("2026-11-24")), ("-07", .string("-07"))] {
            XCTAssertEqual(CoreScalar.resolve(plain: text), expect, text)
        }
    }

    func testAnAliasBombFailsFastNamingTheFile() throws {
        var doc = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1...9 { doc += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let started = Date()
        XCTAssertThrowsError(try YAMLValue.parse(doc, file: "bomb.yaml")) {
            XCTAssertTrue("\($0)".hasPrefix("bomb.yaml"), "\($0)")
            XCTAssertTrue("\($0)".contains("aliases"), "\($0)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "stops at the limit instead of expanding 10^10 nodes")
        // Modest alias use stays fine.
        let ok = try YAMLValue.parse("base: &b {capacity: 10}\nx: [*b, *b, *b]\n", file: "ok.yaml")
        XCTAssertEqual(try ok.entries("doc").count, 2)
    }

    func testARegistryBombInAttrsIsRefused() throws {
        var anchors = "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1...8 { anchors += "x\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        // The anchors live inside the first device's attrs; the second device expands them.
        let yaml = head + "  - {id: d0, type: gate, community: c1, grid: g1, attrs: {" + anchors.split(separator: "\n").joined(separator: ", ") + "}}\n"
            + "  - {id: d1, type: gate, community: c1, grid: g1, attrs: {x: *a8}}\n"
        XCTAssertThrowsError(try RegistryLoader.parse(yaml: yaml, file: "registry.yaml")) {
            XCTAssertTrue("\($0)".contains("registry.yaml"), "\($0)")
            XCTAssertTrue("\($0)".contains("aliases"), "\($0)")
        }
    }

    func testTypedAttrsAreCheckedWithFileLineAndDevice() {
        XCTAssertEqual(problem("  - {id: v1, type: occupancy_sensor, community: c1, grid: g1, attrs: {capacity: 40, hours: 08:00-23:00, category: bar}}\n"), "no error")
        let cases: [(String, [String])] = [
            ("{id: v1, type: occupancy_sensor, community: c1, grid: g1, attrs: {capacity: lots}}", ["registry.yaml:8", "v1", "attrs.capacity", "whole number", "lots"]),
            ("{id: v1, type: occupancy_sensor, community: c1, grid: g1, attrs: {capacity: 4.5}}", ["v1", "attrs.capacity"]),
            ("{id: v1, type: occupancy_sensor, community: c1, grid: g1, attrs: {hours: 25:00-26:00}}", ["v1", "attrs.hours", "HH:MM-HH:MM"]),
            ("{id: v1, type: occupancy_sensor, community: c1, grid: g1, attrs: {category: 3}}", ["attrs.category", "text"]),
            ("{id: f1, type: footfall_cam, community: c1, grid: g1, attrs: {flagged: yes}}", ["f1", "attrs.flagged", "true or false"]),
            ("{id: p1, type: power_monitor, community: c1, grid: g1, attrs: {rated_power_w: 2kW}}", ["p1", "attrs.rated_power_w", "a number"]),
            ("{id: s1, type: spot_sensor, community: c1, grid: g1, attrs: {plates: [浙A1, 2]}}", ["s1", "attrs.plates", "list of text"]),
            ("{id: s1, type: spot_sensor, community: c1, grid: g1, attrs: {max_minutes: soon}}", ["s1", "attrs.max_minutes"]),
        ]
        for (device, expect) in cases {
            let e = problem("  - " + device + "\n")
            for x in expect { XCTAssertTrue(e.contains(x), "\(e) should contain \(x)") }
        }
        XCTAssertEqual(problem("  - {id: s1, type: spot_sensor, community: c1, grid: g1, attrs: {plates: [浙A1], colour: red, max_minutes: 90}}\n"), "no error",
                       "unknown attrs stay allowed")
    }

    func testIdsNoTopicCanCarryAreErrors() {
        for bad in ["a/b", "a+b", "dev#1", "x\\0y"] {
            let e = problem("  - {id: \"\(bad)\", type: gate, community: c1, grid: g1}\n")
            XCTAssertTrue(e.contains("registry.yaml:8") && e.contains("MQTT topic"), "\(bad): \(e)")
        }
        let community = (try? RegistryLoader.parse(yaml: head.replacingOccurrences(of: "id: c1, name", with: "id: \"c/1\", name"), file: "registry.yaml")).map { _ in "no error" }
        XCTAssertNil(community, "a community id with / is an error")
    }

    func testEveryProblemInTheFileIsReported() {
        let e = problem("""
          - {id: d1, type: rocket, community: c1, grid: g1}
          - {id: d2, type: gate, community: c9, grid: g1}
          - {id: "d/3", type: gate, community: c1, grid: g1}
          - {id: v4, type: occupancy_sensor, community: c1, grid: g1, attrs: {capacity: x, flagged: 1, hours: "9-5"}}
          - {id: d5, type: gate, community: c1, grid: g1}

        """)
        for x in ["5 problems", "registry.yaml:8", "unknown type rocket", "registry.yaml:9", "unknown community c9",
                  "registry.yaml:10", "d/3", "registry.yaml:11", "attrs.capacity", "attrs.hours"] {
            XCTAssertTrue(e.contains(x), "\(e) should contain \(x)")
        }
        XCTAssertFalse(e.contains("d5"))
    }

    func config(_ broker: String) throws -> String {
        let d = try temporaryPath("cfg")
        try FileManager.default.createDirectory(atPath: d + "/rules", withIntermediateDirectories: true)
        try (head + "  - {id: d1, type: gate, community: c1, grid: g1}\n").write(toFile: d + "/registry.yaml", atomically: true, encoding: .utf8)
        try "broker: {host: h, port: 1883\(broker)}\nregistry: registry.yaml\nrules: rules\nstore: x.db\n"
            .write(toFile: d + "/cityeye.yaml", atomically: true, encoding: .utf8)
        do { let c = try LiveConfig.load(path: d + "/cityeye.yaml"); return "ok qos \(c.broker.qos) topics \(c.broker.topics)" } catch { return "\(error)" }
    }

    func testConfigRefusesUnsafeOrMeaninglessBrokerSettings() throws {
        XCTAssertEqual(try config(""), "ok qos 1 topics [\"cityeye/#\"]")
        XCTAssertEqual(try config(", qos: 0, allow_qos0: true"), "ok qos 0 topics [\"cityeye/#\"]")
        XCTAssertEqual(try config(", topics: [\"cityeye/+/dev-1\", \"a/#\", \"#\", \"+\"]"), "ok qos 1 topics [\"cityeye/+/dev-1\", \"a/#\", \"#\", \"+\"]")
        let cases: [(String, [String])] = [
            (", qos: 0", ["cityeye.yaml:1", "broker.qos", "allow_qos0"]),
            (", qos: 2", ["broker.qos", "must be 1"]),
            (", topics: []", ["broker.topics", "empty"]),
            (", topics: [\"cityeye/#/x\"]", ["broker.topics", "cityeye/#/x", "`#`"]),
            (", topics: [\"cityeye/a#\"]", ["`#`"]),
            (", topics: [\"cityeye/a+/b\"]", ["`+`"]),
            (", topics: [\"\"]", ["broker.topics", "empty filter"]),
            (", keepalive_s: -5", ["broker.keepalive_s", "5–65535", "-5"]),
            (", keepalive_s: 70000", ["broker.keepalive_s"]),
            (", allow_qos0: maybe", ["broker.allow_qos0"]),
        ]
        for (broker, expect) in cases {
            let e = try config(broker)
            for x in expect { XCTAssertTrue(e.contains(x), "\(broker): \(e) should contain \(x)") }
            XCTAssertTrue(e.contains("cityeye.yaml"), "\(e) names the file")
        }
    }
}
