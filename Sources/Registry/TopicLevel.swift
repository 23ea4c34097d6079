/// MQTT topic names and filters (MQTT 3.1.1 §4.7): what a device id can be and what a subscription can say.
enum TopicLevel {
    /// Why `id` cannot be one level of a topic name, or nil if it can.
    static func problem(_ id: String) -> String? {
        if id.isEmpty { return "it is empty" }
        for (c, why) in [("/", "it contains `/` (a level separator)"), ("+", "it contains `+` (a wildcard)"),
                         ("#", "it contains `#` (a wildcard)"), ("\u{0}", "it contains a NUL character")] where id.contains(c) {
            return why
        }
        return nil
    }

    /// Why `filter` is not a valid subscription filter, or nil if it is.
    static func filterProblem(_ filter: String) -> String? {
        if filter.isEmpty { return "an empty filter matches nothing" }
        if filter.contains("\u{0}") { return "it contains a NUL character" }
        if filter.utf8.count > 65535 { return "it is longer than 65535 bytes" }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (i, level) in levels.enumerated() {
            if level.contains("#") && (level != "#" || i != levels.count - 1) {
                return "`#` must be a whole level and the last one (e.g. cityeye/#)"
            }
            if level.contains("+") && level != "+" { return "`+` must be a whole level (e.g. cityeye/+/dev-1)" }
        }
        return nil
    }
}
