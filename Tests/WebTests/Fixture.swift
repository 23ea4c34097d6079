import Foundation
import Model
import Store
import Registry
import Engine
import TestSupport
import XCTest

/// A store in a fresh temp folder with the elevator scenario's registry and two incidents, as a replay leaves them.
struct Fixture {
    static let t0 = Instant(ms: 1_795_478_400_000)  // 2026-11-24T08:00:00+08:00

    let folder: URL
    let path: String
    let store: Store
    let registry: Registry

    /// Made in a temporary folder of `test`; the store is closed and the folder removed when the test ends.
    init(for test: XCTestCase) throws {
        folder = try test.temporaryFolder("cityeye-web")
        path = folder.appendingPathComponent("x.db").path
        store = try Store(path: path)
        let text = try RegistryFixtures.elevatorScenario
        try Deployment.record(registryText: text, registry: try RegistryLoader.parse(yaml: text, file: "elevator.yaml"), in: store)
        registry = try Deployment.registry(in: store)!
        test.addTeardownBlock { [store] in store.close() }
        try store.writeTransaction { tx in
            try tx.upsert([Self.incident(1, device: "czq-elev-01", grid: "czq-g1", assignee: "w-li"),
                           Self.incident(2, device: "czq-elev-02", grid: "czq-g2", assignee: "w-chen")])
            try tx.append([AuditEntry(incident: 1, at: Self.t0, actor: "engine", action: .raised),
                           AuditEntry(incident: 2, at: Self.t0, actor: "engine", action: .raised)])
        }
    }

    static func incident(_ id: Int64, device: String, grid: String, assignee: String, severity: Severity = .critical) -> Incident {
        Incident(id: id, rule: "elevator.trapped", scenario: "elevator", severity: severity, key: device, device: device,
                 subject: device, community: "changzhengqiao", grid: grid, firstSeen: t0, lastSeen: t0, count: 1,
                 condition: .active, status: .dispatched, assignee: assignee, escalated: false, overdue: false,
                 ackDue: t0 + severity.ackWithin, resolveDue: t0 + severity.resolveWithin)
    }
}
