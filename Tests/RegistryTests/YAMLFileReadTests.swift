import XCTest
import Foundation
import TestSupport
@testable import Registry

/// Findings of the config and rule-file fuzzers, kept as regression tests.
final class YAMLFileReadTests: XCTestCase {
    func file(_ bytes: [UInt8]) throws -> String {
        let p = try temporaryPath("cityeye-yaml") + "/file.yaml"
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// An empty file (Foundation's reader leaked its buffer on one): a clear error naming what is missing.
    func testAnEmptyConfigIsAnErrorNamingTheMissingKey() throws {
        let p = try file([])
        XCTAssertThrowsError(try LiveConfig.load(path: p)) { e in
            XCTAssertTrue("\(e)".contains(p), "\(e)")
            XCTAssertTrue("\(e)".contains("broker"), "\(e)")
        }
    }

    func testAFileThatIsNotUTF8IsRefusedAsSuch() throws {
        let p = try file([0x62, 0x72, 0xFF, 0xFE, 0x3A])
        XCTAssertThrowsError(try RegistryLoader.load(path: p)) { e in
            XCTAssertTrue("\(e)".contains("not UTF-8"), "\(e)")
        }
        XCTAssertThrowsError(try RegistryLoader.load(path: p + ".missing")) { e in
            XCTAssertTrue("\(e)".contains("no such file"), "\(e)")
        }
    }

    /// Found by the rule-file fuzzer: 3,761 nested `[` overflowed the YAML reader's stack. Nesting is bounded before
    /// reading (flow levels and indentation), with the file and line; what real files hold still loads.
    func testNestingTooDeepForTheReaderIsAnErrorNotACrash() throws {
        let flow = try file(Array(("clear: " + String(repeating: "[", count: 4_000) + "\n").utf8))
        XCTAssertThrowsError(try RegistryLoader.load(path: flow)) { e in
            XCTAssertTrue("\(e)".contains(flow + ":1") && "\(e)".contains("levels of [ or { nested"), "\(e)")
        }
        var block = ""
        for level in 0..<600 { block += String(repeating: " ", count: level) + "a\(level):\n" }
        let deep = try file(Array(block.utf8))
        XCTAssertThrowsError(try RegistryLoader.load(path: deep)) { e in
            XCTAssertTrue("\(e)".contains("indented more than 512 columns"), "\(e)")
        }
        // Within the bounds: read (and refused only for what it is not).
        let fine = try file(Array(("x: " + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "\n").utf8))
        XCTAssertThrowsError(try RegistryLoader.load(path: fine)) { e in
            XCTAssertFalse("\(e)".contains("nested") || "\(e)".contains("bad YAML"), "\(e)")
        }
    }
}
