import ArgumentParser
import Model
import Registry
import Rules

struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules", abstract: "Work with rule files.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate every rule file under a folder: reports file, rule id and what is wrong.",
            discussion: """
            Besides syntax, reports every data.X a rule reads that the event types it listens to do not carry, \
            every attrs.X its device types do not have, and comparisons that can never be true (a field or a \
            literal compared with a value of another type). With --registry, the registry is loaded too (its \
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
                print("ok: \(set.rules.count) rules in \(set.files.count) files under \(rules)")
                return
            }
            for p in problems { print(p) }
            throw Failure("\(problems.count) problem(s) in the rule files under \(rules)\(registry.map { " or in \($0)" } ?? "")")
        }
    }
}
