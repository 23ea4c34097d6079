import Model

/// One message a simulated gateway publishes.
public struct SimulatedMessage: Sendable {
    public var topic: String
    public var payload: String
    public var ts: Instant
}

/// Seeded, realistic gateway traffic for a registry: normal readings that raise nothing, mixed with
/// incident-worthy episodes (a stuck elevator with people inside, an e-bike in the lift, an overheating charger
/// port, a fall without an ok, an unregistered car staying, …). Event time advances at `eventsPerSecond`.
public struct TrafficGenerator {
    private struct Pending: Comparable {
        var ts: Int64, seq: Int, device: Int, type: String, data: String
        static func < (a: Pending, b: Pending) -> Bool { (a.ts, a.seq) < (b.ts, b.seq) }
    }

    private let devices: [Device]
    private let byType: [String: [Int]]
    private var rng: SeededRandom
    private var now: Double
    private let step: Double
    private let episodeRate: Double
    private let faultRate: Double
    private var pending = MinHeap<Pending>()
    private var seq = 0
    private var counters: [Int]
    /// Until when a device is in the middle of a scheduled sequence: routine traffic leaves it alone meanwhile
    /// (a spot sensor reports changes, it does not contradict a car that is still parked).
    private var busyUntil: [Int64]
    private var topics: [String]
    private var emitted: [(device: Int, id: String, payload: String)] = []
    private let clock = LocalClock(identifier: "Asia/Shanghai")!
    /// Ids are unique per device and per seed, so runs with different seeds never look like redeliveries.
    private let idPrefix: String

    /// `episodeRate`: the share of draws that start an episode instead of a normal event.
    /// `faultRate`: the share of messages that are malformed or redelivered (dead letters and duplicates).
    public init(registry: Registry, seed: UInt64, start: Instant, eventsPerSecond: Double,
                episodeRate: Double = 0.002, faultRate: Double = 0) {
        devices = registry.catalog.devices
        var bt: [String: [Int]] = [:]
        for (i, d) in devices.enumerated() { bt[d.type, default: []].append(i) }
        byType = bt
        rng = SeededRandom(seed: seed)
        now = Double(start.ms)
        step = 1000 / max(eventsPerSecond, 0.001)
        self.episodeRate = episodeRate
        self.faultRate = faultRate
        counters = Array(repeating: 0, count: devices.count)
        busyUntil = Array(repeating: .min, count: devices.count)
        topics = devices.map { "cityeye/\($0.community)/\($0.id)" }
        idPrefix = "s\(seed)"
    }

    public init(plan: DeploymentPlan, seed: UInt64, start: Instant, eventsPerSecond: Double, episodeRate: Double = 0.002) {
        self.init(registry: plan.registry, seed: seed, start: start, eventsPerSecond: eventsPerSecond, episodeRate: episodeRate)
    }

    public mutating func next() -> SimulatedMessage {
        precondition(!devices.isEmpty, "a registry with devices is needed")
        // `now` is the time of the next normal event; scheduled episode events due by then go first.
        if let p = pending.peek, Double(p.ts) <= now {
            pending.pop()
            return message(p.device, Int64(p.ts), p.type, p.data)
        }
        let t = Int64(now)
        now += step * (0.5 + rng.unit())
        if faultRate > 0 && rng.chance(faultRate) {
            if rng.chance(0.5), let e = emitted.randomElement(using: &rng) {
                return SimulatedMessage(topic: topics[e.device], payload: e.payload, ts: Instant(ms: t))
            }
            let d = rng.int(0...devices.count - 1)
            return SimulatedMessage(topic: topics[d], payload: "{\"id\":\"bad-\(t)\",\"ts\":\"oops\",\"device\":\"\(devices[d].id)\"", ts: Instant(ms: t))
        }
        if rng.chance(episodeRate) { episode(at: t) }
        // Smoke detectors have no routine traffic: they report alarms only (in episodes).
        var d = rng.int(0...devices.count - 1)
        for _ in 0..<8 where devices[d].type == "smoke_detector" || busyUntil[d] > t { d = rng.int(0...devices.count - 1) }
        if devices[d].type == "smoke_detector", let other = devices.indices.first(where: { devices[$0].type != "smoke_detector" }) { d = other }
        let (type, data) = normal(d, t)
        return message(d, t, type, data)
    }

