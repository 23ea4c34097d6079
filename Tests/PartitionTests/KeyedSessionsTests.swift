import XCTest
import Foundation
import TestSupport
import Registry
@testable import Partitions

/// The partition `keyed` hears every community: one session per broker the plan uses. The nodes of a clustered broker
/// (`host:port` with its `fallbacks`, in any order) are one broker — its client ids are the cluster's, and two keyed
/// sessions on two of its nodes would take the client id from each other for ever.
final class KeyedSessionsTests: XCTestCase {
    func plan(_ partitions: String) throws -> PartitionPlan {
        let d = try temporaryPath("keyed-sessions")
        try FileManager.default.createDirectory(atPath: d + "/rules", withIntermediateDirectories: true)
        try "communities: []\n".write(toFile: d + "/registry.yaml", atomically: true, encoding: .utf8)
        try ("broker: {host: mq-1, port: 1883, client_id: city}\nregistry: registry.yaml\nrules: rules\n"
             + "store: postgres://cityeye@127.0.0.1/city\npartitions:\n" + partitions)
            .write(toFile: d + "/cityeye.yaml", atomically: true, encoding: .utf8)
        return try XCTUnwrap(try LiveConfig.load(path: d + "/cityeye.yaml").partitions)
    }

    func testTheNodesOfOneClusterGetOneKeyedSessionAndSeparateBrokersOneEach() throws {
        let cluster = try plan("""
          - {id: p0, communities: [c1], broker: {host: mq-1, port: 1883, fallbacks: ["mq-2:1883", "mq-3:1883"]}}
          - {id: p1, communities: [c2], broker: {host: mq-2, port: 1883, fallbacks: ["mq-3:1883", "mq-1:1883"]}}
          - {id: p2, communities: [c3], broker: {host: mq-3, port: 1883, fallbacks: ["mq-1:1883", "mq-2:1883"]}}

        """)
        let one = PartitionRunner.keyedSessions(cluster, clientID: "city-keyed", registryCommunities: ["c1", "c2", "c3"])
        XCTAssertEqual(one.count, 1, "one session on the cluster")
        XCTAssertEqual(one[0].clientID, "city-keyed")
        XCTAssertEqual(one[0].topics, ["cityeye/c1/#", "cityeye/c2/#", "cityeye/c3/#"])
        XCTAssertEqual(one[0].fallbacks.count, 2, "and it can reach the cluster through another node")

        let districts = try plan("""
          - {id: east, communities: [c1], broker: {host: mq-east, port: 1883}}
          - {id: west, communities: [c2], broker: {host: mq-west, port: 1883}}
          - {id: west2, communities: [c3], broker: {host: mq-west, port: 1883}}

        """)
        let two = PartitionRunner.keyedSessions(districts, clientID: "city-keyed", registryCommunities: ["c1", "c2", "c3"])
        XCTAssertEqual(two.map(\.host), ["mq-east", "mq-west"])
        XCTAssertEqual(two.map(\.topics), [["cityeye/c1/#"], ["cityeye/c2/#", "cityeye/c3/#"]])
        XCTAssertEqual(two.map(\.unsubscribes), [[], []])

        // Narrowed to the devices whose events can affect its rules: those devices' topics, on their community's broker,
        // and the communities' filters unsubscribed (an earlier configuration's persistent session holds them).
        let narrowed = PartitionRunner.keyedSessions(districts, clientID: "city-keyed", registryCommunities: ["c1", "c2", "c3"],
                                                     devices: ["c1": ["v-1", "v-2"], "c3": ["v-3"]])
        XCTAssertEqual(narrowed.map(\.host), ["mq-east", "mq-west"])
        XCTAssertEqual(narrowed.map(\.topics), [["cityeye/c1/v-1", "cityeye/c1/v-2"], ["cityeye/c3/v-3"]])
        XCTAssertEqual(narrowed.map(\.unsubscribes), [["cityeye/c1/#"], ["cityeye/c2/#", "cityeye/c3/#"]])
    }
}
