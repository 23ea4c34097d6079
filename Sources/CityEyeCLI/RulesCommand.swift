import ArgumentParser
import Model
import Registry
import Rules
import Engine
import Foundation

struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules", abstract: "Check and test rule files.", subcommands: [Check.self, Test.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate every rule file under a folder: reports file, rule id and what is wrong.",
            discussion: """
            Besides syntax, reports every data.X a rule reads that the event types it listens to do not carry, \
            every attrs.X its device types do not have, and comparisons that can never be true (a field or a \
            literal compared with a value of another type). Schema files under the folder (YAML with event_types: or \
            device_types: at the top, docs/rules.md) are read first: their types are checked like the shipped ones. With --registry, the registry is loaded too (its \
            typed attrs are checked, and its devices' own attrs count as known). Exit 1 when anything is reported.
            """)
        @Option(help: ArgumentHelp("Folder of rule files.", valueName: "DIR")) var rules: String = "scenarios"
        @Option(help: ArgumentHelp("A registry to check and to take device attrs from.", valueName: "FILE")) var registry: String?

        func run() throws {
            var problems = RuleSet.check(directory: rules).map(\.description)
            var loaded: Registry?
            if let registry {
                do { loaded = try RegistryLoader.load(path: registry) } catch { problems.append(error.description) }
            }
            let set = problems.isEmpty ? try failing { try RuleSet.load(directory: rules) } : nil
            if let set { problems += RuleCheck.problems(in: set, registry: loaded).map(\.description) }
            if let set, problems.isEmpty {
                let schema = set.schemaSources.isEmpty ? "" : ", types declared in \(set.schemaSources.count) schema file(s)"
                print("ok: \(set.rules.count) rules in \(set.files.count) files under \(rules)\(schema)")
                return
            }
            for p in problems { print(p) }
            throw Failure("\(problems.count) problem(s) in the rule files under \(rules)\(registry.map { " or in \($0)" } ?? "")")
        }
    }
}

extension RulesCommand {
    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run rule tests: replay each log that has an expected-incidents file and compare.",
            discussion: """
            Every LOG.jsonl under DIR with a LOG.expected.jsonl beside it is a test: the log is replayed into a \
            temporary store with the rules under --rules (default: DIR itself) and the registry.yaml of the log's \
            folder (or of the nearest folder above it that has one), and the incidents are compared field by field \
            with the expected lines (the lines `cityeye incidents --json` prints). LOG.until, if present, holds the \
            time the clock moves on to at the end (as --until); LOG.expected-summary.json, if present, the counts \
            (accepted, duplicates, rejected by reason). A failing test prints each incident that differs and how. \
            Exit 1 when any test fails or none is found.
            """)
        @Argument(help: ArgumentHelp("Folder searched for tests (recursively).", valueName: "DIR")) var dir: String
        @Option(help: ArgumentHelp("Folder of rule files (default: DIR).", valueName: "RULES")) var rules: String?

        func run() throws {
            let tests = RuleTests.find(in: dir)
            guard !tests.isEmpty else {
                throw Failure("no rule tests under \(dir): a test is a LOG.jsonl with a LOG.expected.jsonl beside it")
            }
            var failed = 0
            for t in tests {
                let r = RuleTests.run(t, rules: rules ?? dir, scratch: NSTemporaryDirectory())
                if r.passed {
                    print("ok    \(Terminal.safe(t.name))  (\(r.incidents) incidents)")
                } else {
                    failed += 1
                    print("FAIL  \(Terminal.safe(t.name))")
                    for d in r.differences { print("      \(Terminal.safe(d))") }
                }
            }
            print("rule tests: \(tests.count - failed) passed, \(failed) failed")
            if failed > 0 { throw Failure("\(failed) of \(tests.count) rule tests failed") }
        }
    }
}
