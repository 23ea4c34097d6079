import Foundation
import XCTest

extension XCTestCase {
    /// A new empty folder under the temporary directory, removed with everything in it when the test ends.
    public func temporaryFolder(_ prefix: String = "cityeye") throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder
    }

    /// `temporaryFolder(_:)` as a path, for the APIs that take strings.
    public func temporaryPath(_ prefix: String = "cityeye") throws -> String {
        try temporaryFolder(prefix).path
    }
}
