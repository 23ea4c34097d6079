import XCTest
import Foundation
import TestSupport
import Model
import Store

/// What the live tests share: the shipped rules, envelopes, waiting for a condition.
enum LiveFixture {
    /// A folder with the shipped elevator rules, the entrapment hold shortened from 30 s to 1 s.
    static func shortHoldRules(in dir: String) throws -> String {
        let rulesDir = dir + "/rules"
        try FileManager.default.createDirectory(atPath: rulesDir, withIntermediateDirectories: true)
        let text = try String(contentsOfFile: Repo.scenarios.path + "/elevator/rules.yaml", encoding: .utf8)
        XCTAssertTrue(text.contains("30s"))
        try text.replacingOccurrences(of: "30s", with: "1s").write(toFile: rulesDir + "/rules.yaml", atomically: true, encoding: .utf8)
        return rulesDir
    }

    static func envelope(_ id: String, _ ts: Instant, _ device: String, _ type: String, _ data: String = "{}") -> [UInt8] {
        Array("{\"id\":\"\(id)\",\"ts\":\"\(ts)\",\"device\":\"\(device)\",\"type\":\"\(type)\",\"data\":\(data)}".utf8)
    }

    static func incidents(store path: String) throws -> [Incident] {
        let s = try Store(path: path, create: false)
        defer { s.close() }
        return try s.incidents()
    }
}

/// Another process (the sqlite3 CLI) holding a write transaction on a store until `release()`.
final class StoreWriteHolder {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    init(store: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [store]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data("BEGIN IMMEDIATE;\nSELECT 'held';\n".utf8))
        // Taken once sqlite3 has answered the SELECT inside the transaction.
        var seen = ""
        while !seen.contains("held") {
            let d = output.fileHandleForReading.availableData
            if d.isEmpty { throw XCTSkip("sqlite3 ended before it took the write lock") }
            seen += String(decoding: d, as: UTF8.self)
        }
    }

    func release() {
        input.fileHandleForWriting.write(Data("COMMIT;\n.quit\n".utf8))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// A small tmpfs (a disk that fills up) for disk-full tests; skipped where mounting is not permitted.
final class SmallDisk {
    let path: String
    private var filler: String { path + "/filler" }

    /// Mounted on `folder`, an empty folder.
    init(kilobytes: Int, on folder: String) throws {
        path = folder
        guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", path]) == 0 else {
            throw XCTSkip("cannot mount a tmpfs here (needs root and mount permission): disk-full test skipped")
        }
    }

    /// Fills the disk to the last byte.
    func fill() {
        guard let h = FileHandle(forWritingAtPath: filler) ?? {
            _ = FileManager.default.createFile(atPath: filler, contents: nil)
            return FileHandle(forWritingAtPath: filler)
        }() else { return }
        let chunk = Data(count: 4096)
        while (try? h.write(contentsOf: chunk)) != nil {}
        let byte = Data(count: 1)
        while (try? h.write(contentsOf: byte)) != nil {}
        try? h.close()
    }

    func free() { try? FileManager.default.removeItem(atPath: filler) }

    func unmount() { _ = Self.run("/bin/umount", [path]) }

    @discardableResult
    static func run(_ tool: String, _ args: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}
