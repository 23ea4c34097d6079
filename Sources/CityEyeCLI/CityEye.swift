import ArgumentParser
import Foundation
import Model

@main
struct CityEye: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cityeye",
        abstract: "City Eye: community-safety events in, incidents dispatched to grid workers, closed loop.",
        discussion: """
        Sensor gateways publish events over MQTT; the engine evaluates the rules of eight scenarios, raises \
        incidents, dispatches each to a grid worker, escalates what nobody acknowledges, and keeps everything in \
        a SQLite store. Grid workers and supervisors work the incidents from this command line.

        Exit codes: 0 success, 1 a refused or failed operation (stderr says why), 2 bad usage.
        """,
        version: CityEyeVersion.text,
        subcommands: [
            ReplayCommand.self, Run.self, Simulate.self, Plan.self,
            Incidents.self, Show.self, Acknowledge.self, Resolve.self, Close.self, Reopen.self, Workload.self,
            DeadLetters.self, Status.self, RulesCommand.self, People.self, Serve.self, Audit.self, Capture.self,
        ])

    /// ArgumentParser exits 64 on a usage error; docs/contract.md §10 wants 2. Our own refusals exit 1.
    static func main() async {
        if let word = CommandLine.arguments.dropFirst().first, !word.hasPrefix("-"),
           let hint = suggestion(for: word) {
            Terminal.error("unknown command '\(word)': did you mean '\(hint)'? (`cityeye --help` lists them)")
            Foundation.exit(2)
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as Failure {
            Terminal.error(failure.message)
            Foundation.exit(1)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = fullMessage(for: error)
            if !message.isEmpty { Terminal.error(message) }
            Foundation.exit(code.rawValue == 64 ? 2 : code.rawValue)
        }
    }
}

extension CityEye {
    /// The command a mistyped word most likely meant (at most two edits away), or nil if the word is a command.
    static func suggestion(for word: String) -> String? {
        let names = configuration.subcommands.map { $0._commandName } + ["help"]
        if names.contains(word) { return nil }
        let scored = names.map { ($0, editDistance(Array(word.lowercased()), Array($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2 else { return nil }
        return best.0
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}

/// A refused or failed operation: printed on stderr, exit code 1.
struct Failure: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Runs `body`, turning any error into a `Failure` with its own description.
func failing<T>(_ what: String? = nil, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let f as Failure { throw f } catch {
        throw Failure(what.map { "\($0): \(error)" } ?? "\(error)")
    }
}
