import ArgumentParser
import Foundation
import Model
import Registry
import Live

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The live engine: subscribe to the broker, evaluate rules on the wall clock, dispatch incidents.",
        discussion: """
        The config (YAML) names the broker, registry, rules folder, store and an optional capture folder; relative \
        paths are relative to the config file. See README.md for an example. The engine prints one line when it is \
        subscribed and ready. SIGINT or SIGTERM: it stops taking messages, commits what it has taken and exits 0; \
        started again with the same config it carries on where it stopped (persistent MQTT session, rule state and \
        incidents in the store).
        """)

    @Option(help: ArgumentHelp("The live config file.", valueName: "FILE")) var config: String

    func run() async throws {
        let cfg = try failing { try LiveConfig.load(path: config) }
        let engine = try failing {
            try LiveEngine(config: cfg) { line in
                let t = RFC3339.format(SystemClock().now())
                print("\(t) \(line)")
                fflush(nil)
            }
        }
        let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { engine.stop() }
            s.resume()
            return s
        }
        defer { sources.forEach { $0.cancel() } }
        try await failingAsync { try await engine.run() }
    }
}

/// `failing` for async bodies.
func failingAsync<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let f as Failure { throw f } catch { throw Failure("\(error)") }
}
