import XCTest
import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The examples of docs/ run through the built `cityeye`, so the docs cannot drift from the program: the example
/// rule files pass `rules check`, each example log replays to exactly its expected incidents, each line of
/// `rejections.jsonl` is dead-lettered with the reason it names (by replay and by the live engine), and every
/// YAML rule file or registry shown in docs/*.md loads.
final class DocsExamplesTests: XCTestCase {
    static let docs = Repo.root.appendingPathComponent("docs")
    static let examples = docs.appendingPathComponent("examples")
    static let gateway = examples.appendingPathComponent("gateway")
    /// The fields of `incidents --json` an `.expected.jsonl` line states (the scenario packs' format).
    static let compared = ["id", "rule", "scenario", "severity", "key", "device", "subject", "community", "grid",
                           "first_seen", "last_seen", "count", "condition", "status", "assignee", "escalated", "overdue"]

    var dir = ""
    /// A folder with no rule files, for replays that only check ingest.
    var noRules: String { dir + "/no-rules" }

    override func setUpWithError() throws {
        dir = try temporaryPath("cityeye-docs")
        try FileManager.default.createDirectory(atPath: noRules, withIntermediateDirectories: true)
    }

    // MARK: the example files

    func testTheExampleRuleFilesPassRulesCheck() throws {
        let r = try run(CityEyeBinary.url.path, ["rules", "check", "--rules", Self.examples.path])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssertTrue(r.out.hasPrefix("ok: "), r.out)
    }

    func testEachExampleLogReplaysToExactlyItsExpectedIncidents() throws {
        let files = FileManager.default.enumerator(atPath: Self.examples.path)?.compactMap { $0 as? String } ?? []
        var checked = 0
        for log in files.sorted() where log.hasSuffix(".jsonl") && !log.hasSuffix(".expected.jsonl") {
            let base = Self.examples.appendingPathComponent(String(log.dropLast(".jsonl".count)))
            guard let expected = try? String(contentsOfFile: base.path + ".expected.jsonl", encoding: .utf8) else { continue }
            let folder = base.deletingLastPathComponent()
            let db = dir + "/\(checked).db"
            var args = ["replay", base.path + ".jsonl", "--rules", folder.path,
                        "--registry", folder.appendingPathComponent("registry.yaml").path, "--db", db]
            if let until = try? String(contentsOfFile: base.path + ".until", encoding: .utf8) {
                args += ["--until", until.trimmingCharacters(in: .whitespacesAndNewlines)]
            }
            let replay = try run(CityEyeBinary.url.path, args)
            XCTAssertEqual(replay.code, 0, "\(log): \(replay.err)")
            let listed = try run(CityEyeBinary.url.path, ["incidents", "--db", db, "--json"])
            XCTAssertEqual(listed.code, 0, listed.err)
            let actual = try jsonLines(listed.out), wanted = try jsonLines(expected)
            XCTAssertEqual(actual.count, wanted.count, "\(log): number of incidents\n\(listed.out)")
            for (n, (a, e)) in zip(actual, wanted).enumerated() {
                for field in Self.compared where "\(a[field] ?? "nil")" != "\(e[field] ?? "nil")" {
                    XCTFail("\(log): incident #\(n + 1) \(field): expected \(e[field] ?? "nil"), got \(a[field] ?? "nil")")
                }
            }
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 1, "docs/examples ships at least one log with its expected incidents")
    }

