/// The value of one series in a Prometheus text exposition (`name{labels} value`), nil when absent.
public func metric(_ exposition: String, _ series: String) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}
