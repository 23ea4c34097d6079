import ArgumentParser
import Foundation
import Model
import Incidents
import Store
import Engine
import Closedloop

/// Applies one person's action to one incident through the shared action path (`PeopleActions`), recording the
/// `cli` channel and the operating-system user. A refusal changes nothing and exits 1 with the desk's explanation.
func act(_ action: PeopleAction, id: Int64, worker: String, store options: AnyStoreOptions, key: AuditKeyOption) throws {
    let (store, registry) = try options.openWithRegistry()
    defer { store.close() }
    key.sealForPeople(store, keyPath: try key.path(for: options))
    let now = Instant(ms: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
    let result: Incident
    do {
        result = try PeopleActions.perform(action, on: id, by: .commandLine(worker: worker), registry: registry,
                                           store: store, at: now)
    } catch .noIncident {
        throw Failure("no incident \(id) in \(options.display): `cityeye incidents --db \(options.display)` lists them")
    } catch {
        throw Failure(Terminal.safe(error.description))  // a refusal names keys and ids that came from payloads
    }
    let name = registry.workers[worker]?.name ?? ""
    // What was done, in the words of the action (a reopen leaves the incident `dispatched`, but it was reopened).
    let done: String = switch action {
    case .acknowledge: "acknowledged"
    case .resolve: "resolved"
    case .close: "closed"
    case .reopen: "reopened (dispatched again to \(result.assignee))"
    }
    print(Terminal.safe("incident \(result.id) \(done) by \(worker) \(name) (\(result.rule), \(result.key))"))
}

struct WorkerOption: ParsableArguments {
    @Option(help: ArgumentHelp("Who acts: a worker id from the registry.", valueName: "W")) var worker: String
}

struct Acknowledge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ack", abstract: "Acknowledge an incident: I have seen it and I am on my way.",
        discussion: "Only the assignee or a supervisor of the incident's community may acknowledge, and only a dispatched incident.")
    @Argument(help: "The incident id.") var id: Int64
    @OptionGroup var who: WorkerOption
    @OptionGroup var store: AnyStoreOptions
    @OptionGroup var key: AuditKeyOption
    func run() throws { try act(.acknowledge, id: id, worker: who.worker, store: store, key: key) }
}

struct Resolve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Resolve an incident after handling it on site, with a note saying what was done.",
        discussion: "Only the assignee or a supervisor of the community; the note must not be empty.")
    @Argument(help: "The incident id.") var id: Int64
    @OptionGroup var who: WorkerOption
    @Option(help: "What was found and done.") var note: String
    @OptionGroup var store: AnyStoreOptions
    @OptionGroup var key: AuditKeyOption
    func run() throws { try act(.resolve(note: note), id: id, worker: who.worker, store: store, key: key) }
}

struct Close: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Close a resolved incident after verifying it (supervisors only).")
    @Argument(help: "The incident id.") var id: Int64
    @OptionGroup var who: WorkerOption
    @OptionGroup var store: AnyStoreOptions
    @OptionGroup var key: AuditKeyOption
    func run() throws { try act(.close, id: id, worker: who.worker, store: store, key: key) }
}

struct Reopen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reopen a resolved or closed incident (supervisors only): it goes back to its assignee.",
        discussion: "The incident returns to `dispatched` with the same assignee and new deadlines from now.")
    @Argument(help: "The incident id.") var id: Int64
    @OptionGroup var who: WorkerOption
    @Option(help: "Why it is reopened.") var note: String
    @OptionGroup var store: AnyStoreOptions
    @OptionGroup var key: AuditKeyOption
    func run() throws { try act(.reopen(note: note), id: id, worker: who.worker, store: store, key: key) }
}
