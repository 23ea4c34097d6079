import XCTest
import Foundation
import TestSupport
import Model
@testable import Registry

/// `cityeye run`'s `dead_letters:` section: every key read, defaults kept, unknown keys and values out of range refused.
final class DeadLettersConfigTests: XCTestCase {
    func load(_ section: String) throws -> LiveConfig {
        let d = try temporaryPath("cfg-dl")
        try FileManager.default.createDirectory(atPath: d + "/rules", withIntermediateDirectories: true)
        try RegistryFixtures.changzhengqiao.write(toFile: d + "/registry.yaml", atomically: true, encoding: .utf8)
        try """
            broker: {host: 127.0.0.1, port: 1883}
            registry: registry.yaml
            rules: rules
            store: cityeye.db
            \(section)
            """.write(toFile: d + "/cityeye.yaml", atomically: true, encoding: .utf8)
        return try LiveConfig.load(path: d + "/cityeye.yaml")
    }

    func error(_ section: String) throws -> String {
        do { _ = try load(section) } catch { return "\(error)" }
        XCTFail("\(section) should be refused")
        return ""
    }

    func testWithoutTheSectionThePolicyIsTheDefault() throws {
        XCTAssertEqual(try load("").deadLetters, DeadLetterPolicy())
    }

    func testEveryKeyIsRead() throws {
        let p = try load("""
            dead_letters:
              payload_max_bytes: 4096
              max_age: 12h
              max_total_mb: 64
              per_device_per_minute: 5
              overall_per_minute: 200
            """).deadLetters
        XCTAssertEqual(p.payloadCap, 4096)
        XCTAssertEqual(p.maxAge, 12 * Durations.hour)
        XCTAssertEqual(p.maxTotalBytes, 64 << 20)
        XCTAssertEqual(p.perSourcePerMinute, 5)
        XCTAssertEqual(p.overallPerMinute, 200)
        let some = try load("dead_letters: {max_age: 2d}").deadLetters
        var expected = DeadLetterPolicy()
        expected.maxAge = 2 * Durations.day
        XCTAssertEqual(some, expected, "keys not given keep their defaults")
    }

    func testAnUnknownKeyIsNamed() throws {
        let e = try error("dead_letters: {max_size_mb: 10}")
        XCTAssertTrue(e.contains("unknown key `max_size_mb`"), e)
        XCTAssertTrue(e.contains("cityeye.yaml"), e)
    }

    func testValuesOutOfRangeAreRefusedNamingTheKey() throws {
        for (section, key) in [("payload_max_bytes: 0", "dead_letters.payload_max_bytes"),
                               ("payload_max_bytes: 65537", "dead_letters.payload_max_bytes"),
                               ("max_total_mb: 0", "dead_letters.max_total_mb"),
                               ("per_device_per_minute: -1", "dead_letters.per_device_per_minute"),
                               ("overall_per_minute: 2000000", "dead_letters.overall_per_minute"),
                               ("max_age: 10s", "dead_letters.max_age"),
                               ("max_age: forever", "dead_letters.max_age"),
                               ("payload_max_bytes: lots", "dead_letters.payload_max_bytes")] {
            let e = try error("dead_letters: {\(section)}")
            XCTAssertTrue(e.contains(key), "\(section): \(e)")
        }
        XCTAssertTrue(try error("dead_letters: {payload_max_bytes: 65537}").contains("got 65537"))
    }

    /// The example in docs/operations.md is a section the engine takes, and it states the defaults.
    func testTheDocsExampleLoadsAndStatesTheDefaults() throws {
        let text = try String(contentsOf: Repo.root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: "```yaml\ndead_letters:\n"))
        let body = text[start.upperBound...]
        let block = "dead_letters:\n" + body[..<body.range(of: "```")!.lowerBound]
        XCTAssertEqual(try load(block).deadLetters, DeadLetterPolicy())
    }
}
