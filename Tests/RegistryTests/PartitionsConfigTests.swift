import XCTest
import Foundation
import TestSupport
import Model
@testable import Registry

/// `partitions:` in the live config (docs/scale.md): listed partitions or `{hash: N}`, their client ids and filters,
/// the refusals that name the community and the line, and the pure checks the engine will run at start.
final class PartitionsConfigTests: XCTestCase {
    let head = "broker: {host: 127.0.0.1, port: 1883, client_id: city}\nregistry: registry.yaml\nrules: rules\nstore: cityeye.db\n"

    func load(_ text: String) throws -> Result<LiveConfig, Error> {
        let d = try temporaryPath("partitions")
        try FileManager.default.createDirectory(atPath: d + "/rules", withIntermediateDirectories: true)
        try "communities: []\n".write(toFile: d + "/registry.yaml", atomically: true, encoding: .utf8)
        try "other\n".write(toFile: d + "/east.pw", atomically: true, encoding: .utf8)
        try text.write(toFile: d + "/cityeye.yaml", atomically: true, encoding: .utf8)
        return Result { try LiveConfig.load(path: d + "/cityeye.yaml") }
    }

    func refusal(_ text: String) throws -> String {
        switch try load(text) {
        case .success: return "no error"
        case .failure(let e): return "\(e)"
        }
    }

    func testWithoutPartitionsTheConfigMeansWhatItMeantBefore() throws {
        let c = try load(head).get()
        XCTAssertNil(c.partitions)
        XCTAssertEqual(c.broker.clientID, "city")
        XCTAssertEqual(c.broker.topics, ["cityeye/#"])
    }

    func testListedPartitionsGetTheirClientIDFiltersAndBroker() throws {
        let c = try load(head + """
        partitions:
          - {id: 1, communities: [changzhengqiao, wenhui]}
          - id: east
            communities: [xintiandi]
            broker: {host: 10.0.0.2, port: 1884, password_file: east.pw, client_id: east-engine}

        """).get()
        let plan = try XCTUnwrap(c.partitions)
        XCTAssertEqual(plan.kind, .listed)
        XCTAssertEqual(plan.partitions.map(\.id), ["1", "east"])
        let p1 = plan.partitions[0], east = plan.partitions[1]
        XCTAssertEqual(p1.broker.clientID, "city-p1")
        XCTAssertEqual(p1.broker.topics, ["cityeye/changzhengqiao/#", "cityeye/wenhui/#"])
        XCTAssertEqual(p1.broker.host, "127.0.0.1")
        XCTAssertEqual(p1.broker.port, 1883)
        XCTAssertEqual(east.broker.clientID, "east-engine-peast", "a partition's own client_id is the prefix")
        XCTAssertEqual(east.broker.host, "10.0.0.2")
        XCTAssertEqual(east.broker.port, 1884)
        XCTAssertEqual(east.broker.password, "other")
        XCTAssertEqual(east.broker.qos, 1, "keys the partition does not give come from the top broker")
        XCTAssertEqual(east.broker.topics, ["cityeye/xintiandi/#"])
        XCTAssertEqual(plan.owner(of: "wenhui"), "1")
        XCTAssertEqual(plan.owner(of: "xintiandi"), "east")
        XCTAssertNil(plan.owner(of: "nowhere"))
        XCTAssertEqual(plan.unowned(["wenhui", "zhongshan", "changzhengqiao", "anting", "xintiandi"]), ["anting", "zhongshan"])
        XCTAssertEqual(plan.unowned(["wenhui"]), [])
        XCTAssertEqual(plan.topics(of: "east", registryCommunities: ["anything"]), ["cityeye/xintiandi/#"])
    }

    func testHashModeSplitsTheRegistrysCommunitiesByFNV1a() throws {
        let plan = try XCTUnwrap(try load(head + "partitions: {hash: 4}\n").get().partitions)
        XCTAssertEqual(plan.kind, .hashed(count: 4))
        XCTAssertEqual(plan.partitions.map(\.id), ["0", "1", "2", "3"])
        XCTAssertEqual(plan.partitions.map(\.broker.clientID), ["city-p0", "city-p1", "city-p2", "city-p3"])
        let registry = (0..<200).map { "community-\($0)" }
        XCTAssertEqual(plan.unowned(registry), [], "in hash mode every community has an owner")
        var seen: [String] = []
        for p in plan.partitions {
            let mine = plan.communities(of: p.id, in: registry)
            XCTAssertGreaterThan(mine.count, 25, "200 communities over 4 partitions: \(mine.count) in \(p.id)")
            for c in mine { XCTAssertEqual(plan.owner(of: c), p.id) }
            XCTAssertEqual(plan.topics(of: p.id, registryCommunities: registry), mine.map { "cityeye/\($0)/#" })
            seen += mine
        }
        XCTAssertEqual(seen.sorted(), registry.sorted(), "each community in exactly one partition")
        // Written down in docs/scale.md: FNV-1a 64 of the UTF-8 bytes, modulo N.
        XCTAssertEqual(PartitionPlan.hashIndex(community: "changzhengqiao", count: 4), Int(FNV1a.hash("changzhengqiao") % 4))
        XCTAssertEqual(PartitionPlan.hashIndex(community: "foobar", count: 1000), Int(0x8594_4171_f739_67e8 % UInt64(1000)))
    }

