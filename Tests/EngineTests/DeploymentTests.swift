import XCTest
import Foundation
import TestSupport
import Model
import Registry
import Store
@testable import Engine

/// People's commands read who works where from a compact form recorded beside the registry's YAML, so that an
/// `ack` on a city's store does not parse a million devices.
final class DeploymentTests: XCTestCase {
    func testThePeopleFormHoldsCommunitiesGridsAndWorkersAsTheRegistryDoes() throws {
        let text = RegistryFixtures.twoCommunities
        let full = try RegistryLoader.parse(yaml: text, file: "two.yaml")
        let store = try Store(path: try temporaryPath("deploy") + "/x.db")
        defer { store.close() }
        try Deployment.record(registryText: text, registry: full, in: store)
        let people = try XCTUnwrap(try Deployment.people(in: store))
        XCTAssertEqual(people.communities, full.communities)
        XCTAssertEqual(people.grids, full.grids)
        XCTAssertEqual(people.workers, full.workers)
        XCTAssertFalse(full.workers.isEmpty)
        XCTAssertEqual(people.catalog.count, 0, "no devices parsed")
        for id in full.communities.keys {
            XCTAssertEqual(people.catalog.clock(ofCommunity: id)?.timeZone, full.catalog.clock(ofCommunity: id)?.timeZone)
        }
        XCTAssertEqual(try Deployment.registry(in: store, devicesIfUnder: 1 << 20)?.catalog.count, full.catalog.count)
        XCTAssertEqual(try Deployment.registry(in: store, devicesIfUnder: 10)?.catalog.count, 0)
    }

    func testAStoreRecordedBeforeThePeopleFormFallsBackToTheYAMLAndADamagedOneIsAnError() throws {
        let text = RegistryFixtures.twoCommunities
        let store = try Store(path: try temporaryPath("deploy") + "/x.db")
        defer { store.close() }
        try store.writeTransaction { try $0.setState("registry", Array(text.utf8)) }
        XCTAssertEqual(try Deployment.people(in: store)?.workers, try RegistryLoader.parse(yaml: text, file: "t").workers)
        try store.writeTransaction { try $0.setState("registry.people", Array("{\"version\":1}".utf8)) }
        XCTAssertThrowsError(try Deployment.people(in: store)) { XCTAssertTrue("\($0)".contains("unreadable"), "\($0)") }
    }
}
