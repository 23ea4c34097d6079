import Foundation
import Model
import Registry
import Rules
import Store
import AuditChain

/// Where an engine's inputs are: the registry file, the rules folder and the store (a file, or what `openStore`
/// opens). `open()` is the one start-up of the replay command, the live engine and the benchmark.
public struct EngineSetup: Sendable {
    public var registry: String
    public var rules: String
    public var store: String
    /// How long a write waits for another process's write transaction (`Store`'s busy timeout).
    public var busyTimeoutMs = 10_000
    /// What the engine keeps of rejected messages (`cityeye run`'s `dead_letters:`; the defaults in a replay).
    public var deadLetters = DeadLetterPolicy()
    /// The audit key file (created 0600 when missing); nil: `<store>.audit-key`.
    public var auditKeyFile: String?
    public var auditKeyPath: String { auditKeyFile ?? AuditKey.defaultPath(store: store) }
    /// Opens (creating when missing) the store the pipeline writes; nil: the SQLite file at `store`. The CLI sets it
    /// for a `postgres://` store (the PostgresStore target), which the engine does not link.
    public var openStore: (@Sendable (EngineSetup) throws -> any EngineStore)?
    /// The rules this engine evaluates, of those in the folder (nil: all): a partition leaves the rules keyed across
    /// communities to the partition that owns them.
    public var evaluates: (@Sendable (RuleRef) -> Bool)?
    /// Rules of the folder another engine evaluates hearing only some devices (the partition `keyed`, subscribed to
    /// the devices whose events can affect its rules), with those devices: this engine counts the rules' evaluations not
    /// applicable on every other device, whose events only it hears.
    public var countsGapsOf: (rules: @Sendable (RuleRef) -> Bool, heardThere: Set<String>)?
    /// Loads the older processed ids of the dedup window on a thread while messages are already taken (a partition
    /// taken over: `Pipeline.init`'s `loadsOlderKeysAside`).
    public var loadsOlderKeysAside = false

    public init(registry: String, rules: String, store: String) {
        self.registry = registry; self.rules = rules; self.store = store
    }

    /// Reads the registry and the rules, opens the store (creating it), records the registry in it for the people's
    /// commands, and opens a pipeline on what the store carries (open incidents, processed ids, rule state).
    /// The store is not created when the registry or the rules are wrong.
    public func open() throws(EngineError) -> Pipeline { try openSealed().pipeline }

    /// `open()`, and the audit key it sealed the store with (or why it could not: then audit rows go unsealed).
    public func openSealed() throws(EngineError) -> (pipeline: Pipeline, key: Result<AuditKey, AuditKeyError>) {
        let registryText: String
        switch FileBytes.read(registry) {
        case .success(let bytes): registryText = String(decoding: bytes, as: UTF8.self)
        case .failure(let e):
            throw EngineError(.registryUnreadable, path: registry, "cannot read registry \(registry): \(e.isMissing ? "no such file" : e.description)")
        }
        // Rules first: the schema files under the rules folder declare the device types the registry may use.
        let ruleSet: RuleSet
        var gapsOf: (rules: RuleSet, heardThere: Set<String>)?
        do {
            let all = try RuleSet.load(directory: rules)
            ruleSet = all.filtered { evaluates?($0) ?? true }
            if let c = countsGapsOf { gapsOf = (all.filtered(c.rules), c.heardThere) }
        } catch {
            throw EngineError(.rulesInvalid, path: rules, error.description)
        }
        let deployment: Registry
        do { deployment = try RegistryLoader.parse(yaml: registryText, file: registry) } catch {
            throw EngineError(.registryInvalid, path: registry, error.description)
        }
        do {
            let db: any EngineStore = try openStore?(self) ?? Store(path: store, create: true, busyTimeoutMs: busyTimeoutMs)
            do {
                let key = Result { () throws(AuditKeyError) in try AuditTrail.seal(db, keyFile: auditKeyPath, create: true) }
                try Deployment.record(registryText: registryText, registry: deployment, schema: ruleSet.schemaSources, in: db)
                return (try Pipeline(registry: deployment, rules: ruleSet, store: db, deadLetters: deadLetters,
                                      loadsOlderKeysAside: loadsOlderKeysAside, countsGapsOf: gapsOf), key)
            } catch {
                db.close()
                throw error
            }
        } catch let e as EngineError {
            throw e
        } catch let e as StoreError {
            throw EngineError(.store, path: store, "\(e)", storeFault: e)
        } catch {
            throw EngineError(.store, path: store, "\(error)")
        }
    }
}
