import Model

/// Incidents raised per hour per scenario over 7 days, as inline SVG drawn by the server (no chart library):
/// one stacked bar per hour, a colour per scenario.
enum HourlyChart {
    static let hours = 7 * 24
    static let colours = ["#1565c0", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#5d4037"]

    /// The window's incidents counted per scenario per hour index (0 = oldest).
    struct Data: Sendable {
        var start: Instant
        var end: Instant
        var counts: [String: [Int]]
    }

    /// The window ends at `now`; on a store whose newest incident (`newest`: when it was first seen) is older than
    /// the window (a replay of past days) it ends at that incident's hour instead, so the chart shows the data there is.
    static func window(newest: Instant?, now: Instant) -> (start: Instant, end: Instant) {
        let hour = Durations.hour
        let newest = newest?.ms ?? now.ms
        let endMs = newest < now.ms - Millis(hours) * hour ? (newest / hour + 1) * hour : (now.ms / hour + 1) * hour
        return (Instant(ms: endMs - Millis(hours) * hour), Instant(ms: endMs))
    }

    static func render(_ data: Data, viewer v: Viewer) -> HTML {
        let (start, end, counts) = (data.start, data.end, data.counts)
        let scenarios = counts.keys.sorted()
        let peak = max(1, (0..<hours).map { h in scenarios.reduce(0) { $0 + counts[$1]![h] } }.max() ?? 1)
        let (w, barW, height) = (6, 5, 120)
        var bars: [HTML] = []
        for h in 0..<hours {
            var y = height
            for (k, s) in scenarios.enumerated() where counts[s]![h] > 0 {
                let n = counts[s]![h]
                let bh = max(1, n * height / peak)
                y -= bh
                bars.append("<rect x=\"\(h * w)\" y=\"\(y)\" width=\"\(barW)\" height=\"\(bh)\" fill=\"\(colours[k % colours.count])\" data-hour=\"\(h)\" data-scenario=\"\(s)\" data-count=\"\(n)\"><title>\(s) \(n)</title></rect>")
            }
        }
        let days = (1..<7).map { d -> HTML in "<line x1=\"\(d * 24 * w)\" y1=\"0\" x2=\"\(d * 24 * w)\" y2=\"\(height)\" stroke=\"#cfd6e0\"/>" }
        let legend = scenarios.enumerated().map { (k, s) -> HTML in
            "<span class=\"key\"><svg width=\"10\" height=\"10\" aria-hidden=\"true\"><rect width=\"10\" height=\"10\" fill=\"\(colours[k % colours.count])\"/></svg> \(s)</span>"
        }
        let community = v.person.community
        let caption = "\(v.t("Raised per hour, 7 days")): \(v.local(start, community: community)) → \(v.local(end, community: community)) (\(v.t("peak")) \(peak))"
        return """
        <section class="chart"><h2>\(caption)</h2><svg viewBox="0 0 \(hours * w) \(height)" preserveAspectRatio="none" \
        role="img" aria-label="\(caption)">\(days)\(bars)</svg><div class="legend">\(legend)</div></section>
        """
    }
}
