import XCTest
import Foundation
import TestSupport
import Model
@testable import Ingest

final class ValidationAndLogTests: XCTestCase {
    let registry = Registry(
        communities: [Community(id: "changzhengqiao", name: "长征桥社区"), Community(id: "wenhui", name: "文晖")],
        grids: [Grid(id: "g1", community: "changzhengqiao", name: "G1")],
        workers: [],
        devices: [Device(id: "czq-elev-01", type: "elevator", community: "changzhengqiao", grid: "g1"),
                  Device(id: "czq-bin-1", type: "bin", community: "changzhengqiao", grid: "g1")])

    /// Decoded without and with the validator's device directory (the pipeline's way): both must agree.
    func check(_ json: String, topic: String? = nil, file: StaticString = #filePath, line: UInt = #line) -> Result<Event, Rejection> {
        let validator = EventValidator(registry: registry)
        let plain = EnvelopeDecoder.decode(Array(json.utf8)).flatMap { validator.validate($0, topic: topic ?? $0.topic) }
        let direct = Array(json.utf8).withUnsafeBytes { EnvelopeDecoder.decode($0, devices: validator.devices) }
            .flatMap { validator.validate($0, topic: topic ?? $0.topic) }
        switch (plain, direct) {
        case (.success(let a), .success(let b)):
            XCTAssertEqual(a, b, file: file, line: line)
            XCTAssertEqual(a.deviceRef, b.deviceRef, file: file, line: line)
        case (.failure(let a), .failure(let b)):
            XCTAssertEqual(a.reason, b.reason, file: file, line: line)
        default:
            XCTFail("with the device catalog: \(direct), without: \(plain)", file: file, line: line)
        }
        return plain
    }

    func reason(_ json: String, topic: String? = nil) -> String {
        switch check(json, topic: topic) { case .success: return "ok"; case .failure(let r): return r.reason.rawValue }
    }

    func env(_ device: String = "czq-elev-01", _ type: String = "elevator.status", data: String) -> String {
        "{\"id\":\"1\",\"ts\":\"2026-11-24T08:15:30.120+08:00\",\"device\":\"\(device)\",\"type\":\"\(type)\",\"data\":\(data)}"
    }
    let status = "{\"floor\":5,\"moving\":false,\"door\":\"closed\",\"between_floors\":true,\"occupants\":1}"

    func testEveryReasonCode() {
        XCTAssertEqual(reason(env(data: status)), "ok")
        XCTAssertEqual(reason("{\"id\":"), "bad_json")
        XCTAssertEqual(reason(env("czq-elev-99", "elevator.status", data: status)), "unknown_device")
        XCTAssertEqual(reason(env(data: status), topic: "cityeye/changzhengqiao/czq-bin-1"), "identity_mismatch")
        XCTAssertEqual(reason(env(data: status), topic: "cityeye/wenhui/czq-elev-01"), "identity_mismatch")
        XCTAssertEqual(reason(env(data: status), topic: "czq-elev-01"), "identity_mismatch")
        XCTAssertEqual(reason(env(data: status), topic: "cityeye/changzhengqiao/czq-elev-01"), "ok")
        XCTAssertEqual(reason(env("czq-elev-01", "elevator.fly", data: "{}")), "unknown_type")
        XCTAssertEqual(reason("{\"ts\":\"2026-11-24T08:15:30Z\",\"device\":\"czq-elev-01\",\"type\":\"elevator.heartbeat\"}"), "bad_field")
        XCTAssertEqual(reason(env(data: "{}").replacingOccurrences(of: "2026-11-24T08:15:30.120+08:00", with: "2026-11-24 08:15")), "bad_field")
    }

