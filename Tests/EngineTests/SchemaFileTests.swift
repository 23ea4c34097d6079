import XCTest
import Foundation
import TestSupport
@testable import Model
import Ingest
import Store
import YAMLSupport
@testable import Registry
@testable import Rules
@testable import Engine

/// Schema files (docs/contract.md §5–6): the shipped schema in `scenarios/schema.yaml`, and a deployment's own device and event
/// types declared beside its rules, then used by the registry, the validator, the rule check and the engine.
/// Types live for the whole test process, so each test declares names of its own.
final class SchemaFileTests: XCTestCase {
    func folder(_ files: [String: String]) throws -> String {
        let d = try temporaryPath("schema")
        for (name, text) in files { try text.write(toFile: d + "/" + name, atomically: true, encoding: .utf8) }
        return d
    }

    func testTheShippedSchemaFileIsExactlyTheSchemaTheEngineKnows() throws {
        let path = Repo.scenarios.appendingPathComponent("schema.yaml").path
        var problems: [YAMLFileError] = []
        let d = SchemaFile.declarations(try YAMLValue.load(path: path, what: "schema"), problems: &problems)
        XCTAssertEqual(problems.map(\.description), [])
        XCTAssertEqual(d.events.map(\.spec), EventSchema.shipped)
        XCTAssertEqual(d.devices.map(\.spec), DeviceSchema.shipped)
        XCTAssertEqual(Schema.declare(d), [], "declaring the shipped schema again changes nothing")
        let set = try RuleSet.load(directory: Repo.scenarios.path)
        XCTAssertEqual(set.schemaSources.map { ($0.path as NSString).lastPathComponent }, ["schema.yaml"])
    }

    /// Found by the fuzzer (LeakSanitizer): the tables a declaration replaced were left unreachable. Readers may still
    /// hold them without a reference count, so they are kept, and kept reachable.
    func testTablesReplacedByADeclarationAreKeptForReadersThatStillHoldThem() throws {
        let before = Schema.current
        let kept = Schema.keptVersions
        let dir = try folder(["schema.yaml": "device_types:\n  kept_gauge_\(UInt32.random(in: 0...UInt32.max)):\n    alarm_cm: number\n"])
        XCTAssertEqual(RuleSet.check(directory: dir).map(\.description), [])
        XCTAssertFalse(Schema.current === before, "the declaration made new tables")
        XCTAssertEqual(Schema.keptVersions, kept + 1, "the replaced tables are kept")
    }

