import XCTest
import Foundation
import TestSupport
import Model
@testable import Registry

final class RegistryTests: XCTestCase {
    let good = """
    communities:
      - {id: changzhengqiao, name: 长征桥社区}
    grids:
      - {id: czq-g1, community: changzhengqiao, name: Buildings 1-6}
    workers:
      - {id: w-li, name: 李敏, grid: czq-g1, role: worker}
      - {id: s-zhao, name: 赵强, community: changzhengqiao, role: supervisor}
    devices:
      - id: czq-elev-01
        type: elevator
        community: changzhengqiao
        grid: czq-g1
        subject: czq-b3-elevator
        attrs: {}
      - {id: czq-pm-1, type: power_monitor, community: changzhengqiao, grid: czq-g1, attrs: {rated_power_w: 2000, plates: [a, b], flagged: true}}
    """

    func testAValidRegistryLoadsWithDefaults() throws {
        let r = try RegistryLoader.parse(yaml: good, file: "registry.yaml")
        XCTAssertEqual(r.communities["changzhengqiao"]?.timezone, "Asia/Shanghai")
        XCTAssertEqual(r.workers["w-li"]?.community, "changzhengqiao")
        XCTAssertEqual(r.workers["s-zhao"]?.role, .supervisor)
        XCTAssertEqual(r.device("czq-elev-01")?.subject, "czq-b3-elevator")
        XCTAssertEqual(r.device("czq-pm-1")?.subject, "czq-pm-1", "subject defaults to the device id")
        XCTAssertEqual(r.device("czq-pm-1")?.attrs["rated_power_w"], .number(2000))
        XCTAssertEqual(r.device("czq-pm-1")?.attrs["plates"], .array([.string("a"), .string("b")]))
        XCTAssertEqual(r.device("czq-pm-1")?.attrs["flagged"], .bool(true))
    }

    func error(_ yaml: String) -> String {
        do { _ = try RegistryLoader.parse(yaml: yaml, file: "registry.yaml"); return "no error" } catch { return "\(error)" }
    }

    func testErrorsNameFileLineAndId() {
        let cases: [(String, String, [String])] = [
            ("  - {id: czq-g1, community: changzhengqiao, name: Buildings 1-6}", "  - {id: czq-g1, community: nowhere, name: X}", ["registry.yaml:4", "czq-g1", "unknown community nowhere"]),
            ("  - {id: w-li, name: 李敏, grid: czq-g1, role: worker}", "  - {id: w-li, name: 李敏, grid: czq-g9, role: worker}", ["registry.yaml:6", "w-li", "unknown grid czq-g9"]),
            ("  - {id: s-zhao, name: 赵强, community: changzhengqiao, role: supervisor}", "  - {id: w-li, name: 赵强, community: changzhengqiao, role: supervisor}", ["registry.yaml:7", "duplicate worker id w-li", "line 6"]),
            ("    type: elevator", "    type: rocket", ["registry.yaml:9", "czq-elev-01", "unknown type rocket"]),
            ("    subject: czq-b3-elevator", "    colour: red", ["registry.yaml:13", "unknown key `colour`"]),
            ("  - {id: w-li, name: 李敏, grid: czq-g1, role: worker}", "  - {id: w-li, name: 李敏, role: worker}", ["w-li", "needs a grid"]),
            ("  - {id: changzhengqiao, name: 长征桥社区}", "  - {id: changzhengqiao, name: 长征桥社区, timezone: Mars/Olympus}", ["Mars/Olympus"]),
            ("communities:", "communities: [", ["registry.yaml", "bad YAML"]),
        ]
        for (old, new, expect) in cases {
            let e = error(good.replacingOccurrences(of: old, with: new))
            for x in expect { XCTAssertTrue(e.contains(x), "\(e) should contain \(x)") }
        }
        XCTAssertTrue(error(good + "\n  - {id: x, type: gate, community: changzhengqiao, grid: g-nope}").contains("unknown grid g-nope"))
        XCTAssertThrowsError(try RegistryLoader.load(path: "/nonexistent/registry.yaml")) { XCTAssertTrue("\($0)".contains("no such file")) }
    }

