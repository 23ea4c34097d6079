/// A rule that reads a device attribute the device's registry entry lacks: each evaluation of the rule on that
/// device's events is not applicable (it neither raises nor clears) because of the registry, and is counted.
public struct RuleGap: Hashable, Sendable, Comparable {
    public var rule: String
    public var device: String
    /// The attributes the rule reads that the device has not got (`attrs.NAME`).
    public var attrs: [String]

    public init(rule: String, device: String, attrs: [String]) { self.rule = rule; self.device = device; self.attrs = attrs }

    public static func < (a: RuleGap, b: RuleGap) -> Bool { (a.rule, a.device) < (b.rule, b.device) }

    public var description: String { "\(rule) on \(device) (no \(attrs.map { "attrs.\($0)" }.joined(separator: ", ")))" }
}
