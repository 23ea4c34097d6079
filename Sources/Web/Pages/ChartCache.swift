import Foundation
import Model
import Store

/// The cockpit chart's counts and the community's scenarios, kept between pages and brought up to date from the
/// incidents raised since (an incident's community, scenario and first-seen time never change, and incidents are
/// never deleted, so adding the new ones is exact). A full count only when the 7-day window moves to a new hour.
/// The drawn chart is kept too, per language, until its counts change.
final class ChartCache: @unchecked Sendable {
    private struct Entry {
        var start: Instant
        var end: Instant
        /// Counted: every incident with an id up to this.
        var through: Int64
        var counts: [String: [Int]]
        var scenarios: Set<String>
        var drawn: [Language: HTML] = [:]
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]

    /// The community's chart (drawn for `viewer`) and scenarios, as of now.
    func read(_ store: any WebStore, community: String, now: Instant, viewer v: Viewer) throws -> (chart: HTML, scenarios: [String]) {
        let through = try store.maxIncidentID()
        let window = HourlyChart.window(newest: try store.newestFirstSeen(community: community), now: now)
        var entry = lock.withLock { entries[community] }
        if var e = entry, e.start == window.start {
            if through > e.through {
                let added = try store.raised(community: community, after: e.through, through: through)
                for (scenario, firstSeen) in added {
                    e.scenarios.insert(scenario)
                    let h = Int((firstSeen.ms - e.start.ms) / Durations.hour)
                    guard firstSeen.ms >= e.start.ms && h < HourlyChart.hours else { continue }
                    e.counts[scenario, default: Array(repeating: 0, count: HourlyChart.hours)][h] += 1
                    e.drawn = [:]
                }
                e.through = through
            }
            entry = e
        } else {
            entry = Entry(start: window.start, end: window.end, through: through,
                          counts: try store.raisedPerHour(community: community, start: window.start, hours: HourlyChart.hours, through: through),
                          scenarios: Set(try store.scenarios(community: community, through: through)))
        }
        guard var e = entry else { fatalError("unreachable: an entry was just made") }
        let chart = e.drawn[v.language] ?? HourlyChart.render(HourlyChart.Data(start: e.start, end: e.end, counts: e.counts), viewer: v)
        e.drawn[v.language] = chart
        let done = e
        lock.withLock {
            // Another page may have brought it further meanwhile: keep the newer.
            if (entries[community]?.through ?? -1) <= done.through || entries[community]?.start != done.start { entries[community] = done }
        }
        return (chart, e.scenarios.sorted())
    }
}