    private mutating func later(_ d: Int, _ t: Int64, _ type: String, _ data: String) {
        seq += 1
        pending.push(Pending(ts: t, seq: seq, device: d, type: type, data: data))
        busyUntil[d] = max(busyUntil[d], t)
    }

    private mutating func message(_ d: Int, _ t: Int64, _ type: String, _ data: String) -> SimulatedMessage {
        counters[d] += 1
        let dev = devices[d]
        let id = "\(dev.id)-\(idPrefix)-\(counters[d])"
        let ts = Instant(ms: t)
        let local = RFC3339.formatLocal(ts, offsetSeconds: 8 * 3600).replacingOccurrences(of: " ", with: "T")
        let millis = RFC3339.pad(Int(((t % 1000) + 1000) % 1000), 3)
        let payload = "{\"id\":\"\(id)\",\"ts\":\"\(local).\(millis)+08:00\",\"device\":\"\(dev.id)\",\"type\":\"\(type)\",\"data\":\(data)}"
        if faultRate > 0 {
            if emitted.count >= 64 { emitted.removeFirst() }
            emitted.append((d, id, payload))
        }
        return SimulatedMessage(topic: topics[d], payload: payload, ts: ts)
    }

    private func minuteOfDay(_ t: Int64) -> Int { clock.local(Instant(ms: t)).minuteOfDay }