    func dir() throws -> String {
        let d = try temporaryPath("cfg")
        try FileManager.default.createDirectory(atPath: d + "/rules", withIntermediateDirectories: true)
        try good.write(toFile: d + "/registry.yaml", atomically: true, encoding: .utf8)
        try "s3cret\n".write(toFile: d + "/mqtt.pw", atomically: true, encoding: .utf8)
        return d
    }

    func config(_ text: String) throws -> Result<LiveConfig, Error> {
        let d = try dir()
        try text.write(toFile: d + "/cityeye.yaml", atomically: true, encoding: .utf8)
        return Result { try LiveConfig.load(path: d + "/cityeye.yaml") }
    }

    func testLiveConfigDefaultsRelativePathsAndErrors() throws {
        let c = try config("broker: {host: 127.0.0.1, port: 1883, password_file: mqtt.pw, username: cityeye}\nregistry: registry.yaml\nrules: rules\nstore: cityeye.db\ncapture_dir: capture\n").get()
        XCTAssertEqual(c.broker.clientID, "cityeye-engine")
        XCTAssertEqual(c.broker.topics, ["cityeye/#"])
        XCTAssertEqual(c.broker.qos, 1)
        XCTAssertEqual(c.broker.keepaliveS, 30)
        XCTAssertEqual(c.broker.password, "s3cret")
        XCTAssertTrue(c.registry.hasPrefix("/") && c.registry.hasSuffix("/registry.yaml"))
        XCTAssertTrue(c.captureDir!.hasSuffix("/capture"))
        XCTAssertNil(c.auditKeyFile, "default: next to the store")
        let keyed = try config("broker: {host: h, port: 1883}\nregistry: registry.yaml\nrules: rules\nstore: x.db\naudit_key_file: keys/audit.key\n").get()
        XCTAssertTrue(keyed.auditKeyFile!.hasPrefix("/") && keyed.auditKeyFile!.hasSuffix("/keys/audit.key"), keyed.auditKeyFile!)
        func fails(_ text: String, _ expect: String) throws {
            switch try config(text) {
            case .success: XCTFail("\(text) should fail")
            case .failure(let e): XCTAssertTrue("\(e)".contains(expect), "\(e) should contain \(expect)")
            }
        }
        try fails("broker: {host: h, port: 1883, colour: red}\nregistry: registry.yaml\nrules: rules\nstore: x.db\n", "unknown key `colour`")
        try fails("broker: {host: h}\nregistry: registry.yaml\nrules: rules\nstore: x.db\n", "broker.port")
        try fails("broker: {host: h, port: 1883}\nrules: rules\nstore: x.db\n", "`registry`")
        try fails("broker: {host: h, port: 1883}\nregistry: missing.yaml\nrules: rules\nstore: x.db\n", "missing.yaml")
        try fails("broker: {host: h, port: 1883, tls: {ca_file: ca.crt}}\nregistry: registry.yaml\nrules: rules\nstore: x.db\n", "ca.crt")
        try fails("broker: {host: h, port: 1883, password_file: nope}\nregistry: registry.yaml\nrules: rules\nstore: x.db\n", "nope")
    }

    func testAuditRecheckIsADurationOrZero() throws {
        let base = "broker: {host: h, port: 1883}\nregistry: registry.yaml\nrules: rules\nstore: x.db\n"
        XCTAssertEqual(try config(base).get().auditRecheck, 60_000, "default: a minute")
        XCTAssertEqual(try config(base + "audit_recheck: 30s\n").get().auditRecheck, 30_000)
        XCTAssertEqual(try config(base + "audit_recheck: 0\n").get().auditRecheck, 0)
        for bad in ["500ms", "2d", "soon", "-1m", "''"] {
            switch try config(base + "audit_recheck: \(bad)\n") {
            case .success(let c): XCTFail("\(bad) should fail, got \(c.auditRecheck)")
            case .failure(let e):
                XCTAssertTrue("\(e)".contains("audit_recheck must be a duration from 1s to 1d (e.g. 1m, 30s), or 0 for never"), "\(e)")
                XCTAssertTrue("\(e)".contains("cityeye.yaml:5"), "names the file and line: \(e)")
            }
        }
    }
}
