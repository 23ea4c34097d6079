import XCTest
import Foundation
import TestSupport
import Model
import Registry
@testable import Rules

/// Drives a RuleEngine by hand: events in, signals out, time moved explicitly. No sleeps.
final class RuleHarness {
    let engine: RuleEngine
    var signals: [RuleSignal] = []
    private var seq = 0

    static let registryYAML = """
    communities:
      - {id: czq, name: 长征桥社区, timezone: Asia/Shanghai}
    grids:
      - {id: g1, community: czq, name: G1}
    workers:
      - {id: w1, name: W1, grid: g1, role: worker}
      - {id: s1, name: S1, community: czq, role: supervisor}
    devices:
      - {id: elev-1, type: elevator, community: czq, grid: g1}
      - {id: gate-1, type: gate, community: czq, grid: g1}
      - {id: bin-1, type: bin, community: czq, grid: g1, subject: cp-1}
      - {id: wcam-1, type: waste_cam, community: czq, grid: g1, subject: cp-1}
      - {id: venue-1, type: footfall_cam, community: czq, grid: g1, subject: shop-1, attrs: {flagged: true}}
      - {id: venue-2, type: footfall_cam, community: czq, grid: g1, subject: shop-2, attrs: {flagged: false}}
      - {id: pm-1, type: power_monitor, community: czq, grid: g1, attrs: {rated_power_w: 1000}}
      - {id: chg-1, type: charger, community: czq, grid: g1}
      - {id: occ-1, type: occupancy_sensor, community: czq, grid: g1, attrs: {capacity: 10, hours: "09:00-21:00", category: internet_cafe}}
      - {id: school-1, type: school_cam, community: czq, grid: g1}
      - {id: wm-1, type: water_meter, community: czq, grid: g1, subject: home-1}
      - {id: door-1, type: door_contact, community: czq, grid: g1, subject: home-1}
      - {id: band-1, type: band, community: czq, grid: g1, subject: home-1}
      - {id: spot-1, type: spot_sensor, community: czq, grid: g1, attrs: {plates: [浙A12345]}}
      - {id: spot-2, type: spot_sensor, community: czq, grid: g1, attrs: {plates: [浙A12345], max_minutes: 60}}
    """

    static let scenarios = Repo.scenarios.path

    init(rulesDirectory: String = RuleHarness.scenarios) throws {
        let registry = try RegistryLoader.parse(yaml: Self.registryYAML, file: "test-registry.yaml")
        engine = RuleEngine(rules: try RuleSet.load(directory: rulesDirectory), registry: registry)
    }

    /// Local time in Shanghai on 2026-11-24 (a Tuesday), "HH:MM:SS".
    static func t(_ hms: String, day: Int = 24) -> Instant {
        RFC3339.parse("2026-11-\(day)T\(hms)+08:00")!
    }

    @discardableResult
    func send(_ device: String, _ type: EventType, _ at: Instant, _ data: [String: JSONValue] = [:]) -> [RuleSignal] {
        seq += 1
        var out: [RuleSignal] = []
        let obj = JSONObject(data.sorted { $0.key < $1.key }.map { JSONObject.Field(key: $0.key, value: $0.value) })
        engine.ingest(Event(id: "e\(seq)", ts: at, device: device, type: type, data: obj), into: &out)
        signals += out
        return out
    }

    @discardableResult
    func advance(_ to: Instant) -> [RuleSignal] {
        var out: [RuleSignal] = []
        engine.advance(to: to, into: &out)
        signals += out
        return out
    }

    /// (rule, key, at) of the occurrences for a rule.
    func occurrences(_ rule: String, in s: [RuleSignal]? = nil) -> [(String, Instant)] {
        (s ?? signals).compactMap { if case let .occurrence(r, k, _, at) = $0, r.id == rule { return (k, at) }; return nil }
    }

    func clears(_ rule: String, in s: [RuleSignal]? = nil) -> [(String, Instant)] {
        (s ?? signals).compactMap { if case let .cleared(r, k, _, at) = $0, r.id == rule { return (k, at) }; return nil }
    }
}

extension JSONValue: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
                     ExpressibleByBooleanLiteral, ExpressibleByStringLiteral {
    public init(integerLiteral v: Int) { self = .number(Double(v)) }
    public init(floatLiteral v: Double) { self = .number(v) }
    public init(booleanLiteral v: Bool) { self = .bool(v) }
    public init(stringLiteral v: String) { self = .string(v) }
}
