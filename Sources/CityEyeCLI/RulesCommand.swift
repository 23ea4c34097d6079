import ArgumentParser
import Rules

struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules", abstract: "Work with rule files.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate every rule file under a folder: reports file, rule id and what is wrong.")
        @Option(help: ArgumentHelp("Folder of rule files.", valueName: "DIR")) var rules: String = "scenarios"

        func run() throws {
            let problems = RuleSet.check(directory: rules)
            if problems.isEmpty {
                let set = try failing { try RuleSet.load(directory: rules) }
                print("ok: \(set.rules.count) rules in \(set.files.count) files under \(rules)")
                return
            }
            for p in problems { print(p) }
            throw Failure("\(problems.count) problem(s) in the rule files under \(rules)")
        }
    }
}