    func testADeploymentsOwnTypesAreDeclaredAndUsedEverywhere() throws {
        let schema = """
        event_types:
          tank.level:
            level_cm: {type: number, min: 0}
            valve: {type: one_of, values: [open, shut], required: false}
        device_types:
          tank_gauge:
            alarm_cm: number
        """
        let rules = """
        scenario: tanks
        rules:
          - id: tanks.high
            severity: major
            kind: match
            on: tank.level
            when: "data.level_cm >= attrs.alarm_cm"
          - id: tanks.typo
            severity: minor
            kind: match
            on: tank.level
            when: "data.levle_cm > 3"
        """
        let dir = try folder(["schema.yaml": schema, "rules.yaml": rules])
        XCTAssertNil(EventType.named("tank.level"), "not known before its schema file is read")
        let set = try RuleSet.load(directory: dir)
        let type = try XCTUnwrap(EventType.named("tank.level"))
        XCTAssertEqual(EventSchema.fields(of: type).map(\.name), ["level_cm", "valve"])
        XCTAssertEqual(set.schemaSources.count, 1)

        // rules check reads the declared fields like the shipped ones
        let problems = RuleCheck.problems(in: set).map(\.description)
        XCTAssertEqual(problems.count, 1, "\(problems)")
        XCTAssertTrue(problems[0].contains("rule tanks.typo") && problems[0].contains("data.levle_cm")
                      && problems[0].contains("level_cm, valve"), problems[0])

        // the registry takes devices of the declared type and checks its typed attrs with file:line
        let registry = RegistryFixtures.changzhengqiao.replacingOccurrences(
            of: "devices:\n", with: "devices:\n  - {id: czq-tank-01, type: tank_gauge, community: changzhengqiao, grid: czq-g1, attrs: {alarm_cm: 80}}\n")
        let reg = try RegistryLoader.parse(yaml: registry, file: "registry.yaml")
        XCTAssertEqual(reg.catalog.device("czq-tank-01")?.type, "tank_gauge")
        let wrong = registry.replacingOccurrences(of: "alarm_cm: 80", with: "alarm_cm: high")
        XCTAssertThrowsError(try RegistryLoader.parse(yaml: wrong, file: "registry.yaml")) { e in
            XCTAssertTrue("\(e)".contains("registry.yaml:") && "\(e)".contains("attrs.alarm_cm of a tank_gauge must be a number"), "\(e)")
        }

        // events of the type are validated against its fields
        let validator = EventValidator(registry: reg)
        func validate(_ data: String, type: String = "tank.level") -> Result<Event, Rejection> {
            let line = #"{"id":"t-\#(UUID().uuidString)","ts":"2026-11-24T08:00:00+08:00","device":"czq-tank-01","type":"\#(type)","data":\#(data)}"#
            return EnvelopeDecoder.decode(Array(line.utf8)).flatMap { validator.validate($0, topic: "cityeye/changzhengqiao/czq-tank-01") }
        }
        XCTAssertEqual(try validate(#"{"level_cm":85.5,"valve":"open"}"#).get().type, type)
        XCTAssertEqual(validate(#"{"valve":"open"}"#).failure?.reason, .badField)
        XCTAssertEqual(validate(#"{"level_cm":-1}"#).failure?.reason, .badField)
        XCTAssertEqual(validate(#"{"level_cm":5,"valve":"ajar"}"#).failure?.reason, .badField)
        XCTAssertEqual(validate("{}", type: "tank.levels").failure?.reason, .unknownType)

        // and the engine raises on them
        let engine = RuleEngine(rules: set, registry: reg)
        var out: [RuleSignal] = []
        engine.ingest(try validate(#"{"level_cm":85}"#).get(), into: &out)
        XCTAssertEqual(out.compactMap { s -> String? in
            if case .occurrence(let rule, _, _, _) = s { return rule.id } else { return nil }
        }, ["tanks.high"])
    }

    func testAShippedTypeCannotBeChangedAndAFileCountsWholeOrNotAtAll() throws {
        let dir = try folder(["mine.yaml": """
            event_types:
              gutter.level:
                cm: number
              access.door:
                state: string
            """])
        XCTAssertThrowsError(try RuleSet.load(directory: dir)) { e in
            XCTAssertTrue("\(e)".contains("mine.yaml:4") && "\(e)".contains("event type access.door is already declared with other fields"), "\(e)")
        }
        XCTAssertNil(EventType.named("gutter.level"), "nothing of a file with a conflict is declared")
        XCTAssertEqual(EventSchema.fields(of: .accessDoor), EventSchema.shipped[1].fields)
    }

    func testEveryProblemInASchemaFileIsReportedWithItsLine() throws {
        let dir = try folder(["bad.yaml": """
            event_types:
              Bad.Name: {}
              nodot: {}
              ok.type:
                a: integer
                b: {type: one_of}
                c: {type: int, min: 10, max: 1}
                d: {type: bool, min: 1}
                9x: int
            device_types:
              my-sensor: {}
              good_sensor:
                level: {type: float}
            """])
        let problems = RuleSet.check(directory: dir).map(\.description)
        let lines = ["bad.yaml:2", "bad.yaml:3", "bad.yaml:5", "bad.yaml:11", "bad.yaml:13"]
        for l in lines { XCTAssertTrue(problems.contains { $0.hasPrefix(dir + "/" + l + ":") }, "\(l) in \(problems)") }
        XCTAssertEqual(problems.count, lines.count, "one problem per bad type (the first of each type's fields): \(problems)")
        XCTAssertNil(EventType.named("ok.type"))
        let top = try folder(["top.yaml": "event_types: {}\nevents: {}\n"])
        XCTAssertTrue(RuleSet.check(directory: top).first?.description.contains("unknown key `events`") ?? false)
    }

    func testTheStoreRemembersTheSchemaItsRegistryWasReadWith() throws {
        let dir = try folder(["schema.yaml": "device_types:\n  kiln_sensor:\n    max_c: number\n"])
        let registry = dir + "/registry.yaml"
        try RegistryFixtures.changzhengqiao.replacingOccurrences(
            of: "devices:\n", with: "devices:\n  - {id: czq-kiln-01, type: kiln_sensor, community: changzhengqiao, grid: czq-g1}\n")
            .write(toFile: registry, atomically: true, encoding: .utf8)
        let store = dir + "/city.db"
        var setup = EngineSetup(registry: registry, rules: dir, store: store)
        setup.auditKeyFile = dir + "/audit-key"
        let pipeline = try setup.open()
        let recorded = try XCTUnwrap(try Store(path: store, create: false).state(Deployment.schemaStateName))
        let items = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(recorded)) as? [[String: String]])
        XCTAssertEqual(items.map { $0["path"] ?? "" }, [dir + "/schema.yaml"])
        XCTAssertTrue(items[0]["text"]?.contains("kiln_sensor") ?? false)
        XCTAssertEqual(try Deployment.registry(in: pipeline.store)?.catalog.device("czq-kiln-01")?.type, "kiln_sensor")
    }
}

private extension Result {
    var failure: Failure? { if case .failure(let f) = self { return f } else { return nil } }
}
