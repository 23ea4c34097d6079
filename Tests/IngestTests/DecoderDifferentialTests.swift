import XCTest
import Foundation
import TestSupport
import Model
@testable import Ingest

/// The byte-level decoder against the Foundation reference: same verdict, same values, no crash.
final class DecoderDifferentialTests: XCTestCase {
    struct Rng { var s: UInt64; mutating func next() -> UInt64 { s &+= 0x9E3779B97F4A7C15; var z = s; z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) &* 0x94D049BB133111EB; return z ^ (z >> 31) }
        mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) } }

    func verdict(_ r: Result<Envelope, Rejection>) -> String {
        switch r { case .success: return "ok"; case .failure(let e): return e.reason.rawValue }
    }

    func compare(_ bytes: [UInt8], _ label: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let a = EnvelopeDecoder.decode(bytes), b = ReferenceDecoder.decode(bytes)
        guard verdict(a) == verdict(b) else {
            XCTFail("\(label()): engine \(verdict(a)) vs reference \(verdict(b)) for \(String(decoding: bytes.prefix(300), as: UTF8.self))", file: file, line: line)
            return false
        }
        // The pipeline's way, with the device catalog: the same envelope, and the device's position when registered.
        let c = bytes.withUnsafeBytes { EnvelopeDecoder.decode($0, devices: Self.devices) }
        guard verdict(c) == verdict(a) else {
            XCTFail("\(label()): with a device directory \(verdict(c)), without \(verdict(a))", file: file, line: line)
            return false
        }
        if case .success(let x) = a, case .success(let z) = c {
            XCTAssertEqual(x, z, label(), file: file, line: line)
            XCTAssertEqual(z.deviceRef, Self.devices.ref(of: z.device), label(), file: file, line: line)
        }
        if case .success(let x) = a, case .success(let y) = b {
            guard x.id == y.id, x.ts == y.ts, x.device == y.device, x.type == y.type, x.topic == y.topic,
                  sameValue(.object(x.data), .object(y.data)) else {
                XCTFail("\(label()): values differ: \(x) vs \(y)", file: file, line: line)
                return false
            }
        }
        return true
    }

    /// Registers `czq-elev-01` (the random envelopes' device) and `d`, among others.
    static let devices = Registry(
        communities: [Community(id: "changzhengqiao", name: "长征桥社区")],
        grids: [Grid(id: "g1", community: "changzhengqiao", name: "G1")], workers: [],
        devices: ["czq-elev-01", "d", "czq-elev-02", "a-device-id-longer-than-sixteen-bytes", "长征桥-1"].map {
            Device(id: $0, type: "elevator", community: "changzhengqiao", grid: "g1")
        }).catalog

    static let scenarios = Repo.scenarios

    func testEveryScenarioLogLineDecodesLikeTheReference() throws {
        var n = 0
        let e = FileManager.default.enumerator(atPath: Self.scenarios.path)!
        while let f = e.nextObject() as? String {
            guard f.hasSuffix(".jsonl"), !f.hasSuffix(".expected.jsonl") else { continue }
            for line in try String(contentsOf: Self.scenarios.appendingPathComponent(f), encoding: .utf8).split(separator: "\n") {
                _ = compare(Array(line.utf8), f)
                n += 1
            }
        }
        XCTAssertGreaterThan(n, 100)
    }

    func randomValue(_ r: inout Rng, depth: Int) -> String {
        switch r.int(depth > 3 ? 5 : 7) {
        case 0: return String(r.int(100000) - 50000)
        case 1: return String(Double(r.int(1_000_000)) / 1000)
        case 2: return ["true", "false", "null"][r.int(3)]
        case 3: return "\"" + ["a", "长征桥", "x\\\"y", "\\u00e9", "\\ud83d\\ude00", "tab\\t", "", "p-8812"][r.int(8)] + "\""
        case 4: return ["1e5", "-0.5e-3", "0", "-0", "12345678901234567890", "3.14159"][r.int(6)]
        case 5: return "[" + (0..<r.int(4)).map { _ in randomValue(&r, depth: depth + 1) }.joined(separator: ",") + "]"
        default: return "{" + (0..<r.int(4)).map { i in "\"k\(i)\":" + randomValue(&r, depth: depth + 1) }.joined(separator: ",") + "}"
        }
    }

    func validEnvelope(_ r: inout Rng) -> String {
        let data = (0..<r.int(5)).map { i in "\"f\(i)\":" + randomValue(&r, depth: 1) }.joined(separator: ",")
        let ts = ["2026-11-24T08:15:30.120+08:00", "2026-11-24T00:00:00Z", "2026-02-29T08:00:00+08:00", "2026-11-24 08:00", "yesterday"][r.int(5)]
        let id = ["gw07-000123", "", String(repeating: "x", count: 129), "编号-1", "a"][r.int(5)]
        // Registered, registered but escaped, unregistered, a prefix of a registered one, long, not ASCII.
        let device = ["czq-elev-01", "czq-elev\\u002d01", "czq-elev-09", "czq-elev-0", "a-device-id-longer-than-sixteen-bytes",
                      "长征桥-1", "d"][r.int(7)]
        let type = ["elevator.status", "smoke.alarm", "no.such", "elevator.statu"][r.int(4)]
        var fields = ["\"id\":\"\(id)\"", "\"ts\":\"\(ts)\"", "\"device\":\"\(device)\"", "\"type\":\"\(type)\"", "\"data\":{\(data)}"]
        let topics = ["cityeye/changzhengqiao/czq-elev-01", "cityeye/changzhengqiao/\(device)", "cityeye/wenhui/\(device)",
                      "x/cityeye/changzhengqiao/\(device)", "cityeye\\/changzhengqiao/\(device)", "cityeye/changzhengqiao/"]
        if r.int(2) == 0 { fields.insert("\"topic\":\"\(topics[r.int(topics.count)])\"", at: 0) }
        // Half keep the layout gateways write (topic, id, ts, device, type, data), which the decoder reads by a
        // faster path: every mutation of it must still agree with the reference.
        let usualLayout = r.int(2) == 0
        if r.int(8) == 0 { fields.remove(at: r.int(fields.count)) }
        if r.int(10) == 0 { fields.append("\"id\":7") }
        return "{" + (usualLayout ? fields : fields.shuffledDeterministic(&r)).joined(separator: ",") + "}"
    }

    func testRandomAndMutatedPayloadsAgreeWithTheReference() {
        var r = Rng(s: 20261124)
        var failures = 0
        let specials: [[UInt8]] = [
            Array("{\"id\":\"1\",\"ts\":\"2026-11-24T08:00:00Z\",\"device\":\"d\",\"type\":\"t\",\"data\":{\"x\":1e400}}".utf8),
            Array("{\"id\":\"1\",\"ts\":\"2026-11-24T08:00:00Z\",\"device\":\"d\",\"type\":\"t\",\"data\":{\"x\":\"\\ud800\"}}".utf8),
            Array("{\"id\":\"1\",\"ts\":\"2026-11-24T08:00:00Z\",\"device\":\"d\",\"type\":\"t\",\"data\":{\"x\":\"\\q\"}}".utf8),
            Array("{\"id\":\"1\",\"ts\":\"2026-11-24T08:00:00Z\",\"device\":\"d\",\"type\":\"t\",\"data\":{\"x\":01}}".utf8),
            Array("{\"id\":\"1\",\"ts\":\"2026-11-24T08:00:00Z\",\"device\":\"d\",\"type\":\"t\",\"data\":{\"x\":".utf8) + Array(repeating: 0x5B, count: 70) + Array(repeating: 0x5D, count: 70) + Array("}}".utf8),
            [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D],
            Array("[1,2]".utf8), Array("".utf8), Array("{}".utf8), Array("{} x".utf8),
        ]
        for (i, s) in specials.enumerated() where !compare(s, "special \(i)") { failures += 1 }
        for i in 0..<100_000 {
            var b = Array(validEnvelope(&r).utf8)
            switch r.int(8) {
            case 0: b = Array(b.prefix(r.int(b.count + 1)))                     // truncation
            case 1: if !b.isEmpty { b[r.int(b.count)] = UInt8(r.int(256)) }      // byte flip, maybe invalid UTF-8
            case 2: b.insert(contentsOf: [0x5C, UInt8(r.int(128))], at: r.int(b.count))  // stray escape
            case 3: b = (0..<r.int(40)).map { _ in UInt8(r.int(256)) }           // random bytes
            default: break                                                        // valid or field-level problems
            }
            if !compare(b, "case \(i)") { failures += 1; if failures > 20 { return } }
        }
    }

    /// The string scanner skips eight bytes at a time: a special byte at every offset of a long string must still be seen.
    func testSpecialBytesAtEveryOffsetOfAString() {
        let specials: [[UInt8]] = [[0x22], [0x5C, 0x22], [0x5C, 0x6E], [0x5C, 0x75, 0x30, 0x30, 0x34, 0x31], [0x01], [0x1F],
                                   [0xC3, 0xA9], [0xC3], [0xFF], [0xE2, 0x82, 0xAC], [0x7F], [0x20]]
        for length in 0..<40 {
            for at in 0...length {
                for sp in specials {
                    var text = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    text.insert(contentsOf: sp, at: at)
                    let payload = Array(#"{"id":"1","ts":"2026-11-24T08:00:00+08:00","device":"d","type":"smoke.alarm","data":{"note":""#.utf8)
                        + text + Array(#""}}"#.utf8)
                    guard compare(payload, "special \(sp) at \(at) of \(length)") else { return }
                }
            }
        }
    }

    /// Envelope keys are matched by their bytes; escaped or look-alike keys must decode like the reference.
    func testEnvelopeKeysWrittenWithEscapesOrLookAlikes() {
        let base = #""ts":"2026-11-24T08:00:00+08:00","device":"d","type":"smoke.alarm","data":{}"#
        for key in [#""\u0069d""#, #""i\u0064""#, #""id ""#, #""Id""#, #""idx""#, #""\u0074ype""#, #""dévice""#, #""data""#] {
            XCTAssertTrue(compare(Array("{\(key):\"7\",\(base)}".utf8), key))
            XCTAssertTrue(compare(Array("{\(base),\(key):\"7\"}".utf8), key))
        }
    }

    func testTooLargeIsRejectedWithoutParsing() {
        let big = Array("{\"id\":\"1\",\"pad\":\"".utf8) + Array(repeating: 0x61, count: 256 * 1024) + Array("\"}".utf8)
        if case .failure(let r) = EnvelopeDecoder.decode(big) { XCTAssertEqual(r.reason, .tooLarge) } else { XCTFail() }
    }
}

extension Array {
    func shuffledDeterministic(_ r: inout DecoderDifferentialTests.Rng) -> [Element] {
        var a = self
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, r.int(i + 1)) }
        return a
    }
}
