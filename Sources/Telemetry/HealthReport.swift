import Foundation

/// What `/healthz` answers: 200 with `{"status":"ok",…}` when healthy, else 503 with `{"status":"unhealthy",
/// "reason":…}` where the reason says what is wrong and what to look at.
public struct HealthReport: Sendable, Equatable {
    /// A fact beside the verdict (times, ages, counts).
    public enum Fact: Sendable, Equatable, Encodable {
        case text(String), number(Double), flag(Bool)

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .text(let s): try c.encode(s)
            case .number(let n): if n == n.rounded(), abs(n) < 1e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
            case .flag(let b): try c.encode(b)
            }
        }
    }

    public var healthy: Bool
    public var reason: String?
    public var facts: [String: Fact]

    public init(healthy: Bool, reason: String? = nil, facts: [String: Fact] = [:]) {
        self.healthy = healthy
        self.reason = reason
        self.facts = facts
    }

    public static func ok(_ facts: [String: Fact] = [:]) -> HealthReport { HealthReport(healthy: true, facts: facts) }
    public static func unhealthy(_ reason: String, _ facts: [String: Fact] = [:]) -> HealthReport {
        HealthReport(healthy: false, reason: reason, facts: facts)
    }

    /// One JSON object: `status`, `reason` (when unhealthy) and the facts, keys sorted.
    public var json: String {
        var all = facts
        all["status"] = .text(healthy ? "ok" : "unhealthy")
        if let reason { all["reason"] = .text(reason) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings, numbers and booleans cannot fail.
        return (try? String(decoding: encoder.encode(all), as: UTF8.self)) ?? #"{"status":"unhealthy"}"#
    }
}