    func testBadFieldsNameTheFieldAndWhatItMustBe() throws {
        let cases: [(String, String, String)] = [
            ("elevator.status", "{\"floor\":5,\"moving\":false,\"door\":\"closed\",\"between_floors\":true}", "data.occupants is missing"),
            ("elevator.status", "{\"floor\":5,\"moving\":\"no\",\"door\":\"closed\",\"between_floors\":true,\"occupants\":1}", "data.moving must be true or false"),
            ("elevator.status", "{\"floor\":5.5,\"moving\":false,\"door\":\"closed\",\"between_floors\":true,\"occupants\":1}", "data.floor must be a whole number"),
            ("elevator.status", "{\"moving\":false,\"door\":\"ajar\",\"between_floors\":true,\"occupants\":1}", "data.door must be one of open, closed"),
            ("waste.level", "{\"stream\":\"kitchen\",\"fill_pct\":120}", "data.fill_pct must be a number 0…100"),
        ]
        for (type, data, message) in cases {
            let device = type.hasPrefix("waste") ? "czq-bin-1" : "czq-elev-01"
            guard case .failure(let r) = check(env(device, type, data: data)) else { XCTFail(data); continue }
            XCTAssertEqual(r.reason, .badField)
            XCTAssertTrue(r.detail.contains(message), "\(r.detail) should say \(message)")
        }
    }

    func testUnicodeEscapesAndNestedDataAreCarried() throws {
        let json = "{\"id\":\"编号\\u0031\",\"ts\":\"2026-11-24T00:00:00Z\",\"device\":\"czq-bin-1\",\"type\":\"waste.dumping\",\"data\":{\"note\":\"长征桥 \\ud83d\\ude00\",\"box\":{\"a\":[1,2,{\"b\":null}]}}}"
        guard case .success(let e) = check(json) else { return XCTFail() }
        XCTAssertEqual(e.id, "编号1")
        XCTAssertEqual(e.data["note"], .string("长征桥 😀"))
        XCTAssertEqual(e.data["box"], .object(JSONObject([.init(key: "a", value: .array([.number(1), .number(2), .object(JSONObject([.init(key: "b", value: .null)]))]))])))
    }

