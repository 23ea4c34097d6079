/// One key's saved rule state, as the store keeps it: a row per (rule id, key), the state in the rule engine's own
/// bytes (Rules' `SavedKeyState`).
public struct SavedRuleKey: Sendable, Equatable {
    public var rule: String
    public var key: String
    public var state: [UInt8]
    public init(rule: String, key: String, state: [UInt8]) { self.rule = rule; self.key = key; self.state = state }
}