    func testFNV1aIsTheStandardOne() {
        // The published FNV-1a 64 test vectors.
        XCTAssertEqual(FNV1a.hash(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(FNV1a.hash("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(FNV1a.hash("foobar"), 0x8594_4171_f739_67e8)
        XCTAssertEqual(FNV1a.hash("长征桥"), FNV1a.hash(Array("长征桥".utf8)), "the UTF-8 bytes, not UTF-16 units")
    }

    /// `fallbacks:` names the other nodes of a clustered broker; a partition keeps the top broker's unless it gives its own.
    func testFallbackNodesOfAClusteredBrokerAreReadAndInherited() throws {
        let c = try load("""
        broker: {host: mq-1, port: 1883, client_id: city, fallbacks: ["mq-2:1883", "mq-3:1884"]}
        registry: registry.yaml
        rules: rules
        store: cityeye.db
        partitions:
          - {id: a, communities: [c1]}
          - {id: b, communities: [c2], broker: {host: mq-2, fallbacks: ["mq-3:1884", "mq-1:1883"]}}

        """).get()
        XCTAssertEqual(c.broker.fallbacks.map(\.description), ["mq-2:1883", "mq-3:1884"])
        let plan = try XCTUnwrap(c.partitions)
        XCTAssertEqual(plan.partitions[0].broker.fallbacks.map(\.description), ["mq-2:1883", "mq-3:1884"])
        XCTAssertEqual(plan.partitions[1].broker.host, "mq-2")
        XCTAssertEqual(plan.partitions[1].broker.fallbacks.map(\.description), ["mq-3:1884", "mq-1:1883"])
        XCTAssertTrue(try load(head).get().broker.fallbacks.isEmpty, "without the key: one broker, as before")
        for (bad, says) in [("[\"mq-2\"]", "`mq-2` is not host:port"), ("[\"mq-2:0\"]", "`mq-2:0` is not host:port"),
                            ("[\":1883\"]", "`:1883` is not host:port"), ("mq-2:1883", "must be a list")] {
            let e = try refusal(head.replacingOccurrences(of: "client_id: city}", with: "client_id: city, fallbacks: \(bad)}"))
            XCTAssertTrue(e.contains("cityeye.yaml:1") && e.contains("broker.fallbacks"), e)
            if !says.hasPrefix("must") { XCTAssertTrue(e.contains(says), e) }
        }
    }

    func testBadPartitionsAreRefusedWithFileLineAndTheCommunity() throws {
        let cases: [(String, [String])] = [
            ("partitions:\n  - {id: a, communities: [c1, c2]}\n  - {id: b, communities: [c3, c2]}\n",
             ["cityeye.yaml:7", "community `c2` is in partition `a` (line 6) and again in partition `b`"]),
            ("partitions:\n  - {id: a, communities: [c1, c1]}\n", ["cityeye.yaml:6", "community `c1` is listed twice in partition `a`"]),
            ("partitions:\n  - {id: a, communities: [c1]}\n  - {id: a, communities: [c2]}\n",
             ["cityeye.yaml:7", "partition id `a` given twice (first at line 6)"]),
            ("partitions:\n  - {id: a, communities: []}\n", ["cityeye.yaml:6", "partition `a` has no communities"]),
            ("partitions:\n  - {id: a}\n", ["cityeye.yaml:6", "partition `a` has no `communities:`"]),
            ("partitions:\n  - {communities: [c1]}\n", ["cityeye.yaml:6", "missing required key `partitions[].id`"]),
            ("partitions: []\n", ["cityeye.yaml:5", "partitions is empty"]),
            ("partitions: {hash: 0}\n", ["cityeye.yaml:5", "partitions.hash must be 1–4096 partitions, got 0"]),
            ("partitions: {hash: 4097}\n", ["partitions.hash must be 1–4096 partitions, got 4097"]),
            ("partitions: {hash: -3}\n", ["got -3"]),
            ("partitions: {hash: many}\n", ["partitions.hash must be a whole number"]),
            ("partitions: {count: 3}\n", ["unknown key `count`"]),
            ("partitions: {}\n", ["partitions must be a list of {id, communities, broker} or {hash: N}"]),
            ("partitions:\n  - {id: a/b, communities: [c1]}\n", ["partition id `a/b` may hold only letters, digits"]),
            ("partitions:\n  - {id: a, communities: [\"c/1\"]}\n", ["partition `a`: community `c/1`", "`/`"]),
            ("partitions:\n  - {id: a, communities: [c1], colour: red}\n", ["unknown key `colour`"]),
            ("partitions:\n  - {id: a, communities: [c1], broker: {port: 70000}}\n",
             ["cityeye.yaml:6", "partitions[a].broker.port must be 1–65535"]),
            ("partitions:\n  - {id: a, communities: [c1], broker: {topics: [\"x/#\"]}}\n",
             ["partitions[a].broker.topics", "list them in its `communities:`"]),
            ("partitions:\n  - {id: a, communities: [c1], broker: {qos: 0}}\n", ["partitions[a].broker.qos 0 is at-most-once"]),
            ("partitions:\n  - {id: a, communities: [c1], broker: {password_file: nope.pw}}\n",
             ["partitions[a].broker.password_file: cannot read file"]),
        ]
        for (partitions, says) in cases {
            let e = try refusal(head + partitions)
            for s in says { XCTAssertTrue(e.contains(s), "\(partitions)→ \(e)\nshould contain: \(s)") }
        }
        let withTopics = "broker: {host: h, port: 1883, topics: [\"cityeye/#\"]}\nregistry: registry.yaml\nrules: rules\nstore: x.db\n"
        let e = try refusal(withTopics + "partitions: {hash: 2}\n")
        XCTAssertTrue(e.contains("cityeye.yaml:1") && e.contains("broker.topics cannot be used with `partitions:`"), e)
    }

    func testFairShareIsBalancedDeterministicAndCoversEveryPartition() {
        let parts = (0..<64).map(String.init)
        for n in 1...7 {
            let engines = (0..<n).map { "engine-\($0)" }
            var all: [String] = []
            for e in engines {
                let share = PartitionPlan.fairShare(partitions: parts, engines: engines, mine: e)
                XCTAssertTrue([64 / n, (64 + n - 1) / n].contains(share.hold.count), "\(n) engines: \(e) holds \(share.hold.count)")
                XCTAssertEqual(share, PartitionPlan.fairShare(partitions: parts.reversed(), engines: engines.reversed(), mine: e),
                               "the order the lists come in does not matter")
                all += share.hold
            }
            XCTAssertEqual(all.sorted(), parts.sorted(), "\(n) engines: every partition held exactly once")
        }
        XCTAssertEqual(PartitionPlan.fairShare(partitions: parts, engines: [], mine: "x", holding: ["3"]),
                       FairShare(hold: [], giveBack: ["3"], take: []))
        XCTAssertEqual(PartitionPlan.fairShare(partitions: parts, engines: ["a", "b"], mine: "c", holding: ["1", "2"]).giveBack, ["1", "2"],
                       "an engine no longer counted as alive gives everything back")
        XCTAssertEqual(PartitionPlan.fairShare(partitions: ["p"], engines: ["a", "b", "c"], mine: "a").hold.count
                       + PartitionPlan.fairShare(partitions: ["p"], engines: ["a", "b", "c"], mine: "b").hold.count
                       + PartitionPlan.fairShare(partitions: ["p"], engines: ["a", "b", "c"], mine: "c").hold.count, 1,
                       "more engines than partitions: one holds it, the rest stand by")
    }

    func testAnEngineJoiningTakesItsShareFromTheOthersAndFewOtherPartitionsMove() {
        let parts = (0..<64).map { "p\($0)" }
        let three = ["a", "b", "c"], four = ["a", "b", "c", "d"]
        let before = PartitionPlan.assignment(partitions: parts, engines: three)
        let after = PartitionPlan.assignment(partitions: parts, engines: four)
        let moved = parts.filter { before[$0] != after[$0] }
        let toD = moved.filter { after[$0] == "d" }
        XCTAssertEqual(toD.count, 16, "the newcomer gets its fair share")
        XCTAssertLessThanOrEqual(moved.count, 24, "at most half again as many moves as the newcomer's share: \(moved.count)")
        // Each old engine's own view: what it gives back is exactly what moved away from it, and it takes what moved to it.
        for e in three {
            let held = parts.filter { before[$0] == e }
            let share = PartitionPlan.fairShare(partitions: parts, engines: four, mine: e, holding: held)
            XCTAssertEqual(share.giveBack, moved.filter { before[$0] == e }.sorted())
            XCTAssertEqual(share.take, moved.filter { after[$0] == e }.sorted())
        }
        // And when d leaves again the split is the one before it came: nothing depends on history.
        XCTAssertEqual(PartitionPlan.assignment(partitions: parts, engines: three), before)
    }
}
