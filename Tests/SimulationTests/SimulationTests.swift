import XCTest
import Model
import Ingest
import Registry
@testable import Simulation

final class SimulationTests: XCTestCase {
    func testSameSeedSameTrafficAndEveryMessageIsValid() throws {
        let plan = DeploymentPlan.make(seed: 7, devices: 300)
        let registry = try RegistryLoader.parse(yaml: plan.yaml, file: "generated.yaml")
        XCTAssertEqual(registry.catalog.count, 300)
        XCTAssertEqual(registry.catalog.devices.map(\.id), plan.registry.catalog.devices.map(\.id))
        let start = RFC3339.parse("2026-11-24T00:00:00+08:00")!
        var a = TrafficGenerator(registry: registry, seed: 1, start: start, eventsPerSecond: 20, episodeRate: 0.05)
        var b = TrafficGenerator(registry: registry, seed: 1, start: start, eventsPerSecond: 20, episodeRate: 0.05)
        let validator = EventValidator(registry: registry)
        var types = Set<EventType>()
        var last = start
        var ids = Set<String>()
        for _ in 0..<200_000 {
            let m = a.next()
            XCTAssertEqual(m.payload, b.next().payload)
            XCTAssertGreaterThanOrEqual(m.ts, last)
            last = m.ts
            switch EnvelopeDecoder.decode(Array(m.payload.utf8)).flatMap({ validator.validate($0, topic: m.topic) }) {
            case .success(let e):
                types.insert(e.type)
                XCTAssertTrue(ids.insert(e.device + "/" + e.id).inserted)
            case .failure(let r):
                return XCTFail("\(r): \(m.payload)")
            }
        }
        XCTAssertEqual(types, Set(EventType.shipped), "missing: \(Set(EventType.shipped).subtracting(types))")
    }
}
