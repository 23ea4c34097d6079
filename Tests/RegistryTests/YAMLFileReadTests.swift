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
}