    /// A normal event for a device: nothing a rule should raise.
    private mutating func normal(_ d: Int, _ t: Int64) -> (String, String) {
        let dev = devices[d]
        switch dev.type {
        case "gate":
            later(d, t + 1500, "access.door", #"{"state":"open"}"#)
            later(d, t + 6000, "access.door", #"{"state":"closed"}"#)
            let method = ["face", "card", "qr", "plate"][rng.int(0...3)]
            return ("access.pass", "{\"result\":\"granted\",\"method\":\"\(method)\",\"person\":\"resident\"}")
        case "bin":
            return ("waste.level", "{\"stream\":\"kitchen\",\"fill_pct\":\(rng.int(5...80))}")
        case "waste_cam":
            let m = minuteOfDay(t)
            if (420..<540).contains(m) || (1080..<1200).contains(m) {
                return ("waste.drop", "{\"stream\":\"kitchen\",\"correct\":\(rng.chance(0.9))}")
            }
            return ("waste.level", "{\"stream\":\"other\",\"fill_pct\":\(rng.int(5...60))}")
        case "elevator":
            if rng.chance(0.3) { return ("elevator.heartbeat", "{}") }
            return ("elevator.status", "{\"floor\":\(rng.int(1...18)),\"moving\":\(rng.chance(0.5)),\"door\":\"\(rng.chance(0.5) ? "open" : "closed")\",\"between_floors\":false,\"occupants\":\(rng.int(0...4))}")
        case "footfall_cam":
            if rng.chance(0.3) { return ("venue.visit", "{\"person\":\"p-\(rng.int(1000...9999))\",\"elderly\":\(rng.chance(0.3))}") }
            return ("venue.footfall", "{\"entered\":\(rng.int(0...6)),\"elderly\":\(rng.int(0...1))}")
        case "power_monitor":
            let rated = dev.attrs["rated_power_w"]?.double ?? 3000
            return ("power.reading", "{\"current_a\":\(rng.int(2...12)),\"leakage_ma\":\(rng.int(2...40)),\"temp_c\":\(rng.int(25...45)),\"power_w\":\(Int(rated * 0.2) + rng.int(0...Int(rated * 0.5)))}")
        case "charger":
            let port = rng.int(1...4)
            if rng.chance(0.1) {
                later(d, t + Int64(rng.int(1...5)) * Durations.hour, "charging.session", "{\"port\":\(port),\"state\":\"stop\"}")
                return ("charging.session", "{\"port\":\(port),\"state\":\"start\"}")
            }
            return ("charging.reading", "{\"port\":\(port),\"power_w\":\(rng.int(150...450)),\"temp_c\":\(rng.int(25...42))}")
        case "corridor_cam":
            return ("ebike.corridor", #"{"present":false}"#)
        case "school_cam":
            return ("school.loitering", "{\"seconds\":\(rng.int(10...200))}")
        case "occupancy_sensor":
            let hours = dev.attrs["hours"]?.string ?? "09:00-21:00"
            let open = hoursContain(hours, minuteOfDay(t))
            let cap = Int(dev.attrs["capacity"]?.double ?? 40)
            return ("venue.occupancy", "{\"count\":\(open ? rng.int(0...cap) : 0)}")
        case "water_meter":
            return ("water.usage", "{\"liters\":\(rng.int(2...25)).\(rng.int(0...9))}")
        case "door_contact":
            return ("door.contact", "{\"open\":\(rng.chance(0.5))}")
        case "pir":
            return ("motion.detected", "{}")
        case "band":
            if rng.chance(0.02) {
                later(d, t + 20 * Durations.second, "band.ok", "{}")  // a fall the elder gets up from
                return ("band.fall", "{}")
            }
            if rng.chance(0.5) { return ("band.heartbeat", "{}") }
            return ("band.vitals", "{\"heart_rate\":\(rng.int(58...95))}")
        case "spot_sensor":
            if rng.chance(0.5), case .array(let plates)? = dev.attrs["plates"], let plate = plates.first?.string {
                later(d, t + Int64(rng.int(10...60)) * Durations.minute, "parking.spot", #"{"occupied":false,"plate":null}"#)
                return ("parking.spot", "{\"occupied\":true,\"plate\":\"\(plate)\"}")
            }
            return ("parking.spot", #"{"occupied":false,"plate":null}"#)
        default:
            return ("elevator.heartbeat", "{}")
        }
    }


    private func hoursContain(_ hours: String, _ m: Int) -> Bool {
        let p = hours.split(separator: "-").map { $0.split(separator: ":").compactMap { Int($0) } }
        guard p.count == 2, p[0].count == 2, p[1].count == 2 else { return true }
        let a = p[0][0] * 60 + p[0][1], b = p[1][0] * 60 + p[1][1]
        return a < b ? (m >= a && m < b) : (m >= a || m < b)
    }

    private mutating func pick(_ type: String) -> Int? {
        guard let list = byType[type], !list.isEmpty else { return nil }
        return list[rng.int(0...list.count - 1)]
    }

    /// Schedules one incident-worthy episode starting at `t`.
    private mutating func episode(at t: Int64) {
        let s = Durations.second, m = Durations.minute
        switch rng.int(0...21) {
        case 0:
            guard let d = pick("elevator") else { return }
            let stuck = #"{"floor":7,"moving":false,"door":"closed","between_floors":true,"occupants":2}"#
            for dt in [0, 10, 20, 40] { later(d, t + Int64(dt) * s, "elevator.status", stuck) }
            later(d, t + 120 * s, "elevator.status", #"{"floor":7,"moving":false,"door":"open","between_floors":false,"occupants":0}"#)
        case 1: if let d = pick("elevator") { later(d, t, "elevator.ebike", #"{"confidence":0.93}"#) }
        case 2: if let d = pick("elevator") { later(d, t, "elevator.alarm", #"{"kind":"button"}"#) }
        case 3:
            guard let d = pick("gate") else { return }
            for i in 0..<6 { later(d, t + Int64(i * 30) * s, "access.pass", #"{"result":"denied","method":"card","person":"unknown"}"#) }
        case 4:
            guard let d = pick("gate") else { return }
            later(d, t, "access.pass", #"{"result":"granted","method":"face","person":"resident"}"#)
            later(d, t + 2 * s, "access.door", #"{"state":"open"}"#)
            later(d, t + 200 * s, "access.door", #"{"state":"closed"}"#)
        case 5:
            guard let d = pick("gate") else { return }
            later(d, t, "access.door", #"{"state":"open"}"#)
            later(d, t + 8 * s, "access.door", #"{"state":"closed"}"#)
        case 6: if let d = pick("gate") { later(d, t, "access.tailgate", #"{"count":2}"#) }
        case 7:
            guard let d = pick("bin") else { return }
            for dt in [0, 8, 16] { later(d, t + Int64(dt) * m, "waste.level", #"{"stream":"kitchen","fill_pct":95}"#) }
            later(d, t + 40 * m, "waste.level", #"{"stream":"kitchen","fill_pct":20}"#)
        case 8:
            guard let d = pick("waste_cam") else { return }
            for i in 0..<6 { later(d, t + Int64(i * 4) * m, "waste.drop", #"{"stream":"kitchen","correct":false}"#) }
        case 9: if let d = pick("waste_cam") { later(d, t, "waste.dumping", "{}") }
        case 10:
            guard let d = pick("power_monitor") else { return }
            later(d, t, "power.reading", #"{"current_a":8,"leakage_ma":350,"temp_c":40,"power_w":1200}"#)
            later(d, t + 5 * m, "power.reading", #"{"current_a":8,"leakage_ma":20,"temp_c":40,"power_w":1200}"#)
        case 11:
            guard let d = pick("power_monitor") else { return }
            for dt in [0, 30, 70] { later(d, t + Int64(dt) * s, "power.reading", #"{"current_a":9,"leakage_ma":20,"temp_c":76,"power_w":1500}"#) }
            later(d, t + 10 * m, "power.reading", #"{"current_a":9,"leakage_ma":20,"temp_c":45,"power_w":1500}"#)
        case 12:
            guard let d = pick("charger") else { return }
            later(d, t, "charging.reading", #"{"port":3,"power_w":420,"temp_c":71}"#)
            later(d, t + 5 * m, "charging.reading", #"{"port":3,"power_w":300,"temp_c":40}"#)
        case 13: if let d = pick("charger") { later(d, t, "charging.reading", #"{"port":2,"power_w":1350,"temp_c":45}"#) }
        case 14:
            guard let d = pick("charger") else { return }
            later(d, t, "charging.session", #"{"port":4,"state":"start"}"#)
            later(d, t + 9 * Durations.hour, "charging.session", #"{"port":4,"state":"stop"}"#)
        case 15:
            guard let d = pick("corridor_cam") else { return }
            for dt in [0, 5, 11] { later(d, t + Int64(dt) * m, "ebike.corridor", #"{"present":true}"#) }
            later(d, t + 20 * m, "ebike.corridor", #"{"present":false}"#)
        case 16: if let d = pick("smoke_detector") { later(d, t, "smoke.alarm", "{}") }
        case 17:
            guard let d = pick("occupancy_sensor") else { return }
            let cap = Int(devices[d].attrs["capacity"]?.double ?? 40)
            for dt in [0, 3, 6] { later(d, t + Int64(dt) * m, "venue.occupancy", "{\"count\":\(cap + 12)}") }
            later(d, t + 9 * m, "venue.occupancy", "{\"count\":\(cap / 2)}")
            if let c = pick("occupancy_sensor") { later(c, t, "venue.minor", #"{"confidence":0.91}"#) }
        case 18: if let d = pick("school_cam") { later(d, t, "school.loitering", #"{"seconds":720}"#) }
        case 19:
            guard let d = pick("band") else { return }
            if rng.chance(0.5) { later(d, t, "band.sos", "{}") } else { later(d, t, "band.fall", "{}") }
            for dt in [10, 70, 160] { later(d, t + Int64(dt) * s + 5 * m, "band.vitals", #"{"heart_rate":132}"#) }
            later(d, t + 10 * m, "band.vitals", #"{"heart_rate":80}"#)
        case 20:
            guard let d = pick("spot_sensor") else { return }
            for dt in [0, 10, 20] { later(d, t + Int64(dt) * m, "parking.spot", #"{"occupied":true,"plate":"沪B12345"}"#) }
            later(d, t + 30 * m, "parking.spot", #"{"occupied":false,"plate":null}"#)
        default:
            guard let d = pick("footfall_cam") else { return }
            for dt in [0, 5, 10] { later(d, t + Int64(dt) * m, "venue.footfall", #"{"entered":12,"elderly":9}"#) }
        }
    }
}
