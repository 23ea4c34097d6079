/// A rule as the incident desk sees it: its fixed id, scenario and severity.
public struct RuleRef: Hashable, Sendable {
    public var id: String
    public var scenario: String
    public var severity: Severity
    public init(id: String, scenario: String, severity: Severity) { self.id = id; self.scenario = scenario; self.severity = severity }
}

/// What the rule engine reports, in clock order. The incident desk turns these into incidents.
public enum RuleSignal: Hashable, Sendable {
    /// The rule's raise condition held for `key` at `at` (an event's time, or a timer's due time).
    /// `device` is the device of the event that caused it (for a timer: of the latest event of that key).
    case occurrence(rule: RuleRef, key: String, device: DeviceRef, at: Instant)
    /// The rule's clear condition held for `key` at `at`.
    case cleared(rule: RuleRef, key: String, device: DeviceRef, at: Instant)
}