    func tempFile(_ text: String) throws -> String {
        let p = try temporaryPath("log") + "/log.jsonl"
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func testLogReaderAcrossChunkBoundariesCRLFAndBlankLines() throws {
        let lines = (0..<50).map { "{\"n\":\($0),\"pad\":\"\(String(repeating: "x", count: $0 % 13))\"}" }
        let path = try tempFile(lines.joined(separator: "\r\n") + "\n\n   \n" + "{\"last\":true}")
        for chunk in [16, 17, 64, 4096] {
            var seen: [(Int, String)] = []
            try LogReader.forEachLine(path: path, chunkSize: chunk) { n, b in seen.append((n, String(decoding: b, as: UTF8.self))) }
            XCTAssertEqual(seen.map(\.1), lines + ["{\"last\":true}"], "chunk \(chunk)")
            XCTAssertEqual(seen.last?.0, 53, "line numbers count blank lines")
        }
        XCTAssertThrowsError(try LogReader.forEachLine(path: "/nonexistent.jsonl") { _, _ in }) {
            XCTAssertTrue("\($0)".contains("no such file"))
        }
    }

    /// Live, a payload's own `topic` field must be the topic it arrived on: its capture line keeps the field, and a
    /// replay of that line must judge it as live did.
    func testAPayloadsTopicFieldMustBeTheTopicItArrivedOn() {
        let carrying = "{\"topic\":\"cityeye/changzhengqiao/czq-elev-01\"," + env(data: status).dropFirst()
        XCTAssertEqual(reason(carrying, topic: "cityeye/changzhengqiao/czq-elev-01"), "ok")
        XCTAssertEqual(reason(carrying, topic: "site7/changzhengqiao/czq-elev-01"), "identity_mismatch")
        XCTAssertEqual(reason(carrying), "ok", "a log line: its own topic is the one checked")
    }

    func testCaptureRoundTripKeepsTopics() throws {
        let dir = try temporaryPath("cap") + "/capture"
        let w = try CaptureWriter(directory: dir, timezone: LocalClock(identifier: "Asia/Shanghai")!)
        let msgs = [env(data: status), "{\n\"id\":\"2\",\"ts\":\"2026-11-24T08:15:31Z\",\"device\":\"czq-bin-1\",\"type\":\"waste.dumping\"}"]
        for m in msgs {
            try Array(m.utf8).withUnsafeBytes { try w.append(payload: $0, topic: "cityeye/changzhengqiao/x", at: RFC3339.parse("2026-11-24T08:00:00+08:00")!) }
        }
        w.close()
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertEqual(files, ["2026-11-24.jsonl"])
        var back: [Envelope] = []
        try LogReader.forEachLine(path: dir + "/" + files[0]) { _, b in if case .success(let e) = EnvelopeDecoder.decode(b) { back.append(e) } }
        XCTAssertEqual(back.map(\.id), ["1", "2"])
        XCTAssertEqual(back.map(\.topic), ["cityeye/changzhengqiao/x", "cityeye/changzhengqiao/x"])
    }

    func testCaptureFilesAre0640AndFolders0750UnderUmask022() throws {
        let old = umask(0o022)
        defer { umask(old) }
        let root = try temporaryPath("capmode") + "/root"
        let dir = root + "/capture/2026"
        let w = try CaptureWriter(directory: dir, timezone: LocalClock(identifier: "Asia/Shanghai")!)
        try Array(env(data: status).utf8).withUnsafeBytes { try w.append(payload: $0, topic: "cityeye/c/x", at: RFC3339.parse("2026-11-24T08:00:00+08:00")!) }
        w.close()
        func mode(_ p: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: p)[.posixPermissions] as? NSNumber)?.intValue ?? -1) & 0o777 }
        XCTAssertEqual(mode(dir + "/2026-11-24.jsonl"), 0o640)
        XCTAssertEqual(mode(dir), 0o750)
        XCTAssertEqual(mode(root + "/capture"), 0o750, "created parents too")
    }

    func testProcessedIDs() {
        var p = ProcessedIDs()
        let t = Instant(ms: 1_000 * Durations.hour)
        XCTAssertTrue(p.insert(device: "a", id: "1", at: t))
        XCTAssertFalse(p.insert(device: "a", id: "1", at: t))
        XCTAssertTrue(p.insert(device: "a1", id: "", at: t), "device and id are separated")
        XCTAssertTrue(p.insert(device: "b", id: "1", at: t + Durations.hour * 30))
        let keys = p.takePending()
        XCTAssertEqual(keys.count, 3 * ProcessedIDs.keyBytes)
        XCTAssertTrue(p.takePending().isEmpty)
        p.prune(before: t + Durations.hour)
        XCTAssertTrue(p.insert(device: "a", id: "1", at: t + Durations.hour * 31), "pruned after its time")
        XCTAssertEqual(p.count, 2, "b/1 (later) and a/1 again")
        var q = ProcessedIDs()
        q.load(keys, at: t)
        XCTAssertFalse(q.insert(device: "b", id: "1", at: t))
        XCTAssertEqual(q.count, 3)
    }

    func testProcessedIDsGrowAndPruneByHour() {
        var p = ProcessedIDs()
        let t = Instant(ms: 500 * Durations.hour)
        for i in 0..<200_000 { XCTAssertTrue(p.insert(device: "d\(i % 997)", id: "\(i)", at: t + Int64(i / 100_000) * Durations.hour)) }
        XCTAssertEqual(p.count, 200_000)
        XCTAssertEqual(p.takePending().count, 200_000 * ProcessedIDs.keyBytes)
        for i in stride(from: 0, to: 200_000, by: 7) { XCTAssertFalse(p.insert(device: "d\(i % 997)", id: "\(i)", at: t)) }
        p.prune(before: t + Durations.hour)
        XCTAssertEqual(p.count, 100_000, "the first hour's keys are gone, the second hour's stay")
        XCTAssertTrue(p.insert(device: "d0", id: "0", at: t + 2 * Durations.hour))
        XCTAssertFalse(p.insert(device: "d\(150_000 % 997)", id: "150000", at: t + 2 * Durations.hour))
    }
}
