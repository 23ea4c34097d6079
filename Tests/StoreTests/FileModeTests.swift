import XCTest
import Foundation
import TestSupport
import Model
@testable import Store

/// The store holds names, notes and raw payloads: never world-readable, whatever the umask.
final class FileModeTests: XCTestCase {
    func mode(_ path: String) throws -> Int {
        try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber).intValue & 0o777
    }

    func testStoreWalAndShmAre0640UnderUmask022() throws {
        let old = umask(0o022)
        defer { umask(old) }
        let dir = try temporaryPath("mode")
        let path = dir + "/s.db"
        let store = try Store(path: path)
        try store.writeTransaction { tx in try tx.setState("x", [1]) }
        for p in [path, path + "-wal", path + "-shm"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: p), p)
            let m = try mode(p)
            XCTAssertEqual(m, 0o640, "\(p): \(String(m, radix: 8))")
        }
        store.close()
        // An existing store keeps the mode its owner gave it.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        let again = try Store(path: path)
        XCTAssertEqual(try mode(path), 0o600)
        again.close()
    }
}