    func testEachRejectionLineIsDeadLetteredByReplayWithItsReason() throws {
        let lines = try rejectionLines()
        let log = dir + "/rejections.jsonl"
        try (lines.map(\.text).joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        let db = dir + "/replay.db"
        let accepted = Self.gateway.appendingPathComponent("accepted.jsonl").path
        let r = try run(CityEyeBinary.url.path, ["replay", accepted, log, "--rules", noRules, "--db", db, "--json",
                                               "--registry", Self.gateway.appendingPathComponent("registry.yaml").path])
        XCTAssertEqual(r.code, 0, r.err)
        let letters = try deadLetters(db)
        var notRejected = 0
        for line in lines {
            let found = letters.filter { line.text.hasPrefix($0.payload) }
            // docs/contract.md §7 bounds a replay's clock too; this version enforces clock_skew only live (see docs/contract.md).
            if line.reason == "clock_skew" && found.isEmpty { notRejected += 1; continue }
            XCTAssertEqual(found.map(\.reason), [line.reason], "line \(line.number) of rejections.jsonl")
        }
        let summary = try XCTUnwrap(try jsonLines(r.out).first)
        XCTAssertEqual(summary["accepted"] as? Int, 2 + notRejected, "both lines of accepted.jsonl are accepted: \(r.out)")
        XCTAssertEqual(letters.count, lines.count - notRejected, "nothing else is dead-lettered")
    }

    func testEachRejectionLineIsDeadLetteredByTheLiveEngineWithItsReason() throws {
        let lines = try rejectionLines()
        let broker = try Broker(in: dir)
        defer { broker.stop() }
        let store = dir + "/live.db"
        try """
        broker: {host: 127.0.0.1, port: \(broker.port), client_id: cityeye-docs-\(UUID().uuidString.prefix(8)), topics: ["cityeye/#"], qos: 1}
        registry: \(Self.gateway.appendingPathComponent("registry.yaml").path)
        rules: \(noRules)
        store: \(store)
        """.write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        let engine = Process()
        engine.executableURL = CityEyeBinary.url
        engine.arguments = ["run", "--config", dir + "/config.yaml"]
        let output = dir + "/engine.log"
        XCTAssertTrue(FileManager.default.createFile(atPath: output, contents: nil))
        engine.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        engine.standardError = engine.standardOutput
        try engine.run()
        defer { if engine.isRunning { engine.terminate(); engine.waitUntilExit() } }
        try waitFor("the engine's ready: line", seconds: 60) {
            ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("ready: ")
        }
        for line in lines {
            let payload = dir + "/payload-\(line.number)"
            try Data(line.text.utf8).write(to: URL(fileURLWithPath: payload))
            let topic = line.topic ?? "cityeye/changzhengqiao/czq-elev-01"
            let pub = try run("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1",
                                                          "-i", "docs-gw", "-t", topic, "-f", payload])
            XCTAssertEqual(pub.code, 0, pub.err)
        }
        try waitFor("\(lines.count) dead letters", seconds: 30) { ((try? self.deadLetters(store)) ?? []).count >= lines.count }
        kill(engine.processIdentifier, SIGTERM)
        engine.waitUntilExit()
        XCTAssertEqual(engine.terminationStatus, 0, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
        let letters = try deadLetters(store)
        for line in lines {
            let found = letters.filter { line.text.hasPrefix($0.payload) }
            XCTAssertEqual(found.map(\.reason), [line.reason], "line \(line.number) of rejections.jsonl")
            XCTAssertEqual(found.first?.topic, line.topic ?? "cityeye/changzhengqiao/czq-elev-01")
        }
    }

    /// docs/rules.md's ninth scenario: its own device and event types come from the schema file beside its rules,
    /// the store remembers them for the people's commands, and without that file its registry is refused by name.
    func testTheNinthScenarioDeclaresItsOwnTypesInItsSchemaFile() throws {
        let folder = Self.examples.appendingPathComponent("pump-room")
        let test = try run(CityEyeBinary.url.path, ["rules", "test", folder.path])
        XCTAssertEqual(test.code, 0, test.out + test.err)
        XCTAssertTrue(test.out.contains("ok    pump-night  (2 incidents)"), test.out)

        let db = dir + "/pump.db", registry = folder.appendingPathComponent("registry.yaml").path
        let replay = try run(CityEyeBinary.url.path, ["replay", folder.appendingPathComponent("pump-night.jsonl").path,
                                                    "--rules", folder.path, "--registry", registry, "--db", db, "--json"])
        XCTAssertEqual(replay.code, 0, replay.err)
        let summary = try XCTUnwrap(try jsonLines(replay.out).first)
        XCTAssertEqual(summary["accepted"] as? Int, 7)
        XCTAssertEqual((summary["rejected"] as? [String: Any])?["bad_field"] as? Int, 1, "data.level is not a field of pump.water_level: \(replay.out)")
        // A new process reads the registry back from the store: it knows flood_sensor from the recorded schema file.
        let show = try run(CityEyeBinary.url.path, ["show", "1", "--db", db])
        XCTAssertEqual(show.code, 0, show.err)
        XCTAssertTrue(show.out.contains("czq-pump-01 (flood_sensor)"), show.out)

        let without = try run(CityEyeBinary.url.path, ["replay", folder.appendingPathComponent("pump-night.jsonl").path,
                                                     "--rules", Repo.scenarios.path, "--registry", registry, "--db", dir + "/no.db"])
        XCTAssertNotEqual(without.code, 0)
        XCTAssertTrue(without.err.contains("registry.yaml:10") && without.err.contains("unknown type flood_sensor")
                      && without.err.contains("schema file"), without.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/no.db"), "no store is made from a refused registry")
    }

    // MARK: the YAML shown in docs/*.md

    func testEveryRuleFileAndRegistryShownInTheDocsLoads() throws {
        var checked = 0
        for page in try FileManager.default.contentsOfDirectory(atPath: Self.docs.path).sorted() where page.hasSuffix(".md") {
            let text = try String(contentsOf: Self.docs.appendingPathComponent(page), encoding: .utf8)
            schemaBlocks = []
            for (n, block) in Self.yamlBlocks(text).enumerated() {
                let label = "\(page), yaml block \(n + 1)"
                let top = Set(block.split(separator: "\n").compactMap { l -> String? in
                    guard let c = l.first, c.isLetter else { return nil }
                    return l.split(separator: ":").first.map(String.init)
                })
                if top.contains("broker") { continue }  // a live config: its paths and broker are the reader's own
                // A schema file: the page's later rule files and registries are read with it, as beside it in a folder.
                if top.contains("event_types") || top.contains("device_types") { schemaBlocks.append(block); checked += 1; continue }
                let firstLine = block.split(separator: "\n").first { !$0.hasPrefix("#") } ?? ""
                if top.contains("rules") || firstLine.hasPrefix("- id:") {
                    try checkRuleFile(top.contains("rules") ? block : "scenario: docs\nrules:\n" + block, label)
                    checked += 1
                } else if top.contains("devices") {
                    try checkRegistry(block, label)
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 16, "the rule files and registries shown in docs/*.md are all found")
    }

    /// The example's `.until` matters: without it the clock stops at the last line and a later timer has not fired.
    func testWithoutItsUntilTheExampleEndsBeforeTheLastHoldFires() throws {
        let folder = Self.examples.appendingPathComponent("door-held-open")
        let db = dir + "/wrong.db"
        XCTAssertEqual(try run(CityEyeBinary.url.path, ["replay", folder.appendingPathComponent("door-morning.jsonl").path,
                                                      "--rules", folder.path, "--db", db,
                                                      "--registry", folder.appendingPathComponent("registry.yaml").path]).code, 0)
        let first = try XCTUnwrap(try jsonLines(try run(CityEyeBinary.url.path, ["incidents", "--db", db, "--json"]).out).first)
        // Without --until the clock stops at 09:21: the hold started then has not fired, so the count is 1, not 2.
        XCTAssertEqual(first["count"] as? Int, 1)
        XCTAssertEqual(first["last_seen"] as? String, "2026-11-24T01:15:00.000Z")
    }

    func checkRuleFile(_ yaml: String, _ label: String) throws {
        let folder = dir + "/rules-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try yaml.write(toFile: folder + "/rules.yaml", atomically: true, encoding: .utf8)
        try writeSchemaBlocks(to: folder)
        let r = try run(CityEyeBinary.url.path, ["rules", "check", "--rules", folder])
        XCTAssertEqual(r.code, 0, "\(label): \(r.out)\(r.err)")
        XCTAssertTrue(r.out.hasPrefix("ok: "), "\(label): \(r.out)")
    }

    /// The schema files shown so far on the page being checked.
    var schemaBlocks: [String] = []

    func writeSchemaBlocks(to folder: String) throws {
        for (i, block) in schemaBlocks.enumerated() {
            try block.write(toFile: folder + "/schema-\(i).yaml", atomically: true, encoding: .utf8)
        }
    }

    /// Replays one event of the registry's first device: the registry loads and its device is usable.
    func checkRegistry(_ yaml: String, _ label: String) throws {
        let registry = dir + "/registry-\(UUID().uuidString.prefix(8)).yaml"
        try yaml.write(toFile: registry, atomically: true, encoding: .utf8)
        let devices = String(yaml[yaml.range(of: "devices:")!.upperBound...])
        func first(_ field: String) throws -> String {
            let m = try XCTUnwrap(devices.range(of: "[\\s{,]\(field): *[^,}\\s]+", options: .regularExpression), "\(label): no \(field)")
            return devices[m].split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
        }
        let (id, type, community) = (try first("id"), try first("type"), try first("community"))
        let (event, data) = try XCTUnwrap(Self.quietEvent[type], "\(label): add an event for device type \(type)")
        let log = registry + ".jsonl"
        try #"{"topic":"cityeye/\#(community)/\#(id)","id":"docs-1","ts":"2026-11-24T08:00:00+08:00","device":"\#(id)","type":"\#(event)","data":\#(data)}"#
            .write(toFile: log, atomically: true, encoding: .utf8)
        let rules = registry + ".rules"
        try FileManager.default.createDirectory(atPath: rules, withIntermediateDirectories: true)
        try writeSchemaBlocks(to: rules)
        let r = try run(CityEyeBinary.url.path, ["replay", log, "--registry", registry, "--rules", rules, "--json",
                                               "--db", registry + ".db"])
        XCTAssertEqual(r.code, 0, "\(label): \(r.err)")
        XCTAssertEqual(try jsonLines(r.out).first?["accepted"] as? Int, 1, "\(label): \(r.out)")
    }

    /// One valid event per device type of docs/contract.md §5–6.
    static let quietEvent: [String: (String, String)] = [
        "gate": ("access.door", #"{"state":"closed"}"#), "bin": ("waste.level", #"{"fill_pct":10}"#),
        "waste_cam": ("waste.dumping", "{}"), "elevator": ("elevator.heartbeat", "{}"),
        "footfall_cam": ("venue.footfall", #"{"elderly":0}"#), "power_monitor": ("power.reading", "{}"),
        "charger": ("charging.session", #"{"port":1,"state":"stop"}"#), "corridor_cam": ("ebike.corridor", #"{"present":false}"#),
        "smoke_detector": ("smoke.alarm", "{}"), "occupancy_sensor": ("venue.occupancy", #"{"count":0}"#),
        "school_cam": ("school.loitering", #"{"seconds":0}"#), "water_meter": ("water.usage", #"{"liters":1}"#),
        "door_contact": ("door.contact", #"{"open":false}"#), "pir": ("motion.detected", "{}"),
        "band": ("band.heartbeat", "{}"), "spot_sensor": ("parking.spot", #"{"occupied":false}"#),
        // docs/rules.md's ninth scenario, declared in the schema block shown before its registry
        "flood_sensor": ("pump.water_level", #"{"level_cm":0}"#),
    ]

    /// The bodies of the fenced blocks tagged ```yaml.
    static func yamlBlocks(_ markdown: String) -> [String] {
        var blocks: [String] = [], current: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.trimmingCharacters(in: .whitespaces) == "```yaml" { current = []; continue }
            if current != nil, line.trimmingCharacters(in: .whitespaces) == "```" {
                blocks.append(current!.joined(separator: "\n") + "\n")
                current = nil
                continue
            }
            current?.append(line)
        }
        return blocks
    }

    // MARK: helpers

    struct RejectionLine { var number: Int; var text: String; var reason: String; var topic: String? }

    /// rejections.jsonl: each line names the reason it must produce in `"expect"`, and `"pad_to"` makes it that many
    /// bytes long (spaces inside the object) so the file itself stays readable.
    func rejectionLines() throws -> [RejectionLine] {
        let text = try String(contentsOf: Self.gateway.appendingPathComponent("rejections.jsonl"), encoding: .utf8)
        func field(_ name: String, in line: String) -> String? {
            guard let r = line.range(of: "\"\(name)\":(\"[^\"]*\"|[0-9]+)", options: .regularExpression) else { return nil }
            return line[r].dropFirst(name.count + 3).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        let lines = text.split(separator: "\n").enumerated().map { n, raw -> RejectionLine in
            var line = String(raw)
            if let pad = field("pad_to", in: line).flatMap(Int.init), line.utf8.count < pad {
                line.insert(contentsOf: String(repeating: " ", count: pad - line.utf8.count), at: line.index(before: line.endIndex))
            }
            return RejectionLine(number: n + 1, text: line, reason: field("expect", in: line) ?? "", topic: field("topic", in: line))
        }
        let reasons = Set(lines.map(\.reason))
        XCTAssertEqual(reasons, ["bad_json", "too_large", "unknown_device", "unknown_type", "bad_field", "identity_mismatch",
                                 "clock_skew"], "one line at least for every reason code of docs/contract.md §2–3")
        return lines
    }

    struct Letter { var reason: String; var topic: String; var payload: String }

    func deadLetters(_ db: String) throws -> [Letter] {
        let r = try run(CityEyeBinary.url.path, ["dead-letters", "--db", db, "--json"])
        guard r.code == 0 else { throw SetupFailure(description: "cityeye dead-letters failed: \(r.err)") }
        return try jsonLines(r.out).map {
            Letter(reason: $0["reason"] as? String ?? "", topic: $0["topic"] as? String ?? "", payload: $0["payload"] as? String ?? "")
        }
    }

    func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").filter { $0.first == "{" }.map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func waitFor(_ what: String, seconds: Double, _ done: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !done() {
            guard Date() < deadline else { throw SetupFailure(description: "gave up waiting \(Int(seconds)) s for \(what)") }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// The test could not set up what it checks (a process that never got ready, no free port).
    struct SetupFailure: Error, CustomStringConvertible { var description: String }

    /// Runs a program from the repository root and collects its output.
    func run(_ program: String, _ args: [String]) throws -> CityEyeBinary.Result {
        try CityEyeBinary.run(program: URL(fileURLWithPath: program), args)
    }

    /// A private mosquitto on a free loopback port, configured as docs/operations.md tells an operator to.
    struct Broker {
        let port: Int
        let process = Process()

        init(in dir: String) throws {
            port = try Self.freePort()
            let conf = dir + "/mosquitto.conf"
            try """
            listener \(port) 127.0.0.1
            allow_anonymous true
            max_queued_messages 0
            max_inflight_messages 1000
            \(geteuid() == 0 ? "user root" : "")
            """.write(toFile: conf, atomically: true, encoding: .utf8)
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
            process.arguments = ["-c", conf]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        func stop() { process.terminate(); process.waitUntilExit() }

        static func freePort() throws -> Int {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
            }
            guard bound else { throw SetupFailure(description: "no free loopback port: bind failed, errno \(errno)") }
            return Int(UInt16(bigEndian: addr.sin_port))
        }
    }
}
